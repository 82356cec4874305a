"""Swap I/O: swap_iocb batching, the swap_ops protocol, read/write completion,
and the default block and file ops (mm/page_io.c after the swap_iocb rework).

Rules (kernel-facts §1):

- A caller builds a batch in a :class:`SwapIoCtx` with :func:`swap_add_folio`.
  A batch holds at most ``SWAP_CLUSTER_MAX`` (32) folios of one swap area and
  one direction. A folio of another area, or one the area's ``can_merge``
  rejects, first flushes the current batch; ``can_merge=None`` means any
  folio of the same area may join. A batch is submitted the moment it holds
  32 folios, and otherwise at the caller's flush (:func:`swap_write_submit`,
  :func:`swap_read_submit`: the "plug flush").
- Submitting hands ``ctx.sio`` to ``sis.ops.submit_write`` / ``submit_read``.
  The backend owns the batch from then on and must call :func:`swap_write_end`
  or :func:`swap_read_end` exactly once for it, now or from a completion. A
  second call raises :class:`BatchEndedTwice` (a ``RuntimeError``). A backend
  that raises anything else from ``submit_*`` has its batch ended as failed
  and the error logged: a broken backend cannot wedge the core.
- A batch succeeds or fails whole. A failed write re-dirties every folio and
  clears PG_reclaim, so the data stays in memory; a failed read leaves every
  folio not uptodate (PG_error set) and the fault reports EIO.
- Counters: ``pswpout`` (and thp/mTHP swpout) at submission, counted even if
  the write later fails; ``pswpin`` and mTHP swpin at successful read
  completion only; ``nrswpout``/``nrswpin`` once per submitted batch (v5).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from .. import _native
from ..block.bio import Bio, ReqFlag, ReqOp, submit_bio, submit_bio_wait
from ..consts import HPAGE_PMD_ORDER, PAGE_SHIFT, SECTORS_PER_PAGE_SHIFT, SWAP_CLUSTER_MAX
from .folio import PG, Folio, folios_set_flags
from .memcontrol import MEMCG_PSWPIN, MemcgEvent
from .swap_iocb import READ, WRITE, SwapIocb, SwapIoCtx, SwapOps
from .swapops import swp_offset
from .vmstat import NRSWPIN, NRSWPOUT, PSWPIN, MthpStat, VmEvent
from .vswap_table import VT

_perf_ns = time.perf_counter_ns

if TYPE_CHECKING:
    from ..system import System
    from .swapfile import SwapInfo

def _system(folio: Folio) -> System:
    return folio.mem.system


def folio_swap_info(folio: Folio) -> SwapInfo:
    """The swap area of ``folio.swap`` (swp_swap_info)."""
    return _system(folio).swap.info_of(folio.swap)


# --- batching --------------------------------------------------------------------------

def swap_can_merge(ctx: SwapIoCtx, folio: Folio, rw: int) -> bool:
    """May ``folio`` join the batch in ``ctx``? Same area, same direction, ops agree."""
    sio = ctx.sio
    assert sio is not None
    if folio_swap_info(folio) is not ctx.sis or sio.rw != rw:
        return False
    can_merge = ctx.sis.ops.can_merge
    if can_merge is None:
        return True
    prev = sio.folios[-1]
    return can_merge(folio, prev, prev.size, rw)


def _submit(ctx: SwapIoCtx, rw: int) -> None:
    if rw == WRITE:
        swap_write_submit(ctx)
    else:
        swap_read_submit(ctx)


def swap_add_folio(ctx: SwapIoCtx, folio: Folio, rw: int, sis: SwapInfo | None = None) -> None:
    """Add ``folio`` to the caller's batch, flushing first or after as the
    rules say. ``sis``, when given, is the folio's area (saves the lookup)."""
    if ctx.sio is not None and not swap_can_merge(ctx, folio, rw):
        _submit(ctx, ctx.sio.rw)
    if ctx.sio is None:
        if sis is None:
            sis = folio_swap_info(folio)
        ctx.sis = sis
        ctx.sio = SwapIocb(sis, rw)
    sio = ctx.sio
    sio.folios.append(folio)
    sio.len += folio.size
    if len(sio.folios) >= SWAP_CLUSTER_MAX:
        _submit(ctx, rw)


def swap_add_folios(ctx: SwapIoCtx, folios: list[Folio], sis: SwapInfo, rw: int) -> None:
    """:func:`swap_add_folio` for folios all of area ``sis``, in order.

    With ``can_merge=None`` nothing needs asking per folio: the folios go into
    the batch 32 at a time. Otherwise each folio goes through swap_add_folio.
    """
    if sis.ops.can_merge is not None:
        for f in folios:
            swap_add_folio(ctx, f, rw)
        return
    if ctx.sio is not None and (ctx.sis is not sis or ctx.sio.rw != rw):
        _submit(ctx, ctx.sio.rw)
    k = 0
    n = len(folios)
    while k < n:
        if ctx.sio is None:
            ctx.sis = sis
            ctx.sio = SwapIocb(sis, rw)
        sio = ctx.sio
        take = folios[k : k + SWAP_CLUSTER_MAX - len(sio.folios)]
        sio.folios.extend(take)
        sio.len += sum(f.size for f in take)
        k += len(take)
        if len(sio.folios) >= SWAP_CLUSTER_MAX:
            _submit(ctx, rw)


def _flush(ctx: SwapIoCtx, rw: int, event: int) -> None:
    """Hand the batch to the area's ops. A backend that raises instead of
    completing does not wedge the core: the error is logged, the batch ends
    as failed (pages stay dirty / not uptodate) unless the backend ended it
    already, and the area's in-flight count drops, so swapoff still works."""
    sio = ctx.sio
    if sio is None:
        return
    sis = ctx.sis
    sis.system.vmstat.count(event)
    sis.io_begin()
    sio.start_ns = _perf_ns()
    try:
        if rw == WRITE:
            sis.ops.submit_write(ctx)
        else:
            sis.ops.submit_read(ctx)
    except BatchEndedTwice:
        raise
    except Exception as e:  # a broken backend; the kernel would oops, we log
        what = "submit_write" if rw == WRITE else "submit_read"
        sis.system.printk.ratelimited(f"swap-ops-{what}", logging.ERROR,
                                      f"swap: {sis.ops.name} {what} of {sio!r} failed: "
                                      f"{e!r}; the batch fails")
        if not sio.ended:
            (swap_write_end if rw == WRITE else swap_read_end)(sio, True)
    finally:
        ctx.sio = None
        ctx.sis = None


def swap_write_submit(ctx: SwapIoCtx) -> None:
    """Flush the write batch being built (no-op when there is none)."""
    _flush(ctx, WRITE, NRSWPOUT)


def swap_read_submit(ctx: SwapIoCtx) -> None:
    """Flush the read batch being built (no-op when there is none)."""
    _flush(ctx, READ, NRSWPIN)


# --- completion ------------------------------------------------------------------------

class BatchEndedTwice(RuntimeError):
    """A backend completed a batch a second time: a contract violation the
    core reports to the caller (it is not a failed batch)."""


def _end_once(sio: SwapIocb, what: str) -> None:
    """Mark the batch ended (BatchEndedTwice the second time) and add the time
    since its submission to the area's ``backend_ns``."""
    sis = sio.sis
    sis.io_lock.acquire()  # not ``with``: every batch (see VmStat)
    try:
        if sio._ended:
            raise BatchEndedTwice(f"{what} called twice for {sio!r}")
        sio._ended = True
        if sio.start_ns:
            sis.backend_ns[sio.rw] += _perf_ns() - sio.start_ns
    finally:
        sis.io_lock.release()


def swap_write_end(sio: SwapIocb, failed: bool) -> None:
    """Complete a write batch: on failure re-dirty every folio and clear PG_reclaim;
    always end writeback. Must run exactly once per submitted batch."""
    _end_once(sio, "swap_write_end")
    mem = sio.folios[0].mem
    if failed:
        folios_set_flags(mem, sio.pfns(), set_=PG.dirty, clear=PG.reclaim | PG.writeback)
    else:
        folios_set_flags(mem, sio.pfns(), clear=PG.writeback)
    sio.sis.io_end()


def swap_read_end(sio: SwapIocb, failed: bool) -> None:
    """Complete a read batch: on success mark every folio uptodate and count
    pswpin (the machine's, each folio's cgroup's, and mTHP swpin per large
    folio); on failure leave them not uptodate with PG_error. Unlock every
    folio. Must run exactly once per submitted batch."""
    _end_once(sio, "swap_read_end")
    system = sio.sis.system
    mem = sio.folios[0].mem
    if failed:
        folios_set_flags(mem, sio.pfns(), set_=PG.error, clear=PG.locked | PG.uptodate)
    else:
        stats = system.memcg_stats
        pfns = sio.pfns()
        mem.flag_lock.acquire()  # not ``with``: every batch (see VmStat)
        try:  # one compiled walk: flags and cgroup counts (atomic, as a Counters step)
            nr, orders = mem.map.end_io(pfns, PG.uptodate, PG.locked | PG.error,
                                        stats.ev, MEMCG_PSWPIN)
            mem.wake_flags()
        finally:
            mem.flag_lock.release()
        system.vmstat.count(PSWPIN, nr)
        if orders is not None:
            for order, n in enumerate(orders):
                if n:
                    system.vmstat.count_mthp(order, MthpStat.swpin, n)
    sio.sis.io_end()


# --- swap-out --------------------------------------------------------------------------

def is_folio_zero_filled(folio: Folio) -> bool:
    """All bytes zero? Looks at the last word of each page first, like the kernel."""
    mem, pfn = folio.mem, folio.pfn
    nr = 1 << int(mem.order[pfn])
    if nr == 1:
        if mem.data64[pfn, -1]:
            return False
        return not mem.data64[pfn].any()
    words = mem.data64[pfn : pfn + nr]
    if words[:, -1].any():
        return False
    return not words.any()


#: swap_writeout's "keep this folio in memory" (the folio is dirty again)
AOP_WRITEPAGE_ACTIVATE = 0x80000


def _writeout_folio(folio: Folio, ctx: SwapIoCtx) -> int:
    """swap_writeout's steps for one locked, swap-cache folio, in the kernel's
    order (the caller has cleared PG_dirty): free its swap if nothing
    references the slots; all zeroes -> the zero map, no I/O; zswap may take
    it; a cgroup with memory.zswap.writeback = 0 keeps it (dirty,
    AOP_WRITEPAGE_ACTIVATE); else __swap_writepage. Returns 0 or
    AOP_WRITEPAGE_ACTIVATE; the folio is unlocked, and under writeback in
    ``ctx`` when it was written."""
    system = _system(folio)
    entry = folio.swap
    sis = system.swap.info_of(entry)
    off = swp_offset(entry)
    nr = folio.nr_pages
    # folio_free_swap, with the cheap test first: a referenced slot keeps its swap
    if not (sis.swap_map.item(off) if nr == 1 else sis.swap_map[off : off + nr].any()):
        from .swapfile import folio_free_swap  # cycle: swapfile submits through page_io

        if folio_free_swap(folio):
            folio.unlock()
            return 0
    if is_folio_zero_filled(folio):
        sis.zeromap[off : off + nr] = True
        if sis.vswap is not None:
            sis.vswap.mark(np.arange(off, off + nr), VT.ZERO)
        system.vmstat.count(VmEvent.swpout_zero, nr)
        system.memcg_stats.count(int(folio.mem.memcg[folio.pfn]), MemcgEvent.swpout_zero, nr)
        folio.unlock()
        return 0
    if nr == 1:
        sis.zeromap[off] = False
    else:
        sis.zeromap[off : off + nr] = False
    zswap = system.zswap
    if zswap is not None and zswap.store(folio):
        system.vmstat.count_mthp(folio.order, MthpStat.zswpout)
        folio.unlock()
        return 0
    memcg = system.memcgs.get(int(folio.mem.memcg[folio.pfn]))
    if memcg is not None and not memcg.zswap_writeback:
        # memory.zswap.writeback = 0: this cgroup's pages never reach the device
        folio.set(PG.dirty)
        folio.unlock()
        return AOP_WRITEPAGE_ACTIVATE
    __swap_writepage(folio, ctx)
    return 0


def __swap_writepage(folio: Folio, ctx: SwapIoCtx) -> None:
    """Count the write, start writeback, unlock, and add the folio to the batch."""
    system = _system(folio)
    order = folio.order
    if order:
        if order == HPAGE_PMD_ORDER:
            system.vmstat.count(VmEvent.thp_swpout)
        system.vmstat.count_mthp(order, MthpStat.swpout)
    system.vmstat.count(VmEvent.pswpout, 1 << order)
    system.memcg_stats.count(int(folio.mem.memcg[folio.pfn]), MemcgEvent.pswpout, 1 << order)
    folio.start_writeback_unlock()
    swap_add_folio(ctx, folio, WRITE)


swap_writepage = __swap_writepage


#: SwapTable.writeout_scan's verdicts (enum swap_writeout_class)
_WO_WRITE, _WO_ZERO, _WO_SLOW = _native.SWAP_WO_WRITE, _native.SWAP_WO_ZERO, _native.SWAP_WO_SLOW


def swap_writeout(folios: list[Folio], ctx: SwapIoCtx) -> None:
    """swap_writeout for a reclaim pass's locked swap-cache folios (PG_dirty
    cleared); one folio is a list of one. Each folio gets the steps of
    :func:`_writeout_folio`, and folios join ``ctx`` in list order, so the
    batches are the ones folio-by-folio calls would build. Every folio ends
    unlocked, under writeback in ``ctx`` when it was written.

    The common case (order-0 folios of one area, zswap off) takes one
    compiled step for the slots, the zero test, the zero map, and
    PG_writeback set with PG_locked released in one store
    (SwapTable.writeout_scan); the counters follow as arrays.
    Large folios, unreferenced slots and zswap take the folio-by-folio steps
    (tests/test_batch_core.py: the array form equals a loop of single calls).
    """
    n = len(folios)
    if not n:
        return
    mem = folios[0].mem
    system = mem.system
    scan = None
    if system.zswap is None and all(cg.zswap_writeback for cg in system.memcgs.values()):
        pfns = np.fromiter((f.pfn for f in folios), dtype=np.int64, count=n)
        sis = system.swap.info_of(mem.swap.item(folios[0].pfn))
        offs = np.empty(n, dtype=np.int64)
        cls = np.empty(n, dtype=np.uint8)
        with mem.flag_lock:  # zero test, zero map, PG_writeback and unlock: compiled
            scan = sis.table.writeout_scan(mem.map, mem.data64, pfns, sis.type, offs,
                                           sis.zeromap, cls)
            if scan is not None:
                mem.wake_flags()
    if scan is None:  # large folios, several areas or zswap: folio by folio
        for f in folios:
            _writeout_folio(f, ctx)
        return
    nwrite, nzero = scan
    if nzero:
        zero = cls == _WO_ZERO
        if sis.vswap is not None:
            sis.vswap.mark(offs[zero], VT.ZERO)
        system.vmstat.count(VmEvent.swpout_zero, nzero)
        system.memcg_stats.count_ids(mem.memcg[pfns[zero]], MemcgEvent.swpout_zero)
    if nwrite:
        system.vmstat.count(VmEvent.pswpout, nwrite)
        system.memcg_stats.count_ids(
            mem.memcg[pfns if nwrite == n else pfns[cls == _WO_WRITE]], MemcgEvent.pswpout)
    if nwrite == n:
        swap_add_folios(ctx, folios, sis, WRITE)
        return
    if nwrite + nzero == n:
        swap_add_folios(ctx, [folios[k] for k in np.flatnonzero(cls == _WO_WRITE)], sis, WRITE)
        return
    for k, c in enumerate(cls.tolist()):
        if c == _WO_WRITE:
            swap_add_folio(ctx, folios[k], WRITE)
        elif c == _WO_SLOW:
            _writeout_folio(folios[k], ctx)


# --- swap-in ---------------------------------------------------------------------------

def swap_read_folio(folio: Folio, ctx: SwapIoCtx, sis: SwapInfo | None = None,
                    off: int = 0) -> None:
    """Start reading a locked, not-uptodate swap-cache folio (of area ``sis``
    at slot ``off``, when the caller has them at hand).

    Zero-map pages are filled at once and zswap is asked before any device
    I/O; otherwise the folio joins the read batch in ``ctx`` and is unlocked by
    :func:`swap_read_end` when the batch completes.
    """
    if sis is None:
        sis = folio_swap_info(folio)
        off = swp_offset(folio.swap)
    system = sis.system
    nr = folio.nr_pages
    # an order-0 folio's zero bit is one scalar read (every fault takes it)
    if nr > 1 or sis.zeromap.item(off):
        zero = sis.zeromap[off : off + nr]
        if zero.all():
            folio.data[:] = 0
            folio.set(PG.uptodate)
            system.vmstat.count(VmEvent.swpin_zero, nr)
            system.memcg_stats.count(folio.mem.memcg.item(folio.pfn), MemcgEvent.swpin_zero,
                                     nr)
            folio.unlock()
            return
        if zero.any():
            folio.set(PG.error)
            folio.unlock()
            return
    zswap = system.zswap
    if zswap is not None:
        ret = zswap.load(folio)
        if ret != -errno.ENOENT:
            if ret:
                folio.set(PG.error)
            folio.unlock()
            return
    swap_add_folio(ctx, folio, READ, sis)


# --- the default block ops (swap_bdev_ops) ---------------------------------------------

def swap_folio_sector(folio: Folio) -> int:
    """Sector of the folio's first page, through the area's extent map."""
    sis = folio_swap_info(folio)
    return sis.offset_to_block(swp_offset(folio.swap)) << SECTORS_PER_PAGE_SHIFT


def swap_bdev_can_merge(folio: Folio, prev: Folio, prev_size: int, rw: int) -> bool:
    """Sector-contiguous after ``prev``, and for writes charged to the same cgroup."""
    if swap_folio_sector(folio) != swap_folio_sector(prev) + (prev_size >> 9):
        return False
    return rw != WRITE or folio.memcg == prev.memcg


def _bdev_bio(ctx: SwapIoCtx, op: ReqOp) -> Bio:
    sio = ctx.sio
    return Bio(ctx.sis.bdev, op, swap_folio_sector(sio.folios[0]),
               [f.data for f in sio.folios], flags=ReqFlag.SWAP)


def _bdev_end_message(sio: SwapIocb, bio: Bio, rw: int) -> None:
    sis = sio.sis
    what = "Write-error" if rw == WRITE else "Read-error"
    sis.system.printk.ratelimited(
        f"{what}-swap", logging.ERROR,
        f"{what} on swap-device ({sis.bdev.major}:{sis.bdev.minor}:{bio.sector})")


def _bdev_end(sio: SwapIocb, bio: Bio, rw: int) -> None:
    if bio.status:
        _bdev_end_message(sio, bio, rw)
    (swap_write_end if rw == WRITE else swap_read_end)(sio, bio.status != 0)


def _bdev_submit(ctx: SwapIoCtx, rw: int) -> None:
    sio = ctx.sio
    bio = _bdev_bio(ctx, ReqOp.WRITE if rw == WRITE else ReqOp.READ)
    if ctx.sis.synchronous_io:
        submit_bio_wait(bio)
        _bdev_end(sio, bio, rw)
    else:
        bio.end_io = lambda b: _bdev_end(sio, b, rw)
        submit_bio(bio)


def swap_bdev_submit_write(ctx: SwapIoCtx) -> None:
    """One WRITE bio (REQ_SWAP) for the whole batch; waits on synchronous devices."""
    _bdev_submit(ctx, WRITE)


def swap_bdev_submit_read(ctx: SwapIoCtx) -> None:
    """One READ bio for the whole batch; waits on synchronous devices."""
    _bdev_submit(ctx, READ)


swap_bdev_ops = SwapOps(name="bdev", can_merge=swap_bdev_can_merge,
                        submit_write=swap_bdev_submit_write,
                        submit_read=swap_bdev_submit_read)


# --- bio-per-page: the path before swap_ops, one bio per page ---------------------------

def _bio_per_page_can_merge(folio: Folio, prev: Folio, prev_size: int, rw: int) -> bool:
    return False


class _Countdown:
    """Ends a batch once, after its last per-page bio ended."""

    __slots__ = ("failed", "left", "lock", "rw", "sio")

    def __init__(self, sio: SwapIocb, rw: int, n: int) -> None:
        self.sio, self.rw, self.left, self.failed = sio, rw, n, False
        self.lock = threading.Lock()

    def done(self, bio: Bio) -> None:
        with self.lock:
            self.failed |= bio.status != 0
            self.left -= 1
            last = self.left == 0
        if bio.status:
            _bdev_end_message(self.sio, bio, self.rw)
        if last:
            (swap_write_end if self.rw == WRITE else swap_read_end)(self.sio, self.failed)


def _bio_per_page_submit(ctx: SwapIoCtx, rw: int) -> None:
    sis, sio = ctx.sis, ctx.sio
    op = ReqOp.WRITE if rw == WRITE else ReqOp.READ
    pages = [(swap_folio_sector(f) + (i << SECTORS_PER_PAGE_SHIFT), p)
             for f in sio.folios for i, p in enumerate(f.pages)]
    cd = _Countdown(sio, rw, len(pages))
    for sector, page in pages:
        bio = Bio(sis.bdev, op, sector, [page], flags=ReqFlag.SWAP, end_io=cd.done)
        if sis.synchronous_io:
            submit_bio_wait(bio)
        else:
            submit_bio(bio)


def _bio_per_page_slot_free_notify(sis: SwapInfo, offset: int) -> None:
    """A freed slot is reported to the block device's own
    ``swap_slot_free_notify`` (block_device_operations), when it has one."""
    notify = sis.bdev.fops.swap_slot_free_notify
    if notify is not None:
        notify(sis.bdev, offset)


#: The block path before swap_ops: each folio is its own batch (can_merge
#: always refuses) and each page its own bio; slot frees go to the block
#: device's ``swap_slot_free_notify``. Chosen at swapon with
#: ``ops="bio-per-page"``.
swap_bio_per_page_ops = SwapOps(name="bio-per-page", can_merge=_bio_per_page_can_merge,
                                submit_write=lambda ctx: _bio_per_page_submit(ctx, WRITE),
                                submit_read=lambda ctx: _bio_per_page_submit(ctx, READ),
                                slot_free_notify=_bio_per_page_slot_free_notify)

#: the core's block-device ops tables by name, for swapon(ops=...)
CORE_OPS = {"bdev": swap_bdev_ops, "bio-per-page": swap_bio_per_page_ops}


# --- the file ops (swap_fs_ops) --------------------------------------------------------

def swap_dev_pos(folio: Folio) -> int:
    """Byte position of the folio in the swap file."""
    return swp_offset(folio.swap) << PAGE_SHIFT


def swap_fs_can_merge(folio: Folio, prev: Folio, prev_size: int, rw: int) -> bool:
    """File-offset contiguous after ``prev``."""
    return swap_dev_pos(folio) == swap_dev_pos(prev) + prev_size


def _fs_submit(ctx: SwapIoCtx, rw: int) -> None:
    sis, sio = ctx.sis, ctx.sio
    pos = swap_dev_pos(sio.folios[0])
    bufs = [f.data for f in sio.folios]
    try:
        ret = os.pwritev(sis.swap_fd, bufs, pos) if rw == WRITE else os.preadv(sis.swap_fd,
                                                                               bufs, pos)
    except OSError as e:
        ret = -(e.errno or errno.EIO)
    failed = ret != sio.len
    if failed:
        what = "Write error" if rw == WRITE else "Read error"
        sis.system.printk.ratelimited(f"{what}-fs", logging.ERROR,
                                      f"{what} {ret} on dio swapfile ({pos})")
    (swap_write_end if rw == WRITE else swap_read_end)(sio, failed)


def swap_fs_submit_write(ctx: SwapIoCtx) -> None:
    """One vectored write to the swap file at the batch's file position."""
    _fs_submit(ctx, WRITE)


def swap_fs_submit_read(ctx: SwapIoCtx) -> None:
    """One vectored read from the swap file at the batch's file position."""
    _fs_submit(ctx, READ)


swap_fs_ops = SwapOps(name="fs", can_merge=swap_fs_can_merge,
                      submit_write=swap_fs_submit_write, submit_read=swap_fs_submit_read)


