"""Capture the anonymous memory of a live process (``swaplab capture PID``).

Reads ``/proc/PID/maps`` for the private writable mappings that hold
anonymous memory (no backing file, ``[heap]``, ``[stack]``, ``[anon:...]``),
``/proc/PID/pagemap`` to keep only pages the process has actually touched
(present or swapped; when pagemap cannot be read every page is kept), and
``/proc/PID/mem`` for their contents. The process is stopped (SIGSTOP) while
it is read, so the pages form one consistent snapshot, and continued
afterwards. Pages that cannot be read (EIO: guard pages) are skipped.

With ``sample=N`` only a seeded sample of N touched pages is read: the list
of touched pages comes from pagemap while the process runs (8 bytes a page),
then the process is stopped just for the read of the sample. Memory and the
stop then grow with the sample, not with the process.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..consts import PAGE_SIZE
from ..errors import kerror
from .pagefile import PageFile

_SKIP = ("[vvar]", "[vdso]", "[vsyscall]", "[vvar_vclock]", "[uprobes]")
PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62


@dataclass(frozen=True)
class Mapping:
    start: int
    end: int
    perms: str
    path: str

    @property
    def anonymous(self) -> bool:
        if "r" not in self.perms or "w" not in self.perms or "p" not in self.perms:
            return False
        if self.path in _SKIP:
            return False
        return (not self.path or self.path in ("[heap]", "[stack]")
                or self.path.startswith("[anon:") or self.path.startswith("[stack:"))


def read_maps(pid: int) -> list[Mapping]:
    """The mappings of ``pid`` from /proc/PID/maps; ESRCH when there is no such process."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise kerror(errno.ESRCH, f"no process {pid}") from None
    except PermissionError:
        raise kerror(errno.EPERM, f"cannot read /proc/{pid}/maps (ptrace permission)") from None
    out = []
    for line in lines:
        parts = line.split(None, 5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        out.append(Mapping(lo, hi, parts[1], parts[5] if len(parts) > 5 else ""))
    return out


def _touched(pm_fd: int | None, m: Mapping) -> np.ndarray:
    """Page indices of ``m`` that are present or swapped (all when pagemap is unreadable)."""
    n = (m.end - m.start) // PAGE_SIZE
    if pm_fd is None:
        return np.arange(n)
    try:
        raw = os.pread(pm_fd, n * 8, (m.start // PAGE_SIZE) * 8)
    except OSError:
        return np.arange(n)
    ents = np.frombuffer(raw, dtype=np.uint64)
    return np.flatnonzero((ents & np.uint64(PM_PRESENT | PM_SWAP)) != 0)


def capture(pid: int, *, freeze: bool = True, max_pages: int | None = None,
            sample: int | None = None, seed: int = 0) -> PageFile:
    """Snapshot the touched anonymous pages of ``pid``.

    With ``freeze`` the process is stopped while it is read (and continued
    even if reading fails). ``max_pages`` caps the capture (first pages
    first); ``sample`` reads a seeded sample of that many touched pages
    instead (all of them when there are fewer), in address order, never
    holding the rest (see the module text). ``meta["stopped_s"]`` is how long
    the process was stopped.
    """
    if sample is not None and sample < 0:
        raise kerror(errno.EINVAL, f"capture: a sample of {sample} pages")
    maps = [m for m in read_maps(pid) if m.anonymous]
    if sample is not None:  # listed while the process runs; stopped for the read only
        touched, pagemap = _touched_pages(pid, maps)
        pick = np.random.default_rng(seed).choice(len(touched), size=min(sample, len(touched)),
                                                  replace=False)
        touched = touched[np.sort(pick)]
    with _stopped(pid, freeze) as stop:
        if sample is None:  # the list and the pages: one snapshot
            touched, pagemap = _touched_pages(pid, maps)
            touched = touched[:max_pages]
        pf = _read_listed(pid, maps, touched, pagemap)
    pf.meta["stopped_s"] = stop.seconds
    if sample is not None:
        pf.meta.update(sample=sample, seed=seed)
    return pf


class _Stop:
    seconds = 0.0


@contextlib.contextmanager
def _stopped(pid: int, freeze: bool) -> Iterator[_Stop]:
    """SIGSTOP ``pid`` (unless ``freeze`` is off or it is us) until the block
    ends, SIGCONT even on error; the time it was stopped is ``seconds``."""
    stop = _Stop()
    if not freeze or pid == os.getpid():
        yield stop
        return
    t0 = time.monotonic()
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        raise kerror(errno.ESRCH, f"no process {pid}") from None
    try:
        _wait_stopped(pid)
        yield stop
    finally:
        os.kill(pid, signal.SIGCONT)
        stop.seconds = time.monotonic() - t0


def touched_count(pid: int) -> int:
    """How many anonymous pages ``pid`` has touched (present or swapped), from
    pagemap, without reading any: the size a sample of it stands for."""
    touched, _ = _touched_pages(pid, [m for m in read_maps(pid) if m.anonymous])
    return len(touched)


def _touched_pages(pid: int, maps: list[Mapping]) -> tuple[np.ndarray, bool]:
    """Page numbers (address >> PAGE_SHIFT) of the touched pages of ``maps``,
    from pagemap (every page of the mappings when it cannot be read), and
    whether pagemap was read."""
    try:
        pm_fd: int | None = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    except OSError:
        pm_fd = None
    try:
        parts = []
        for m in maps:
            t = _touched(pm_fd, m).astype(np.int64, copy=False)
            t += m.start // PAGE_SIZE  # in place: one array a mapping
            parts.append(t)
    finally:
        if pm_fd is not None:
            os.close(pm_fd)
    if len(parts) == 1:
        return parts[0], pm_fd is not None
    touched = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return touched, pm_fd is not None


def _read_listed(pid: int, maps: list[Mapping], pfns: np.ndarray, pagemap: bool) -> PageFile:
    """The pages numbered ``pfns`` (virtual page numbers, ascending) of ``pid``."""
    try:
        mem_fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except PermissionError:
        raise kerror(errno.EPERM, f"cannot read /proc/{pid}/mem (ptrace permission)") from None
    try:
        pages, vaddrs, skipped = _read_pages(mem_fd, 0, pfns)
    finally:
        os.close(mem_fd)
    return PageFile(pages, vaddrs, _meta(pid, maps, pagemap, skipped))


def _meta(pid: int, maps: list[Mapping], pagemap: bool, skipped: int) -> dict:
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        comm = "?"
    return {"source": "capture", "pid": pid, "comm": comm, "time": time.time(),
            "mappings": len(maps), "pagemap": pagemap, "unreadable": skipped}


def _wait_stopped(pid: int, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t"):
            return
        time.sleep(0.001)


def _read_pages(fd: int, base: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Read pages ``base + idx * PAGE_SIZE``, runs of consecutive pages at a
    time, straight into the result (no copy of what was read)."""
    out = np.empty((len(idx), PAGE_SIZE), dtype=np.uint8)
    ok = np.zeros(len(idx), dtype=bool)
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate(([0], breaks)).tolist()
    ends = np.concatenate((breaks, [len(idx)])).tolist()
    for s0, e0 in zip(starts, ends, strict=True):
        for k in range(s0, e0, 256):
            e = min(e0, k + 256)
            addr = base + int(idx[k]) * PAGE_SIZE
            try:
                got = os.preadv(fd, [out[k:e]], addr)
            except OSError:
                got = 0
            full = got // PAGE_SIZE
            ok[k : k + full] = True
            for j in range(k + full, e):  # the rest page by page
                try:
                    if os.preadv(fd, [out[j]], base + int(idx[j]) * PAGE_SIZE) == PAGE_SIZE:
                        ok[j] = True
                except OSError:
                    continue
    va = (base + idx.astype(np.uint64) * PAGE_SIZE).astype(np.uint64)
    if ok.all():
        return out, va, 0
    return out[ok], va[ok], int(np.count_nonzero(~ok))
