"""The host kernel's first-touch swap-in, measured as ``swaplab bench`` measures a design.

:func:`first_touch` runs the bench's experiment on the real thing: a hot-added
zram device of the host (:class:`KernelSwap`, written with swaplab's own
mkswap header and swapped on at the highest priority), a region of anonymous
memory filled with the same pages in the same order, MADV_PAGEOUT until
/proc/self/pagemap says every page is on swap, then one touch of each page in
the same seeded order, timed in compiled code (``_native.first_touch``:
CLOCK_MONOTONIC around a one-byte read). Every page is compared with what was
written afterwards. Whatever happens (an error, Ctrl-C), the region is
unmapped, the area swapped off and the device reset and removed before the
exception goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _native
from ..consts import PAGE_SHIFT, PAGE_SIZE
from ..mm.swap_header import build_swap_header
from ..workload.capture import PM_SWAP
from .zram import KernelZram

SWAP_FLAG_PREFER = 0x8000
SWAP_FLAG_PRIO_MASK = 0x7FFF
#: madvise(2) advice the mmap module has no constant for
MADV_PAGEOUT = 21
#: MADV_PAGEOUT passes before pages still resident count as a failure
PAGEOUT_TRIES = 5

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def swap_areas() -> list[str]:
    """The host's active swap areas, as /proc/swaps names them."""
    lines = Path("/proc/swaps").read_text().splitlines()[1:]
    return [ln.split()[0] for ln in lines if ln.strip()]


def vmstat(*names: str) -> dict[str, int]:
    """Counters of the host's /proc/vmstat."""
    want = set(names)
    out = {}
    for ln in Path("/proc/vmstat").read_text().splitlines():
        k, v = ln.split()
        if k in want:
            out[k] = int(v)
    return out


class KernelSwap(KernelZram):
    """A hot-added kernel zram device swapped on as the host's highest-priority
    area; use as a context manager. Exit swaps it off, then resets and
    removes the device, also when entering failed half-way."""

    def __init__(self, algorithm: str = "lz4", disksize: int = 64 << 20,
                 priority: int = SWAP_FLAG_PRIO_MASK) -> None:
        super().__init__(algorithm, disksize)
        self.priority = priority
        self.swapped_on = False

    def __enter__(self) -> KernelSwap:
        super().__enter__()
        try:
            header = build_swap_header(self.disksize >> PAGE_SHIFT,
                                       uuid=uuidlib.uuid4(), label="swaplab-bench")
            fd = os.open(self.dev, os.O_WRONLY | os.O_SYNC)
            try:
                os.pwrite(fd, header, 0)
            finally:
                os.close(fd)
            _check(_libc.swapon(self.dev.encode(), SWAP_FLAG_PREFER |
                                (self.priority & SWAP_FLAG_PRIO_MASK)), f"swapon {self.dev}")
            self.swapped_on = True
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Swap off (every page still on the device comes back), then reset and
        remove the device."""
        try:
            if self.swapped_on:
                _check(_libc.swapoff(self.dev.encode()), f"swapoff {self.dev}")
                self.swapped_on = False
        finally:  # reset and remove even when swapoff failed (removal then says EBUSY)
            super().close()


@dataclass
class KernelRun:
    """One first-touch run on the host kernel."""

    algorithm: str
    latencies_ns: np.ndarray
    verified: int
    pageout_s: float
    swapin_s: float
    #: zram's mm_stat once every page was out (columns as in the kernel's file)
    mm_stat: list[int]
    #: host /proc/vmstat changes: pswpout over the page-out, the rest
    #: (pswpin, pgmajfault, swap_ra, swap_ra_hit) over the touches
    vmstat: dict[str, int] = field(default_factory=dict)


def _pagemap(addr: int, n: int) -> np.ndarray:
    """The pagemap entries of ``n`` pages from ``addr``."""
    with open("/proc/self/pagemap", "rb") as fh:
        fh.seek((addr >> PAGE_SHIFT) * 8)
        return np.frombuffer(fh.read(8 * n), dtype=np.uint64)


def _swapped(addr: int, n: int) -> int:
    pm = _pagemap(addr, n)
    return int(np.count_nonzero((pm & np.uint64(PM_SWAP)) != 0))


@contextlib.contextmanager
def _on_one_cpu() -> Iterator[None]:
    """Run the calling thread on one CPU (the lowest it may use), then give
    back its CPUs. Pages a thread faults in wait in that CPU's LRU batch
    until it is drained; MADV_PAGEOUT drains the batch of the CPU it runs
    on, so filling and paging out on different CPUs leaves pages behind."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def first_touch(pages: np.ndarray, algorithm: str = "lz4", seed: int = 1,
                stage: Callable[[str], None] | None = None) -> KernelRun:
    """The bench's experiment on the host kernel's zram; see the module text.

    ``stage`` is called with "swapon", "filled", "paged out" and "touched" as
    the run gets there. Raises OSError: EPERM/ENODEV (no root, no zram;
    :func:`~swaplab.kernel.zram.unavailable` has the reason), EBUSY when
    pages stayed resident after :data:`PAGEOUT_TRIES` passes, EIO naming the
    first page read back wrong.
    """
    n = len(pages)
    order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    lat = np.empty(n, dtype=np.int64)
    report = stage or (lambda _: None)
    disksize = (n + n // 8 + 1024) << PAGE_SHIFT
    with KernelSwap(algorithm, disksize) as ks, _on_one_cpu():
        report("swapon")
        region = mmap.mmap(-1, n * PAGE_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        view = None
        try:
            with contextlib.suppress(OSError):  # EINVAL on a kernel without THP: 4 KiB anyway
                region.madvise(mmap.MADV_NOHUGEPAGE)  # 4 KiB pages, as swaplab's designs use
            view = np.frombuffer(region, dtype=np.uint8).reshape(n, PAGE_SIZE)
            view[:] = pages
            addr = view.ctypes.data
            report("filled")
            out0 = vmstat("pswpout")
            t = time.perf_counter()
            for _ in range(PAGEOUT_TRIES):
                region.madvise(MADV_PAGEOUT)
                if _swapped(addr, n) == n:
                    break
            pageout = time.perf_counter() - t
            out = _swapped(addr, n)
            if out != n:
                raise OSError(errno.EBUSY, f"kernel zram: {n - out} of {n} pages stayed "
                              f"resident after {PAGEOUT_TRIES} MADV_PAGEOUT passes")
            mm_stat = ks.mm_stat()
            pswpout = vmstat("pswpout")["pswpout"] - out0["pswpout"]
            report("paged out")
            names = ("pswpin", "pgmajfault", "swap_ra", "swap_ra_hit")
            before = vmstat(*names)
            t = time.perf_counter()
            _native.first_touch(view, order, lat)
            swapin = time.perf_counter() - t
            after = vmstat(*names)
            report("touched")
            if not np.array_equal(view, pages):
                bad = int(np.flatnonzero((view != pages).any(axis=1))[0])
                raise OSError(errno.EIO, f"kernel zram: page {bad} read back differs from "
                              "what was written")
        finally:
            view = None
            region.close()
    return KernelRun(algorithm, lat, n, pageout, swapin, mm_stat,
                     {"pswpout": pswpout, **{k: after[k] - before.get(k, 0) for k in after}})
