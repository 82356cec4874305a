"""zram writeback to a backing device (CONFIG_ZRAM_WRITEBACK, kernel-facts §3.7).

The backing device is a swaplab block device (``/dev/loopN``: the file-backed
disk, or any registered disk) claimed exclusively at ``backing_dev`` store.
A bitmap marks its used 4 KiB blocks. ``writeback`` selects slots (mode
filters and page ranges), sorts them into post-processing buckets by object
size (64-byte buckets, largest first, huge pages first) and writes each to a
free block, after which the slot holds the block index and ZRAM_WB and its
zsmalloc object is freed. A slot touched or freed while it was selected loses
PP_SLOT and is skipped (its block is kept for the next one, or released).

Writes are batched as since Linux 6.19: up to ``writeback_batch_size``
one-page write bios in flight, each completed (slot updated, PP_SLOT
released) when the writeback task next waits for a free request or at the
end; a failed write does not stop the others. The task plugs while it
submits, so writes to neighbouring blocks reach a request-based backing
device (the file-backed disk) merged, as blk-mq merges requests still
queued; a bio-based one gets them one by one.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from typing import TYPE_CHECKING

import numpy as np

from ...block.bio import Bio, ReqOp, submit_bio, submit_bio_wait
from ...block.plug import blk_flush_plug, blk_plug
from ...consts import PAGE_SHIFT, PAGE_SIZE, SECTORS_PER_PAGE_SHIFT
from ...errors import kerror
from ...util import kstrtoull, page_buffer
from .slots import (
    ZRAM_COMP_PRIORITY_BIT1,
    ZRAM_COMP_PRIORITY_MASK,
    ZRAM_HUGE,
    ZRAM_IDLE,
    ZRAM_INCOMPRESSIBLE,
    ZRAM_PP_SLOT,
    ZRAM_SAME,
    ZRAM_SIZE_MASK,
    ZRAM_WB,
)

if TYPE_CHECKING:
    from .zram_drv import Zram

INVALID_BDEV_BLOCK = -1
PP_BUCKET_SIZE_RANGE = 64
NUM_PP_BUCKETS = PAGE_SIZE // PP_BUCKET_SIZE_RANGE + 1
IDLE_WRITEBACK = 1 << 0
HUGE_WRITEBACK = 1 << 1
INCOMPRESSIBLE_WRITEBACK = 1 << 2
_MODES = {"idle": IDLE_WRITEBACK, "huge": HUGE_WRITEBACK,
          "huge_idle": IDLE_WRITEBACK | HUGE_WRITEBACK,
          "incompressible": INCOMPRESSIBLE_WRITEBACK}


# --- the backing device and its blocks -------------------------------------------------

def set_backing_dev(z: Zram, path: str) -> None:
    """backing_dev store: EBUSY once initialised, ENOENT for a missing path,
    ENOTBLK for something that is not a block device, EINVAL for zero size."""
    system = z.system
    with z.init_lock:
        if z.init_done():
            system.printk(logging.INFO, "Can't setup backing device for initialized device")
            raise kerror(errno.EBUSY, f"{z.name}: backing_dev of an initialized device")
        name = path[5:] if path.startswith("/dev/") else None
        bdev = system.block.get(name) if name else None
        if bdev is None:
            if os.path.exists(path):
                raise kerror(errno.ENOTBLK, f"{z.name}: backing_dev {path!r} is not a block "
                             "device")
            raise kerror(errno.ENOENT, f"{z.name}: backing_dev {path!r} does not exist")
        if bdev is z.bdev:
            raise kerror(errno.EBUSY, f"{z.name}: cannot back a device with itself")
        nr_pages = bdev.capacity >> PAGE_SHIFT
        if not nr_pages:
            raise kerror(errno.EINVAL, f"{z.name}: backing_dev {path!r} has no pages")
        bdev.claim(z)
        reset_bdev(z)
        z.bd = bdev
        z.backing_dev = path
        z.bd_nr_pages = nr_pages
        z.bitmap = np.zeros(nr_pages, dtype=bool)
        z.bd_hint = 0
        system.printk(logging.INFO, f"setup backing device {path}")


def reset_bdev(z: Zram) -> None:
    """Close the backing device and drop the bitmap (reset)."""
    if z.bd is not None:
        z.bd.release(z)
    z.bd = None
    z.backing_dev = None
    z.bd_nr_pages = 0
    z.bitmap = None


def zram_reserve_bdev_block(z: Zram) -> int:
    """First free block: mark it used, bd_count++; INVALID_BDEV_BLOCK when full.
    The search starts at ``bd_hint``, below which every block is in use."""
    bitmap = z.bitmap
    lo = z.bd_hint
    blk = lo + int(np.argmin(bitmap[lo:])) if lo < len(bitmap) else len(bitmap)
    if blk >= len(bitmap) or bitmap[blk]:
        z.bd_hint = len(bitmap)
        return INVALID_BDEV_BLOCK
    bitmap[blk] = True
    z.bd_hint = blk + 1
    z.stats.add("bd_count")
    return blk


def zram_release_bdev_block(z: Zram, blk: int) -> None:
    if z.bitmap is None or not z.bitmap[blk]:
        z.system.printk(logging.WARNING, f"WARNING: {z.name}: releasing free block {blk}")
    else:
        z.bitmap[blk] = False
        z.bd_hint = min(z.bd_hint, blk)
    z.stats.add("bd_count", -1)


def read_from_bdev(z: Zram, page: np.ndarray, index: int, blk: int) -> int:
    """Read a written-back slot: bd_reads++, one bio; decompress in compressed mode."""
    z.stats.add("bd_reads")
    buf = page if not z.wb_compressed else page_buffer(PAGE_SIZE)
    ret = submit_bio_wait(Bio(z.bd, ReqOp.READ, blk << SECTORS_PER_PAGE_SHIFT, [buf]))
    if ret or not z.wb_compressed:
        return ret
    z.slot_lock(index)
    try:
        f = int(z.flags[index])
        if not f & ZRAM_WB:
            page[:] = 0
            return -errno.EIO
        if f & ZRAM_HUGE:
            page[:] = buf
            return 0
        size = f & ZRAM_SIZE_MASK
        prio = (f >> ZRAM_COMP_PRIORITY_BIT1) & ZRAM_COMP_PRIORITY_MASK
        zcomp = z.comps[prio]
        zstrm = zcomp.stream_get()
        try:
            return zcomp.decompress(zstrm, buf[:size].tobytes(), page)
        finally:
            zcomp.stream_put(zstrm)
    finally:
        z.slot_unlock(index)


# --- choosing slots --------------------------------------------------------------------

class PPCtl:
    """Post-processing buckets: slot indices by object size, 64 bytes a bucket."""

    def __init__(self) -> None:
        self.buckets: list[list[int]] = [[] for _ in range(NUM_PP_BUCKETS)]

    def add(self, z: Zram, index: int) -> None:
        z.set_flag(index, ZRAM_PP_SLOT)
        self.buckets[z.get_obj_size(index) // PP_BUCKET_SIZE_RANGE].append(index)

    def largest_first(self):
        for b in range(NUM_PP_BUCKETS - 1, -1, -1):
            while self.buckets[b]:
                yield self.buckets[b].pop(0)

    def __len__(self) -> int:
        return sum(len(b) for b in self.buckets)

    def release_all(self, z: Zram) -> None:
        for bucket in self.buckets:
            for i in bucket:
                z.slot_lock(i)
                z.clear_flag(i, ZRAM_PP_SLOT)
                z.slot_unlock(i)
            bucket.clear()


def _eligible(z: Zram, i: int, mode: int) -> bool:
    f = int(z.flags[i])
    if not z.slot_allocated(i) or f & (ZRAM_WB | ZRAM_SAME):
        return False
    if mode & IDLE_WRITEBACK and not f & ZRAM_IDLE:
        return False
    if mode & HUGE_WRITEBACK and not f & ZRAM_HUGE:
        return False
    return not (mode & INCOMPRESSIBLE_WRITEBACK and not f & ZRAM_INCOMPRESSIBLE)


def scan_slots_for_writeback(z: Zram, mode: int, lo: int, hi: int, ctl: PPCtl) -> None:
    for i in range(lo, hi):
        z.slot_lock(i)
        if _eligible(z, i, mode) and not z.test_flag(i, ZRAM_PP_SLOT):
            ctl.add(z, i)
        z.slot_unlock(i)


# --- writing ---------------------------------------------------------------------------

class _WbReq:
    """zram_wb_req: a page to write from, and what it carries while in flight."""

    __slots__ = ("blk", "huge", "index", "page", "prio", "size", "status")

    def __init__(self, page: np.ndarray) -> None:
        self.page = page
        self.blk = self.index = self.size = self.prio = self.status = 0
        self.huge = False


class WbCtl:
    """zram_wb_ctl: ``wb_batch_size`` requests, idle or in flight; a finished
    one waits on the done list until the writeback task completes it."""

    def __init__(self, nr: int) -> None:
        pages = page_buffer(nr * PAGE_SIZE).reshape(nr, PAGE_SIZE)  # O_DIRECT-aligned
        self.idle = [_WbReq(pages[k]) for k in range(nr - 1, -1, -1)]
        self.inflight = 0
        self.done: list[_WbReq] = []
        self.cond = threading.Condition()

    def endio(self, bio: Bio) -> None:
        """zram_writeback_endio (any thread): the request joins the done list."""
        req = bio.private
        req.status = bio.status
        with self.cond:
            self.done.append(req)
            self.cond.notify()

    def wait_done(self, z: Zram) -> int:
        """Sleep until a request finished, then complete every finished one
        (zram_complete_done_reqs); 0 or the last bio error. What this thread's
        plug holds is dispatched first, as schedule() would."""
        blk_flush_plug()
        with self.cond:
            while not self.done:
                self.cond.wait()
            done, self.done = self.done, []
        ret = 0
        for req in done:
            err = _writeback_complete(z, req)
            if err:
                ret = err
            self.inflight -= 1
            _release_pp(z, req.index)
            self.idle.append(req)
        return ret


def _writeback_complete(z: Zram, req: _WbReq) -> int:
    """zram_writeback_complete: a failed write gives back its limit unit and its
    block; a written slot that kept PP_SLOT frees its object and points at the
    block (WB); one that changed meanwhile gives the block back."""
    if req.status:
        if z.wb_limit_enable:
            z.bd_wb_limit += 1 << (PAGE_SHIFT - 12)
        zram_release_bdev_block(z, req.blk)
        return -req.status
    z.stats.add("bd_writes")
    i = req.index
    z.slot_lock(i)
    try:
        if not z.test_flag(i, ZRAM_PP_SLOT):
            zram_release_bdev_block(z, req.blk)  # the slot changed under us
            return 0
        z.slot_free(i)
        z.set_flag(i, ZRAM_WB)
        z.handle[i] = req.blk
        if z.wb_compressed:
            z.set_obj_size(i, req.size)
            z.set_priority(i, req.prio)
            if req.huge:
                z.set_flag(i, ZRAM_HUGE)
        z.stats.add("pages_stored")
    finally:
        z.slot_unlock(i)
    return 0


def zram_writeback_slots(z: Zram, ctl: PPCtl, wb: WbCtl) -> int:
    """Write the selected slots, largest first, with up to ``wb_batch_size``
    writes in flight; 0 or the last error (-EIO when the limit ran out,
    -ENOSPC when the backing device is full, a bio errno). Bio errors do not
    stop the loop: the remaining slots are still written."""
    ret = 0
    blk = INVALID_BDEV_BLOCK
    req: _WbReq | None = None
    for i in ctl.largest_first():
        if z.wb_limit_enable and z.bd_wb_limit == 0:
            ret = -errno.EIO
            _release_pp(z, i)
            break
        while req is None:
            if wb.idle:
                req = wb.idle.pop()
                break
            err = wb.wait_done(z)
            if err:
                ret = err
        if blk == INVALID_BDEV_BLOCK:
            blk = zram_reserve_bdev_block(z)
            if blk == INVALID_BDEV_BLOCK:
                ret = -errno.ENOSPC
                _release_pp(z, i)
                break
        z.slot_lock(i)
        f = int(z.flags[i])
        if not f & ZRAM_PP_SLOT:
            z.slot_unlock(i)
            continue
        page = req.page
        req.size = f & ZRAM_SIZE_MASK
        req.prio = (f >> ZRAM_COMP_PRIORITY_BIT1) & ZRAM_COMP_PRIORITY_MASK
        req.huge = bool(f & ZRAM_HUGE)
        if z.wb_compressed:
            page[:] = 0
            page[:req.size] = z.mem_pool.read(int(z.handle[i]), req.size,
                                              z.comps[0].streams[0].local_copy.copy())
            err = 0
        else:
            err = z.read_from_zspool(page, i)
            if not err and not req.huge:  # a huge page is stored as it is
                z.wb_decompressions += 1
        z.slot_unlock(i)
        if err:
            ret = err
            _release_pp(z, i)
            continue
        if z.wb_limit_enable and z.bd_wb_limit > 0:  # before submission: no over-submit
            z.bd_wb_limit -= 1 << (PAGE_SHIFT - 12)
        req.blk, req.index = blk, i
        wb.inflight += 1
        submit_bio(Bio(z.bd, ReqOp.WRITE, blk << SECTORS_PER_PAGE_SHIFT, [page],
                       end_io=wb.endio, private=req))
        blk = INVALID_BDEV_BLOCK
        req = None
    if req is not None:  # taken, never submitted
        wb.idle.append(req)
    if blk != INVALID_BDEV_BLOCK:
        zram_release_bdev_block(z, blk)
    while wb.inflight:
        err = wb.wait_done(z)
        if err:
            ret = err
    ctl.release_all(z)
    return ret


def _release_pp(z: Zram, i: int) -> None:
    z.slot_lock(i)
    z.clear_flag(i, ZRAM_PP_SLOT)
    z.slot_unlock(i)


def writeback_store(z: Zram, buf: str) -> None:
    """writeback store: ``type=...`` / legacy words / ``page_index=N`` /
    ``page_indexes=LO-HI`` (kernel-facts §3.7); raises the kernel's errno."""
    with z.init_lock:
        if not z.init_done():
            raise kerror(errno.EINVAL, f"{z.name}: writeback on an uninitialised device")
        if z.backing_dev is None:
            raise kerror(errno.ENODEV, f"{z.name}: writeback without a backing device")
        nr = z.nr_pages
        ctl = PPCtl()
        mode = 0
        scanned = False
        try:
            for tok in buf.split():
                key, eq, val = tok.partition("=")
                if not eq or key == "type":
                    # type=MODE, or the legacy bare word: scan everything, stop parsing
                    name = val if eq else key
                    if name not in _MODES:
                        raise kerror(errno.EINVAL, f"{z.name}: unknown writeback mode "
                                     f"{name!r}")
                    mode = _MODES[name]
                    scan_slots_for_writeback(z, mode, 0, nr, ctl)
                    scanned = True
                    break
                if key == "page_index":
                    idx = kstrtoull(val, 10, what="page_index")
                    if idx >= nr:
                        raise kerror(errno.ERANGE, f"{z.name}: page_index {idx} >= {nr}")
                    scan_slots_for_writeback(z, mode, idx, idx + 1, ctl)
                    scanned = True
                elif key == "page_indexes":
                    lo_s, dash, hi_s = val.partition("-")
                    if not dash:
                        raise kerror(errno.EINVAL, f"{z.name}: page_indexes {val!r} needs "
                                     "LO-HI")
                    lo = kstrtoull(lo_s, 10, what="page_indexes")
                    hi = kstrtoull(hi_s, 10, what="page_indexes")
                    if lo >= nr or hi >= nr or lo > hi:
                        raise kerror(errno.ERANGE, f"{z.name}: page_indexes {val} outside "
                                     f"0..{nr - 1}")
                    scan_slots_for_writeback(z, mode, lo, hi + 1, ctl)
                    scanned = True
            if not scanned:
                raise kerror(errno.EINVAL, f"{z.name}: writeback {buf!r} selects nothing")
        except BaseException:
            ctl.release_all(z)
            raise
        # no more requests than slots to write (the kernel allocates all
        # wb_batch_size of them; here a large setting costs nothing unused)
        wb = WbCtl(max(1, min(z.wb_batch_size, len(ctl))))
        with blk_plug():  # the batch's writes to neighbouring blocks merge
            ret = zram_writeback_slots(z, ctl, wb)
        if ret:
            raise kerror(-ret, f"{z.name}: writeback stopped")
