"""Access patterns: which page a process touches next, and whether it writes.

Every pattern is a seeded generator of chunks ``(vpns, writes)`` (two numpy
arrays), so a run is repeated exactly by its seed:

- ``sequential``: pages in order, wrapping around;
- ``uniform``: every page equally likely;
- ``zipf``: page of rank k is touched with probability proportional to
  ``1 / k**s`` (hot and cold pages); ranks are assigned to pages through a
  seeded permutation, so hot pages are scattered over the address space;
- ``phased`` (a schedule, see :func:`schedule`): processes take turns, each
  running ``phase`` accesses of its own pattern before the next ("app switch");
- trace replay (:func:`read_trace`): a CSV of ``time,pid,address,rw``.

The dirty model (:class:`DirtyModel`) says how a page changes when written:
a span of its bytes is replaced by the bytes at the same offset of another
corpus page, so written pages keep the character (and compressibility) of
real data instead of turning into noise or staying identical.
"""

from __future__ import annotations

import csv
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..consts import PAGE_SIZE
from ..errors import kerror

PATTERNS = ("sequential", "uniform", "zipf")
CHUNK = 4096


def access_chunks(pattern: str, nr_pages: int, count: int, *, seed: int,
                  write_ratio: float = 0.3, zipf_s: float = 1.0,
                  chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``count`` accesses over ``nr_pages`` pages in chunks of at most ``chunk``."""
    if pattern not in PATTERNS:
        raise kerror(errno.EINVAL, f"access pattern {pattern!r}: not one of {', '.join(PATTERNS)}")
    if nr_pages <= 0:
        raise kerror(errno.EINVAL, f"access pattern over {nr_pages} pages")
    rng = np.random.default_rng(seed)
    cdf = perm = None
    if pattern == "zipf":
        if zipf_s <= 0:
            raise kerror(errno.EINVAL, f"zipf exponent {zipf_s} must be > 0")
        w = 1.0 / np.arange(1, nr_pages + 1, dtype=np.float64) ** zipf_s
        cdf = np.cumsum(w)
        cdf /= cdf[-1]
        perm = rng.permutation(nr_pages)
    pos = 0
    done = 0
    while done < count:
        n = min(chunk, count - done)
        if pattern == "sequential":
            vpns = (pos + np.arange(n)) % nr_pages
            pos = int(vpns[-1]) + 1
        elif pattern == "uniform":
            vpns = rng.integers(0, nr_pages, size=n)
        else:
            vpns = perm[np.minimum(np.searchsorted(cdf, rng.random(n)), nr_pages - 1)]
        writes = rng.random(n) < write_ratio
        yield vpns.astype(np.int64), writes
        done += n


def schedule(streams: list[Iterator[tuple[np.ndarray, np.ndarray]]], mode: str, *,
             phase: int = 10000) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Merge per-process streams into one run: ``(process index, vpns, writes)`` chunks.

    ``interleaved``: processes take one chunk each in turn (all active at once);
    ``phased``: a process runs ``phase`` accesses, then the next one does.
    """
    if mode not in ("interleaved", "phased"):
        raise kerror(errno.EINVAL, f"schedule {mode!r}: not interleaved or phased")
    live = list(range(len(streams)))
    pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    while live:
        for i in list(live):
            want = phase if mode == "phased" else CHUNK
            while want > 0:
                if i in pending:
                    v, w = pending.pop(i)
                else:
                    try:
                        v, w = next(streams[i])
                    except StopIteration:
                        live.remove(i)
                        break
                if len(v) > want:
                    pending[i] = (v[want:], w[want:])
                    v, w = v[:want], w[:want]
                want -= len(v)
                yield i, v, w


@dataclass
class TraceRecord:
    time: np.ndarray  # float seconds
    pid: np.ndarray
    vpn: np.ndarray
    write: np.ndarray


def read_trace(path: str | os.PathLike[str]) -> TraceRecord:
    """Load a ``time,pid,address,rw`` CSV (header optional; rw is r or w).

    EINVAL names the file, line and field of the first bad record.
    """
    name = os.fspath(path)
    times, pids, vpns, ws = [], [], [], []
    try:
        f = open(name, newline="")  # noqa: SIM115
    except OSError as e:
        raise kerror(e.errno or errno.EIO, f"{name}: {e.strerror}") from None
    with f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row or row[0].startswith("#"):
                continue
            if lineno == 1 and row[0].strip().lower() == "time":
                continue
            if len(row) != 4:
                raise kerror(errno.EINVAL, f"{name}:{lineno}: {len(row)} fields, want "
                             "time,pid,address,rw")
            t, pid, addr, rw = (x.strip() for x in row)
            try:
                tv = float(t)
                pv = int(pid)
                av = int(addr, 0)
            except ValueError:
                raise kerror(errno.EINVAL, f"{name}:{lineno}: bad number in {row}") from None
            if rw not in ("r", "w"):
                raise kerror(errno.EINVAL, f"{name}:{lineno}: rw is {rw!r}, want r or w")
            if av < 0 or tv < 0 or (times and tv < times[-1]):
                raise kerror(errno.EINVAL, f"{name}:{lineno}: negative address or time, or "
                             "time going backwards")
            times.append(tv)
            pids.append(pv)
            vpns.append(av // PAGE_SIZE)
            ws.append(rw == "w")
    if not times:
        raise kerror(errno.EINVAL, f"{name}: no records")
    return TraceRecord(np.array(times), np.array(pids), np.array(vpns, dtype=np.int64),
                       np.array(ws, dtype=bool))


class DirtyModel:
    """How a written page changes: a span of ``min_bytes``..``max_bytes`` (8-byte
    aligned, log-uniform length) is replaced with the same span of a donor page.

    The spans are drawn from the seeded generator :data:`BATCH` writes at a
    time (length, offset and donor as three arrays), so a write costs a few
    list lookups instead of three generator calls; the sequence of spans
    depends only on the seed."""

    #: writes whose spans are drawn in one go
    BATCH = 4096

    def __init__(self, donors: np.ndarray, seed: int, min_bytes: int = 64,
                 max_bytes: int = 1024) -> None:
        if not 8 <= min_bytes <= max_bytes <= PAGE_SIZE:
            raise kerror(errno.EINVAL, f"dirty span {min_bytes}..{max_bytes} must lie in "
                         f"8..{PAGE_SIZE}")
        self.donors = donors
        #: the donors as one flat byte view: spans are copied by buffer slicing
        self._flat = memoryview(np.ascontiguousarray(donors).reshape(-1))
        self.rng = np.random.default_rng(seed)
        self.lo, self.hi = np.log(min_bytes), np.log(max_bytes)
        self._spans: list[tuple[int, int, int]] = []

    def _draw(self) -> None:
        """The next :data:`BATCH` spans as (offset, length, donor), last first."""
        rng, n = self.rng, self.BATCH
        ln = np.exp(rng.uniform(self.lo, self.hi, n)).astype(np.int64) & ~7
        ln[ln == 0] = 8
        off = (rng.random(n) * ((PAGE_SIZE - ln) // 8 + 1)).astype(np.int64) * 8
        donor = rng.integers(len(self.donors), size=n)
        self._spans = list(zip(off[::-1].tolist(), ln[::-1].tolist(), donor[::-1].tolist(),
                               strict=True))

    def apply(self, page: np.ndarray) -> None:
        """Modify ``page`` (a writable PAGE_SIZE uint8 view) in place: a span of
        it takes a donor's bytes, and the span's first byte has its low bit
        flipped, so the page changes even when the donor's bytes equal its own."""
        self.write(memoryview(page), 0)

    def write(self, frames: memoryview, at: int) -> None:
        """:meth:`apply` to the page at byte ``at`` of ``frames`` (a writable
        flat byte view, e.g. of the whole frame array), by buffer slicing: a
        third of what numpy slicing costs, on every write of a workload."""
        if not self._spans:
            self._draw()
        off, ln, d = self._spans.pop()
        src = d * PAGE_SIZE + off
        dst = at + off
        frames[dst : dst + ln] = self._flat[src : src + ln]
        frames[dst] = self._flat[src] ^ 1
