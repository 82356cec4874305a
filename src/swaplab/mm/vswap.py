"""Virtual swap entries and compressed writeback (the virtual swap layer of
2026: Nhat Pham's virtual swap space, Kairui Song's ghost swapfile, and the
"compressed writeback in core swap" draft; kernel-facts §10).

A :class:`VirtualSwap` is a ghost swap area — an area of slots with no
storage, at the highest priority — in front of one physical area. A page
swapped out gets a slot of the ghost (its *virtual* entry, which the page
tables keep); the slot's 8-byte descriptor (mm/vswap_table.py) says where
the data is: ZERO, FOLIO (the swap-cache folio is the only copy), ZSWAP,
PHYS (a page on the physical area) or PHYS_COMPRESSED (a zswap blob on the
physical area).

Rules:

- Physical slots are taken lazily: when a page zswap refused (incompressible
  with writeback off, pool full, zswap off) is written out — the ghost's
  ``submit_write`` takes slots on the physical area and writes the pages
  there — and when zswap writes an entry back. Moving between backends
  changes only the descriptor; each physical slot in use keeps a reverse map
  to its virtual slot (``rmap``, -1 for none).
- Only physical slots are charged to the cgroup's swap counter (the cgroup
  the virtual slot is recorded for); a virtual slot is not.
- A descriptor that stops naming a physical slot (the virtual slot is freed —
  the ghost's ``slot_free_notify`` — or its data moves) drops that slot; a
  compressed blob drops the pages it lies in and its pool reference.
- Compressed writeback (``compressed_writeback=True``): zswap's writeback of
  an entry with 0 < length < PAGE_SIZE writes the compressed bytes, rounded up
  to the physical device's logical block size, with a plain block write, then
  sets PHYS_COMPRESSED and frees the pool object: no decompression. An entry
  stored raw (length PAGE_SIZE) goes out as PHYS, also without decompression.
  Layout "A" gives each blob a physical slot of its own; layout "C" packs a
  writeback batch end to end into the fewest contiguous pages, one bio per
  contiguous run (a page then holds parts of several blobs and is referenced
  once for each). A failed precondition (no free codec id, no physical slot,
  a write error) leaves the entry in zswap and returns -EAGAIN: zswap falls
  back to decompress-and-write. Without a physical slot (the area full, the
  cgroup at memory.swap.max) writeback of a virtual entry fails with -ENOMEM
  and the entry stays in zswap, compressed or not.
- Swap-in of PHYS reads the page; of PHYS_COMPRESSED it reads just the blocks
  of the blob (one bio) and decompresses with the pool that made it (its
  codec stays registered while blobs of it live).
- swapoff of the physical area brings every page and blob it holds back into
  the swap cache (dirty, on the LRU, the descriptor FOLIO); swapoff of the
  ghost swaps every virtual entry in, as any swapoff.
- Not modelled: layout B (several blobs in one page with an allocator that
  compacts them), several physical areas behind one ghost, large folios
  written to the physical area (the ghost takes order-0 batches; a large
  folio's pages each get a slot).
"""

from __future__ import annotations

import errno
import itertools
import logging
import mmap
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..block.bio import Bio, ReqFlag, ReqOp, submit_bio_wait, submit_bios_wait
from ..block.plug import blk_plug
from ..consts import PAGE_SHIFT, PAGE_SIZE, SECTOR_SHIFT, SWAP_CLUSTER_MAX
from ..errors import kerror
from ..statistics import BackendStatistics
from .folio import PG
from .memcontrol import MemcgEvent
from .page_io import swap_read_end, swap_read_submit, swap_write_end
from .swap_iocb import SwapIoCtx, SwapOps
from .swap_state import read_swap_cache_async
from .swapfile import (
    SWP,
    SwapInfo,
    new_swap_info,
    swap_cache_del_folio,
    swap_dup_entries,
    swap_put_entries,
)
from .swapops import swp_entry
from .vmstat import VmEvent
from .vswap_table import (
    VT,
    VT_MAX_PHYS_PAGES,
    VT_NR_CODECS,
    vt_blob,
    vt_mk,
    vt_phys,
    vts_mk_phys,
    vts_phys,
    vts_tag,
)

if TYPE_CHECKING:
    from ..system import System
    from .zswap import Zswap, _Pool, _Tree

LAYOUTS = ("A", "C")
_TAG_MASK = 7
_PHYS_BIT = 4  # set in PHYS and PHYS_COMPRESSED, clear in the other tags
_PHYS = int(VT.PHYS)
_PHYS_COMPRESSED = int(VT.PHYS_COMPRESSED)
_ZSWAP = int(VT.ZSWAP)
_FOLIO = int(VT.FOLIO)


@dataclass(slots=True)
class _Entry:
    """A zswap entry on its way to the physical area, as it was read."""

    index: int   # in the caller's list
    voff: int
    handle: int
    seq: int
    length: int
    pool: int
    data: np.ndarray


#: the ghost's priority: above any area swapon gives (SWAP_FLAG_PRIO_MASK)
GHOST_PRIO = 0x7FFF + 1


def _aligned_buffer(nbytes: int) -> np.ndarray:
    """A page-aligned byte buffer (O_DIRECT takes it without a bounce)."""
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.uint8)


def _runs(offs: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges of ``offs`` where each offset is one past the last."""
    if not len(offs):
        return []
    breaks = np.flatnonzero(np.diff(offs) != 1) + 1
    return list(itertools.pairwise([0, *breaks.tolist(), len(offs)]))


def _place(items: list[_Entry], phys: np.ndarray) -> list[int] | None:
    """Byte positions of ``items`` packed end to end over the pages ``phys``,
    none across two pages that are not neighbours on the device; None when
    the pages are too few."""
    out, pos = [], 0
    for it in items:
        first, last = pos // PAGE_SIZE, (pos + it.length - 1) // PAGE_SIZE
        if last >= len(phys):
            return None
        if last != first and phys[last] != phys[first] + 1:
            pos = last * PAGE_SIZE  # start on the next page
            if (pos + it.length - 1) // PAGE_SIZE >= len(phys):
                return None
        out.append(pos)
        pos += it.length
    return out


def _groups(ids: np.ndarray) -> list[tuple[int, int]]:
    """(cgroup id, how many) of an id array; one pair when all are the same."""
    first = int(ids[0])
    if len(ids) == 1 or not (ids != first).any():
        return [(first, len(ids))]
    return [(int(c), int(k)) for c, k in zip(*np.unique(ids, return_counts=True),
                                               strict=True)]


class VirtualSwap:
    """The virtual swap layer of one System: its ghost area and the physical
    area behind it. Made by :func:`vswap_on`; ``system.swap.vswap``."""

    def __init__(self, system: System, ghost: SwapInfo, physical: SwapInfo, *,
                 compressed_writeback: bool, layout: str) -> None:
        self.system = system
        self.ghost = ghost
        self.physical = physical
        self.compressed_writeback = compressed_writeback
        self.layout = layout
        #: one descriptor per virtual slot (mm/vswap_table.py)
        self.vtable = np.zeros(len(ghost.swap_map), dtype=np.uint64)
        #: per physical slot: the virtual slot it backs (-1: none, or a page of
        #: a packed run, which backs several; see the descriptors)
        self.rmap = np.full(len(physical.swap_map), -1, dtype=np.int32)
        #: codec id -> zswap pool id (-1 free) and how many blobs use it
        self.codec_pool = [-1] * VT_NR_CODECS
        self.codec_refs = [0] * VT_NR_CODECS
        self.lock = threading.RLock()
        self.stats = dict.fromkeys(("phys_pages_written", "phys_pages_read", "phys_alloc_fail",
                                    "blob_pages_written"), 0)
        self._bounce_lock = threading.Lock()
        self._bounce = _aligned_buffer(2 * SWAP_CLUSTER_MAX * PAGE_SIZE)
        self._read_bounce = _aligned_buffer(2 * PAGE_SIZE)

    # --- descriptors ---------------------------------------------------------------------
    def mark(self, offs: np.ndarray, tag: VT) -> None:
        """Set ZERO, FOLIO or ZSWAP for virtual slots ``offs``, dropping any
        physical backing they had."""
        v = np.uint64(int(tag))
        with self.lock:
            old = self.vtable[offs]
            self.vtable[offs] = v
            self._release(offs, old)

    def zswap_gone(self, off: int) -> None:
        """zswap erased the entry of virtual slot ``off``: if the descriptor still
        said ZSWAP, the swap-cache folio (if any) is the copy now."""
        with self.lock:
            if self.vtable.item(off) == _ZSWAP:  # scalar ints: on every zswap erase
                self.vtable[off] = _FOLIO

    def slot_free_notify(self, sis: SwapInfo, off: int) -> None:
        """The ghost's slot-free hook: the virtual slot is free; what backed it goes."""
        with self.lock:
            v = self.vtable.item(off)
            self.vtable[off] = 0  # VT.NONE
            if v & _PHYS_BIT:
                self._release_one(off, v)

    def _release(self, offs: np.ndarray, old: np.ndarray) -> None:
        """Drop the physical slots and pool references the descriptors ``old``
        (of virtual slots ``offs``) held. Caller holds ``self.lock``."""
        for k in np.flatnonzero(old & np.uint64(_PHYS_BIT)).tolist():
            self._release_one(int(offs[k]), int(old[k]))

    def _release_one(self, voff: int, v: int) -> None:
        """:meth:`_release` of one PHYS or PHYS_COMPRESSED descriptor ``v``: a
        page, or every page a blob lies in, loses a reference (scalar steps:
        this runs on every swap-in of a page the physical area held)."""
        _, p = vt_phys(v)
        last = p
        if v & _TAG_MASK == _PHYS_COMPRESSED:
            clen, boff, cid = vt_blob(v)
            last = p + (boff + clen - 1) // PAGE_SIZE
            self._codec_put(cid)
        t = self.physical.type
        for q in range(p, last + 1):
            if self.rmap[q] == voff:
                self.rmap[q] = -1
            swap_put_entries(self.system, swp_entry(t, q))

    def _put(self, phys: np.ndarray) -> None:
        """Drop one reference of the physical area's slot for each of ``phys``
        (a slot may be named more than once: a page of a packed run)."""
        t = self.physical.type
        for q in phys.tolist():
            swap_put_entries(self.system, swp_entry(t, q))

    # --- codecs --------------------------------------------------------------------------
    def _codec_get(self, zswap: Zswap, pid: int) -> int:
        """A codec id for blobs of zswap pool ``pid`` (the pool kept alive), or -1
        when all VT_NR_CODECS ids name other pools. Caller holds ``self.lock``."""
        free = -1
        for cid, p in enumerate(self.codec_pool):
            if p == pid:
                free = cid
                break
            if p < 0 and free < 0:
                free = cid
        if free < 0:
            return -1
        if self.codec_pool[free] != pid:
            self.codec_pool[free] = pid
        self.codec_refs[free] += 1
        zswap.pool_get(pid)
        return free

    def _codecs_get(self, zswap: Zswap, items: list[_Entry]) -> list[int]:
        """:meth:`_codec_get` for each entry's pool, under the layer's lock."""
        with self.lock:
            return [self._codec_get(zswap, it.pool) for it in items]

    def _codecs_put(self, cids: list[int]) -> None:
        """Give back the codec ids ``cids`` took (the -1s took none), under the lock."""
        with self.lock:
            for c in cids:
                if c >= 0:
                    self._codec_put(c)

    def _codec_put(self, cid: int) -> None:
        pid = self.codec_pool[cid]
        self.codec_refs[cid] -= 1
        if not self.codec_refs[cid]:
            self.codec_pool[cid] = -1
        zswap = self.system.zswap
        if zswap is not None:
            zswap.pool_put(pid)

    def _codec(self, cid: int) -> _Pool | None:
        zswap = self.system.zswap
        pid = self.codec_pool[cid]
        return zswap.pools.get(pid) if zswap is not None and pid >= 0 else None

    # --- physical slots ------------------------------------------------------------------
    def _phys_alloc(self, voffs: np.ndarray, nr: int | None = None) -> np.ndarray | None:
        """``nr`` (default one per virtual slot) physical slots, each referenced
        once, charged to the cgroups the virtual slots ``voffs`` were swapped
        out from (the first one's for a packed run); None (nothing taken) when
        the area is full or a cgroup is at its swap.max."""
        system = self.system
        psi = self.physical
        n = len(voffs) if nr is None else nr
        ids = self.ghost.swap_cgroup[voffs] if nr is None else np.full(
            n, self.ghost.swap_cgroup[int(voffs[0])], dtype=np.int32)
        charged: list[tuple[int, int]] = []
        for cid, cnt in _groups(ids):
            memcg = system.memcgs.get(cid, system.root_memcg)
            if not memcg.try_charge_swap(cnt):
                for c2, k in charged:
                    system.memcgs.get(c2, system.root_memcg).uncharge_swap(k)
                self.stats["phys_alloc_fail"] += 1
                return None
            charged.append((cid, cnt))
        out = np.empty(n, dtype=np.int64)
        got = 0
        if psi.writeok:
            while got < n:
                off = psi.cluster_alloc_swap_entry(0, -1, count=1)
                if off < 0:
                    break
                out[got] = off
                got += 1
        if got:
            psi.swap_cgroup[out[:got]] = ids[:got]
            st = system.swap
            with st.lock:
                st.nr_swap_pages -= got
                psi.inuse_pages += got
                if psi.inuse_pages >= psi.pages:
                    st._del_avail(psi)
        if got < n:  # give back what was taken (freeing a slot uncharges it)
            for cid, cnt in _groups(ids[got:]):
                system.memcgs.get(cid, system.root_memcg).uncharge_swap(cnt)
            self._put(out[:got])
            self.stats["phys_alloc_fail"] += 1
            return None
        return out

    def _phys_bio(self, op: ReqOp, pos: int, vecs: list[np.ndarray]) -> Bio:
        """A bio at byte ``pos`` of the physical area (a slot's page and a byte in it)."""
        psi = self.physical
        page, rest = divmod(pos, PAGE_SIZE)
        sector = ((psi.offset_to_block(page) << PAGE_SHIFT) + rest) >> SECTOR_SHIFT
        return Bio(psi.bdev, op, sector, vecs, flags=ReqFlag.SWAP)

    def _phys_io(self, op: ReqOp, pos: int, vecs: list[np.ndarray]) -> int:
        """One bio at byte ``pos`` of the physical area's device; 0 or -errno."""
        return submit_bio_wait(self._phys_bio(op, pos, vecs))

    def _write_runs(self, phys: np.ndarray, pages: list[np.ndarray]) -> int:
        """Write ``pages`` to physical slots ``phys``, one bio per contiguous run."""
        for lo, hi in _runs(phys):
            ret = self._phys_io(ReqOp.WRITE, int(phys[lo]) << PAGE_SHIFT, pages[lo:hi])
            if ret:
                return ret
        return 0

    def phys_room(self, voffs: list[int]) -> int:
        """How many of virtual slots ``voffs``, taken in order, could get
        physical slots now: free slots in the area, and room under each one's
        cgroup's memory.swap.max counting the slots before it. zswap asks
        before it decompresses a batch of entries to write them back."""
        system = self.system
        psi = self.physical
        if not psi.writeok:
            return 0
        free = psi.pages - psi.inuse_pages
        want: dict[int, int] = {}
        n = 0
        for voff in voffs[:free]:
            cid = int(self.ghost.swap_cgroup[voff])
            memcg = system.memcgs.get(cid, system.root_memcg)
            k = want.get(memcg.id, 0) + 1
            if memcg.id and memcg.swap_usage + k > memcg.swap_max:
                break
            want[memcg.id] = k
            n += 1
        return n

    # --- the ghost's swap_ops ------------------------------------------------------------
    def submit_write(self, ctx: SwapIoCtx) -> None:
        """Write a batch of pages zswap did not take: physical slots now, the
        pages to them, descriptors PHYS. On any failure the batch fails (the
        pages stay dirty) and no slot is kept."""
        sio = ctx.sio
        _, pfns, voffs = sio.pages()
        mem = self.system.mem
        phys = self._phys_alloc(voffs)
        if phys is None:
            swap_write_end(sio, True)
            return
        ret = self._write_runs(phys, [mem.data[p] for p in pfns.tolist()])
        if ret:
            self._log("write", phys[0], ret)
            self._put(phys)
            swap_write_end(sio, True)
            return
        with self.lock:
            old = self.vtable[voffs]
            self.vtable[voffs] = vts_mk_phys(self.physical.type, phys)
            self.rmap[phys] = voffs
            self._release(voffs, old)
            self.stats["phys_pages_written"] += len(phys)
        swap_write_end(sio, False)

    def submit_read(self, ctx: SwapIoCtx) -> None:
        """Read a batch from where the descriptors say: PHYS pages (one bio per
        contiguous run), PHYS_COMPRESSED blobs (one bio each, decompressed)."""
        sio = ctx.sio
        _, pfns, voffs = sio.pages()
        mem = self.system.mem
        if len(voffs) == 1:  # a synchronous fault's batch: scalar steps
            off = voffs.item(0)
            with self.lock:
                v = self.vtable.item(off)
            dst = mem.data[pfns.item(0)]
            tag = v & _TAG_MASK
            if tag == _PHYS_COMPRESSED:
                ret = self._read_blob(v, dst)
            elif tag == _PHYS:
                _, p = vt_phys(v)
                ret = self._phys_io(ReqOp.READ, p << PAGE_SHIFT, [dst])
                if ret:
                    self._log("read", p, ret)
                self.stats["phys_pages_read"] += 1
            else:
                ret = self._no_data(off, v)
            swap_read_end(sio, ret != 0)
            return
        with self.lock:
            v = self.vtable[voffs]
        tags = vts_tag(v)
        failed = bool((tags < VT.PHYS).any())
        if failed:
            k = int(np.argmax(tags < VT.PHYS))
            self._no_data(int(voffs[k]), int(v[k]))
        raw = np.flatnonzero(tags == VT.PHYS)
        if not failed and len(raw):
            _, phys = vts_phys(v[raw])
            for lo, hi in _runs(phys):
                vecs = [mem.data[p] for p in pfns[raw[lo:hi]].tolist()]
                ret = self._phys_io(ReqOp.READ, int(phys[lo]) << PAGE_SHIFT, vecs)
                if ret:
                    self._log("read", phys[lo], ret)
                    failed = True
                    break
            self.stats["phys_pages_read"] += len(raw)
        if not failed:
            for k in np.flatnonzero(tags == VT.PHYS_COMPRESSED).tolist():
                if self._read_blob(int(v[k]), mem.data[int(pfns[k])]):
                    failed = True
                    break
        swap_read_end(sio, failed)

    def _no_data(self, off: int, v: int) -> int:
        """A read of a virtual slot whose data is not on the physical area: -EIO."""
        self.system.printk.ratelimited("vswap-read", logging.ERROR,
                                       f"vswap: read of virtual slot {off} whose data "
                                       f"is {VT(v & _TAG_MASK).name}")
        return -errno.EIO

    def _read_blob(self, v: int, dst: np.ndarray) -> int:
        """Read one blob (the blocks it lies in, one bio) and decompress it into
        ``dst``; 0 or -errno."""
        _, p = vt_phys(v)
        clen, boff, cid = vt_blob(v)
        lbs = self.physical.bdev.logical_block_size
        pos = (p << PAGE_SHIFT) + boff
        start = pos - pos % lbs
        end = -(-(pos + clen) // lbs) * lbs
        pool = self._codec(cid)
        zswap = self.system.zswap
        if pool is None or zswap is None:
            return -errno.EIO
        with self._bounce_lock:
            buf = self._read_bounce[: end - start]
            ret = self._phys_io(ReqOp.READ, start, [buf])
            if ret:
                self._log("blob read", p, ret)
                return ret
            zswap.stats["compressed_blob_reads"] += 1
            try:
                with zswap.lock:  # the pool's compressor is not reentrant
                    pool.comp.decompress(buf[pos - start : pos - start + clen], dst)
            except OSError as e:
                zswap.stats["decompress_fail"] += 1
                return -(e.errno or errno.EIO)
        return 0

    def _log(self, what: str, phys: int, ret: int) -> None:
        err = errno.errorcode.get(-ret, str(ret))
        self.system.printk.ratelimited(f"vswap-{what}", logging.ERROR,
                                       f"vswap: {what} of physical slot {int(phys)} on "
                                       f"{self.physical.name} failed: {err}")

    # --- compressed writeback ------------------------------------------------------------
    def writeback_blobs(self, zswap: Zswap, voffs: list[int]) -> list[int]:
        """Write the zswap entries of virtual slots ``voffs`` to the physical area
        as they are stored (compressed blobs, or raw pages for entries stored
        raw), without decompressing; each result 0 (written back, entry gone),
        -ENOENT (no entry any more), -ENOMEM (no physical slot: the entry
        stays) or -EAGAIN (another precondition failed: the entry stays;
        decompress-and-write is the caller's fallback)."""
        tree = zswap.trees[self.ghost.type]
        res = [-errno.ENOENT] * len(voffs)
        items: list[_Entry] = []
        with zswap.lock:
            for i, off in enumerate(voffs):
                h = int(tree.handle[off])
                if not h:
                    continue
                ln, pid = int(tree.length[off]), int(tree.pool[off])
                buf = np.empty(ln, dtype=np.uint8)
                zswap.pools[pid].zs.read(h, ln, buf)
                items.append(_Entry(i, off, h, int(tree.seq[off]), ln, pid, buf))
        if not items:
            return res
        raw = [it for it in items if it.length == PAGE_SIZE]
        blobs = [it for it in items if it.length < PAGE_SIZE]
        if blobs:  # the blobs' writes first, then the raw pages'
            rets = (self._write_packed(zswap, tree, blobs) if self.layout == "C"
                    else self._write_own_slots(zswap, tree, blobs))
            for it, ret in zip(blobs, rets, strict=True):
                res[it.index] = ret
        for it, ret in zip(raw, self._write_raw(zswap, tree, raw), strict=True):
            res[it.index] = ret
        return res

    def _write_raw(self, zswap: Zswap, tree: _Tree, items: list[_Entry]) -> list[int]:
        """Entries stored raw go out as pages (PHYS)."""
        if not items:
            return []
        voffs = np.array([it.voff for it in items], dtype=np.int64)
        phys = self._phys_alloc(voffs)
        if phys is None:
            return [-errno.ENOMEM] * len(items)
        if self._write_runs(phys, [it.data for it in items]):
            self._put(phys)
            return [-errno.EAGAIN] * len(items)
        descs = [int(d) for d in vts_mk_phys(self.physical.type, phys)]
        return self._commit(zswap, tree, items, descs, [None] * len(items))

    def _write_own_slots(self, zswap: Zswap, tree: _Tree, items: list[_Entry]) -> list[int]:
        """Layout A: each blob at the start of a physical slot of its own, its
        used logical blocks one bio; the batch's bios are all submitted (under
        one plug) before the wait, as writeback issues them. Per blob: 0,
        -EAGAIN (no free codec id, or its write failed: the entry stays and the
        caller falls back) or -ENOMEM (no slot: the area is full or the
        cgroup at memory.swap.max; the entry stays)."""
        lbs = self.physical.bdev.logical_block_size
        rets = [-errno.EAGAIN] * len(items)
        cids = self._codecs_get(zswap, items)
        ok = [k for k, c in enumerate(cids) if c >= 0]
        room = self.phys_room([items[k].voff for k in ok])
        phys = (self._phys_alloc(np.array([items[k].voff for k in ok[:room]], dtype=np.int64))
                if room else None)
        if phys is None:  # no slot now (also a race that took the room meanwhile)
            room = 0
        for k in ok[room:]:
            rets[k] = -errno.ENOMEM
        take = ok[:room]
        self._codecs_put([cids[k] for k in ok[room:]])
        if not take:
            return rets
        used = [-(-items[k].length // lbs) * lbs for k in take]
        with self._bounce_lock:
            buf = self._bounce
            bios = []
            for j, k in enumerate(take):
                a, ln = j * PAGE_SIZE, items[k].length
                buf[a : a + ln] = items[k].data
                buf[a + ln : a + used[j]] = 0
                bios.append(self._phys_bio(ReqOp.WRITE, int(phys[j]) << PAGE_SHIFT,
                                           [buf[a : a + used[j]]]))
            with blk_plug():
                status = submit_bios_wait(bios)
        done_k, descs = [], []
        for j, k in enumerate(take):
            if status[j]:
                self._log("blob write", phys[j], status[j])
                self._put(phys[j : j + 1])
                self._codecs_put([cids[k]])
                continue  # -EAGAIN: the caller decompresses and writes it
            done_k.append(k)
            descs.append(vt_mk(VT.PHYS_COMPRESSED, self.physical.type, int(phys[j]),
                               items[k].length, 0, cids[k]))
        self.stats["blob_pages_written"] += len(done_k)
        zswap.stats["written_back_compressed_bytes"] += sum(
            u for u, st in zip(used, status, strict=True) if not st)
        committed = self._commit(zswap, tree, [items[k] for k in done_k], descs,
                                 [cids[k] for k in done_k])
        for k, ret in zip(done_k, committed, strict=True):
            rets[k] = ret
        return rets

    def _write_packed(self, zswap: Zswap, tree: _Tree, items: list[_Entry]) -> list[int]:
        """Layout C: blobs end to end, byte by byte, from the start of a run of
        fresh pages; one bio a contiguous run, of whole logical blocks.
        A blob never straddles two pages that are not neighbours on the device:
        it then starts on the next page (one more page when needed)."""
        lbs = self.physical.bdev.logical_block_size
        npages = -(-sum(it.length for it in items) // PAGE_SIZE)
        voffs = np.array([it.voff for it in items], dtype=np.int64)
        cids = self._codecs_get(zswap, items)
        if min(cids) < 0:
            self._codecs_put(cids)
            return [-errno.EAGAIN] * len(items)
        phys = self._phys_alloc(voffs[:1], npages)  # charged to the first blob's cgroup
        place = _place(items, phys) if phys is not None else None
        while phys is not None and place is None:  # a gap cost a page: one more
            more = self._phys_alloc(voffs[:1], 1)
            if more is None:
                self._put(phys)
                phys = None
                break
            phys = np.concatenate([phys, more])
            place = _place(items, phys)
        if phys is None:  # no fallback: decompress-and-write would need a slot too
            self._codecs_put(cids)
            return [-errno.ENOMEM] * len(items)
        pos = place[-1] + items[-1].length
        with self._bounce_lock:
            buf = self._bounce[: len(phys) * PAGE_SIZE]
            buf[:] = 0
            for it, at in zip(items, place, strict=True):
                buf[at : at + it.length] = it.data
            ret = 0
            for lo, hi in _runs(phys):
                # the used part of the run: whole blocks, the last page maybe partly
                a = lo * PAGE_SIZE
                b = min(hi * PAGE_SIZE, -(-pos // lbs) * lbs)
                ret = self._phys_io(ReqOp.WRITE, int(phys[lo]) << PAGE_SHIFT, [buf[a:b]])
                if ret:
                    break
        if ret:
            self._log("blob write", phys[0], ret)
            self._put(phys)
            self._codecs_put(cids)
            return [-errno.EAGAIN] * len(items)
        descs = []
        blobs_in = [0] * len(phys)  # blobs per page of the run
        for it, at, cid in zip(items, place, cids, strict=True):
            first, last = at // PAGE_SIZE, (at + it.length - 1) // PAGE_SIZE
            descs.append(vt_mk(VT.PHYS_COMPRESSED, self.physical.type, int(phys[first]),
                               it.length, at % PAGE_SIZE, cid))
            for q in range(first, last + 1):
                blobs_in[q] += 1
        # a page is referenced once per blob in it; the allocation gave the first
        t = self.physical.type
        for q, n in enumerate(blobs_in):
            for _ in range(n - 1):
                swap_dup_entries(self.system, swp_entry(t, int(phys[q])))
        self.stats["blob_pages_written"] += len(phys)
        zswap.stats["written_back_compressed_bytes"] += -(-pos // lbs) * lbs
        return self._commit(zswap, tree, items, descs, cids)

    def _commit(self, zswap: Zswap, tree: _Tree, items: list[_Entry], descs: list[int],
                cids: list[int | None]) -> list[int]:
        """Entries still as they were read: erase them from zswap, set their
        descriptors. An entry that went meanwhile gives its backing back."""
        system = self.system
        out = []
        with zswap.lock, self.lock:
            for it, d, cid in zip(items, descs, cids, strict=True):
                off = it.voff
                if tree.handle[off] != it.handle or tree.seq[off] != it.seq:
                    self._release(np.array([off]), np.array([d], dtype=np.uint64))
                    out.append(-errno.ENOENT)
                    continue
                memcg_id = int(tree.memcg[off])
                zswap._erase(self.ghost.type, off)
                self.vtable[off] = d
                _, p = vt_phys(d)
                self.rmap[p] = off
                zswap.stats["written_back_pages"] += 1
                if cid is not None:
                    zswap.stats["written_back_compressed_pages"] += 1
                system.vmstat.count(VmEvent.zswpwb)
                system.vmstat.count(VmEvent.pswpout)
                system.memcg_stats.count(memcg_id, MemcgEvent.zswpwb)
                out.append(0)
        return out

    # --- swapoff of the physical area ----------------------------------------------------
    def unuse_physical(self) -> int:
        """Bring every page and blob on the physical area back into the swap cache
        (dirty, on its cgroup's LRU, descriptor FOLIO); 0 or -errno."""
        system = self.system
        ghost = self.ghost
        with self.lock:
            tags = vts_tag(self.vtable)
            voffs = np.flatnonzero(tags >= VT.PHYS)
        for off in voffs.tolist():
            ctx = SwapIoCtx()
            folio, _ = read_swap_cache_async(system, swp_entry(ghost.type, off), ctx)
            swap_read_submit(ctx)
            if folio is None:
                if self.vtable[off] & _PHYS_BIT:  # not freed meanwhile: no memory
                    return -errno.ENOMEM
                continue
            folio.lock()  # the read has ended (the batch is flushed)
            if not folio.test(PG.uptodate):
                swap_cache_del_folio(folio)
                folio.unlock()
                folio.free()
                return -errno.EIO
            folio.set(PG.dirty)
            if self.vtable[off] & _PHYS_BIT:
                self.mark(np.array([off]), VT.FOLIO)
            folio.unlock()
        return 0

    # --- reports -------------------------------------------------------------------------
    def metadata_bytes_per_slot(self) -> float:
        """Bytes of the layer's own tables per virtual slot: the descriptor, and
        the reverse map of the physical slots spread over the virtual ones."""
        return (self.vtable.itemsize
                + self.rmap.nbytes / max(1, len(self.vtable)))

    def statistics(self, files: bool = True) -> BackendStatistics:
        """The layer as a backend: the virtual slots its physical area backs, and
        (``files``) its descriptor counts and counters."""
        c = self.counts()
        return BackendStatistics(
            name="vswap", kind="vswap",
            stored_pages=c["slots_phys"] + c["slots_phys_compressed"], data_bytes=0,
            compressed_bytes=0, pool_bytes=0, backing_pages=self.physical.inuse_pages,
            backing_reads=c["phys_pages_read"] + (self.system.zswap.stats[
                "compressed_blob_reads"] if self.system.zswap is not None else 0),
            files=c if files else {}, metadata_bytes_per_slot=self.metadata_bytes_per_slot())

    def counts(self) -> dict[str, int]:
        """Virtual slots by what their descriptor says, and the layer's counters."""
        with self.lock:
            tags = vts_tag(self.vtable[: self.ghost.max])
        out = {f"slots_{t.name.lower()}": int(np.count_nonzero(tags == t)) for t in VT}
        return {**out, **self.stats}


def vswap_on(system: System, physical: SwapInfo, nr_pages: int, *,
             compressed_writeback: bool = False, layout: str = "A") -> SwapInfo:
    """Turn on the virtual swap layer: a ghost area of ``nr_pages`` slots at the
    highest priority in front of the active area ``physical``; returns the
    ghost. EBUSY when a layer is on already, EINVAL for a physical area that is
    not an active block-device area, too large for a descriptor, or an
    unknown layout."""
    st = system.swap
    if layout not in LAYOUTS:
        raise kerror(errno.EINVAL, f"vswap: layout {layout!r} is not one of {LAYOUTS}")
    if st.vswap is not None:
        raise kerror(errno.EBUSY, "vswap: the virtual swap layer is on already")
    if physical not in st.active() or physical.bdev is None or physical.vswap is not None:
        raise kerror(errno.EINVAL, f"vswap: {physical.name} is not an active swap area "
                     "on a block device")
    if physical.max > VT_MAX_PHYS_PAGES:
        raise kerror(errno.EINVAL, f"vswap: {physical.name} has {physical.max} pages; a "
                     f"descriptor names at most {VT_MAX_PHYS_PAGES}")
    if nr_pages < 1:
        raise kerror(errno.EINVAL, f"vswap: a ghost area of {nr_pages} pages")
    with st.swapon_mutex:
        ghost = new_swap_info(system, "vswap")
        ghost.swap_file = "[vswap]"
        ghost._setup_tables(nr_pages + 1, ())
        vs = VirtualSwap(system, ghost, physical, compressed_writeback=compressed_writeback,
                         layout=layout)
        ghost.vswap = vs
        ghost.private_data = vs
        ghost.ops = SwapOps(name="vswap", submit_write=vs.submit_write,
                            submit_read=vs.submit_read, slot_free_notify=vs.slot_free_notify)
        ghost.flags |= SWP.SOLIDSTATE | SWP.SYNCHRONOUS_IO
        ghost.prio = GHOST_PRIO
        with st.lock:
            st.info[ghost.type] = ghost
            ghost.flags |= SWP.WRITEOK
            st.nr_swap_pages += ghost.pages
            st.total_swap_pages += ghost.pages
            st._add_avail(ghost)
            st.vswap = vs
        if system.zswap is not None:
            system.zswap.swapon(ghost.type, ghost.max)
    return ghost
