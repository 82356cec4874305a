"""Reports: a table for the terminal, JSON for machines, a PNG of latency CDFs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table


def _fmt(v: dict[str, float], digits: int = 1) -> str:
    """Median, and the spread (max - min) as a share of it."""
    med = v["median"]
    spread = (v["max"] - v["min"]) / med * 100 if med else 0.0
    return f"{med:.{digits}f} ±{spread / 2:.0f}%"


def table(results: list[dict[str, Any]], title: str) -> Table:
    """Median of each figure over the repetitions, ± half the min-max spread."""
    t = Table(title=title, caption="median ±half the min-max spread over the repeats")
    for col in ("design", "avg µs", "p50 µs", "p99 µs", "p99.9 µs", "out MiB/s", "in MiB/s",
                "reads/fault", "verified"):
        t.add_column(col, justify="left" if col == "design" else "right", no_wrap=True)
    for r in results:
        t.add_row(r["design"], _fmt(r["lat_avg_us"]), _fmt(r["lat_p50_us"]),
                  _fmt(r["lat_p99_us"]), _fmt(r["lat_p999_us"]), _fmt(r["swapout_mib_s"]),
                  _fmt(r["swapin_mib_s"]), _fmt(r["device_reads_per_fault"], 3),
                  f"{r['verified']}/{r['pages'] * r['repeats']}")
    return t


def print_table(results: list[dict[str, Any]], title: str, console: Console | None = None
                ) -> None:
    (console or Console()).print(table(results, title))


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n")


def plot_cdf(latencies: dict[str, np.ndarray], path: Path, title: str) -> None:
    """One CDF line per design, log-scaled latency axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for name, lat in latencies.items():
        xs = np.sort(lat) / 1000.0
        ys = np.arange(1, len(xs) + 1) / len(xs)
        ax.plot(xs, ys, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("first-touch swap-in latency (µs)")
    ax.set_ylabel("fraction of faults")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
