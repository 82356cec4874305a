"""Fault an arena's memory in ahead of use, off the caller's thread.

swaplab's RAM is anonymous memory of the host (:func:`swaplab.util.anon_arena`):
the first write to each of its pages makes the host fault the page in and
zero it. The kernel's RAM is there from boot, and zsmalloc takes its pages
without zeroing them, so those faults are an artefact of modelling RAM in a
process, not part of what zram does. Measured on a 2-vCPU VM: a store
into fresh pool memory cost 1-4 us more per object than into memory already
touched, about a third of zram's write time at 256 MiB.

A :class:`Prefaulter` keeps a window of an arena ahead of its owner's high-water
mark faulted in, with ``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14) called on
one shared helper thread; the call runs without the GIL, so on a machine with
two CPUs the zeroing overlaps the owner's work. Populating never changes a
byte of the arena, so it is safe whichever side gets to a page first: the
owner may overtake the helper (it then faults the page itself, as without
the helper). Where the call is unavailable the helper turns itself off and
nothing changes but speed.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import queue
import sys
import threading

#: Linux's MADV_POPULATE_WRITE (include/uapi/asm-generic/mman-common.h)
MADV_POPULATE_WRITE = 23

_libc = None
_jobs: queue.SimpleQueue | None = None
_lock = threading.Lock()
_pid = 0  # the process the helper runs in (a forked child starts its own)
_enabled = sys.platform.startswith("linux")


def _madvise_populate(addr: int, length: int) -> int:
    """madvise(addr, length, MADV_POPULATE_WRITE): 0 or the errno it failed with."""
    if _libc.madvise(ctypes.c_void_p(addr), ctypes.c_size_t(length), MADV_POPULATE_WRITE):
        return ctypes.get_errno()
    return 0


def _worker() -> None:
    global _enabled
    while True:
        m, addr, length, done = _jobs.get()
        if length and _enabled and _madvise_populate(addr, length) == errno.EINVAL:
            _enabled = False  # not supported here: the arena just faults as before
        del m  # the mapping stayed mapped while the job held it
        if done is not None:
            done.set()


def _start() -> bool:
    """Start the helper thread in this process (once); False where disabled."""
    global _libc, _jobs, _pid
    with _lock:
        if (_jobs is None or _pid != os.getpid()) and _enabled:
            _pid = os.getpid()
            _libc = ctypes.CDLL(None, use_errno=True)  # the C library the process runs on
            _libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            _libc.madvise.restype = ctypes.c_int
            _jobs = queue.SimpleQueue()
            threading.Thread(target=_worker, name="swaplab-prefault", daemon=True).start()
    return _jobs is not None


def arena_address(arena: mmap.mmap) -> int:
    """The address an mmap is mapped at (held by nothing afterwards)."""
    ref = ctypes.c_char.from_buffer(arena)
    addr = ctypes.addressof(ref)
    del ref
    return addr


class Prefaulter:
    """Keeps part of ``arena`` beyond the owner's high-water mark faulted in:
    as much again as the owner uses, at least ``chunk`` and at most ``window``
    bytes (a pool that stays small costs little), ``chunk`` bytes per call.

    :meth:`advance` does nothing until the owner's mark passes :attr:`due`;
    an allocator can test that itself and call only then. The arena object is
    referenced by every queued job, so it stays mapped until the helper is
    done with it.
    """

    def __init__(self, arena: mmap.mmap, window: int = 32 << 20, chunk: int = 2 << 20) -> None:
        self.arena = arena
        self.size = len(arena)
        self.window = window
        self.chunk = chunk
        #: bytes from the start handed to the helper so far
        self.queued = 0
        #: the mark below which :meth:`advance` has nothing to do
        self.due = 0
        self._addr = 0
        if _start():
            self._addr = arena_address(arena)

    def advance(self, used: int) -> None:
        """The owner now uses the arena's first ``used`` bytes: queue what is
        needed to keep the window ahead of it faulted in, and move :attr:`due`
        to where less than half of that window is left."""
        if not self._addr or not _enabled:
            self.due = self.size  # nothing will ever be queued
            return
        ahead = min(self.window, max(self.chunk, used))
        if used + ahead > self.queued:
            if _pid != os.getpid():
                _start()
            goal = min(self.size, used + ahead)
            start = max(self.queued, used & -mmap.PAGESIZE)  # what the owner passed is in
            while start < goal:
                n = min(self.chunk, self.size - start)
                _jobs.put((self.arena, self._addr + start, n, None))
                start += n
            self.queued = start
        self.due = self.size if self.queued >= self.size else max(used, self.queued - ahead // 2)

    @staticmethod
    def drain() -> None:
        """Wait until every job queued so far is done."""
        if _jobs is None:
            return
        done = threading.Event()
        _jobs.put((None, 0, 0, done))
        done.wait()
