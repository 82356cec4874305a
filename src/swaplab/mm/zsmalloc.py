"""zsmalloc: the size-class allocator behind zram and zswap (mm/zsmalloc.c).

Objects of 32..4096 bytes live in *zspages*: runs of 1..``chain_size`` pool
pages split into equal slots of one size class. Layout and rules, as in the
kernel (kernel-facts §4):

- 255 classes, ``32 + 16 * i`` bytes (capped at 4096); a class's zspage has
  the page count (1..chain) that wastes the fewest bytes; classes with the
  same (pages, objects) as the next larger one are merged into it.
  ``huge_class_size`` is the largest non-huge class size minus 7 (3625 with
  chain 8): from there on an object takes a whole page.
- ``zs_malloc(size)`` adds the 8-byte handle header, picks the class, and
  takes a free slot of the fullest non-full zspage of that class (fullness
  groups 0, 10%..99%, 100%); a new zspage is allocated when none has room.
  ``zs_free`` frees the slot, and the zspage with it when it empties.
- A handle is an index into the handle table, which stores the object
  location ``obj = (pool pfn of the object's first byte) << 24 | index in
  zspage``. Compaction moves objects and rewrites that word; handles stay.
- A non-huge allocated slot starts with the handle word ``handle << 1 | 1``
  (OBJ_ALLOCATED_TAG); a freed slot holds the index of the next freed slot
  ``<< 1``. Never-used slots are handed out in ascending order after the
  freed ones, the order of the kernel's chain built at zspage creation.
  Huge objects fill their page; their handle is kept beside the page.
  Objects may straddle two pool pages: reads copy them into a bounce
  buffer, as zram's ``local_copy``.
- ``total_pages`` (zs_get_total_pages) counts every page backing a zspage:
  zram's mem_used_total and what mem_limit is checked against.

Per-object and per-page state is numpy arrays (no Python object per stored
page); per-zspage counters and page lists are plain lists; the pool's pages
are one anonymous mmap, touched only when used.

Batch forms for zram's swap_ops: :meth:`ZsPool.store_batch` allocates and
writes a batch's objects with exactly the choices a loop of ``zs_malloc`` +
``zs_obj_write`` would make (per-object work on lists and memoryviews, the
handle table written once), and :meth:`ZsPool.obj_views` maps many objects
for reading (straddlers joined through ``page_next``).
"""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass

import numpy as np

from ..consts import PAGE_SHIFT, PAGE_SIZE
from ..prefault import Prefaulter
from ..util import anon_arena

ZS_HANDLE_SIZE = 8
ZS_ALIGN = 8
OBJ_ALLOCATED_TAG = 1
OBJ_TAG_BITS = 1
OBJ_INDEX_BITS = 24
OBJ_INDEX_MASK = (1 << OBJ_INDEX_BITS) - 1
ZS_MIN_ALLOC_SIZE = 32
ZS_MAX_ALLOC_SIZE = PAGE_SIZE
ZS_SIZE_CLASS_DELTA = 16
ZS_SIZE_CLASSES = -(-(ZS_MAX_ALLOC_SIZE - ZS_MIN_ALLOC_SIZE) // ZS_SIZE_CLASS_DELTA) + 1
DEFAULT_CHAIN_SIZE = 8
ZS_INUSE_RATIO_0 = 0
ZS_INUSE_RATIO_10 = 1
ZS_INUSE_RATIO_99 = 10
ZS_INUSE_RATIO_100 = 11
NR_FULLNESS_GROUPS = 12
_NO_FREE = -1


def zspage_chain_size(size: int, chain: int) -> int:
    """Pages per zspage for a class of ``size`` bytes (calculate_zspage_chain_size)."""
    if size & (size - 1) == 0:
        return 1
    best, best_waste = 1, PAGE_SIZE
    for i in range(1, chain + 1):
        waste = (i * PAGE_SIZE) % size
        if waste < best_waste:
            best, best_waste = i, waste
    return best


@dataclass(frozen=True)
class ClassTable:
    """The size classes of a pool with a given chain size."""

    chain: int
    size: np.ndarray  # per class index: object size
    pages: np.ndarray  # pages per zspage
    objs: np.ndarray  # objects per zspage
    index: np.ndarray  # class index -> index of the class actually used (merging)
    huge_class_size: int

    @classmethod
    def build(cls, chain: int = DEFAULT_CHAIN_SIZE) -> ClassTable:
        if not 4 <= chain <= 16:
            raise ValueError(f"zsmalloc chain size {chain} outside 4..16")
        n = ZS_SIZE_CLASSES
        size = np.minimum(ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA * np.arange(n),
                          ZS_MAX_ALLOC_SIZE)
        pages = np.array([zspage_chain_size(int(s), chain) for s in size])
        objs = pages * PAGE_SIZE // size
        index = np.arange(n)
        huge_class_size = 0
        prev = None
        for i in range(n - 1, -1, -1):
            if prev is not None and pages[i] == pages[prev] and objs[i] == objs[prev]:
                index[i] = prev
                continue
            if not huge_class_size and not (pages[i] == 1 and objs[i] == 1):
                huge_class_size = int(size[i]) - (ZS_HANDLE_SIZE - 1)
            prev = i
        return cls(chain, size, pages, objs, index, huge_class_size)

    def class_index(self, size: int) -> int:
        """Class used for an allocation of ``size`` bytes (handle header included)."""
        i = 0 if size <= ZS_MIN_ALLOC_SIZE else -(-(size - ZS_MIN_ALLOC_SIZE)
                                                   // ZS_SIZE_CLASS_DELTA)
        return int(self.index[min(i, ZS_SIZE_CLASSES - 1)])

    def unique(self) -> int:
        return int(np.count_nonzero(self.index == np.arange(len(self.index))))


def fullness_group(inuse: int, objs: int) -> int:
    if inuse == 0:
        return ZS_INUSE_RATIO_0
    if inuse >= objs:
        return ZS_INUSE_RATIO_100
    return inuse * 100 // objs // 10 + 1


class ZsPool:
    """One zsmalloc pool of at most ``max_pages`` pages (zs_create_pool)."""

    def __init__(self, name: str, max_pages: int, chain: int = DEFAULT_CHAIN_SIZE) -> None:
        self.name = name
        self.classes = ClassTable.build(chain)
        self.max_pages = max_pages
        # page 0 is never handed out, so no object location is 0
        cap = max_pages + ZS_SIZE_CLASSES * chain + 1
        self._map = anon_arena(cap * PAGE_SIZE)
        #: faults the arena in ahead of the pool's growth, off this thread
        self._prefault = Prefaulter(self._map)
        self.mem = np.frombuffer(self._map, dtype=np.uint8)
        self._mem64 = self.mem.view(np.uint64)  # slot header words (never straddle)
        # the same bytes for the per-object loops of the batch calls: a
        # memoryview index or slice costs a fraction of a numpy scalar access
        self._mv = memoryview(self._map)
        self._w64 = self._mv.cast("Q")
        # per-class geometry as Python lists: read on every call
        self._size = [int(x) for x in self.classes.size]
        self._objs = [int(x) for x in self.classes.objs]
        self._npages = [int(x) for x in self.classes.pages]
        self._is_huge = [p == 1 and o == 1 for p, o in zip(self._npages, self._objs,
                                                           strict=True)]
        #: per class: the fullness group of a zspage with ``inuse`` objects
        self._group_of = [[fullness_group(i, o) for i in range(o + 1)] for o in self._objs]
        # Everything below starts empty and grows: a pool for a 16 GiB device
        # costs nothing until it is used. The per-page maps are lists, one
        # entry per pool page ever used (page 0 is never used): they are read
        # and written a few entries at a time, where a list beats an array
        # (~10 ns against ~120 ns an access), at ~80 bytes a page in use for
        # the three (the kernel's struct page is 64).
        #: page -> zspage id + 1 (0: free)
        self.page_zspage: list[int] = [0]
        #: page -> the next page of its zspage (for objects that straddle two)
        self.page_next: list[int] = [0]
        #: huge pages keep their handle beside the page
        self.page_handle: list[int] = [0]
        self._next_page = 1
        #: pool pages given back by freed zspages, reused last-freed first
        self._freed_pages: list[int] = []
        self._cap = cap
        # per-zspage scalars are read and written on every call: plain lists
        self.zs_class: list[int] = []
        self.zs_inuse: list[int] = []
        self.zs_free: list[int] = []
        #: per zspage: slots below this index have been handed out at least once
        self.zs_bump: list[int] = []
        #: per zspage: its pool pages, in chain order
        self.zs_pagelist: list[list[int]] = []
        #: per class: zspages that are not full (the search can stop at 0)
        self.nonfull = [0] * ZS_SIZE_CLASSES
        #: per class: the zspage store_batch filled last (-1: none)
        self._hint = [-1] * ZS_SIZE_CLASSES
        self._free_zspages: list[int] = []
        #: per class, per fullness group: ordered set of zspage ids
        self.groups: list[list[dict[int, None]]] = [
            [{} for _ in range(NR_FULLNESS_GROUPS)] for _ in range(ZS_SIZE_CLASSES)]
        self.handles = np.zeros(1024, dtype=np.uint64)
        #: byte offset in ``mem`` of each object's payload (fast path of read/write)
        self.handle_off = np.zeros(1024, dtype=np.int64)
        # size -> class index, for every size zs_malloc can be asked for
        self._cls_of = [self.classes.class_index(n + ZS_HANDLE_SIZE)
                        for n in range(ZS_MAX_ALLOC_SIZE + 1)]
        self._free_handles: list[int] = []
        self._next_handle = 1  # handle 0 is never given out
        self.total_pages = 0
        self.pages_compacted = 0
        self.objs_allocated = [0] * ZS_SIZE_CLASSES
        self.objs_used = [0] * ZS_SIZE_CLASSES
        self.lock = threading.Lock()
        #: where the pool's pages come from in the machine's memory (a
        #: :class:`~swaplab.mm.page_alloc.PageReserve`), or None: unaccounted
        self.backing = None

    # --- geometry -----------------------------------------------------------------------
    @property
    def huge_class_size(self) -> int:
        return self.classes.huge_class_size

    def lookup_class_index(self, size: int) -> int:
        """zs_lookup_class_index: the class an object of ``size`` payload bytes lands in."""
        return self.classes.class_index(size + ZS_HANDLE_SIZE)

    def _huge(self, cls: int) -> bool:
        return self._is_huge[cls]

    def _obj_pos(self, z: int, idx: int) -> tuple[int, int]:
        """(first pool page, byte offset in it) of slot ``idx`` of zspage ``z``."""
        off = idx * self._size[self.zs_class[z]]
        return self.zs_pagelist[z][off >> PAGE_SHIFT], off & (PAGE_SIZE - 1)

    # --- raw object bytes (may straddle two pool pages) ---------------------------------
    def _span(self, z: int, idx: int, start: int, n: int) -> list[tuple[int, int]]:
        """Byte ranges in ``mem`` holding bytes [start, start+n) of a slot."""
        off = idx * self._size[self.zs_class[z]] + start
        pofs = off & (PAGE_SIZE - 1)
        if pofs + n <= PAGE_SIZE:
            return [(self.zs_pagelist[z][off >> PAGE_SHIFT] * PAGE_SIZE + pofs, n)]
        out = []
        while n > 0:
            page = self.zs_pagelist[z][off >> PAGE_SHIFT]
            pofs = off & (PAGE_SIZE - 1)
            take = min(n, PAGE_SIZE - pofs)
            out.append((page * PAGE_SIZE + pofs, take))
            off += take
            n -= take
        return out

    def _write(self, z: int, idx: int, start: int, data: np.ndarray) -> None:
        pos = 0
        for at, n in self._span(z, idx, start, len(data)):
            self.mem[at : at + n] = data[pos : pos + n]
            pos += n

    def _read(self, z: int, idx: int, start: int, n: int, out: np.ndarray | None = None
              ) -> np.ndarray:
        spans = self._span(z, idx, start, n)
        if len(spans) == 1 and out is None:
            at, m = spans[0]
            return self.mem[at : at + m]
        buf = out if out is not None else np.empty(n, dtype=np.uint8)
        pos = 0
        for at, m in spans:
            buf[pos : pos + m] = self.mem[at : at + m]
            pos += m
        return buf[:n]

    def _word_index(self, z: int, idx: int) -> int:
        # slot offsets are multiples of 16, so a header word never crosses a page
        off = idx * self._size[self.zs_class[z]]
        return (self.zs_pagelist[z][off >> PAGE_SHIFT] * PAGE_SIZE
                + (off & (PAGE_SIZE - 1))) >> 3

    def _word(self, z: int, idx: int) -> int:
        """The first 8 bytes of a slot (handle tag, or free-list link)."""
        return int(self._mem64[self._word_index(z, idx)])

    def _set_word(self, z: int, idx: int, value: int) -> None:
        self._mem64[self._word_index(z, idx)] = value

    # --- zspages ------------------------------------------------------------------------
    def _move_group(self, cls: int, z: int, old: int) -> None:
        new = self._group_of[cls][self.zs_inuse[z]]
        if new != old:
            self.groups[cls][old].pop(z, None)
            self.groups[cls][new][z] = None
            if old == ZS_INUSE_RATIO_100:
                self.nonfull[cls] += 1
            elif new == ZS_INUSE_RATIO_100:
                self.nonfull[cls] -= 1

    def _get_pages(self, n: int) -> list[int] | None:
        if self.backing is not None and not self.backing.take(n):
            return None
        freed = self._freed_pages
        if len(freed) >= n:
            pages = freed[-n:]
            del freed[-n:]
            return pages
        if self._next_page + n > self._cap:
            if self.backing is not None:
                self.backing.give(n)
            return None
        first = self._next_page
        self._next_page = end = first + n
        if end > len(self.page_zspage):  # the maps grow by 4096 pages at a time
            zeros = [0] * max(n, 4096)
            self.page_zspage += zeros
            self.page_next += zeros
            self.page_handle += zeros
        if end * PAGE_SIZE > self._prefault.due:
            self._prefault.advance(end * PAGE_SIZE)
        return list(range(first, end))

    def _put_pages(self, pages: list[int]) -> None:
        if self.backing is not None:
            self.backing.give(len(pages))
        self._freed_pages.extend(pages)

    def _alloc_zspage(self, cls: int) -> int:
        npages = self._npages[cls]
        if self.total_pages + npages > self.max_pages:
            return -1
        pages = self._get_pages(npages)
        if pages is None:
            return -1
        # Free slots: the chain of freed slots (through their first word, most
        # recently freed first) and, after it, the never-used slots in
        # ascending order (zs_bump: the first never used). That is the order
        # the kernel's chain, built 0 -> 1 -> ... at zspage creation, hands
        # slots out in; building it lazily keeps a new zspage cheap.
        if self._free_zspages:  # an id freed earlier
            z = self._free_zspages.pop()
            self.zs_class[z] = cls
            self.zs_inuse[z] = 0
            self.zs_free[z] = _NO_FREE
            self.zs_bump[z] = 0
            self.zs_pagelist[z] = pages
        else:
            z = len(self.zs_class)
            self.zs_class.append(cls)
            self.zs_inuse.append(0)
            self.zs_free.append(_NO_FREE)
            self.zs_bump.append(0)
            self.zs_pagelist.append(pages)
        pz, pn = self.page_zspage, self.page_next
        for pg, nx in zip(pages, [*pages[1:], 0], strict=True):
            pz[pg] = z + 1
            pn[pg] = nx
        self.total_pages += npages
        self.objs_allocated[cls] += self._objs[cls]
        self.groups[cls][ZS_INUSE_RATIO_0][z] = None
        self.nonfull[cls] += 1
        return z

    def _free_zspage(self, cls: int, z: int) -> None:
        npages = self._npages[cls]
        pages = self.zs_pagelist[z]
        self.groups[cls][ZS_INUSE_RATIO_0].pop(z, None)
        self.nonfull[cls] -= 1
        pz = self.page_zspage
        for pg in pages:
            pz[pg] = 0
        self._put_pages(pages)
        self.zs_pagelist[z] = []
        self.zs_class[z] = -1
        self.zs_free[z] = _NO_FREE
        self._free_zspages.append(z)
        self.total_pages -= npages
        self.objs_allocated[cls] -= self._objs[cls]

    def _find_zspage(self, cls: int) -> int:
        if not self.nonfull[cls]:
            return -1
        groups = self.groups[cls]
        for g in range(ZS_INUSE_RATIO_99, ZS_INUSE_RATIO_0 - 1, -1):
            if groups[g]:
                return next(iter(groups[g]))
        return -1

    # --- handles ------------------------------------------------------------------------
    def _new_handle(self) -> int:
        if self._free_handles:
            return self._free_handles.pop()
        h = self._next_handle
        if h >= len(self.handles):
            self.handles = np.concatenate([self.handles, np.zeros_like(self.handles)])
            self.handle_off = np.concatenate([self.handle_off, np.zeros_like(self.handle_off)])
        self._next_handle += 1
        return h

    def _set_location(self, h: int, z: int, idx: int) -> None:
        """Record where handle ``h``'s object lives: obj word and payload offset."""
        page, pofs = self._obj_pos(z, idx)
        self.handles[h] = (page << OBJ_INDEX_BITS) | idx
        self.handle_off[h] = page * PAGE_SIZE + pofs + (0 if self._is_huge[self.zs_class[z]]
                                                       else ZS_HANDLE_SIZE)

    def _locate(self, handle: int) -> tuple[int, int]:
        obj = int(self.handles[handle])
        if obj == 0:
            raise ValueError(f"zsmalloc: handle {handle} is not allocated")
        page = obj >> OBJ_INDEX_BITS
        return self.page_zspage[page] - 1, obj & OBJ_INDEX_MASK

    # --- the API ------------------------------------------------------------------------
    def malloc(self, size: int) -> int:
        """zs_malloc: a handle for ``size`` bytes, or -EINVAL (0 bytes), -ENOSPC
        (over 4096) or -ENOMEM (the pool is at its page limit)."""
        if size <= 0:
            return -errno.EINVAL
        if size > ZS_MAX_ALLOC_SIZE:
            return -errno.ENOSPC
        with self.lock:
            return self._malloc_locked(size)

    def _malloc_locked(self, size: int) -> int:
        cls = self._cls_of[size]
        z = self._find_zspage(cls)
        if z < 0:
            z = self._alloc_zspage(cls)
            if z < 0:
                return -errno.ENOMEM
        h = self._new_handle()
        if self._is_huge[cls]:
            self.zs_free[z] = _NO_FREE
            self.page_handle[self.zs_pagelist[z][0]] = h
            self.zs_inuse[z] = 1
            self._move_group(cls, z, ZS_INUSE_RATIO_0)
            self._set_location(h, z, 0)
        else:
            # _take_slot, _set_word and _set_location, inline: this runs per page
            objs = self._objs[cls]
            inuse = self.zs_inuse[z]
            old = fullness_group(inuse, objs)
            idx = self.zs_free[z]
            mem64 = self._mem64
            if idx != _NO_FREE:
                nxt = int(mem64[self._word_index(z, idx)]) >> OBJ_TAG_BITS
                self.zs_free[z] = _NO_FREE if nxt == OBJ_INDEX_MASK else nxt
            else:
                idx = self.zs_bump[z]
                self.zs_bump[z] = idx + 1
            self.zs_inuse[z] = inuse + 1
            if fullness_group(inuse + 1, objs) != old:
                self._move_group(cls, z, old)
            off = idx * self._size[cls]
            page = self.zs_pagelist[z][off >> PAGE_SHIFT]
            at = page * PAGE_SIZE + (off & (PAGE_SIZE - 1))
            mem64[at >> 3] = (h << OBJ_TAG_BITS) | OBJ_ALLOCATED_TAG
            self.handles[h] = (page << OBJ_INDEX_BITS) | idx
            self.handle_off[h] = at + ZS_HANDLE_SIZE
        self.objs_used[cls] += 1
        return h

    def store_batch(self, srcs: list, limit: int = 0) -> tuple[list[int], int, int, int]:
        """zs_malloc + zs_obj_write for each object of ``srcs`` (bytes-like, 1..4096
        bytes; 4096 stores a page raw in a huge class), in order.

        The result is the one a loop of :meth:`malloc` and :meth:`write` would
        give: the same zspages (fullest non-full first), slots, pages and
        counters. After each allocation that grows the pool, ``total_pages``
        is checked against ``limit`` (0: none), as zram checks mem_limit
        after zs_malloc; an object that does not fit (pool or limit) is not
        stored and ends the batch. Returns ``(handles, m, err, peak)``:
        objects ``0..m-1`` are stored, ``err`` is 0 or -ENOMEM for object
        ``m``, ``peak`` is the largest ``total_pages`` seen (zram's
        max_used_pages).

        The per-object work is list and memoryview operations, with each
        zspage's fullness group fixed as its fill level crosses a group
        boundary, as zs_malloc does; the handle table and the slots' header
        words are written once at the end (nobody can look the new handles
        up before this returns).
        """
        n = len(srcs)
        out: list[int] = []
        locs: list[int] = []  # the handle table rows of ``out``, written at the end
        pays: list[int] = []
        heads: list[int] = []  # header words of non-huge slots, written at the end
        hheads: list[int] = []
        err = 0
        with self.lock:
            peak = self.total_pages
            need = self._next_handle + n + 1
            while need > len(self.handles):
                self.handles = np.concatenate([self.handles, np.zeros_like(self.handles)])
                self.handle_off = np.concatenate([self.handle_off,
                                                  np.zeros_like(self.handle_off)])
            mv, w64 = self._mv, self._w64
            cls_of, objs_of, size_of, huge_of = self._cls_of, self._objs, self._size, \
                self._is_huge
            zs_inuse, zs_free, zs_bump = self.zs_inuse, self.zs_free, self.zs_bump
            free_handles = self._free_handles
            nonfull, hint, zs_class = self.nonfull, self._hint, self.zs_class
            next_handle = self._next_handle  # bumped locally, stored back below
            objs_used, pagelist = self.objs_used, self.zs_pagelist
            group_of, groups = self._group_of, self.groups
            for src in srcs:
                ln = len(src)
                cls = cls_of[ln]
                huge = huge_of[cls]
                z = hint[cls]
                # the class's one non-full zspage is the one the search would
                # find (a huge class's zspages hold one object: always search)
                if huge or not (nonfull[cls] == 1 and z >= 0 and zs_class[z] == cls
                                and zs_inuse[z] < objs_of[cls]):
                    z = self._find_zspage(cls)
                    if z < 0:
                        z, seen = self._grow_within(cls, limit)
                        peak = max(peak, seen)
                        if z < 0:
                            err = z
                            break
                    hint[cls] = z
                if free_handles:
                    h = free_handles.pop()
                else:
                    h = next_handle
                    next_handle += 1
                out.append(h)
                objs_used[cls] += 1
                if huge:  # the page is the object, headerless (_malloc_locked's huge case)
                    page = pagelist[z][0]
                    self.page_handle[page] = h
                    zs_free[z] = _NO_FREE
                    zs_inuse[z] = 1
                    self._move_group(cls, z, ZS_INUSE_RATIO_0)
                    at = page * PAGE_SIZE
                    mv[at : at + ln] = src
                    locs.append(page << OBJ_INDEX_BITS)
                    pays.append(at)
                    continue
                pl = pagelist[z]
                size = size_of[cls]
                idx = zs_free[z]
                if idx != _NO_FREE:
                    off = idx * size
                    at = pl[off >> PAGE_SHIFT] * PAGE_SIZE + (off & (PAGE_SIZE - 1))
                    nxt = w64[at >> 3] >> OBJ_TAG_BITS
                    zs_free[z] = _NO_FREE if nxt == OBJ_INDEX_MASK else nxt
                else:
                    idx = zs_bump[z]
                    zs_bump[z] = idx + 1
                    off = idx * size
                    at = pl[off >> PAGE_SHIFT] * PAGE_SIZE + (off & (PAGE_SIZE - 1))
                inuse = zs_inuse[z]
                zs_inuse[z] = inuse + 1
                g = group_of[cls]
                if g[inuse + 1] != g[inuse]:  # fix_fullness_group, inline
                    groups[cls][g[inuse]].pop(z, None)
                    groups[cls][g[inuse + 1]][z] = None
                    if g[inuse + 1] == ZS_INUSE_RATIO_100:
                        nonfull[cls] -= 1
                heads.append(at)  # its header word is written with the others below
                pay = at + ZS_HANDLE_SIZE
                room = PAGE_SIZE - (pay & (PAGE_SIZE - 1))
                if ln <= room:
                    mv[pay : pay + ln] = src
                else:  # straddles into the zspage's next page
                    nxt_at = pl[(off >> PAGE_SHIFT) + 1] * PAGE_SIZE
                    part = memoryview(src)
                    mv[pay : pay + room] = part[:room]
                    mv[nxt_at : nxt_at + ln - room] = part[room:]
                hheads.append(h)
                locs.append((at >> PAGE_SHIFT << OBJ_INDEX_BITS) | idx)
                pays.append(pay)
            self._next_handle = next_handle
            if out:
                self.handles[out] = locs
                self.handle_off[out] = pays
            if heads:  # each slot's header: its handle, tagged allocated
                self._mem64[np.array(heads) >> 3] = (np.array(hheads, dtype=np.uint64)
                                                     << OBJ_TAG_BITS) | OBJ_ALLOCATED_TAG
        return out, len(out), err, peak

    def _grow_within(self, cls: int, limit: int) -> tuple[int, int]:
        """A new zspage of class ``cls`` for :meth:`store_batch`, checked
        against ``limit`` pages (0: none) after the allocation, as zram checks
        mem_limit after zs_malloc. Returns ``(z, total_pages seen)``, or
        ``(-ENOMEM, ...)`` when the pool is out of pages or the zspage would
        put it over the limit (it is freed again: the object it was for is
        not kept). The pages seen count even then, as max_used_pages does."""
        z = self._alloc_zspage(cls)
        seen = self.total_pages
        if z < 0:
            return -errno.ENOMEM, seen
        if limit and seen > limit:
            self._free_zspage(cls, z)
            return -errno.ENOMEM, seen
        return z, seen

    def obj_views(self, handles: np.ndarray, sizes: list[int]) -> list:
        """zs_obj_read_begin for many objects: per object, a memoryview of its
        ``sizes[k]`` payload bytes in the pool, or a bytes copy of the two
        pieces when it straddles two pages (zram's bounce copy). The views
        stay valid while the objects are neither freed nor moved (the caller
        holds their slot locks). Raises ValueError for a handle that is not
        allocated."""
        mv, page_next = self._mv, self.page_next
        views = []
        for o, n in zip(self.handle_off[handles].tolist(), sizes, strict=True):
            room = PAGE_SIZE - (o & (PAGE_SIZE - 1))
            if not o:
                raise ValueError(f"zsmalloc: handle {int(handles[len(views)])} "
                                 "is not allocated")
            if n <= room:
                views.append(mv[o : o + n])
            else:  # the rest is at the start of the zspage's next page
                b = page_next[o >> PAGE_SHIFT] * PAGE_SIZE
                views.append(b"".join((mv[o : o + room], mv[b : b + n - room])))
        return views

    def free(self, handle: int) -> None:
        """zs_free: release the object; its zspage goes when it empties."""
        with self.lock:
            self._free_locked(handle)

    def _free_locked(self, handle: int) -> None:
        z, idx = self._locate(handle)
        cls = self.zs_class[z]
        if self._huge(cls):
            self.page_handle[self.zs_pagelist[z][0]] = 0
            self.zs_free[z] = 0
            self.zs_inuse[z] = 0
            self._move_group(cls, z, ZS_INUSE_RATIO_100)
        else:
            self._release_slot(cls, z, idx)
        self.handles[handle] = 0
        self.handle_off[handle] = 0
        self._free_handles.append(handle)
        self.objs_used[cls] -= 1
        if self.zs_inuse[z] == 0:
            self._free_zspage(cls, z)

    def write(self, handle: int, data: bytes | np.ndarray) -> None:
        """zs_obj_write: store ``data`` as the object's payload."""
        buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
        n = len(buf)
        off = int(self.handle_off[handle])
        if off and (off & (PAGE_SIZE - 1)) + n <= PAGE_SIZE:
            self.mem[off : off + n] = buf
            return
        z, idx = self._locate(handle)
        start = 0 if self._huge(self.zs_class[z]) else ZS_HANDLE_SIZE
        self._write(z, idx, start, buf)

    def read(self, handle: int, n: int, bounce: np.ndarray | None = None) -> np.ndarray:
        """zs_obj_read_begin: ``n`` payload bytes; a view into the pool when the
        object sits in one page, else a copy into ``bounce`` (or a new buffer)."""
        off = int(self.handle_off[handle])
        if off and (off & (PAGE_SIZE - 1)) + n <= PAGE_SIZE and self.handles[handle]:
            return self.mem[off : off + n]
        z, idx = self._locate(handle)
        start = 0 if self._huge(self.zs_class[z]) else ZS_HANDLE_SIZE
        return self._read(z, idx, start, n, bounce if self._straddles(z, idx, start, n)
                          else None)

    def _straddles(self, z: int, idx: int, start: int, n: int) -> bool:
        off = idx * self._size[self.zs_class[z]] + start
        return (off & (PAGE_SIZE - 1)) + n > PAGE_SIZE

    def handle_of(self, z: int, idx: int) -> int:
        """The handle stored in an allocated slot (what compaction reads)."""
        if self._huge(self.zs_class[z]):
            return self.page_handle[self.zs_pagelist[z][0]]
        if idx >= self.zs_bump[z]:
            raise ValueError(f"zsmalloc: slot {idx} of zspage {z} is free")
        word = self._word(z, idx)
        if not word & OBJ_ALLOCATED_TAG:
            raise ValueError(f"zsmalloc: slot {idx} of zspage {z} is free")
        return word >> OBJ_TAG_BITS

    # --- compaction ---------------------------------------------------------------------
    def can_compact(self, cls: int) -> int:
        """zs_can_compact: pages compaction of class ``cls`` could free."""
        wasted = self.objs_allocated[cls] - self.objs_used[cls]
        return (wasted // self._objs[cls]) * self._npages[cls]

    def compact(self) -> int:
        """zs_compact: move objects from the emptiest zspages into the fullest;
        return the pages freed (also added to ``pages_compacted``)."""
        freed = 0
        with self.lock:
            for cls in range(ZS_SIZE_CLASSES - 1, -1, -1):
                if self.classes.index[cls] != cls or self._huge(cls):
                    continue
                freed += self._compact_class(cls)
            self.pages_compacted += freed
        return freed

    def _take_slot(self, cls: int, z: int) -> int:
        objs = self._objs[cls]
        old = fullness_group(self.zs_inuse[z], objs)
        idx = self.zs_free[z]
        if idx != _NO_FREE:
            nxt = self._word(z, idx) >> OBJ_TAG_BITS
            self.zs_free[z] = _NO_FREE if nxt == OBJ_INDEX_MASK else nxt
        else:
            idx = self.zs_bump[z]
            self.zs_bump[z] = idx + 1
        self.zs_inuse[z] += 1
        self._move_group(cls, z, old)
        return idx

    def _release_slot(self, cls: int, z: int, idx: int) -> None:
        objs = self._objs[cls]
        old = fullness_group(self.zs_inuse[z], objs)
        head = self.zs_free[z]
        self._set_word(z, idx, (OBJ_INDEX_MASK if head == _NO_FREE else head) << OBJ_TAG_BITS)
        self.zs_free[z] = idx
        self.zs_inuse[z] -= 1
        self._move_group(cls, z, old)

    def _compact_class(self, cls: int) -> int:
        """Empty the least-used zspages into the most-used ones while that frees pages."""
        groups = self.groups[cls]
        objs = int(self.classes.objs[cls])
        size = int(self.classes.size[cls])
        freed = 0
        while self.can_compact(cls) > 0:
            src = next((z for g in range(ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_100)
                        for z in groups[g]), -1)
            if src < 0:
                break
            for idx in range(objs):
                if self.zs_inuse[src] == 0:
                    break
                if idx >= self.zs_bump[src]:
                    break  # never handed out: the rest of the zspage is empty
                word = self._word(src, idx)
                if not word & OBJ_ALLOCATED_TAG:
                    continue
                dst = next((z for g in range(ZS_INUSE_RATIO_99, ZS_INUSE_RATIO_0, -1)
                            for z in groups[g] if z != src), -1)
                if dst < 0:
                    return freed
                data = self._read(src, idx, 0, size).copy()
                didx = self._take_slot(cls, dst)
                self._write(dst, didx, 0, data)
                self._set_location(word >> OBJ_TAG_BITS, dst, didx)
                self._release_slot(cls, src, idx)
            if self.zs_inuse[src]:
                break
            freed += int(self.classes.pages[cls])
            self._free_zspage(cls, src)
        return freed

    def stats(self) -> dict[str, int]:
        return {"pages": self.total_pages, "pages_compacted": self.pages_compacted,
                "objects": sum(self.objs_used)}
