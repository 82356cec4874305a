"""zswap: a compressed cache in the swap core, in front of any swap area (mm/zswap.c).

Rules (kernel-facts §5):
- Entries are keyed by swap entry: per swap type, arrays indexed by slot
  offset hold the zsmalloc handle, compressed length, pool, owning cgroup,
  the referenced bit and an LRU stamp. No Python object per entry.
- store (from swap_writeout, after the zero-page check): disabled -> drop
  stale entries and refuse; the cgroup at memory.zswap.max -> write back one
  of its entries and refuse; the global pool at max_pool_percent of RAM ->
  pool_limit_hit, mark full, run the shrink worker, refuse; once full, refuse
  until the pool is below accept_threshold_percent of the limit. A page that
  does not compress below PAGE_SIZE (or whose compression fails) is stored
  raw when the cgroup allows writeback, else refused. A refused store leaves
  no entry for the folio's slots.
- load (from swap_read_folio, before any device I/O): -ENOENT without an
  entry; -EINVAL for a large folio; -EIO when decompression fails; on success
  the folio is uptodate and dirty and the entry is gone (exclusive load).
- invalidate (from swap_range_free, before the device's slot-free notify).
- Writeback (limit shrink worker, and the shrinker under memory pressure)
  walks per-cgroup LRUs with a second chance for referenced entries; an entry
  goes back through the swap cache and ``__swap_writepage`` with its own
  SwapIoCtx (counted as pswpout and zswpwb), and the folio is freed once the
  write is done. memory.zswap.writeback = 0 forbids it for that cgroup.
- Changing the compressor makes a new pool current; older entries keep
  their pool and are decompressed with its compressor; an emptied old pool
  is dropped.
- Not modelled: reject_kmemcache_fail (entry allocation cannot fail here),
  the nr_disk_swapins shrinker protection, the per-64-MiB xarray split.
"""

from __future__ import annotations

import errno
import threading
from typing import TYPE_CHECKING

import numpy as np

from ..consts import PAGE_SIZE, SWAP_CLUSTER_MAX
from ..errors import kerror
from ..lib.compress import available, compressor
from ..statistics import BackendStatistics
from ..util import kstrtobool, kstrtouint
from .folio import PG, Folio
from .memcontrol import MAX_RECLAIM_RETRIES, MemcgEvent
from .page_alloc import PhysMem
from .page_io import swap_write_submit, swap_writepage
from .swap_iocb import SwapIoCtx
from .swapfile import swap_cache_alloc, swap_cache_del_folio, swap_cache_get_folio
from .swapops import swp_entry, swp_offset, swp_type
from .vmscan import _free_clean_folios, _trylock_folios
from .vmstat import VmEvent
from .vswap_table import VT
from .zsmalloc import ZsPool

if TYPE_CHECKING:
    from ..system import System
    from .memcontrol import MemCgroup
    from .vswap import VirtualSwap

COUNTERS = ("pool_limit_hit", "reject_reclaim_fail", "reject_alloc_fail",
            "reject_kmemcache_fail", "reject_compress_fail", "reject_compress_poor",
            "decompress_fail", "written_back_pages", "stored_incompressible_pages")
#: Counters of compressed writeback under virtual swap (mm/vswap.py). Proposals:
#: the kernel has merged no such files. ``writeback_decompressions`` counts
#: entries decompressed to be written back (0 when every writeback is compressed).
PROPOSED_COUNTERS = ("written_back_compressed_pages", "written_back_compressed_bytes",
                     "compressed_writeback_fallback", "compressed_blob_reads",
                     "writeback_decompressions")


class _Pool:
    """A zswap_pool: one compressor and its zsmalloc pool. Every call runs
    under zswap's lock, which also serialises the compressor and the bounce
    buffer (the kernel's per-CPU acomp context)."""

    def __init__(self, name: str, mem: PhysMem, in_ram: bool) -> None:
        self.comp = compressor(name)
        self.zs = ZsPool(f"zswap-{name}", mem.nr_frames, mem=mem if in_ram else None)
        self.nr_entries = 0
        #: compressed blobs of this pool on a physical area (virtual swap's
        #: compressed writeback): the pool's codec stays while there are any
        self.blobs = 0
        self._bounce = np.empty(PAGE_SIZE, dtype=np.uint8)

    def compress(self, page: np.ndarray) -> bytes | int:
        """One page compressed, or -EINVAL when the compressor refuses it."""
        try:
            return self.comp.compress(page)
        except OSError as e:
            return -e.errno

    def load(self, handle: int, length: int, dst: np.ndarray) -> int:
        """Fill the page ``dst`` from the object ``handle`` (raw when ``length``
        is PAGE_SIZE); 0, or -EINVAL when it does not decompress to one page."""
        if length == PAGE_SIZE:
            self.zs.read(handle, PAGE_SIZE, dst)
            return 0
        try:
            self.comp.decompress(self.zs.read(handle, length, self._bounce), dst)
        except OSError as e:
            return -e.errno
        return 0

    def destroy(self) -> None:
        self.zs.destroy()


class _Tree:
    """The entries of one swap area, indexed by slot offset; ``vswap`` is the
    virtual swap layer when the area is its ghost (stores and erases then
    move the slots' descriptors)."""

    def __init__(self, nr: int, vswap: VirtualSwap | None = None) -> None:
        self.vswap = vswap
        self.handle = np.zeros(nr, dtype=np.int64)      # 0: no entry
        self.length = np.zeros(nr, dtype=np.int32)
        self.pool = np.zeros(nr, dtype=np.int16)
        self.memcg = np.zeros(nr, dtype=np.int32)
        self.referenced = np.zeros(nr, dtype=bool)
        self.seq = np.zeros(nr, dtype=np.int64)


#: bytes of a _Tree's arrays per slot (what zswap keeps for each slot of an area)
_TREE_BYTES_PER_SLOT = sum(a.itemsize for a in vars(_Tree(1)).values()
                           if isinstance(a, np.ndarray))


class _EntryLru:
    """One cgroup's entry LRU: ``(type, offset, stamp)`` rows, oldest first; a row
    is live while the slot still has an entry with that stamp."""

    def __init__(self) -> None:
        self.key = np.empty(256, dtype=np.int64)
        self.seq = np.empty(256, dtype=np.int64)
        self.head = self.tail = 0
        self.nr = 0

    def append(self, key: int, seq: int) -> None:
        if self.tail == len(self.key):
            live = self.tail - self.head
            size = max(256, 2 * live + 2) if live * 2 >= len(self.key) else len(self.key)
            k, s = self.key[self.head : self.tail].copy(), self.seq[self.head : self.tail].copy()
            if size != len(self.key):
                self.key = np.empty(size, dtype=np.int64)
                self.seq = np.empty(size, dtype=np.int64)
            self.key[:live], self.seq[:live] = k, s
            self.head, self.tail = 0, live
        self.key[self.tail] = key
        self.seq[self.tail] = seq
        self.tail += 1

    def pop(self) -> tuple[int, int] | None:
        if self.head == self.tail:
            return None
        k, s = int(self.key[self.head]), int(self.seq[self.head])
        self.head += 1
        return k, s

    def push_front(self, key: int, seq: int) -> None:
        """Put back the row :meth:`pop` just gave."""
        self.head -= 1
        self.key[self.head] = key
        self.seq[self.head] = seq


class ZswapParams:
    """/sys/module/zswap/parameters/: ``params[name]`` reads and writes the text."""

    def __init__(self, zswap: Zswap) -> None:
        self._z = zswap

    def __getitem__(self, name: str) -> str:
        z = self._z
        if name == "enabled":
            return "Y\n" if z.enabled else "N\n"
        if name == "compressor":
            return f"{z.compressor}\n"
        if name == "max_pool_percent":
            return f"{z.max_pool_percent}\n"
        if name == "accept_threshold_percent":
            return f"{z.accept_threshold_percent}\n"
        if name == "shrinker_enabled":
            return "Y\n" if z.shrinker_enabled else "N\n"
        raise kerror(errno.ENOENT, f"/sys/module/zswap/parameters/{name}: no such parameter")

    def __setitem__(self, name: str, value: object) -> None:
        z = self._z
        text = str(value)
        what = f"zswap {name}"
        if name == "enabled":
            z.enabled = kstrtobool(text, what=what)
        elif name == "compressor":
            z.set_compressor(text.strip())
        elif name == "max_pool_percent":
            z.max_pool_percent = kstrtouint(text, 0, what=what)
        elif name == "accept_threshold_percent":
            v = kstrtouint(text, 0, what=what)
            if v > 100:
                raise kerror(errno.EINVAL, f"{what}: {v} is above 100")
            z.accept_threshold_percent = v
        elif name == "shrinker_enabled":
            z.shrinker_enabled = kstrtobool(text, what=what)
        else:
            raise kerror(errno.ENOENT, f"/sys/module/zswap/parameters/{name}: no such "
                         "parameter")


class Zswap:
    """The zswap of one System; installing it sets ``system.zswap``."""

    def __init__(self, system: System, compressor: str = "lz4", *, enabled: bool = False
                 ) -> None:
        self.system = system
        self.enabled = enabled
        self.max_pool_percent = 20
        self.accept_threshold_percent = 90
        self.shrinker_enabled = True
        self.pools: dict[int, _Pool] = {}
        self._next_pool = 0
        self.current = -1
        self.compressor = ""
        self.set_compressor(compressor)
        self.trees: dict[int, _Tree] = {}
        self.lrus: dict[int, _EntryLru] = {}
        self.stats = dict.fromkeys(COUNTERS + PROPOSED_COUNTERS, 0)
        self.stored_pages = 0
        self.pool_full = False
        self._seq = 1
        self.lock = threading.RLock()
        self.params = ZswapParams(self)
        for si in system.swap.active():
            self.swapon(si.type, si.max)
        system.zswap = self

    # --- configuration ------------------------------------------------------------------
    def set_compressor(self, name: str) -> None:
        if name not in available():
            raise kerror(errno.ENOENT, f"zswap: compressor {name!r} not available")
        if name == self.compressor:
            return
        pid = self._next_pool
        self._next_pool += 1
        self.pools[pid] = _Pool(name, self.system.mem, self.system.pools_in_ram)
        old = self.current
        self.current = pid
        self.compressor = name
        self._pool_maybe_destroy(old)

    def _pool_maybe_destroy(self, pid: int) -> None:
        """Drop a pool that is not current and holds nothing: no entry, no blob."""
        pool = self.pools.get(pid)
        if pool is not None and pid != self.current and not pool.nr_entries and not pool.blobs:
            self.pools.pop(pid).destroy()

    def pool_get(self, pid: int) -> _Pool:
        """A compressed blob of pool ``pid`` went to a physical area: keep the pool
        (and its codec) until :meth:`pool_put`."""
        with self.lock:
            pool = self.pools[pid]
            pool.blobs += 1
            return pool

    def pool_put(self, pid: int) -> None:
        """A blob of pool ``pid`` is gone."""
        with self.lock:
            self.pools[pid].blobs -= 1
            self._pool_maybe_destroy(pid)

    def swapon(self, type_: int, maxpages: int) -> None:
        si = self.system.swap.info[type_]
        with self.lock:
            self.trees[type_] = _Tree(maxpages + 1, si.vswap if si is not None else None)

    def swapoff(self, type_: int) -> None:
        with self.lock:
            tree = self.trees.get(type_)
            if tree is not None:
                for off in np.flatnonzero(tree.handle).tolist():
                    self._erase(type_, off)
                del self.trees[type_]

    def destroy(self) -> None:
        """Drop every entry and pool (System.close: the pools give their frames
        back to the machine while it is still whole)."""
        with self.lock:
            for t in list(self.trees):
                self.swapoff(t)
            for pool in self.pools.values():
                pool.destroy()
            self.pools.clear()

    # --- sizes --------------------------------------------------------------------------
    def total_pages(self) -> int:
        return sum(p.zs.total_pages for p in self.pools.values())

    def max_pages(self) -> int:
        return self.system.mem.nr_frames * self.max_pool_percent // 100

    def accept_pages(self) -> int:
        return self.max_pages() * self.accept_threshold_percent // 100

    def statistics(self, files: bool = True) -> BackendStatistics:
        """zswap as a backend: its pool and (``files``) its debugfs values."""
        d = self.debugfs()
        return BackendStatistics(
            name="zswap", kind="zswap", stored_pages=d["stored_pages"],
            data_bytes=d["stored_pages"] * PAGE_SIZE,
            compressed_bytes=sum(cg.zswap_bytes for cg in self.system.memcg_list()),
            pool_bytes=d["pool_total_size"], files=d if files else {},
            written_back_pages=d["written_back_pages"],
            writeback_decompressions=d["writeback_decompressions"],
            metadata_bytes_per_slot=float(_TREE_BYTES_PER_SLOT))

    def debugfs(self) -> dict[str, int]:
        """/sys/kernel/debug/zswap/ as a dict."""
        return {**self.stats, "pool_total_size": self.total_pages() * PAGE_SIZE,
                "stored_pages": self.stored_pages}

    # --- entries ------------------------------------------------------------------------
    def _erase(self, type_: int, off: int) -> None:
        """Free the entry of one slot, if any (lock held)."""
        tree = self.trees.get(type_)
        if tree is None:
            return
        h = int(tree.handle[off])
        if not h:
            return
        pid = int(tree.pool[off])
        pool = self.pools[pid]
        ln = int(tree.length[off])
        pool.zs.free(h)
        pool.nr_entries -= 1
        self._pool_maybe_destroy(pid)
        tree.handle[off] = 0
        if tree.vswap is not None:  # the folio (if any) is the copy now
            tree.vswap.zswap_gone(off)
        tree.seq[off] = 0
        self.stored_pages -= 1
        cg = self.system.memcgs.get(int(tree.memcg[off]))
        if ln == PAGE_SIZE:
            self.stats["stored_incompressible_pages"] -= 1
            if cg is not None:
                cg.zswap_incomp -= 1
        if cg is not None:
            cg.charge_zswap(-ln, -1)

    def invalidate(self, entry: int) -> None:
        """zswap_invalidate: drop the entry of a freed slot."""
        t = swp_type(entry)
        tree = self.trees.get(t)
        if tree is None:
            return
        off = swp_offset(entry)
        if tree.handle[off]:
            with self.lock:
                self._erase(t, off)

    def _check_limits(self) -> int:
        """zswap_check_limits: 0 when the pool may grow, 1 when it is still over the
        accept threshold after being full, 2 when it just hit the limit."""
        cur = self.total_pages()
        if self.pool_full and cur > self.accept_pages():
            return 1
        if cur >= self.max_pages():
            self.stats["pool_limit_hit"] += 1
            self.pool_full = True
            return 2
        self.pool_full = False
        return 0

    def store(self, folio: Folio) -> bool:
        """zswap_store: keep a compressed copy of a locked swap-cache folio.

        Lock order: the swap cluster lock (held by invalidate's callers) before
        ``self.lock``; store never holds ``self.lock`` while it writes back.
        """
        t = swp_type(folio.swap)
        off = swp_offset(folio.swap)
        nr = folio.nr_pages
        system = self.system
        tree = self.trees.get(t)
        if tree is None:
            return False
        if not self.enabled:
            return self._reject(t, off, nr)
        memcg = system.memcgs[int(folio.mem.memcg[folio.pfn])]
        if not memcg.zswap_may_store():
            if self.shrink_memcg(memcg):
                self.stats["reject_reclaim_fail"] += 1
            return self._reject(t, off, nr)
        full = self._check_limits()
        if full:
            if full == 2:  # the limit was just hit: the shrink worker is queued
                self.shrink_worker()
            return self._reject(t, off, nr)
        with self.lock:
            pool = self.pools[self.current]
            for k in range(nr):
                page = folio.pages[k]
                out = pool.compress(page)
                faults = system.faults
                if faults.armed and faults.hit("zcomp.compress", "zswap"):
                    out = -errno.EINVAL
                raw = isinstance(out, int) or len(out) >= PAGE_SIZE
                if raw:
                    if not memcg.zswap_writeback:
                        self.stats["reject_compress_fail" if isinstance(out, int)
                                   else "reject_compress_poor"] += 1
                        return self._reject(t, off, nr)
                    data, ln = page, PAGE_SIZE
                else:
                    data, ln = out, len(out)
                h = pool.zs.malloc(ln)
                if h > 0 and faults.armed and faults.hit("zsmalloc.alloc", "zswap"):
                    pool.zs.free(h)
                    h = -errno.ENOMEM
                if h <= 0:
                    self.stats["reject_alloc_fail"] += 1
                    return self._reject(t, off, nr)
                pool.zs.write(h, data)
                o = off + k
                self._erase(t, o)  # a stale entry for this slot
                tree.handle[o] = h
                tree.length[o] = ln
                tree.pool[o] = self.current
                tree.memcg[o] = memcg.id
                tree.referenced[o] = True
                seq = self._seq
                self._seq += 1
                tree.seq[o] = seq
                self.lrus.setdefault(memcg.id, _EntryLru()).append((t << 40) | o, seq)
                pool.nr_entries += 1
                self.stored_pages += 1
                if raw:
                    self.stats["stored_incompressible_pages"] += 1
                    memcg.zswap_incomp += 1
                memcg.charge_zswap(ln, 1)
            if tree.vswap is not None:
                tree.vswap.mark(np.arange(off, off + nr), VT.ZSWAP)
        system.vmstat.count(VmEvent.zswpout, nr)
        system.memcg_stats.count(memcg.id, MemcgEvent.zswpout, nr)
        return True

    def _reject(self, t: int, off: int, nr: int) -> bool:
        """A failed store leaves no entry for any of the folio's slots."""
        with self.lock:
            for o in range(off, off + nr):
                self._erase(t, o)
        return False

    def load(self, folio: Folio) -> int:
        """zswap_load: 0 (loaded, entry gone), -ENOENT, -EINVAL (large folio), -EIO."""
        t = swp_type(folio.swap)
        off = swp_offset(folio.swap)
        tree = self.trees.get(t)
        if tree is None:
            return -errno.ENOENT
        nr = folio.nr_pages
        with self.lock:
            if not (tree.handle.item(off) if nr == 1 else tree.handle[off : off + nr].any()):
                return -errno.ENOENT
            if nr > 1:
                return -errno.EINVAL
            ret = self._decompress(t, off, folio.data)
            if ret:
                self.stats["decompress_fail"] += 1
                return -errno.EIO
            memcg_id = int(tree.memcg[off])
            self._erase(t, off)
        folio.set(PG.uptodate | PG.dirty)
        self.system.vmstat.count(VmEvent.zswpin)
        self.system.memcg_stats.count(memcg_id, MemcgEvent.zswpin)
        return 0

    def _decompress(self, t: int, off: int, dst: np.ndarray) -> int:
        faults = self.system.faults
        if faults.armed and faults.hit("zcomp.decompress", "zswap"):
            return -errno.EINVAL
        tree = self.trees[t]
        pool = self.pools[int(tree.pool[off])]
        return pool.load(int(tree.handle[off]), int(tree.length[off]), dst)

    # --- writeback ----------------------------------------------------------------------
    def writeback_entry(self, t: int, off: int, *, compressed: bool = True) -> int:
        """zswap_writeback_entry: move one entry to the swap device; 0 or -errno.
        Under virtual swap with compressed writeback (and ``compressed``) the
        entry goes out as it is stored (:meth:`writeback_entries`); otherwise
        it is decompressed into a swap-cache folio that is written."""
        tree = self.trees[t]
        if compressed and tree.vswap is not None and tree.vswap.compressed_writeback:
            return self.writeback_entries(t, [off])[0]
        return self._writeback_folios(t, [off])[0]

    def _writeback_folios(self, t: int, offs: list[int]) -> list[int]:
        """Decompress-and-write of the entries of slots ``offs`` of area ``t``:
        each into a swap-cache folio of its own (:meth:`_writeback_folio`),
        the folios written as one batch (one swap_write_submit; the swap_iocb
        core splits it as the area's ops say). Each result as
        :meth:`writeback_entry`'s."""
        vs = self.trees[t].vswap
        room = vs.phys_room(offs) if vs is not None else len(offs)
        ctx = SwapIoCtx()
        rets, folios = [], []
        for k, off in enumerate(offs):
            if k >= room:  # no physical slot for it now: the entry stays
                rets.append(-errno.ENOMEM)
                continue
            ret, folio = self._writeback_folio(t, off)
            rets.append(ret)
            if folio is not None:
                swap_writepage(folio, ctx)  # __swap_writepage: counted as pswpout
                folios.append(folio)
        swap_write_submit(ctx)
        # the writes are done (every backend completes them before returning):
        # a clean folio goes at once, a failed one stays dirty in the swap cache
        if folios:
            mem = self.system.mem
            pfns = np.fromiter((f.pfn for f in folios), dtype=np.int64, count=len(folios))
            locked, _ = _trylock_folios(mem, pfns)
            _free_clean_folios(mem, pfns[locked])
        return rets

    def _writeback_folio(self, t: int, off: int) -> tuple[int, Folio | None]:
        """The steps of zswap_writeback_entry up to the write: a new folio in the
        swap cache at the entry, charged to the entry's cgroup and on its LRU
        (__read_swap_cache_async: the swap-in's compiled allocate-and-insert,
        swapfile.swap_cache_alloc), filled by decompression; the entry is
        erased and counted as written back. Returns (0, the locked folio
        ready to write) or (-errno, None): -EEXIST when the slot is cached or
        claimed already, -ENOENT when it was freed, -ENOMEM without a free
        frame, -EIO when the entry went meanwhile or did not decompress."""
        system = self.system
        entry = swp_entry(t, off)
        tree = self.trees[t]
        memcg = system.memcgs.get(int(tree.memcg[off]), system.root_memcg)
        pfn = swap_cache_alloc(system.swap.info_of(entry), off, entry, memcg.id)
        if pfn < 0:
            return pfn, None
        folio = Folio(system.mem, pfn)
        with self.lock:
            bad = not tree.handle.item(off) or self._decompress(t, off, folio.data)
            if not bad:
                self.stats["writeback_decompressions"] += 1
                self._erase(t, off)
        if bad:
            swap_cache_del_folio(folio)
            folio.unlock()
            folio.free()
            return -errno.EIO, None
        self.stats["written_back_pages"] += 1
        system.vmstat.count(VmEvent.zswpwb)
        system.memcg_stats.count(memcg.id, MemcgEvent.zswpwb)
        folio.set(PG.uptodate | PG.reclaim)
        return 0, folio

    def writeback_entries(self, t: int, offs: list[int]) -> list[int]:
        """Compressed writeback (virtual swap) of the entries of slots ``offs`` of
        area ``t``, as one batch: each result as :meth:`writeback_entry`'s. An
        entry a folio caches is -EEXIST; one whose blob cannot be written
        (a failed precondition) falls back to decompress-and-write."""
        system = self.system
        vs = self.trees[t].vswap
        keep = [o for o in offs if swap_cache_get_folio(system, swp_entry(t, o)) is None]
        rets = dict(zip(keep, vs.writeback_blobs(self, keep), strict=True))
        for o in keep:
            if rets[o] == -errno.EAGAIN:
                self.stats["compressed_writeback_fallback"] += 1
                rets[o] = self.writeback_entry(t, o, compressed=False)
        return [rets.get(o, -errno.EEXIST) for o in offs]

    def _shrink_one(self, memcg_id: int, budget: int = SWAP_CLUSTER_MAX) -> int:
        """Second-chance walk of one cgroup's LRU: how many entries were written
        back (one; under virtual swap the unreferenced entries at the head, up
        to ``budget`` and SWAP_CLUSTER_MAX, as one batch), 0 when the LRU is
        empty or writeback failed, -1 after a rotation."""
        lru = self.lrus.get(memcg_id)
        cg = self.system.memcgs.get(memcg_id)
        if lru is None or cg is None or not cg.zswap_writeback:
            return 0
        batch: list[tuple[int, int]] = []  # (offset, seq) of one area
        t = -1
        tree = None
        rotated = False
        with self.lock:
            while len(batch) < min(budget, SWAP_CLUSTER_MAX):
                item = lru.pop()
                if item is None:
                    break
                key, seq = item
                kt, off = key >> 40, key & ((1 << 40) - 1)
                ktree = self.trees.get(kt)
                if ktree is None or ktree.seq[off] != seq or not ktree.handle[off]:
                    continue  # stale row
                if batch and kt != t:
                    lru.push_front(key, seq)
                    break
                if ktree.referenced[off]:
                    ktree.referenced[off] = False
                    lru.append(key, seq)
                    rotated = True
                    break
                t, tree = kt, ktree
                batch.append((off, seq))
                if tree.vswap is None:
                    break
        if not batch:
            return -1 if rotated else 0
        offs = [off for off, _ in batch]
        if len(batch) == 1:
            rets = [self.writeback_entry(t, offs[0])]
        elif tree.vswap.compressed_writeback:
            rets = self.writeback_entries(t, offs)
        else:
            rets = self._writeback_folios(t, offs)
        with self.lock:
            for (off, seq), ret in zip(batch, rets, strict=True):
                if ret and tree.handle[off] and tree.seq[off] == seq:
                    lru.append((t << 40) | off, seq)  # still here: keep it on the LRU
        return sum(1 for r in rets if r == 0)

    def shrink_memcg(self, memcg: MemCgroup) -> int:
        """Walk one entry of ``memcg``'s LRU: 0 when it was written back, -EAGAIN
        when it was rotated (referenced) or could not be written, -ENOENT when
        the cgroup has no entry to walk."""
        r = self._shrink_one(memcg.id)
        if r >= 1:
            return 0
        lru = self.lrus.get(memcg.id)
        if r == 0 and (lru is None or lru.head == lru.tail):
            return -errno.ENOENT
        return -errno.EAGAIN

    def shrink_worker(self) -> int:
        """The limit shrink worker: one entry per cgroup, round robin, until the pool
        is below the accept threshold; a cgroup with nothing to walk is skipped,
        and the worker gives up after MAX_RECLAIM_RETRIES failed walks."""
        done = failures = 0
        while self.total_pages() > self.accept_pages():
            walked = False
            for cg in self.system.memcg_list():
                ret = self.shrink_memcg(cg)
                if ret == -errno.ENOENT:
                    continue
                walked = True
                if ret == 0:
                    done += 1
                else:
                    failures += 1
                    if failures >= MAX_RECLAIM_RETRIES:
                        return done
                if self.total_pages() <= self.accept_pages():
                    break
            if not walked:
                break
        return done

    def writeback_all(self) -> int:
        """Write back every entry of every cgroup that allows it (second chances
        given, as the shrinker gives them); the pages written back. What a
        bench does to put every page on the disk behind zswap."""
        before = self.stats["written_back_pages"]
        for cg in self.system.memcg_list():
            while self.nr_entries(cg) and self.shrinker_scan(cg, 1 << 30):
                pass
        return self.stats["written_back_pages"] - before

    def shrinker_scan(self, memcg: MemCgroup, nr_to_scan: int) -> int:
        """The zswap shrinker for one cgroup under memory pressure; pages written back."""
        if not self.shrinker_enabled or not memcg.zswap_writeback:
            return 0
        done = scanned = 0
        while scanned < nr_to_scan:
            r = self._shrink_one(memcg.id, nr_to_scan - scanned)
            if r == 0:
                break
            scanned += max(r, 1)
            done += max(r, 0)
        return done

    def nr_entries(self, memcg: MemCgroup | None = None) -> int:
        if memcg is None:
            return self.stored_pages
        return sum(int(np.count_nonzero((tr.handle != 0) & (tr.memcg == memcg.id)))
                   for tr in self.trees.values())
