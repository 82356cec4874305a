"""``swaplab calibrate``: the same pages through the host kernel's zram and swaplab's.

Both devices get the pages the same way — written from offset 0 in 1 MiB
requests, read back the same way, then single pages read in a seeded random
order — and both report mm_stat. Every page read back is compared with what
was written, on both sides. The kernel side needs root and
/sys/class/zram-control (:func:`swaplab.kernel.zram.unavailable` says why not).

``compare`` puts two reports (``swaplab bench`` or ``swaplab run`` JSON) side
by side with ratios.
"""

from __future__ import annotations

import errno
import time
from typing import Any

import numpy as np

from ..block.blkdev import BlockDevice
from ..consts import PAGE_SIZE
from ..errors import kerror
from ..kernel.zram import KernelZram, unavailable
from ..system import System

MM_STAT = ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
           "mem_used_max", "same_pages", "pages_compacted", "huge_pages", "huge_pages_since")
CHUNK = 1 << 20


def _lat_summary(lat_ns: np.ndarray) -> dict[str, float]:
    us = lat_ns / 1000.0
    return {"avg_us": float(us.mean()), "p50_us": float(np.percentile(us, 50)),
            "p99_us": float(np.percentile(us, 99))}


def blockdev_write_read(bdev: BlockDevice, pages: np.ndarray) -> tuple[float, float]:
    """Seconds to write ``pages`` to ``bdev`` from offset 0 in 1 MiB requests
    (pwrite, O_DIRECT) and to read them back the same way into a buffer
    touched beforehand, as the kernel side does; EIO when they differ."""
    flat = pages.reshape(-1)
    t = time.perf_counter()
    for off in range(0, flat.nbytes, CHUNK):
        bdev.pwrite(flat[off : off + CHUNK], off)
    tw = time.perf_counter() - t
    back = np.ones_like(flat)  # touched first, as the kernel side's buffer is
    t = time.perf_counter()
    for off in range(0, flat.nbytes, CHUNK):
        bdev.preadinto(back[off : off + CHUNK], off)
    tr = time.perf_counter() - t
    if not np.array_equal(back, flat):
        raise kerror(errno.EIO, f"{bdev.name}: pages read back differ from those written")
    return tw, tr


def swaplab_side(pages: np.ndarray, algo: str, latency_pages: int, seed: int
                 ) -> dict[str, Any]:
    n = len(pages)
    with System(max(64 << 20, n * PAGE_SIZE)) as s:
        z = s.load_module("zram")[0]
        z.attr["comp_algorithm"] = algo
        z.attr["disksize"] = str((n + 256) * PAGE_SIZE)
        tw, tr = blockdev_write_read(z.bdev, pages)
        order = np.random.default_rng(seed).permutation(n)[:latency_pages]
        lat = np.empty(len(order), dtype=np.int64)
        page = np.ones(PAGE_SIZE, dtype=np.uint8)  # one buffer, as the kernel side's
        for k, i in enumerate(order.tolist()):
            a = time.perf_counter_ns()
            z.bdev.preadinto(page, i * PAGE_SIZE)
            lat[k] = time.perf_counter_ns() - a
        return {"mm_stat": [int(x) for x in z.attr["mm_stat"].split()],
                "write_s": tw, "read_s": tr, "read_latency": _lat_summary(lat)}


def kernel_side(pages: np.ndarray, algo: str, latency_pages: int, seed: int) -> dict[str, Any]:
    n = len(pages)
    with KernelZram(algo, (n + 256) * PAGE_SIZE) as kz:
        tw = kz.write_pages(pages)
        back, tr = kz.read_pages(n)
        if not np.array_equal(back, pages):
            raise kerror(errno.EIO, "kernel zram: pages read back differ from those written")
        lat = kz.read_page_latencies(n, seed)[:latency_pages]
        return {"mm_stat": kz.mm_stat(), "write_s": tw, "read_s": tr,
                "read_latency": _lat_summary(lat)}


def calibrate(pages: np.ndarray, algo: str = "lz4", latency_pages: int = 2000,
              seed: int = 1) -> dict[str, Any]:
    """Both sides on ``pages``; EPERM/ENODEV with the reason when the host cannot."""
    why = unavailable()
    if why is not None:
        raise kerror(errno.EPERM if "root" in why else errno.ENODEV,
                     f"calibrate needs the host kernel's zram: {why}")
    mib = pages.nbytes / (1 << 20)
    k = kernel_side(pages, algo, latency_pages, seed)
    s = swaplab_side(pages, algo, latency_pages, seed)
    rows = []
    for i, name in enumerate(MM_STAT):
        kv, sv = k["mm_stat"][i], s["mm_stat"][i]
        rows.append({"field": f"mm_stat {name}", "kernel": kv, "swaplab": sv,
                     "ratio": sv / kv if kv else None})
    for key, kv, sv in (("write MiB/s", mib / k["write_s"], mib / s["write_s"]),
                        ("read MiB/s", mib / k["read_s"], mib / s["read_s"])):
        rows.append({"field": key, "kernel": kv, "swaplab": sv, "ratio": sv / kv})
    for key in ("avg_us", "p50_us", "p99_us"):
        kv, sv = k["read_latency"][key], s["read_latency"][key]
        rows.append({"field": f"4 KiB read {key}", "kernel": kv, "swaplab": sv,
                     "ratio": sv / kv if kv else None})
    return {"pages": len(pages), "algorithm": algo, "rows": rows, "kernel": k, "swaplab": s}


# --- compare ----------------------------------------------------------------------------

BENCH_KEYS = ("lat_avg_us", "lat_p50_us", "lat_p99_us", "lat_p999_us", "swapout_mib_s",
              "swapin_mib_s", "backing_reads_per_fault", "cold_fault_ratio", "pool_mib",
              "compr_ratio")
RUN_KEYS = ("faults_per_s", "swapped_pages_per_s", "accesses_per_s", "populate_s", "run_s",
            "verify_s", "pages_verified", "resident_pages")


def _num(v: Any) -> float | None:
    if isinstance(v, dict) and "median" in v:
        v = v["median"]
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{what, a, b, ratio}`` for two bench reports (matched by design) or two
    run reports. EINVAL when the two are not the same kind of report."""
    rows: list[dict[str, Any]] = []

    def row(what: str, x: Any, y: Any) -> None:
        xa, yb = _num(x), _num(y)
        if xa is None and yb is None:
            return
        rows.append({"what": what, "a": xa, "b": yb,
                     "ratio": yb / xa if xa not in (None, 0) and yb is not None else None})

    if "results" in a and "results" in b:
        ra = {r["design"]: r for r in a["results"]}
        rb = {r["design"]: r for r in b["results"]}
        common = [d for d in ra if d in rb]
        if not common:
            raise kerror(errno.EINVAL, "the two bench reports share no design")
        for d in common:
            for k in BENCH_KEYS:
                row(f"{d} {k}", ra[d].get(k), rb[d].get(k))
        return rows
    if "vmstat" in a and "vmstat" in b and "results" not in a and "results" not in b:
        for k in RUN_KEYS:
            row(k, a.get(k), b.get(k))
        for k in sorted(set(a["vmstat"]) | set(b["vmstat"])):
            if a["vmstat"].get(k) or b["vmstat"].get(k):
                row(f"vmstat {k}", a["vmstat"].get(k, 0), b["vmstat"].get(k, 0))
        return rows
    raise kerror(errno.EINVAL, "compare takes two `swaplab bench` reports or two "
                 "`swaplab run` reports")
