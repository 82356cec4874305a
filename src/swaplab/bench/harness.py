"""The measurement: page everything out, then time the first touch of every page.

This is the method of the series author: a process writes ``n`` pages of real
content, all of them are reclaimed (MADV_PAGEOUT), and each page is touched
once in a seeded random order while the fault is timed with the real clock.
Each fault's time is split into the backend's part (from submit_read to
swap_read_end of the batches it waited for: the areas' ``backend_ns``) and the
core's (the rest: fault, swap cache, readahead, zswap, completion).
Every page read back is compared with what was written; a mismatch aborts the
run naming the page.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..consts import PAGE_SHIFT, PAGE_SIZE
from ..kernel.swapin import first_touch
from ..mm.swap_iocb import READ
from ..system import System
from .designs import Design, cold_reads


class VerificationError(AssertionError):
    """A page read back differs from what was written."""


@dataclass
class RunResult:
    """One repetition of one design."""

    design: str
    latencies_ns: np.ndarray
    swapout_s: float
    swapin_s: float
    pages: int
    verified: int
    device_reads: int
    device_writes: int
    vmstat: dict[str, int]
    cold: np.ndarray | None = None
    backing_reads: int = 0
    pool_bytes: int = 0
    data_bytes: int = 0
    compr_bytes: int = 0
    counters: dict[str, Any] | None = None
    #: ns of each fault spent in the backend, from submit_read to swap_read_end
    #: (0 for a fault served without device I/O); the rest of it is the core's
    backend_ns: np.ndarray | None = None
    #: the compressor of a design that compresses, else None
    algorithm: str | None = None
    #: writeback after page-out (the design's ``after_pageout``): pages written
    #: back, bytes the disks took for them, pages decompressed to write them,
    #: and the CPU time it took (this process's, all threads)
    wb_pages: int = 0
    wb_bytes: int = 0
    wb_decompressions: int = 0
    wb_cpu_s: float = 0.0
    #: bytes of the backends' own tables per slot (zram's slot table, zswap's
    #: entry arrays, the virtual swap descriptor), summed over the backends
    metadata_b_per_slot: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ns / 1000.0
        backend = (self.backend_ns if self.backend_ns is not None
                   else np.zeros(len(lat), dtype=np.int64)) / 1000.0
        core = lat - backend
        mib = self.pages * PAGE_SIZE / (1 << 20)
        cold = self.cold if self.cold is not None else np.zeros(len(lat), bool)
        return {
            "design": self.design,
            "algorithm": self.algorithm,
            "pages": self.pages,
            "verified": self.verified,
            "lat_avg_us": float(lat.mean()),
            "lat_p50_us": float(np.percentile(lat, 50)),
            "lat_p99_us": float(np.percentile(lat, 99)),
            "lat_p999_us": float(np.percentile(lat, 99.9)),
            "core_avg_us": float(core.mean()),
            "core_p50_us": float(np.percentile(core, 50)),
            "backend_avg_us": float(backend.mean()),
            "backend_p50_us": float(np.percentile(backend, 50)),
            "swapout_mib_s": mib / self.swapout_s if self.swapout_s else 0.0,
            "swapin_mib_s": mib / self.swapin_s if self.swapin_s else 0.0,
            "device_reads_per_fault": self.device_reads / max(1, self.pages),
            "backing_reads_per_fault": self.backing_reads / max(1, self.pages),
            "cold_fault_ratio": float(cold.mean()) if len(cold) else 0.0,
            "pool_mib": self.pool_bytes / (1 << 20),
            "compr_ratio": self.data_bytes / self.compr_bytes if self.compr_bytes else 0.0,
            "device_writes": self.device_writes,
            "wb_pages": self.wb_pages,
            "wb_bytes_per_page": self.wb_bytes / self.wb_pages if self.wb_pages else 0.0,
            "wb_decompressions": self.wb_decompressions,
            "wb_cpu_us_per_page": self.wb_cpu_s * 1e6 / self.wb_pages if self.wb_pages else 0.0,
            "metadata_b_per_slot": self.metadata_b_per_slot,
            "vmstat": self.vmstat,
            "counters": self.counters or {},
        }


def run_once(design: Design, pages: np.ndarray, seed: int,
             progress: Callable[[int], None] | None = None) -> RunResult:
    """Run ``design`` on ``pages`` once in a fresh System; verify every page."""
    n = len(pages)
    area_bytes = ((n + n // 8 + 1024) >> 9 << 9) << PAGE_SHIFT
    with tempfile.TemporaryDirectory(prefix="swaplab-bench-") as tmp, \
            System((n + 4096) << PAGE_SHIFT) as system:
        target = design.setup(system, Path(tmp), area_bytes, design.algorithm)
        system.mkswap(target, uuid=uuid.UUID(int=seed + 1))  # reproducible header page
        system.swapon(target, **design.swapon)
        if design.prepare is not None:
            design.prepare(system, design.algorithm)
        disks = [d for d in system.block.values() if d.holder is not None]
        mm = system.create_mm(n)
        mm.populate(0, pages)
        before = [(d.stat()["read_ios"], d.stat()["write_ios"]) for d in disks]
        t0 = time.perf_counter()
        mm.pageout()
        swapout = time.perf_counter() - t0
        if mm.resident():
            raise VerificationError(f"{design.name}: {mm.resident()} pages stayed resident")
        wb = _Writeback(system, list(system.block.values()))
        if design.after_pageout is not None:
            design.after_pageout(system)
        wb.done()
        pool, data, compr = _pool_figures(system)
        order = np.random.default_rng(seed).permutation(n)
        lat = np.empty(n, dtype=np.int64)
        backend = np.empty(n, dtype=np.int64)
        cold = np.zeros(n, dtype=bool)
        verified = 0
        cold0 = last = cold_reads(system)
        areas = system.swap.active()

        def backend_read_ns() -> int:
            return sum(si.backend_ns[READ] for si in areas)

        t1 = time.perf_counter()
        clock = time.perf_counter_ns
        for k, v in enumerate(order):
            v = int(v)
            b = backend_read_ns()
            a = clock()
            folio = mm.fault(v)
            lat[k] = clock() - a
            backend[k] = backend_read_ns() - b
            now = cold_reads(system)
            cold[k] = now != last
            last = now
            if folio.data.tobytes() != pages[v].tobytes():  # a sixth of array_equal's cost
                raise VerificationError(f"{design.name}: page {v} read back differs from "
                                        "what was written")
            verified += 1
            if progress is not None and k % 256 == 255:
                progress(256)
        swapin = time.perf_counter() - t1
        if progress is not None:
            progress(n % 256)
        after = [(d.stat()["read_ios"], d.stat()["write_ios"]) for d in disks]
        reads = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        writes = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        if design.name == "swapfile":
            reads = system.vmstat["nrswpin"]
            writes = system.vmstat["nrswpout"]
        return RunResult(design.name, lat, swapout, swapin, n, verified, reads, writes,
                         system.vmstat.snapshot(), cold, last - cold0, pool, data, compr,
                         _counters(system), np.minimum(backend, lat), design.algorithm,
                         wb.pages, wb.bytes, wb.decompressions, wb.cpu_s,
                         sum(r.metadata_bytes_per_slot
                             for r in system.backend_statistics(files=False)))


class _Writeback:
    """What a design's writeback after page-out did: pages, bytes written to
    the disks, decompressions (from the backends' records), CPU time."""

    def __init__(self, system: System, disks: list[Any]) -> None:
        self.system, self.disks = system, disks
        self._pages, self._dec = self._counts()
        self._sectors = self._written()
        self._cpu = time.process_time()

    def _counts(self) -> tuple[int, int]:
        recs = self.system.backend_statistics(files=False)
        return (sum(r.written_back_pages for r in recs),
                sum(r.writeback_decompressions for r in recs))

    def _written(self) -> int:
        return sum(d.stat()["write_sectors"] for d in self.disks)

    def done(self) -> None:
        self.cpu_s = time.process_time() - self._cpu
        pages, dec = self._counts()
        self.pages, self.decompressions = pages - self._pages, dec - self._dec
        self.bytes = (self._written() - self._sectors) << 9


def design_cell(cell: tuple[Design, int], pages: np.ndarray) -> RunResult:
    """One repetition of one design as a sweep cell ``(design, seed)``
    (:func:`swaplab.bench.parallel.run_cells`)."""
    design, seed = cell
    return run_once(design, pages, seed)


#: The design name of the host kernel's row.
KERNEL_ROW = "kernel/zram"


def is_kernel_row(design: str) -> bool:
    """Whether a result's design name is a host kernel row ("kernel/zram",
    "kernel/zram [zstd]")."""
    return design == KERNEL_ROW or design.startswith(KERNEL_ROW + " [")


def run_kernel(pages: np.ndarray, seed: int, algorithm: str = "lz4",
               name: str = KERNEL_ROW) -> RunResult:
    """The same experiment on the host kernel's zram (root and zram needed:
    :func:`swaplab.kernel.swapin.first_touch`), as one repetition's result
    named ``name``. Its split is unknown (the kernel is not instrumented):
    the whole fault counts as core time and kernel rows are left out of the
    split."""
    k = first_touch(pages, algorithm, seed)
    n = len(pages)
    return RunResult(name, k.latencies_ns, k.pageout_s, k.swapin_s, n, k.verified,
                     k.vmstat["pswpin"], k.vmstat["pswpout"], k.vmstat, None, 0, k.mm_stat[2],
                     k.mm_stat[0], k.mm_stat[1],
                     {"zram": {"mm_stat": k.mm_stat, "algorithm": algorithm}}, None,
                     algorithm)


def _pool_figures(system: System) -> tuple[int, int, int]:
    """(pool bytes, bytes of data it holds, their compressed bytes) after page-out,
    over every backend with a pool."""
    recs = system.backend_statistics()
    return (sum(r.pool_bytes for r in recs), sum(r.data_bytes for r in recs),
            sum(r.compressed_bytes for r in recs))


def _counters(system: System) -> dict[str, Any]:
    """The counters behind the figures: each backend's own files (zram's
    mm_stat/bd_stat/io_stat with their columns by name, zswap's debugfs values)."""
    return {r.name: {**r.files, **{k: dict(v) for k, v in r.fields.items()}}
            for r in system.backend_statistics()}


def aggregate(runs: list[RunResult]) -> dict[str, Any]:
    """Median of each figure over the repetitions, with min and max as the spread."""
    sums = [r.summary() for r in runs]
    out: dict[str, Any] = {"design": runs[0].design, "algorithm": runs[0].algorithm,
                           "repeats": len(runs),
                           "pages": runs[0].pages,
                           "verified": sum(s["verified"] for s in sums)}
    for key in ("lat_avg_us", "lat_p50_us", "lat_p99_us", "lat_p999_us", "core_avg_us",
                "core_p50_us", "backend_avg_us", "backend_p50_us", "swapout_mib_s",
                "swapin_mib_s", "device_reads_per_fault", "backing_reads_per_fault",
                "cold_fault_ratio", "pool_mib", "compr_ratio", "wb_pages",
                "wb_bytes_per_page", "wb_decompressions", "wb_cpu_us_per_page",
                "metadata_b_per_slot"):
        vals = np.array([s[key] for s in sums])
        out[key] = {"median": float(np.median(vals)), "min": float(vals.min()),
                    "max": float(vals.max())}
    out["vmstat"] = sums[-1]["vmstat"]
    out["counters"] = sums[-1]["counters"]
    out["runs"] = [{k: v for k, v in s.items() if k not in ("vmstat", "counters")}
                   for s in sums]
    return out


def kernel_vs(results: list[dict[str, Any]]) -> None:
    """Give each aggregated result its avg and p50 as multiples of the kernel
    row's with the same algorithm (``avg_vs_kernel``, ``p50_vs_kernel``:
    medians over the repetitions). A design that does not compress is set
    against the kernel row when there is just one; a result without a
    kernel row to compare with gets nothing."""
    kernel = {r["algorithm"]: r for r in results if is_kernel_row(r["design"])}
    for r in results:
        k = kernel.get(r["algorithm"])
        if k is None and r["algorithm"] is None and len(kernel) == 1:
            k = next(iter(kernel.values()))
        if k is None:
            continue
        for key, name in (("lat_avg_us", "avg_vs_kernel"), ("lat_p50_us", "p50_vs_kernel")):
            r[name] = r[key]["median"] / k[key]["median"]
