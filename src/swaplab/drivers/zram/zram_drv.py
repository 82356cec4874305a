"""The zram device (drivers/block/zram/zram_drv.c).

The per-slot mechanics are compiled (``_native/drivers/zram/zram_drv.c``):
the slot table, the slot lock, slot_free, the page write and read paths and
their batch forms, and the counters. This module is the device around them:
sysfs state, the bio path, disksize and reset, and what writeback and
recompression (policy, in Python) reach the slots through.

Slot table (one 16-byte entry per page of disksize, as the kernel's with
CONFIG_ZRAM_TRACK_ENTRY_ACTIME), seen here as three numpy views:

``handle``   uint64: zsmalloc handle, or the fill word of a same-filled page,
             or the backing-device block of a written-back page
``flags``    uint32: object size in bits 0..12, then the flag bits below
``ac_time``  uint32: last access in whole seconds of the System clock

Flag bits (exact, ``ZRAM_FLAG_SHIFT`` = 13): SAME 13, ENTRY_LOCK 14 (the
per-slot lock), WB 15, PP_SLOT 16, HUGE 17, IDLE 18, INCOMPRESSIBLE 19,
COMP_PRIORITY 20..21. A slot is allocated when its size is nonzero or it is
SAME or WB. Python code changes a slot's flags only while it holds the
slot's lock.

Rules kept from the kernel:
- write: same-filled pages store only the fill word; otherwise compress;
  ``comp_len >= huge_class_size`` stores the page raw (HUGE); the new object is
  allocated and stored *before* the old one is freed, so ENOMEM (pool or
  mem_limit) leaves the old contents intact;
- slot_free clears, in this order: ac_time and IDLE/INCOMPRESSIBLE/PP_SLOT and
  the priority; HUGE (huge_pages--); WB (release the block) or SAME
  (same_pages--) or the object (compr_data_size -= size); then
  pages_stored--;
- slot lock: ``slot_lock`` sleeps while the slot is held, ``slot_trylock``
  fails only when that slot is held, ``slot_unlock`` wakes waiters;
- the bio path counts failed_reads/failed_writes once per failing bio and
  stops at the first failing page; every page read or written successfully
  is marked accessed (IDLE and PP_SLOT cleared, ac_time stamped).
"""

from __future__ import annotations

import errno
import logging
import threading
from typing import TYPE_CHECKING

import numpy as np

from ... import _native
from ...block.bio import Bio, ReqOp, bio_endio
from ...block.blkdev import BIO_MAX_VECS, BlkFeat, BlockDevice, BlockDeviceOperations
from ...consts import PAGE_SHIFT, PAGE_SIZE, SECTOR_SHIFT, SECTORS_PER_PAGE_SHIFT
from ...errors import kerror
from ...lib.compress import DEFAULT_ALGORITHM, NativeCompressor
from ...mm.zsmalloc import ZsPool
from ...statistics import BackendStatistics
from ...util import U64_MASK, kstrtoint
from . import writeback
from .slots import (
    STAT_NAMES,
    TABLE_ENTRY,
    ZRAM_COMP_PRIORITY_BIT1,
    ZRAM_COMP_PRIORITY_MASK,
    ZRAM_ENTRY_LOCK,
    ZRAM_HUGE,
    ZRAM_IDLE,
    ZRAM_PP_SLOT,
    ZRAM_SAME,
    ZRAM_SIZE_MASK,
    ZRAM_WB,
)
from .swap_ops import zram_swap_ops
from .sysfs import ZramAttrs, stat_fields
from .zcomp import ZRAM_MAX_COMPS, ZRAM_PRIMARY_COMP, Zcomp, ZcompParams

if TYPE_CHECKING:
    from ...mm.swapfile import SwapInfo
    from ...system import System

ZRAM_LOGICAL_BLOCK_SIZE = 4096
ZRAM_MAJOR = 252
DEFAULT_COMPRESSOR = DEFAULT_ALGORITHM
UINT_MAX = (1 << 32) - 1
_STAT = {name: i for i, name in enumerate(STAT_NAMES)}
#: fault points a write can be asked to fail at (enum zram_inject)
_INJECT_ALLOC, _INJECT_LIMIT, _INJECT_CORRUPT = 1, 2, 4
#: 0, 1, 2, ...: the row numbers of a batch, shared (read-only) by every call
_ROWS = np.arange(BIO_MAX_VECS, dtype=np.int64)
_ROWS.flags.writeable = False


def _rows(n: int) -> np.ndarray:
    """``0..n-1`` as int64 (a view of a shared array for a bio's worth of rows)."""
    return _ROWS[:n] if n <= BIO_MAX_VECS else np.arange(n, dtype=np.int64)


def _slots(indices: np.ndarray | int, n: int | None) -> np.ndarray:
    """Slot indices as a C-contiguous int64 array; an int is the first of a run of ``n``."""
    if type(indices) is int:
        return np.arange(indices, indices + n, dtype=np.int64)
    return np.ascontiguousarray(indices, dtype=np.int64)

log = logging.getLogger(__name__)


class ZramStats:
    """The device's atomic counters (``struct zram_stats``), kept in the
    compiled table while the device is initialised (all zero before)."""

    def __init__(self) -> None:
        self.meta: _native.ZramMeta | None = None

    def add(self, name: str, n: int = 1) -> None:
        if self.meta is not None:
            self.meta.stat_add(_STAT[name], n)

    def set(self, name: str, value: int) -> None:
        if self.meta is not None:
            self.meta.stat_set(_STAT[name], value)

    def max(self, name: str, value: int) -> None:
        if self.meta is not None:
            self.meta.stat_max(_STAT[name], value)

    def __getitem__(self, name: str) -> int:
        return 0 if self.meta is None else self.meta.stats()[_STAT[name]]

    def snapshot(self) -> dict[str, int]:
        vals = (0,) * len(STAT_NAMES) if self.meta is None else self.meta.stats()
        return dict(zip(STAT_NAMES, vals, strict=True))


class Zram:
    """One zram device ``zram<id>``; ``self.bdev`` is its block device."""

    def __init__(self, ctl: ZramControl, dev_id: int) -> None:
        self.ctl = ctl
        self.system = ctl.system
        self.id = dev_id
        self.name = f"zram{dev_id}"
        #: hot_remove took the device away: every use is ENODEV
        self.removed = False
        self.bdev = BlockDevice(
            self.name, ZRAM_FOPS, 0, major=ZRAM_MAJOR, minor=dev_id,
            features=BlkFeat.IO_STAT | BlkFeat.STABLE_WRITES | BlkFeat.SYNCHRONOUS,
            logical_block_size=ZRAM_LOGICAL_BLOCK_SIZE, max_discard_sectors=UINT_MAX,
            private_data=self)
        self.disksize = 0
        self._limit_pages = 0
        self.comp_algs: list[str | None] = [DEFAULT_COMPRESSOR] + [None] * (ZRAM_MAX_COMPS - 1)
        self.params = [ZcompParams() for _ in range(ZRAM_MAX_COMPS)]
        self.comps: list[Zcomp | None] = [None] * ZRAM_MAX_COMPS
        self.num_active_comps = 0
        self.mem_pool: ZsPool | None = None
        #: the compiled slot table, counters and page paths (None: not initialised)
        self.meta: _native.ZramMeta | None = None
        self.huge_class_size = 0
        self.stats = ZramStats()
        self.init_lock = threading.RLock()
        self.claim = False
        self._views(None)
        # writeback state (the backing device is configured through sysfs)
        self.backing_dev: str | None = None
        self.bd: BlockDevice | None = None
        self.bd_nr_pages = 0
        self.bitmap: np.ndarray | None = None
        #: every backing block below it is in use (where the search for a free one starts)
        self.bd_hint = 0
        self.wb_limit_enable = False
        self.bd_wb_limit = 0
        self.wb_batch_size = 32
        self.wb_compressed = False
        #: pages writeback decompressed to write them (not a kernel counter)
        self.wb_decompressions = 0
        self.attr = ZramAttrs(self)

    def __repr__(self) -> str:
        return f"Zram({self.name} disksize={self.disksize})"

    def _views(self, meta: _native.ZramMeta | None) -> None:
        """Point ``handle``, ``flags`` and ``ac_time`` at ``meta``'s table."""
        table = (np.frombuffer(meta, dtype=TABLE_ENTRY) if meta is not None
                 else np.zeros(0, dtype=TABLE_ENTRY))
        self.handle = table["handle"]
        self.flags = table["flags"]
        self.ac_time = table["ac_time"]

    # --- state --------------------------------------------------------------------------
    def init_done(self) -> bool:
        return self.disksize != 0

    @property
    def nr_pages(self) -> int:
        return self.disksize >> PAGE_SHIFT

    @property
    def limit_pages(self) -> int:
        """mem_limit in pages (0: none); checked after every allocation."""
        return self._limit_pages

    @limit_pages.setter
    def limit_pages(self, n: int) -> None:
        self._limit_pages = n
        if self.meta is not None:
            self.meta.limit_pages = n

    def _now(self) -> int:
        return self.system.clock.seconds() & UINT_MAX

    # --- slot flags and lock ------------------------------------------------------------
    def test_flag(self, i: int, flag: int) -> bool:
        return bool(int(self.flags[i]) & flag)

    def set_flag(self, i: int, flag: int) -> None:
        self.flags[i] = int(self.flags[i]) | flag

    def clear_flag(self, i: int, flag: int) -> None:
        self.flags[i] = int(self.flags[i]) & ~flag

    def get_obj_size(self, i: int) -> int:
        return int(self.flags[i]) & ZRAM_SIZE_MASK

    def set_obj_size(self, i: int, size: int) -> None:
        self.flags[i] = (int(self.flags[i]) & ~ZRAM_SIZE_MASK) | size

    def get_priority(self, i: int) -> int:
        return (int(self.flags[i]) >> ZRAM_COMP_PRIORITY_BIT1) & ZRAM_COMP_PRIORITY_MASK

    def set_priority(self, i: int, prio: int) -> None:
        f = int(self.flags[i]) & ~(ZRAM_COMP_PRIORITY_MASK << ZRAM_COMP_PRIORITY_BIT1)
        self.flags[i] = f | ((prio & ZRAM_COMP_PRIORITY_MASK) << ZRAM_COMP_PRIORITY_BIT1)

    def slot_allocated(self, i: int) -> bool:
        f = int(self.flags[i])
        return bool(f & ZRAM_SIZE_MASK or f & (ZRAM_SAME | ZRAM_WB))

    def slot_lock(self, i: int) -> None:
        """Take slot ``i``'s lock bit, sleeping (GIL released) while another holder has it."""
        self.meta.slot_lock(i)

    def slot_trylock(self, i: int) -> bool:
        """Take slot ``i``'s lock bit if it is free; never waits for the slot."""
        return self.meta.slot_trylock(i)

    def slot_unlock(self, i: int) -> None:
        self.meta.slot_unlock(i)

    def slot_locked(self, i: int) -> bool:
        return bool(int(self.flags[i]) & ZRAM_ENTRY_LOCK)

    def mark_slot_accessed(self, i: int) -> None:
        """Clear IDLE and PP_SLOT and stamp ac_time (caller holds the slot lock)."""
        self.flags[i] = int(self.flags[i]) & ~(ZRAM_IDLE | ZRAM_PP_SLOT)
        self.ac_time[i] = self._now()

    # --- freeing a slot -----------------------------------------------------------------
    def slot_free(self, i: int) -> None:
        """Release slot ``i``'s contents in the kernel's order (caller holds the lock)."""
        self._release_blocks([self.meta.slot_free(i)])

    def _release_blocks(self, blocks: list[int]) -> None:
        """Give back the backing-device blocks of written-back slots just freed."""
        for blk in blocks:
            if blk >= 0:
                writeback.zram_release_bdev_block(self, blk)

    # --- write path ---------------------------------------------------------------------
    def write_page(self, page: np.ndarray, index: int) -> int:
        """zram_write_page: store one page at slot ``index`` and mark it
        accessed; 0 or a negative errno (the slot then keeps what it held)."""
        return self.write_pages(page.reshape(1, PAGE_SIZE), np.array([index], dtype=np.int64)
                                )[1]

    def check_live(self) -> None:
        """ENODEV once hot_remove took the device away."""
        if self.removed:
            raise kerror(errno.ENODEV, f"{self.name} was removed (hot_remove)")

    def write_pages(self, pages: np.ndarray, indices: np.ndarray | int,
                    rows: np.ndarray | None = None) -> tuple[int, int]:
        """The batch form of zram_write_page: store page ``k`` (``pages[rows[k]]``,
        or ``pages[k]`` without ``rows``) at slot ``indices[k]`` in order,
        stopping at the first error. ``pages`` is a C-contiguous 2-D array of
        pages, such as the machine's frames with ``rows`` the pfns; an int
        ``indices`` is the first slot of a run (a bio segment: page ``k`` goes
        to slot ``indices + k``).

        Returns ``(m, err)``: pages ``0..m-1`` are stored and marked accessed,
        ``err`` is 0 or the negative errno of page ``m``. Each page goes
        through the kernel's steps (same-filled, compress, huge, zs_malloc,
        mem_limit after the allocation, store, then slot_free of the old
        contents under the slot lock) in one compiled call for the batch,
        the GIL released; a primary codec that is not compiled compresses
        the batch first, in one library call. With fault points armed the
        pages go one at a time, each point consulted in the kernel's order.
        """
        if self.removed:
            self.check_live()
        n = (len(pages) if rows is None else len(rows)) if type(indices) is int else None
        indices = _slots(indices, n)
        rows = (_rows(len(indices)) if rows is None
                else np.ascontiguousarray(rows, dtype=np.int64))
        if self.system.faults.armed:
            return self._write_pages_faulty(pages, indices, rows)
        return self._write(pages, rows, indices, 0)

    def _write(self, pages: np.ndarray, rows: np.ndarray, indices: np.ndarray,
               inject: int) -> tuple[int, int]:
        objs = lens = None
        zcomp = self.comps[ZRAM_PRIMARY_COMP]
        if not isinstance(zcomp.streams[0].tfm, NativeCompressor):
            zstrm = zcomp.stream_get()
            try:  # a library codec: the batch compressed first, in one call
                objs, lens = zstrm.tfm.compress_batch(pages, rows)
                lens = np.ascontiguousarray(lens, dtype=np.int32)
            except OSError:
                self.system.printk(logging.ERROR, f"Compression failed! err={-errno.EINVAL}")
                return 0, -errno.EINVAL
            finally:
                zcomp.stream_put(zstrm)
        m, err, blocks = self.meta.write_pages(pages, rows, indices, self._now(), objs, lens,
                                               inject)
        self._release_blocks(blocks)
        if err == -errno.EINVAL:
            self.system.printk(logging.ERROR, f"Compression failed! err={err}")
        return m, err

    def _write_pages_faulty(self, pages: np.ndarray, indices: np.ndarray,
                            rows: np.ndarray) -> tuple[int, int]:
        """:meth:`write_pages` one page at a time, asking each fault point of
        the write path in the kernel's order: the compressor, zs_malloc,
        mem_limit, and a corruption of the object just stored."""
        faults = self.system.faults
        for k in range(len(indices)):
            r = rows[k : k + 1]
            inject = 0
            if _native.same_filled(pages[int(r[0])]) is None:
                if faults.hit("zcomp.compress", self.name):
                    self.system.printk(logging.ERROR,
                                       f"Compression failed! err={-errno.EINVAL}")
                    return k, -errno.EINVAL
                if faults.hit("zsmalloc.alloc", self.name):
                    inject = _INJECT_ALLOC
                elif faults.hit("zram.mem_limit", self.name):
                    inject = _INJECT_LIMIT
                elif faults.hit("zram.corrupt", self.name):
                    inject = _INJECT_CORRUPT
            _, err = self._write(pages, r, indices[k : k + 1], inject)
            if err:
                return k, err
        return len(indices), 0

    # --- read path ----------------------------------------------------------------------
    def read_pages(self, pages: np.ndarray, indices: np.ndarray | int,
                   rows: np.ndarray | None = None) -> tuple[int, int]:
        """The batch form of read_from_zspool + mark_slot_accessed: fill page
        ``k`` (``pages[rows[k]]``, or ``pages[k]``) from slot ``indices[k]``
        (or ``indices + k`` for an int, as :meth:`write_pages`), each under
        its slot lock, in one compiled call (GIL released).

        Returns ``(m, err)`` like :meth:`write_pages`: pages ``0..m-1`` are read
        and marked accessed; ``err`` is 0, or -EINVAL for an object that did
        not decode (logged as the kernel does). A slot the compiled path does
        not serve (written back, or compressed by a library codec) is read
        here, page by page; with fault points armed every page is.
        """
        if self.removed:
            self.check_live()
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
        if type(indices) is int:  # a run of slots: one bio segment
            n = len(pages) if rows is None else len(rows)
        else:
            indices = np.asarray(indices, dtype=np.int64)
            n = len(indices)
            if rows is None and len(pages) != n:
                pages = pages[:n]
        faulty = self.system.faults.armed
        done = err = 0
        if not faulty:  # the common case: one call for the whole batch
            done, err = self.meta.read_pages(pages, rows, indices, self._now())
        if faulty or err == _native.ZRAM_NEEDS_CALLER:
            indices = _slots(indices, n)
            done, err = self._read_pages_by_page(pages, indices,
                                                 _rows(n) if rows is None else rows, done)
        if err:
            slot = indices + done if type(indices) is int else int(indices[done])
            self.system.printk(logging.WARNING, f"Decompression failed! err={err}, page={slot}")
        return done, err

    def _read_pages_by_page(self, pages: np.ndarray, indices: np.ndarray, rows: np.ndarray,
                            done: int) -> tuple[int, int]:
        """:meth:`read_pages` from page ``done`` on, serving here each page the
        compiled path does not (and every page with fault points armed)."""
        faulty = self.system.faults.armed
        n = len(indices)
        err = 0
        while done < n:
            i = int(indices[done])  # served here: the page path, then mark it accessed
            err = self.read_page(pages[int(rows[done])], i)
            if err:
                break
            self.slot_lock(i)
            self.mark_slot_accessed(i)
            self.slot_unlock(i)
            done += 1
            if not faulty and done < n:  # the rest in one call again
                m, err = self.meta.read_pages(pages, rows[done:], indices[done:], self._now())
                done += m
                if err != _native.ZRAM_NEEDS_CALLER:
                    break
                err = 0
        return done, err

    def read_from_zspool(self, page: np.ndarray, index: int) -> int:
        """Fill ``page`` from slot ``index`` (caller holds the lock, the slot is
        not written back); 0 or -errno."""
        faults = self.system.faults
        f = int(self.flags[index])
        if (faults.armed and not f & ZRAM_SAME and self.handle[index]
                and not f & ZRAM_HUGE and faults.hit("zcomp.decompress", self.name)):
            return -errno.EINVAL
        ret = self.meta.read_slot(index, page)
        if ret != _native.ZRAM_NEEDS_CALLER:
            return ret
        # compressed by a library codec (a recompression algorithm)
        zcomp = self.comps[(f >> ZRAM_COMP_PRIORITY_BIT1) & ZRAM_COMP_PRIORITY_MASK]
        return zcomp.decompress_object(self.mem_pool, int(self.handle[index]),
                                       f & ZRAM_SIZE_MASK, page)

    def read_page(self, page: np.ndarray, index: int) -> int:
        """zram_read_page: 0 or a negative errno (page contents undefined then)."""
        self.check_live()
        self.slot_lock(index)
        if not self.test_flag(index, ZRAM_WB):
            ret = self.read_from_zspool(page, index)
            self.slot_unlock(index)
        else:
            blk = int(self.handle[index])
            self.slot_unlock(index)
            ret = writeback.read_from_bdev(self, page, index, blk)
        return ret

    # --- the bio path -------------------------------------------------------------------
    def submit_bio(self, bio: Bio) -> None:
        """zram_submit_bio: per-page reads/writes, discard and write-zeroes."""
        op = bio.op
        if op in (ReqOp.DISCARD, ReqOp.WRITE_ZEROES):
            self._bio_discard(bio)
        elif op in (ReqOp.READ, ReqOp.WRITE):
            self._bio_rw(bio, op == ReqOp.WRITE)
        bio_endio(bio)

    def _bio_rw(self, bio: Bio, write: bool) -> None:
        index = bio.sector >> SECTORS_PER_PAGE_SHIFT
        if bio.sector & ((1 << SECTORS_PER_PAGE_SHIFT) - 1):
            bio.status = errno.EIO  # zram's logical block is a page: never partial
            return
        for v in bio.vecs:
            if v.nbytes % PAGE_SIZE:
                bio.status = errno.EIO
                return
            pages = v.reshape(-1, PAGE_SIZE)
            _, ret = (self.write_pages(pages, index) if write
                      else self.read_pages(pages, index))
            if ret < 0:
                self.stats.add("failed_writes" if write else "failed_reads")
                bio.status = errno.EIO
                return
            index += len(pages)

    def _bio_discard(self, bio: Bio) -> None:
        start = bio.sector << SECTOR_SHIFT
        end = start + bio.size
        first = -(-start // PAGE_SIZE)  # skip a leading partial page
        last = end // PAGE_SIZE
        for index in range(first, min(last, self.nr_pages)):
            self.slot_lock(index)
            self.slot_free(index)
            self.slot_unlock(index)
            self.stats.add("notify_free")

    # --- slot free notification (both interfaces) ---------------------------------------
    def slot_free_notify(self, index: int) -> None:
        """notify_free++, then free the slot unless someone holds it (miss_free++)."""
        blk = self.meta.slot_free_notify(index)
        if blk >= 0:
            writeback.zram_release_bdev_block(self, blk)

    # --- disksize and reset -------------------------------------------------------------
    def set_disksize(self, nbytes: int) -> None:
        """disksize store: allocate the table, the pool and the compressors."""
        with self.init_lock:
            if self.init_done():
                self.system.printk(logging.INFO,
                                   "Cannot change disksize for initialized device")
                raise kerror(errno.EBUSY, f"{self.name}: cannot change disksize for an "
                             "initialized device")
            if nbytes == 0:
                raise kerror(errno.EINVAL, f"{self.name}: disksize 0")
            nbytes = (nbytes + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & U64_MASK  # PAGE_ALIGN
            n = nbytes >> PAGE_SHIFT
            comps: list[Zcomp | None] = [None] * ZRAM_MAX_COMPS
            for prio, name in enumerate(self.comp_algs):
                if name is None:
                    continue
                try:
                    comps[prio] = Zcomp(name, self.params[prio])
                except OSError as e:
                    self.system.printk(logging.ERROR,
                                       f"Cannot initialise {name} compressing backend")
                    raise kerror(e.errno or errno.EINVAL,
                                 f"{self.name}: cannot initialise {name}") from None
            mem = self.system.mem if self.system.pools_in_ram else None
            try:  # zram_meta_alloc: the table is vzalloc'ed, the pool created
                if not n:
                    raise MemoryError
                pool = ZsPool(self.name, 2 * n + 1024, self.ctl.chain_size, mem=mem)
                meta = _native.ZramMeta(n, pool.native)
            except (MemoryError, ValueError, OverflowError, OSError):  # too large to map
                raise kerror(errno.ENOMEM, f"{self.name}: no memory for the table of a "
                             f"{nbytes}-byte device") from None
            for prio, zc in enumerate(comps):
                tfm = zc.streams[0].tfm if zc is not None else None
                if isinstance(tfm, NativeCompressor):
                    meta.set_codec(prio, tfm.algo_id, tfm.native_level)
            meta.limit_pages = self._limit_pages
            self.mem_pool, self.meta = pool, meta
            self.stats.meta = meta
            self._views(meta)
            self.huge_class_size = pool.huge_class_size
            self.comps = comps
            self.num_active_comps = sum(c is not None for c in comps)
            self.disksize = nbytes
            self.bdev.set_capacity(nbytes)

    def reset_device(self) -> None:
        """zram_reset_device: free everything, back to the uninitialised defaults."""
        with self.init_lock:
            self.limit_pages = 0
            self.bdev.set_capacity(0)
            self.bdev.reset_stat()
            # the table, then the pool: its frames go back to the machine
            self._views(None)
            self.stats.meta = None
            self.meta = None
            if self.mem_pool is not None:
                self.mem_pool.destroy()
            self.mem_pool = None
            self.disksize = 0
            self.comps = [None] * ZRAM_MAX_COMPS
            self.num_active_comps = 0
            self.comp_algs = [DEFAULT_COMPRESSOR] + [None] * (ZRAM_MAX_COMPS - 1)
            self.params = [ZcompParams() for _ in range(ZRAM_MAX_COMPS)]
            writeback.reset_bdev(self)

    # --- what sysfs shows ---------------------------------------------------------------
    def mm_stat(self) -> tuple[int, ...]:
        """The nine mm_stat fields (orig, compr, mem_used, limit, max, same,
        compacted, huge, huge_since)."""
        s = self.stats.snapshot()
        pool = self.mem_pool
        used = pool.total_pages if pool is not None else 0
        compacted = pool.pages_compacted if pool is not None else 0
        return (s["pages_stored"] << PAGE_SHIFT, s["compr_data_size"], used << PAGE_SHIFT,
                self.limit_pages << PAGE_SHIFT, s["max_used_pages"] << PAGE_SHIFT,
                s["same_pages"], compacted, s["huge_pages"], s["huge_pages_since"])

    def statistics(self, files: bool = True) -> BackendStatistics:
        """The device as a backend: its counters and (``files``) its sysfs stat files."""
        s = self.stats.snapshot()
        pool = self.mem_pool
        texts = ({a: self.attr[a].strip() for a in ("mm_stat", "bd_stat", "io_stat")}
                 if files else {})
        return BackendStatistics(
            name=self.name, kind="zram", stored_pages=s["pages_stored"],
            data_bytes=(s["pages_stored"] - s["bd_count"]) * PAGE_SIZE,
            compressed_bytes=s["compr_data_size"],
            pool_bytes=(pool.total_pages if pool is not None else 0) * PAGE_SIZE,
            backing_pages=s["bd_count"], backing_reads=s["bd_reads"], files=texts,
            fields={a: stat_fields(a, t) for a, t in texts.items()},
            written_back_pages=s["bd_writes"], writeback_decompressions=self.wb_decompressions,
            metadata_bytes_per_slot=float(TABLE_ENTRY.itemsize))

    def written_back(self, offsets: np.ndarray) -> int:
        """How many of the slots ``offsets`` are on the backing device."""
        return int(np.count_nonzero(self.flags[offsets] & np.uint32(ZRAM_WB)))

    # --- whole-device maintenance -------------------------------------------------------
    def compact(self) -> int:
        if not self.init_done():
            raise kerror(errno.EINVAL, f"{self.name}: compact of an uninitialised device")
        return self.mem_pool.compact()

    def mark_idle(self, cutoff: int | None) -> None:
        """Mark allocated, not WB, not SAME slots idle when last used before
        ``cutoff`` seconds (None: all of them); clear IDLE on the others."""
        for i in range(self.nr_pages):
            self.slot_lock(i)
            f = int(self.flags[i])
            if self.slot_allocated(i) and not f & (ZRAM_WB | ZRAM_SAME):
                if cutoff is None or int(self.ac_time[i]) < cutoff:
                    self.flags[i] = f | ZRAM_IDLE
                else:
                    self.flags[i] = f & ~ZRAM_IDLE
            self.slot_unlock(i)


# --- swap hooks of the block device ops table ------------------------------------------

def _zram_submit_bio(bio: Bio) -> None:
    bio.bdev.private_data.submit_bio(bio)


def _zram_swap_activate(sis: SwapInfo) -> int:
    """Install zram's swap_ops and the device as private_data (when the driver
    was loaded with swap_ops='activate')."""
    zram: Zram = sis.bdev.private_data
    if zram.ctl.swap_ops_mode != "activate":
        return -errno.EOPNOTSUPP
    sis.ops = zram_swap_ops
    sis.private_data = zram
    return 0


def _zram_swap_slot_free_notify(bdev: BlockDevice, index: int) -> None:
    """block_device_operations.swap_slot_free_notify: what the bio-per-page ops call."""
    bdev.private_data.slot_free_notify(index)


ZRAM_FOPS = BlockDeviceOperations(name="zram", submit_bio=_zram_submit_bio,
                                  swap_activate=_zram_swap_activate,
                                  swap_slot_free_notify=_zram_swap_slot_free_notify,
                                  io_acct_discard=False)


# --- zram-control and module load ------------------------------------------------------

class ZramControl:
    """The loaded zram driver of one System: /sys/class/zram-control and the devices.

    ``swap_ops`` chooses how swap reaches the devices: ``"activate"`` (the
    swap_activate installs zram's swap_ops with the device as private_data),
    ``"register"`` (a driver registration installs them for every zram area),
    or ``"none"`` (no swap_ops of zram's: the default block ops, bios into
    zram_submit_bio).
    """

    def __init__(self, system: System, num_devices: int = 1, *, swap_ops: str = "activate",
                 chain_size: int = 8) -> None:
        if num_devices < 0:
            raise kerror(errno.EINVAL, f"zram: num_devices {num_devices} is negative")
        if swap_ops not in ("activate", "register", "none"):
            raise kerror(errno.EINVAL, f"zram: swap_ops mode {swap_ops!r} is not "
                         "activate, register or none")
        self.system = system
        self.swap_ops_mode = swap_ops
        self.chain_size = chain_size
        self.devices: dict[int, Zram] = {}
        self.lock = threading.Lock()
        if swap_ops == "register":
            ret = system.swap_register_block_ops(ZRAM_FOPS, zram_swap_ops)
            if ret:
                raise kerror(-ret, "zram: registering swap_ops failed")
        for _ in range(num_devices):
            self.hot_add()

    def hot_add(self) -> int:
        """Reading hot_add: create the next free zram device; return its id."""
        with self.lock:
            dev_id = 0
            while dev_id in self.devices:
                dev_id += 1
            zram = Zram(self, dev_id)
            self.system.add_disk(zram.bdev, zram)
            self.devices[dev_id] = zram
            return dev_id

    def hot_remove(self, text: str | int) -> None:
        """Writing hot_remove: EINVAL for a bad or negative id, ENODEV for an
        unknown one, EBUSY while the device is open (e.g. active swap)."""
        dev_id = text if isinstance(text, int) else kstrtoint(text, 10, what="zram-control: "
                                                              "device id")
        if dev_id < 0:
            raise kerror(errno.EINVAL, f"zram-control: negative device id {dev_id}")
        with self.lock:
            zram = self.devices.get(dev_id)
            if zram is None:
                raise kerror(errno.ENODEV, f"zram-control: no device zram{dev_id}")
            if zram.bdev.open_count or zram.claim:
                raise kerror(errno.EBUSY, f"zram-control: zram{dev_id} is in use")
            zram.reset_device()
            self.system.del_disk(zram.bdev)
            del self.devices[dev_id]
            zram.removed = True

    def unload(self) -> None:
        """rmmod: remove every device and drop the registration."""
        for dev_id in list(self.devices):
            self.hot_remove(dev_id)
        if self.swap_ops_mode == "register":
            self.system.swap_unregister_block_ops(ZRAM_FOPS)

    def __getitem__(self, dev_id: int) -> Zram:
        return self.devices[dev_id]

    def statistics(self, files: bool = True) -> list[BackendStatistics]:
        """One record a device, in id order (``files``: with its stat files)."""
        return [self.devices[i].statistics(files) for i in sorted(self.devices)]

    def backing_reads(self) -> int | None:
        """Pages read back from backing devices by every device (bd_reads),
        None without a device: one counter a device, for every fault."""
        if not self.devices:
            return None
        return sum(z.stats["bd_reads"] for z in self.devices.values())
