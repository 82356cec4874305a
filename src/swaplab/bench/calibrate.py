"""``swaplab calibrate``: the same pages through the host kernel's zram and swaplab's.

Both devices get the pages the same way — written from offset 0 in 1 MiB
requests, read back the same way, then single pages read in a seeded random
order, the two sides taking turns on one CPU — and both report mm_stat.
Every page read back is compared with what was written, on both sides. The
kernel side needs root and /sys/class/zram-control
(:func:`swaplab.kernel.zram.unavailable` says why not).

``compare`` puts two reports (``swaplab bench`` or ``swaplab run`` JSON) side
by side with ratios.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..block.blkdev import BlockDevice
from ..consts import PAGE_SIZE
from ..errors import kerror
from ..kernel.zram import MM_STAT, KernelZram, unavailable
from ..system import System
from .designs import DESIGNS
from .harness import run_kernel, run_once

if TYPE_CHECKING:
    from ..drivers.zram.zram_drv import Zram

CHUNK = 1 << 20
#: Pages each side reads in its turn when the single-page latencies are taken.
LATENCY_TURN = 50
#: Pages of calibrate's first-touch rows: the bench's default run.
FIRST_TOUCH_PAGES = 8192


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


def _swaplab_zram(system: System, algo: str, n: int) -> Zram:
    z = system.load_module("zram")[0]
    z.attr["comp_algorithm"] = algo
    z.attr["disksize"] = str((n + 256) * PAGE_SIZE)
    return z


@contextlib.contextmanager
def one_cpu() -> Iterator[int]:
    """Run on one CPU (the lowest we may use) until exit, then restore the
    affinity: the latencies of both sides are then taken on the same CPU (the
    vCPUs of a VM can differ by half)."""
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, allowed)


def interleaved_latencies(sides: list[tuple[Callable[[int], object], np.ndarray]],
                          pages: np.ndarray, order: np.ndarray, turn: int = LATENCY_TURN,
                          names: tuple[str, ...] = ("kernel", "swaplab")) -> list[np.ndarray]:
    """ns per single-page read for each side, ``(read, page)``: ``read(offset)``
    fills ``page``; every side reads the pages of ``order`` in that order.

    The sides take turns of ``turn`` pages (who goes first alternates), so a
    burst of noise on a shared machine, which lasts seconds, falls on both and
    their ratio stays a measurement of the two paths. Every page read is
    compared with ``pages`` outside the timed region; EIO names a mismatch.
    """
    clock = time.perf_counter_ns
    lat = [np.empty(len(order), dtype=np.int64) for _ in sides]
    offsets = (order.astype(np.int64) * PAGE_SIZE).tolist()
    for t, lo in enumerate(range(0, len(order), turn)):
        hi = min(lo + turn, len(order))
        for s in (range(len(sides)) if t % 2 == 0 else reversed(range(len(sides)))):
            read, page = sides[s]
            out = lat[s]
            for k in range(lo, hi):
                a = clock()
                read(offsets[k])
                out[k] = clock() - a
                if not np.array_equal(page, pages[order[k]]):
                    raise kerror(errno.EIO, f"{names[s]} zram: page {int(order[k])} read "
                                 "back differs from what was written")
    return lat


def calibrate(pages: np.ndarray, algo: str = "lz4", latency_pages: int = 2000,
              seed: int = 1) -> dict[str, Any]:
    """Both sides on ``pages``; EPERM/ENODEV with the reason when the host cannot.

    Throughput: the kernel's device is written and read first, then swaplab's,
    the same way. Latency: ``latency_pages`` single-page reads in a seeded
    random order, the two sides taking turns on one CPU
    (:func:`interleaved_latencies`).
    """
    why = unavailable()
    if why is not None:
        raise kerror(errno.EPERM if "root" in why else errno.ENODEV,
                     f"calibrate needs the host kernel's zram: {why}")
    n = len(pages)
    mib = pages.nbytes / (1 << 20)
    with KernelZram(algo, (n + 256) * PAGE_SIZE) as kz, \
            System(max(64 << 20, n * PAGE_SIZE)) as system:
        k: dict[str, Any] = {"write_s": kz.write_pages(pages)}
        back, k["read_s"] = kz.read_pages(n)
        if not np.array_equal(back, pages):
            raise kerror(errno.EIO, "kernel zram: pages read back differ from those written")
        del back
        z = _swaplab_zram(system, algo, n)
        s: dict[str, Any] = dict(zip(("write_s", "read_s"), blockdev_write_read(z.bdev, pages),
                                     strict=True))
        order = np.random.default_rng(seed).permutation(n)[:latency_pages]
        page = np.ones(PAGE_SIZE, dtype=np.uint8)
        with kz.page_reader() as kside, one_cpu() as cpu:
            lat_k, lat_s = interleaved_latencies(
                [kside, (functools.partial(z.bdev.preadinto, page), page)], pages, order)
        k["read_latency"], s["read_latency"] = _lat_summary(lat_k), _lat_summary(lat_s)
        k["mm_stat"] = kz.mm_stat()
        s["mm_stat"] = [int(x) for x in z.attr["mm_stat"].split()]
    k["first_touch"], s["first_touch"] = first_touch_pair(pages, algo, seed)
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
    for key in ("avg_us", "p50_us", "p99_us"):
        kv, sv = k["first_touch"][key], s["first_touch"][key]
        rows.append({"field": f"first-touch swap-in {key}", "kernel": kv, "swaplab": sv,
                     "ratio": sv / kv if kv else None})
    return {"pages": n, "algorithm": algo, "rows": rows, "kernel": k, "swaplab": s,
            "latency": {"pages": len(order), "turn": LATENCY_TURN, "cpu": cpu}}


def first_touch_pair(pages: np.ndarray, algo: str, seed: int
                     ) -> tuple[dict[str, float], dict[str, float]]:
    """The bench's first-touch experiment on the first :data:`FIRST_TOUCH_PAGES`
    of ``pages`` (same order, ``seed``), on the host kernel's zram swap and on
    swaplab's zram/swap_ops with the same algorithm: (kernel, swaplab) latency
    summaries, every page verified on both sides. The bench's machine is
    sized for its default run; more pages would time page-out under memory
    pressure (zram writes failing with ENOMEM and retried), not the fault."""
    pages = pages[:FIRST_TOUCH_PAGES]
    kr = run_kernel(pages, seed, algo)
    sr = run_once(DESIGNS["zram/swap_ops"].with_algorithm(algo), pages, seed)
    return _lat_summary(kr.latencies_ns), _lat_summary(sr.latencies_ns)


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


def _spread(v: Any) -> tuple[float, float] | None:
    if isinstance(v, dict) and all(isinstance(v.get(k), int | float) for k in ("min", "max")):
        return float(v["min"]), float(v["max"])
    return None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{what, a, b, ratio, within_spread}`` for two bench reports
    (matched by design) or two run reports. ``within_spread`` is True when the
    two figures' min-max ranges over their repeats overlap (the change may be
    noise), False when they do not, None without repeats. EINVAL when the
    two are not the same kind of report."""
    rows: list[dict[str, Any]] = []

    def row(what: str, x: Any, y: Any) -> None:
        xa, yb = _num(x), _num(y)
        if xa is None and yb is None:
            return
        sx, sy = _spread(x), _spread(y)
        rows.append({"what": what, "a": xa, "b": yb,
                     "ratio": yb / xa if xa not in (None, 0) and yb is not None else None,
                     "within_spread": (sx[0] <= sy[1] and sy[0] <= sx[1])
                     if sx and sy else None})

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
        la, lb = a.get("swapin_fault_latency_us") or {}, b.get("swapin_fault_latency_us") or {}
        for k in ("avg", "p50", "p99", "p999"):
            row(f"swap-in latency {k} µs", la.get(k), lb.get(k))
        za, zb = a.get("zram") or {}, b.get("zram") or {}
        for dev in [d for d in za if d in zb]:
            ma, mb = za[dev].get("mm_stat") or {}, zb[dev].get("mm_stat") or {}
            for k in ("orig_data_size", "compr_data_size", "mem_used_total", "same_pages",
                      "huge_pages"):
                row(f"{dev} {k}", ma.get(k), mb.get(k))
            ca, cb = _num(ma.get("compr_data_size")), _num(mb.get("compr_data_size"))
            if ca and cb:
                row(f"{dev} compression ratio", _num(ma.get("orig_data_size")) / ca,
                    _num(mb.get("orig_data_size")) / cb)
        wa, wb = a.get("zswap") or {}, b.get("zswap") or {}
        for k in ("pool_total_size", "stored_pages", "written_back_pages"):
            row(f"zswap {k}", wa.get(k), wb.get(k))
        for k in sorted(set(a["vmstat"]) | set(b["vmstat"])):
            if a["vmstat"].get(k) or b["vmstat"].get(k):
                row(f"vmstat {k}", a["vmstat"].get(k, 0), b["vmstat"].get(k, 0))
        return rows
    raise kerror(errno.EINVAL, "compare takes two `swaplab bench` reports or two "
                 "`swaplab run` reports")
