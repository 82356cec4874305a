"""A zram device of the host kernel, for side-by-side checks.

:class:`KernelZram` hot-adds a device through /sys/class/zram-control (root
only), configures it through its sysfs files, writes and reads pages with
O_DIRECT in 1 MiB requests, and on exit always resets and removes the device
it added (and any /dev node it had to create). :func:`unavailable` says why
the host cannot serve as an oracle, so tests can skip cleanly.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import mmap
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..consts import PAGE_SIZE
from ..drivers.zram.sysfs import STAT_COLUMNS
from ..util import run_threads

CONTROL = Path("/sys/class/zram-control")
#: mm_stat's columns, the same in the kernel's file and swaplab's
MM_STAT = STAT_COLUMNS["mm_stat"]
CHUNK = 1 << 20


def unavailable() -> str | None:
    """None when a kernel zram device can be hot-added here, else the reason."""
    if not CONTROL.is_dir():
        return "no /sys/class/zram-control (zram not built in or not loaded)"
    if os.geteuid() != 0:
        return "driving the kernel's zram needs root"
    return None


class KernelZram:
    """A hot-added kernel zram device; use as a context manager."""

    def __init__(self, algorithm: str = "lz4", disksize: int = 64 << 20) -> None:
        self.algorithm = algorithm
        self.disksize = disksize
        self.id: int | None = None
        self._made_node = False

    # --- lifetime ---------------------------------------------------------------------------
    def __enter__(self) -> KernelZram:
        why = unavailable()
        if why:
            raise OSError(why)
        self.id = int((CONTROL / "hot_add").read_text())
        try:
            self._ensure_node()
            try:
                self.set("comp_algorithm", self.algorithm)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                offered = self.get("comp_algorithm").replace("[", "").replace("]", "").split()
                raise OSError(errno.EINVAL, f"the host kernel's zram has no algorithm "
                              f"{self.algorithm!r} (it offers: {', '.join(offered)})") from None
            self.set("disksize", str(self.disksize))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Reset and remove the device; remove a /dev node we created."""
        if self.id is None:
            return
        with contextlib.suppress(OSError):
            self.set("reset", "1")
        if self._made_node:
            with contextlib.suppress(OSError):
                os.unlink(self.dev)
        for _ in range(50):
            try:
                (CONTROL / "hot_remove").write_text(str(self.id))
                break
            except OSError:
                time.sleep(0.02)
        self.id = None

    # --- sysfs -----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"zram{self.id}"

    @property
    def sysfs(self) -> Path:
        return Path("/sys/block") / self.name

    @property
    def dev(self) -> str:
        return f"/dev/{self.name}"

    def _ensure_node(self) -> None:
        for _ in range(100):
            if os.path.exists(self.dev):
                return
            time.sleep(0.01)
        major, minor = (int(x) for x in (self.sysfs / "dev").read_text().split(":"))
        os.mknod(self.dev, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
        self._made_node = True

    def set(self, attr: str, value: str) -> None:
        (self.sysfs / attr).write_text(value)

    def get(self, attr: str) -> str:
        return (self.sysfs / attr).read_text()

    def mm_stat(self) -> list[int]:
        return [int(x) for x in self.get("mm_stat").split()]

    # --- I/O -------------------------------------------------------------------------------------
    def _chunks(self, flat: np.ndarray, write: bool, base: int = 0) -> float:
        """Move ``flat`` to (write) or from the device at byte ``base`` in 1 MiB
        O_DIRECT requests through an aligned bounce buffer; seconds taken."""
        buf = mmap.mmap(-1, CHUNK)
        view = np.frombuffer(buf, dtype=np.uint8)
        fd = os.open(self.dev, (os.O_WRONLY if write else os.O_RDONLY) | os.O_DIRECT)
        try:
            t = time.perf_counter()
            for off in range(0, flat.nbytes, CHUNK):
                n = min(CHUNK, flat.nbytes - off)
                if write:
                    view[:n] = flat[off : off + n]
                    os.pwritev(fd, [memoryview(buf)[:n]], base + off)
                else:
                    os.preadv(fd, [memoryview(buf)[:n]], base + off)
                    flat[off : off + n] = view[:n]
            return time.perf_counter() - t
        finally:
            os.close(fd)
            del view
            buf.close()

    def write_pages(self, pages: np.ndarray) -> float:
        """Write ``pages`` from offset 0 with O_DIRECT, 1 MiB at a time; seconds taken."""
        return self._chunks(pages.reshape(-1), write=True)

    def write_pages_threads(self, pages: np.ndarray, nthreads: int) -> float:
        """:meth:`write_pages` from ``nthreads`` threads at once, each its own
        contiguous share of the pages at their offsets (its own descriptor and
        bounce buffer); seconds from the first start to the last finish."""
        flat = pages.reshape(-1)
        cut = [len(pages) * i // nthreads * PAGE_SIZE for i in range(nthreads + 1)]
        return run_threads(lambda lo, hi: self._chunks(flat[lo:hi], write=True, base=lo),
                           [(cut[i], cut[i + 1]) for i in range(nthreads)])

    def read_pages(self, n: int) -> tuple[np.ndarray, float]:
        """Read ``n`` pages from offset 0 with O_DIRECT; (pages, seconds). The
        destination is touched before the clock starts: first-touch page
        faults of the host would be timed as the kernel's reads otherwise."""
        out = np.zeros((n, PAGE_SIZE), dtype=np.uint8)
        out.fill(1)
        return out, self._chunks(out.reshape(-1), write=False)

    @contextlib.contextmanager
    def page_reader(self) -> Iterator[tuple[Callable[[int], int], np.ndarray]]:
        """``(read, page)``: ``read(offset)`` reads the page at byte ``offset``
        with one O_DIRECT pread into ``page``, a page-aligned buffer touched
        before the first read; the descriptor is closed on exit."""
        raw = np.ones(2 * PAGE_SIZE, dtype=np.uint8)
        skip = -raw.ctypes.data % PAGE_SIZE
        page = raw[skip : skip + PAGE_SIZE]
        fd = os.open(self.dev, os.O_RDONLY | os.O_DIRECT)
        try:
            yield functools.partial(os.preadv, fd, [page]), page
        finally:
            os.close(fd)
