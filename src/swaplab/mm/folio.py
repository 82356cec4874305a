"""Folios: handles on runs of page frames, with the flags the swap path uses.

A :class:`Folio` is a two-field handle (memory, head pfn); all state is in
the :class:`~swaplab.mm.page_alloc.PhysMem` arrays at the head pfn, so two
handles on the same pfn are the same folio. Flag names and meanings follow
include/linux/page-flags.h:

==============  ==========================================================
PG_locked       folio lock (I/O in progress, or the holder is changing it)
PG_uptodate     contents are valid; a failed read leaves it clear
PG_dirty        memory is newer than the copy on swap (must be written)
PG_writeback    a write of this folio is in flight
PG_reclaim      reclaim wants it freed as soon as writeback ends
PG_swapcache    the folio is in the swap cache; ``folio.swap`` is its entry
PG_swapbacked   anonymous memory (goes to swap, not to a file)
PG_readahead    brought in by swap readahead, not yet used by a fault
==============  ==========================================================
"""

from __future__ import annotations

import numpy as np

from ..consts import MAX_FOLIO_ORDER, PAGE_SIZE
from .page_alloc import PhysMem


class PG:
    """Folio flag bits (bit numbers of enum pageflags where the kernel has one).

    Plain ints, not an enum: they are read on every page of the hot path.
    """

    locked = 1 << 0
    writeback = 1 << 1
    referenced = 1 << 2
    uptodate = 1 << 3
    dirty = 1 << 4
    lru = 1 << 5
    head = 1 << 6
    active = 1 << 8
    workingset = 1 << 9
    swapcache = 1 << 10
    reclaim = 1 << 16
    swapbacked = 1 << 17
    #: The kernel aliases PG_readahead to PG_reclaim; kept apart here so a
    #: readahead folio can never look like one under reclaim.
    readahead = 1 << 20
    #: The last read of this folio failed (the fault reports EIO).
    error = 1 << 21
    #: The accessed ("young") bit of the folio's one PTE: set by every access,
    #: tested and cleared by reclaim (folio_referenced).
    young = 1 << 22

    @classmethod
    def names(cls, flags: int) -> str:
        """``flags`` as ``locked|dirty``-style text."""
        return "|".join(k for k, v in vars(cls).items()
                        if isinstance(v, int) and not k.startswith("_") and flags & v) or "0"


class Folio:
    """A folio of ``2**order`` pages starting at ``pfn``."""

    __slots__ = ("mem", "pfn")

    def __init__(self, mem: PhysMem, pfn: int) -> None:
        self.mem = mem
        self.pfn = pfn

    @classmethod
    def alloc(cls, mem: PhysMem, order: int = 0) -> Folio | None:
        """Allocate a folio of ``order`` (0..9); None when memory is exhausted."""
        if not 0 <= order <= MAX_FOLIO_ORDER:
            raise ValueError(f"folio order {order} outside 0..{MAX_FOLIO_ORDER}")
        pfn = mem.alloc_pages(order)
        if pfn < 0:
            return None
        if order:
            mem.flags[pfn] = PG.head
        return cls(mem, pfn)

    def get(self) -> None:
        """folio_get: hold the folio so reclaim cannot free it."""
        with self.mem.flag_lock:
            self.mem.refs[self.pfn] += 1

    def put(self) -> None:
        """folio_put: drop a reference taken by :meth:`get`."""
        with self.mem.flag_lock:
            self.mem.refs[self.pfn] -= 1

    def free(self) -> None:
        """Give the frames back; the folio must not be locked, mapped or cached."""
        self.mem.free_pages(self.pfn, self.order)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Folio) and other.pfn == self.pfn and other.mem is self.mem

    def __hash__(self) -> int:
        return hash((id(self.mem), self.pfn))

    def __repr__(self) -> str:
        return f"Folio(pfn={self.pfn}, order={self.order}, flags={PG.names(self.flags)})"

    # --- geometry and contents ----------------------------------------------------------
    # ``.item()``: a numpy scalar index costs several times as much, on
    # every step of every fault
    @property
    def order(self) -> int:
        return self.mem.order.item(self.pfn)

    @property
    def nr_pages(self) -> int:
        return 1 << self.mem.order.item(self.pfn)

    @property
    def size(self) -> int:
        return PAGE_SIZE << self.mem.order.item(self.pfn)

    @property
    def pages(self) -> np.ndarray:
        """The folio's frames as a writable ``(nr_pages, PAGE_SIZE)`` view."""
        return self.mem.data[self.pfn : self.pfn + self.nr_pages]

    @property
    def data(self) -> np.ndarray:
        """The folio's bytes as one contiguous writable 1-D view."""
        return self.pages.reshape(-1)

    # --- swap entry ---------------------------------------------------------------------
    @property
    def swap(self) -> int:
        """``folio->swap``: the first swap entry (0 when none)."""
        return self.mem.swap.item(self.pfn)

    @swap.setter
    def swap(self, entry: int) -> None:
        self.mem.swap[self.pfn] = entry

    @property
    def memcg(self) -> int:
        """Id of the memory cgroup charged for this folio (0: none)."""
        return self.mem.memcg.item(self.pfn)

    # --- flags --------------------------------------------------------------------------
    # One frame's flags are read with ``.item()`` and written back as a Python
    # int: a fifth of the cost of numpy's scalar operators, on every fault.
    @property
    def flags(self) -> int:
        return self.mem.flags.item(self.pfn)

    def test(self, flag: int) -> bool:
        return self.mem.flags.item(self.pfn) & flag != 0

    def set(self, flag: int) -> None:
        flags = self.mem.flags
        with self.mem.flag_lock:
            flags[self.pfn] = flags.item(self.pfn) | flag

    def clear(self, flag: int) -> None:
        flags = self.mem.flags
        with self.mem.flag_lock:
            flags[self.pfn] = flags.item(self.pfn) & ~flag

    def update(self, set_: int, clear: int) -> None:
        """Set ``set_`` and clear ``clear`` in one step."""
        flags = self.mem.flags
        with self.mem.flag_lock:
            flags[self.pfn] = (flags.item(self.pfn) | set_) & ~clear

    def test_and_clear(self, flag: int) -> bool:
        """Clear ``flag``; return whether it was set."""
        flags = self.mem.flags
        with self.mem.flag_lock:
            f = flags.item(self.pfn)
            flags[self.pfn] = f & ~flag
            return f & flag != 0

    # --- lock and writeback (sleeping bits) ---------------------------------------------
    def trylock(self) -> bool:
        """Take PG_locked if free; never waits."""
        flags = self.mem.flags
        with self.mem.flag_lock:
            f = flags.item(self.pfn)
            if f & PG.locked:
                return False
            flags[self.pfn] = f | PG.locked
            return True

    def lock(self) -> None:
        """Take PG_locked, sleeping while another holder has it."""
        mem = self.mem
        with mem.flag_lock:
            while mem.flags.item(self.pfn) & PG.locked:
                mem.wait_flags()
            mem.flags[self.pfn] = mem.flags.item(self.pfn) | PG.locked

    def unlock(self) -> None:
        """Release PG_locked and wake waiters; unlocking an unlocked folio is a bug."""
        mem = self.mem
        with mem.flag_lock:
            f = mem.flags.item(self.pfn)
            if not f & PG.locked:
                raise RuntimeError(f"unlock of unlocked {self!r}")
            mem.flags[self.pfn] = f & ~PG.locked
            mem.wake_flags()

    def start_writeback_unlock(self) -> None:
        """Set PG_writeback and release PG_locked in one step (__swap_writepage)."""
        mem = self.mem
        with mem.flag_lock:
            f = mem.flags.item(self.pfn)
            if not f & PG.locked:
                raise RuntimeError(f"unlock of unlocked {self!r}")
            mem.flags[self.pfn] = (f | PG.writeback) & ~PG.locked
            mem.wake_flags()

    def start_writeback(self) -> None:
        self.set(PG.writeback)

    def end_writeback(self) -> None:
        mem = self.mem
        with mem.flag_lock:
            mem.flags[self.pfn] = mem.flags.item(self.pfn) & ~PG.writeback
            mem.wake_flags()

    def wait_writeback(self) -> None:
        mem = self.mem
        with mem.flag_lock:
            while mem.flags.item(self.pfn) & PG.writeback:
                mem.wait_flags()


def folios_set_flags(mem: PhysMem, pfns: np.ndarray, set_: int = 0, clear: int = 0) -> None:
    """Set and clear flag bits on the folios at ``pfns`` (int64) in one compiled
    call, and wake whoever sleeps on a flag (batch completion path)."""
    with mem.flag_lock:
        mem.map.end_io(pfns, set_, clear)
        mem.wake_flags()
