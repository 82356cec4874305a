"""Reports: a table for the terminal, JSON for machines, a PNG of latency CDFs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .harness import is_kernel_row


def _fmt(v: dict[str, float], digits: int = 1) -> str:
    """Median, and the spread (max - min) as a share of it."""
    med = v["median"]
    spread = (v["max"] - v["min"]) / med * 100 if med else 0.0
    return f"{med:.{digits}f} ±{spread / 2:.0f}%"


def _vs_kernel(r: dict[str, Any]) -> tuple[str, str]:
    if "p50_vs_kernel" not in r:
        return "-", "-"
    return f"{r['avg_vs_kernel']:.2f}x", f"{r['p50_vs_kernel']:.2f}x"


def tables(results: list[dict[str, Any]], title: str) -> tuple[Table, ...]:
    """Swap-in latency, throughput and memory, each design's swap-in time
    split into the core's and the backend's, and (when a design wrote pages
    back) what its writeback cost. Median of each figure over the
    repetitions, ± half the min-max spread."""
    cap = "median ±half the min-max spread over the repeats"
    vs = any("p50_vs_kernel" in r for r in results)
    lat = Table(title=f"{title}: first-touch swap-in latency", caption=cap + (
        "; × kernel: the design's median over the kernel row's" if vs else ""))
    for col in ("design", "avg µs", "p50 µs", "p99 µs", "p99.9 µs", "pages verified",
                *(("avg × kernel", "p50 × kernel") if vs else ())):
        lat.add_column(col, justify="left" if col == "design" else "right", no_wrap=True)
    for r in results:
        lat.add_row(escape(r["design"]), _fmt(r["lat_avg_us"]), _fmt(r["lat_p50_us"]),
                    _fmt(r["lat_p99_us"]), _fmt(r["lat_p999_us"]),
                    f"{r['verified']}/{r['pages'] * r['repeats']}",
                    *(_vs_kernel(r) if vs else ()))
    io = Table(title=f"{title}: throughput and memory", caption=cap)
    for col in ("design", "swap-out MiB/s", "swap-in MiB/s", "backing reads/fault",
                "cold faults", "pool MiB", "compr. ratio"):
        io.add_column(col, justify="left" if col == "design" else "right", no_wrap=True)
    for r in results:
        io.add_row(escape(r["design"]), _fmt(r["swapout_mib_s"]), _fmt(r["swapin_mib_s"]),
                   f"{r['backing_reads_per_fault']['median']:.3f}",
                   f"{r['cold_fault_ratio']['median']:.1%}",
                   f"{r['pool_mib']['median']:.1f}",
                   f"{r['compr_ratio']['median']:.2f}" if r["compr_ratio"]["median"] else "-")
    split = Table(title=f"{title}: where a swap-in's time goes", caption=cap + "; backend: "
                  "submit_read to swap_read_end, core: the rest of the fault")
    for col in ("design", "core avg µs", "backend avg µs", "backend share", "core p50 µs",
                "backend p50 µs"):
        split.add_column(col, justify="left" if col == "design" else "right", no_wrap=True)
    for r in results:
        if is_kernel_row(r["design"]):  # not instrumented: no split
            continue
        core, back = r["core_avg_us"]["median"], r["backend_avg_us"]["median"]
        split.add_row(escape(r["design"]), _fmt(r["core_avg_us"]), _fmt(r["backend_avg_us"]),
                      f"{back / (core + back):.0%}" if core + back else "-",
                      _fmt(r["core_p50_us"]), _fmt(r["backend_p50_us"]))
    if not any(r.get("wb_pages", {}).get("median") for r in results):
        return lat, io, split
    wb = Table(title=f"{title}: writeback and metadata", caption="medians over the repeats; "
               "written back after page-out, before the faults; CPU: this process's")
    for col in ("design", "wb pages", "B written/page", "decompr.", "wb CPU µs/page",
                "backing reads/fault", "pool MiB", "meta B/slot"):
        wb.add_column(col, justify="left" if col == "design" else "right", no_wrap=True)
    for r in results:
        if is_kernel_row(r["design"]):
            continue
        n = r["wb_pages"]["median"]
        wb.add_row(escape(r["design"]), f"{n:.0f}",
                   f"{r['wb_bytes_per_page']['median']:.0f}" if n else "-",
                   f"{r['wb_decompressions']['median']:.0f}",
                   f"{r['wb_cpu_us_per_page']['median']:.1f}" if n else "-",
                   f"{r['backing_reads_per_fault']['median']:.3f}",
                   f"{r['pool_mib']['median']:.1f}",
                   f"{r['metadata_b_per_slot']['median']:.1f}")
    return lat, io, split, wb


def print_table(results: list[dict[str, Any]], title: str, console: Console | None = None
                ) -> None:
    console = console or Console()
    for t in tables(results, title):
        console.print(t)


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n")


def plot_cdf(latencies: dict[str, np.ndarray], path: Path, title: str) -> None:
    """One CDF line per design, log-scaled latency axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    many = len(latencies) > 10  # tab10 would repeat colours: tab20, legend beside
    fig, ax = plt.subplots(figsize=(11 if many else 8, 5), dpi=110, layout="constrained")
    colours = plt.get_cmap("tab20" if many else "tab10").colors
    for k, (name, lat) in enumerate(latencies.items()):
        xs = np.sort(lat) / 1000.0
        ys = np.arange(1, len(xs) + 1) / len(xs)
        ax.plot(xs, ys, label=name, color=colours[k % len(colours)])
    ax.set_xscale("log")
    ax.set_xlabel("first-touch swap-in latency (µs)")
    ax.set_ylabel("fraction of faults")
    ax.set_title(textwrap.fill(title, 90), fontsize="medium")
    ax.grid(True, which="both", alpha=0.3)
    if many:
        fig.legend(loc="outside right upper", fontsize="small")
    else:
        ax.legend(fontsize="small")
    fig.savefig(path)
    plt.close(fig)


def plot_split(results: list[dict[str, Any]], path: Path, title: str) -> None:
    """One bar per design: average swap-in time, the core's part and the
    backend's part stacked (medians over the repetitions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in results if not is_kernel_row(r["design"])]  # no split known
    names = [r["design"] for r in results]
    core = [r["core_avg_us"]["median"] for r in results]
    back = [r["backend_avg_us"]["median"] for r in results]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 2.2), dpi=110,
                           layout="constrained")
    ax.barh(names, core, label="core (fault, swap cache, readahead, zswap, completion)")
    ax.barh(names, back, left=core, label="backend (submit_read to swap_read_end)")
    ax.invert_yaxis()
    ax.set_xlabel("average first-touch swap-in time (µs)")
    ax.set_title(textwrap.fill(title, 70), fontsize="medium")
    ax.grid(True, axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", fontsize="small")
    fig.savefig(path)
    plt.close(fig)


def plot_writeback(results: list[dict[str, Any]], path: Path, title: str) -> bool:
    """Four panels over the designs (medians), for the writeback after
    page-out and what a design keeps: bytes written to the backing device
    per page written back, writeback CPU per page, pages decompressed to be
    written, and the backends' metadata bytes per slot (with backing reads
    per fault beside it). False (no file) when no design wrote back."""
    if not any(r.get("wb_pages", {}).get("median") for r in results):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for r in results if not is_kernel_row(r["design"])]
    names = [r["design"] for r in results]

    def med(key: str) -> list[float]:
        return [r[key]["median"] for r in results]

    fig, axes = plt.subplots(2, 2, figsize=(11, 0.9 * len(names) + 3), dpi=110, sharey=True)
    (a, b), (c, d) = axes
    a.barh(names, med("wb_bytes_per_page"))
    a.axvline(4096, color="grey", linestyle=":", label="a page")
    a.set_xlabel("bytes written to the backing device per page written back")
    a.legend(fontsize="small")
    b.barh(names, med("wb_cpu_us_per_page"), color="tab:orange")
    b.set_xlabel("writeback CPU µs per page")
    c.barh(names, med("wb_decompressions"), color="tab:red")
    c.set_xlabel("pages decompressed to be written back")
    d.barh(names, med("metadata_b_per_slot"), color="tab:green")
    d.set_xlabel("metadata bytes per slot (backends' own tables)")
    for name, r in zip(names, results, strict=True):
        d.annotate(f" {r['backing_reads_per_fault']['median']:.2f} reads/fault",
                   (r["metadata_b_per_slot"]["median"], name), va="center",
                   fontsize="x-small")
    d.set_xlim(right=max(med("metadata_b_per_slot")) * 1.4)  # room for the notes
    a.invert_yaxis()
    for ax in (a, b, c, d):
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
