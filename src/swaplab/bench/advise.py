"""``swaplab advise``: which zram settings for this memory, and what each costs.

The performance engineer's question — on this process's memory, how much RAM
do lz4, lzo-rle, zstd ... save, and what does each cost in swap-in latency? —
answered on the pages themselves. Each setting (every zram algorithm this
installation has, zstd at three levels, and zswap) runs the bench's
experiment on the same pages (:func:`~swaplab.bench.harness.run_once`: the
pages written by a process, all paged out, each touched once in a seeded
order and compared), so its pool is the exact zsmalloc model's
mem_used_total, not an estimate, and its latency is a first-touch swap-in
through zram's swap_ops. The codec alone is timed beside it (compress and
decompress of every page, the batch calls).

:func:`recommend` turns the figures into settings in zram's vocabulary
(comp_algorithm, algorithm_params, disksize as zram-generator sizes it,
mem_limit, recomp_algorithm, writeback), each with the figures that led to
it.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..consts import PAGE_SIZE
from ..errors import kerror
from ..lib.compress import available, compressor, split
from .designs import Design, zram_setting, zswap_setting
from .harness import run_once
from .parallel import run_cells

#: zram settings tried, in the kernel's order of algorithms: (algorithm,
#: algorithm_params). zstd at its kernel default (3), one faster, one denser.
ZRAM_SETTINGS: tuple[tuple[str, str | None], ...] = (
    ("lzo-rle", None), ("lzo", None), ("lz4", None), ("lz4hc", None),
    ("zstd", "level=1"), ("zstd", None), ("zstd", "level=9"), ("deflate", None))
#: zswap's compressor in the zswap row (the kernel's usual default is lzo;
#: lz4 is what swaplab's bench uses for it)
ZSWAP_COMPRESSOR = "lz4"
#: A setting is "as fast" as the fastest when its p50 first touch is within this factor.
LATENCY_SLACK = 1.5
#: ... and it must compress at least this fast (one CPU): below it, swap-out
#: under pressure stalls reclaim (100 MiB/s is 25,600 pages a second)
COMPRESS_FLOOR_MIB_S = 100.0
#: zram-generator's default zram-size: min(ram / 2, 4096 MiB)
ZRAM_GENERATOR_CAP = 4096 << 20


@dataclass(frozen=True)
class Setting:
    """One row of the advice: what was run and its design."""

    name: str
    kind: str  # "zram" or "zswap"
    algorithm: str
    params: str | None
    design: Design


def settings() -> list[Setting]:
    """The settings this installation can run."""
    have = set(available())
    out = [Setting(zram_setting(a, p).name, "zram", a, p, zram_setting(a, p))
           for a, p in ZRAM_SETTINGS if a in have]
    out.append(Setting(f"zswap {ZSWAP_COMPRESSOR}", "zswap", ZSWAP_COMPRESSOR, None,
                       zswap_setting(ZSWAP_COMPRESSOR)))
    return out


def _level(params: str | None) -> int | None:
    return int(params.split("=", 1)[1]) if params else None


def codec_speed(algorithm: str, params: str | None, pages: np.ndarray) -> tuple[float, float]:
    """MiB/s of compressing every page and of decompressing them back (the
    batch calls, one thread); EIO if a page does not come back whole."""
    c = compressor(algorithm, _level(params))
    mib = pages.nbytes / (1 << 20)
    t = time.perf_counter()
    buf, lens = c.compress_batch(pages)
    tc = time.perf_counter() - t
    objs = split(buf, lens)
    back = np.empty_like(pages)
    t = time.perf_counter()
    done = c.decompress_batch(objs, back)
    td = time.perf_counter() - t
    if done != len(pages) or not np.array_equal(back, pages):
        raise kerror(errno.EIO, f"{algorithm}: pages did not decompress to what was compressed")
    return mib / tc, mib / td


def measure(s: Setting, pages: np.ndarray, seed: int, full_pages: int) -> dict[str, Any]:
    """Run one setting on ``pages``; its row of figures (see the module text).
    ``full_pages``: the source's size in pages, for the RAM it would take."""
    r = run_once(s.design, pages, seed)
    n = len(pages)
    lat = r.latencies_ns / 1000.0
    c = r.counters or {}
    if s.kind == "zram":
        mm = c.get("zram0", {}).get("mm_stat", {})
        same, huge = mm.get("same_pages", 0), mm.get("huge_pages", 0)
    else:
        same = r.vmstat.get("swpout_zero", 0)
        huge = c.get("zswap", {}).get("reject_compress_poor", 0)
    comp, decomp = codec_speed(s.algorithm, s.params, pages)
    pool = r.pool_bytes
    return {
        "setting": s.name, "kind": s.kind, "algorithm": s.algorithm, "params": s.params,
        "pages": n, "verified": r.verified,
        "compr_ratio": n * PAGE_SIZE / pool if pool else float("inf"),
        "pool_bytes": pool, "same_share": same / n, "huge_share": huge / n,
        "compress_mib_s": comp, "decompress_mib_s": decomp,
        "swapin_p50_us": float(np.percentile(lat, 50)),
        "swapin_p99_us": float(np.percentile(lat, 99)),
        "full_size_bytes": full_pages * PAGE_SIZE,
        "full_pool_bytes": pool * full_pages / n,
    }


def _cell(cell: tuple[int, int, int], pages: np.ndarray) -> dict[str, Any]:
    """One setting as a sweep cell: (index into :func:`settings`, seed, full pages)."""
    index, seed, full_pages = cell
    return measure(settings()[index], pages, seed, full_pages)


def run_advice(pages: np.ndarray, seed: int, full_pages: int,
               progress: Callable[[str], None] | None = None, *, jobs: int = 1,
               ray_address: str | None = None) -> list[dict[str, Any]]:
    """Every setting on the same pages, rows in the settings' order: here, on
    ``jobs`` processes or on Ray (:func:`swaplab.bench.parallel.run_cells`)."""
    names = [s.name for s in settings()]
    cells = [(i, seed, full_pages) for i in range(len(names))]
    return run_cells(_cell, cells, pages, jobs=jobs, ray_address=ray_address,
                     progress=None if progress is None else lambda c: progress(names[c[0]]))


def recommend(rows: list[dict[str, Any]], ram_bytes: int) -> dict[str, Any]:
    """Settings and why, from the rows' figures alone.

    - comp_algorithm: the zram setting with the smallest pool among those
      whose p50 first touch is within :data:`LATENCY_SLACK` of the fastest
      zram setting's and that compress at :data:`COMPRESS_FLOOR_MIB_S` or more
      (memory saved without a slower fault or a stalled swap-out; the fastest
      setting when none qualifies);
    - recomp_algorithm: the densest zram setting, when its pool is at least
      10% below the pick's (idle pages recompressed to it later);
    - disksize: zram-generator's min(RAM / 2, 4 GiB); mem_limit: the pool the
      process would need at full size under the pick, plus a quarter;
    - writeback of huge pages to a backing device when more than 5% of pages
      are huge (incompressible) under the pick.
    """
    zram = [r for r in rows if r["kind"] == "zram"]
    fastest = min(r["swapin_p50_us"] for r in zram)
    fast = [r for r in zram if r["swapin_p50_us"] <= LATENCY_SLACK * fastest
            and r["compress_mib_s"] >= COMPRESS_FLOOR_MIB_S]
    if not fast:
        fast = [min(zram, key=lambda r: r["swapin_p50_us"])]
    pick = min(fast, key=lambda r: r["pool_bytes"])
    densest = min(zram, key=lambda r: r["pool_bytes"])
    disksize = min(ram_bytes // 2, ZRAM_GENERATOR_CAP)
    mem_limit = int(pick["full_pool_bytes"] * 1.25)
    why = [f"{pick['setting']}: {pick['compr_ratio']:.2f}x, its pool "
           f"{pick['pool_bytes'] / 2**20:.1f} MiB for these pages, the smallest among the "
           f"settings whose p50 swap-in ({pick['swapin_p50_us']:.1f} µs) is within "
           f"{LATENCY_SLACK}x of the fastest ({fastest:.1f} µs) and that compress at "
           f"{COMPRESS_FLOOR_MIB_S:.0f} MiB/s or more ({pick['compress_mib_s']:.0f})"]
    out: dict[str, Any] = {
        "comp_algorithm": pick["algorithm"],
        "algorithm_params": pick["params"],
        "disksize": disksize,
        "mem_limit": mem_limit,
        "recomp_algorithm": None,
        "writeback": None,
        "pick": pick["setting"],
    }
    if densest is not pick and densest["pool_bytes"] <= 0.9 * pick["pool_bytes"]:
        params = f" {densest['params']}" if densest["params"] else ""
        out["recomp_algorithm"] = f"algo={densest['algorithm']}{params} priority=1"
        why.append(f"recompress idle pages with {densest['setting']}: its pool is "
                   f"{densest['pool_bytes'] / pick['pool_bytes']:.0%} of the pick's, at "
                   f"{densest['swapin_p50_us']:.1f} µs p50 swap-in")
    if pick["huge_share"] > 0.05:
        out["writeback"] = "huge"
        why.append(f"{pick['huge_share']:.0%} of pages are huge (incompressible) under the "
                   "pick: a backing device and `echo huge > writeback` keep them out of RAM")
    why.append(f"disksize {disksize >> 20} MiB as zram-generator sizes it for "
               f"{ram_bytes >> 20} MiB of RAM (min(RAM / 2, 4 GiB)); mem_limit "
               f"{mem_limit >> 20} MiB: the pool the whole source "
               f"({pick['full_size_bytes'] >> 20} MiB) would take under the pick, plus 25%")
    out["why"] = why
    return out


def plot(rows: list[dict[str, Any]], path: Any, title: str) -> None:
    """Memory saved against first-touch swap-in p50, one point a setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for r in rows:
        saved = 1 - r["pool_bytes"] / (r["pages"] * PAGE_SIZE)
        ax.scatter(r["swapin_p50_us"], saved * 100, marker="o" if r["kind"] == "zram" else "s")
        ax.annotate(r["setting"], (r["swapin_p50_us"], saved * 100), fontsize="small",
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("first-touch swap-in p50 (µs)")
    ax.set_ylabel("memory saved (% of the pages' size)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
