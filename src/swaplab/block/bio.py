"""Bios: one I/O request to a block device (include/linux/blk_types.h).

A bio names an operation, a start sector and a list of segments (``vecs``,
1-D uint8 arrays that the driver reads from or writes into; a segment may
span several pages, as the kernel's multi-page bvecs do). The driver ends
it exactly once with :func:`bio_endio`; ``status`` is 0 or a positive errno
(our ``blk_status_t``, already converted by ``blk_status_to_errno``).
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable
from enum import IntEnum, IntFlag
from typing import TYPE_CHECKING, Any

import numpy as np

from ..consts import SECTOR_SHIFT

if TYPE_CHECKING:
    from .blkdev import BlockDevice


class ReqOp(IntEnum):
    """REQ_OP_* values of the kernel."""

    READ = 0
    WRITE = 1
    FLUSH = 2
    DISCARD = 3
    WRITE_ZEROES = 9


class ReqFlag(IntFlag):
    """Request flags carried beside the op."""

    NONE = 0
    SYNC = 1 << 0
    SWAP = 1 << 1
    FUA = 1 << 2


class Bio:
    """One request: ``op`` at ``sector`` over the segments ``vecs``.

    For DISCARD and WRITE_ZEROES there are no segments; ``nr_sectors`` gives
    the length instead.
    """

    __slots__ = ("_ended", "bdev", "end_io", "flags", "nr_sectors", "op", "private",
                 "sector", "start_ns", "status", "vecs")

    def __init__(
        self,
        bdev: BlockDevice,
        op: ReqOp,
        sector: int,
        vecs: list[np.ndarray] | None = None,
        *,
        flags: ReqFlag = ReqFlag.NONE,
        nr_sectors: int | None = None,
        end_io: Callable[[Bio], None] | None = None,
        private: Any = None,
    ) -> None:
        self.bdev = bdev
        self.op = op
        self.flags = int(flags)  # ReqFlag bits, kept as an int: tested on every bio
        self.sector = sector
        self.vecs = vecs if vecs is not None else []
        if nr_sectors is None:
            nr_sectors = sum(v.nbytes for v in self.vecs) >> SECTOR_SHIFT
        self.nr_sectors = nr_sectors
        self.status = 0
        self.end_io = end_io
        self.private = private
        self._ended = False
        #: when the block layer started accounting it (0: not accounted)
        self.start_ns = 0

    @property
    def size(self) -> int:
        """``bi_size``: bytes covered by the bio."""
        return self.nr_sectors << SECTOR_SHIFT

    def __repr__(self) -> str:
        return (f"Bio({self.op.name} {self.bdev.name} sector={self.sector} "
                f"size={self.size} status={self.status})")


def bio_endio(bio: Bio) -> None:
    """End ``bio``: account it and run its ``end_io``; ending twice is a bug."""
    if bio._ended:
        raise RuntimeError(f"bio_endio called twice on {bio!r}")
    bio._ended = True
    bio.bdev._account_done(bio)
    if bio.end_io is not None:
        bio.end_io(bio)


def submit_bio(bio: Bio) -> None:
    """Hand ``bio`` to its device's driver; completion comes through ``end_io``."""
    bio.bdev.submit_bio(bio)


def submit_bio_wait(bio: Bio) -> int:
    """Submit ``bio`` and sleep until it ends; return 0 or a negative errno.

    The completion is a lock held until ``end_io`` releases it (from whatever
    thread ends the bio): a driver that ends the bio before submit returns
    costs one uncontended acquire, one that ends it later wakes the waiter."""
    done = _thread.allocate_lock()
    done.acquire()
    chained = bio.end_io

    def _wake(b: Bio) -> None:
        if chained is not None:
            chained(b)
        done.release()

    bio.end_io = _wake
    bio.flags |= _SYNC
    submit_bio(bio)
    blk_flush_plug()  # about to sleep: what the plug holds goes first, as schedule() does
    done.acquire()
    return -bio.status


def submit_bios_wait(bios: list[Bio]) -> list[int]:
    """Submit ``bios`` in order and sleep until every one has ended; their
    results (0 or a negative errno) in the same order.

    All are submitted before the caller sleeps, so under the caller's plug
    (block/plug.py) neighbouring ones merge and the driver may have several
    in flight: the batch form of :func:`submit_bio_wait`, for a writer that
    issues many bios and waits once (as the kernel's writeback does)."""
    if not bios:
        return []
    done = _thread.allocate_lock()
    done.acquire()
    guard = _thread.allocate_lock()
    left = [len(bios)]

    def _end(b: Bio) -> None:
        with guard:
            left[0] -= 1
            last = not left[0]
        if last:
            done.release()

    def _chain(first: Callable[[Bio], None]) -> Callable[[Bio], None]:
        def _both(b: Bio) -> None:
            first(b)
            _end(b)
        return _both

    for bio in bios:
        bio.end_io = _end if bio.end_io is None else _chain(bio.end_io)
        bio.flags |= _SYNC
        submit_bio(bio)
    blk_flush_plug()  # about to sleep: what the plug holds goes first
    done.acquire()
    return [-bio.status for bio in bios]


_SYNC = int(ReqFlag.SYNC)


#: each thread's ``current->plug`` (set by block/plug.py's blk_plug)
current = threading.local()


def blk_flush_plug() -> None:
    """Dispatch what the calling thread's plug holds (before it sleeps on I/O)."""
    plug = getattr(current, "plug", None)
    if plug is not None and plug.requests:
        plug.flush()
