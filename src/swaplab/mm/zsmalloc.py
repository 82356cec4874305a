"""zsmalloc: the size-class allocator behind zram and zswap (mm/zsmalloc.c).

The allocator is compiled (``_native/mm/zsmalloc.c``); this module is its
interface. Objects of 1..4096 bytes live in *zspages*: runs of
1..``chain`` page frames split into equal slots of one size class. Layout and
rules, as in the kernel (kernel-facts §4):

- 255 classes, ``32 + 16 * i`` bytes (capped at 4096); a class's zspage has
  the page count (1..chain) that wastes the fewest bytes; classes with the
  same (pages, objects) as the next larger one are merged into it.
  ``huge_class_size`` is the largest non-huge class size minus 7 (3625 with
  chain 8): from there on an object takes a whole page.
- ``malloc(size)`` adds the 8-byte handle header, picks the class, and takes
  the first free slot of the fullest non-full zspage of that class (fullness
  groups 0, 10%..99%, 100%; a zspage joins the head of its group's list); a
  new zspage is allocated when none has room. ``free`` frees the slot, and
  the zspage with it when it empties.
- A handle is an index into the handle table, which stores the object
  location ``obj = pfn of the object's first byte << 24 | slot index``.
  Compaction moves objects and rewrites that word; handles stay.
- A non-huge allocated slot starts with ``handle << 1 | 1``; a free one holds
  the index of the next free slot ``<< 1`` (the chain 0 -> 1 -> ... built when
  the zspage is created). Huge objects fill their page, headerless.
  Objects may straddle two pages of a zspage; reads then go through a bounce
  copy, as zram's ``local_copy``.
- ``total_pages`` (zs_get_total_pages) counts every page backing a zspage:
  zram's mem_used_total and what mem_limit is checked against.

Where the frames come from: given the machine's memory (``mem``, a
:class:`~swaplab.mm.page_alloc.PhysMem`), zspages are made of its page frames,
taken from and given back to its page allocator as the pool grows and
shrinks, so a growing pool leaves less memory for everything else. Like the
kernel's per-CPU page lists, the pool holds up to 126 spare frames
(``cached_frames``: taken 63 at a time, given back above 126), so most
zspages cost no call into the allocator; those frames are neither free nor
counted in ``total_pages``. Without ``mem``, a private arena of
``max_pages`` frames (reserved, touched only when used) stands in.

Thread safety: every method may be called from any thread; the pool has one
reader/writer lock (allocation, free and compaction write; object reads and
writes read), waited for with the GIL released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import _native
from ..consts import PAGE_SIZE

if TYPE_CHECKING:
    from .page_alloc import PhysMem

ZS_HANDLE_SIZE = 8
ZS_ALIGN = 8
OBJ_ALLOCATED_TAG = 1
OBJ_TAG_BITS = 1
OBJ_INDEX_BITS = 24
OBJ_INDEX_MASK = (1 << OBJ_INDEX_BITS) - 1
ZS_MIN_ALLOC_SIZE = 32
ZS_MAX_ALLOC_SIZE = PAGE_SIZE
ZS_SIZE_CLASS_DELTA = 16
ZS_SIZE_CLASSES = _native.ZS_SIZE_CLASSES
DEFAULT_CHAIN_SIZE = 8
ZS_INUSE_RATIO_0 = 0
ZS_INUSE_RATIO_10 = 1
ZS_INUSE_RATIO_99 = 10
ZS_INUSE_RATIO_100 = 11
NR_FULLNESS_GROUPS = 12


@dataclass(frozen=True)
class ClassTable:
    """The size classes of a pool with a given chain size (computed by the
    compiled allocator: the same table its pools use)."""

    chain: int
    size: np.ndarray  # per class index: object size
    pages: np.ndarray  # pages per zspage
    objs: np.ndarray  # objects per zspage
    index: np.ndarray  # class index -> index of the class actually used (merging)
    huge_class_size: int

    @classmethod
    def build(cls, chain: int = DEFAULT_CHAIN_SIZE) -> ClassTable:
        """The classes for ``chain`` (4..16); ValueError outside that range."""
        huge, rows = _native.zs_class_table(chain)
        size, pages, objs, index = (np.array(c, dtype=np.int64) for c in zip(*rows,
                                                                            strict=True))
        return cls(chain, size, pages, objs, index, huge)

    def class_index(self, size: int) -> int:
        """Class used for an allocation of ``size`` bytes (handle header included)."""
        i = 0 if size <= ZS_MIN_ALLOC_SIZE else -(-(size - ZS_MIN_ALLOC_SIZE)
                                                   // ZS_SIZE_CLASS_DELTA)
        return int(self.index[min(i, ZS_SIZE_CLASSES - 1)])

    def unique(self) -> int:
        """Number of classes that exist (not merged into a larger one)."""
        return int(np.count_nonzero(self.index == np.arange(len(self.index))))


def zspage_chain_size(size: int, chain: int) -> int:
    """Pages per zspage for the class of ``size`` bytes (calculate_zspage_chain_size);
    ``size`` must be a class size."""
    t = ClassTable.build(chain)
    hits = np.flatnonzero(t.size == size)
    if not len(hits):
        raise ValueError(f"{size} is not a zsmalloc class size")
    return int(t.pages[hits[0]])


def fullness_group(inuse: int, objs: int) -> int:
    """The fullness group of a zspage with ``inuse`` of ``objs`` slots used."""
    if inuse == 0:
        return ZS_INUSE_RATIO_0
    if inuse >= objs:
        return ZS_INUSE_RATIO_100
    return inuse * 100 // objs // 10 + 1


class ZsPool:
    """One zsmalloc pool of at most ``max_pages`` pages (zs_create_pool), over
    the frames of ``mem`` or a private arena."""

    def __init__(self, name: str, max_pages: int, chain: int = DEFAULT_CHAIN_SIZE,
                 mem: PhysMem | None = None) -> None:
        self.name = name
        self.classes = ClassTable.build(chain)
        self.max_pages = max_pages
        self.mem = mem
        if mem is None:
            #: the compiled pool (zram's slot table holds it)
            self.native = _native.ZsPool(max_pages, chain)
        else:
            self.native = _native.ZsPool(max_pages, chain, mem.data, mem.alloc_pages_bulk,
                                         mem.free_frames)

    # --- geometry -----------------------------------------------------------------------
    @property
    def huge_class_size(self) -> int:
        """zs_huge_class_size: objects of this size or more take a whole page."""
        return self.native.huge_class_size

    def lookup_class_index(self, size: int) -> int:
        """zs_lookup_class_index: the class an object of ``size`` payload bytes lands in."""
        return self.native.lookup_class_index(size)

    # --- the API ------------------------------------------------------------------------
    def malloc(self, size: int) -> int:
        """zs_malloc: a handle (> 0) for ``size`` bytes, or -EINVAL (0 bytes),
        -ENOSPC (over 4096) or -ENOMEM (no page for a new zspage: the pool's
        page limit, or the machine's memory)."""
        return self.native.malloc(size)

    def free(self, handle: int) -> None:
        """zs_free: release the object; its zspage goes when it empties.
        ValueError for a handle that is not allocated."""
        self.native.free(handle)

    def write(self, handle: int, data: bytes | np.ndarray) -> None:
        """zs_obj_write: store ``data`` as the object's payload (at most the
        class size minus the header)."""
        self.native.write(handle, data)

    def read(self, handle: int, n: int, bounce: np.ndarray | None = None) -> np.ndarray:
        """zs_obj_read_begin + copy: the object's first ``n`` payload bytes, in
        ``bounce`` (or a new array) — a copy, valid after the object goes."""
        out = bounce if bounce is not None else np.empty(n, dtype=np.uint8)
        self.native.read(handle, out[:n])
        return out[:n]

    # --- compaction ---------------------------------------------------------------------
    def can_compact(self, cls: int) -> int:
        """zs_can_compact: pages compaction of class ``cls`` could free."""
        return self.native.can_compact(cls)

    def compact(self) -> int:
        """zs_compact: move objects from the emptiest zspages into the fullest;
        return the pages freed (also added to ``pages_compacted``)."""
        return self.native.compact()

    # --- statistics ---------------------------------------------------------------------
    @property
    def total_pages(self) -> int:
        """zs_get_total_pages: pages backing zspages."""
        return self.native.total_pages

    @property
    def cached_frames(self) -> int:
        """The machine's frames held on the pool's frame list (0 for a private arena)."""
        return self.native.cached_frames

    @property
    def pages_compacted(self) -> int:
        return self.native.pages_compacted

    def class_stats(self, cls: int) -> tuple[int, int, int]:
        """(objs_allocated, objs_used, zspages) of class ``cls``."""
        return self.native.class_stats(cls)

    def stats(self) -> dict[str, int]:
        return {"pages": self.total_pages, "pages_compacted": self.pages_compacted,
                "objects": sum(self.class_stats(c)[1] for c in range(ZS_SIZE_CLASSES)
                               if self.classes.index[c] == c)}

    def destroy(self) -> None:
        """zs_destroy_pool: every frame goes back (once nothing else holds the
        compiled pool: zram's slot table goes first). The pool is unusable after."""
        self.native = None

    # --- where objects are (tests and tools) --------------------------------------------
    def location(self, handle: int) -> tuple[int, int]:
        """(zspage id, slot index) of an allocated handle's object."""
        return self.native.location(handle)

    def zspage_info(self, zspage: int) -> tuple[int, int] | None:
        """(class, objects in use) of a zspage, or None for an id not in use."""
        return self.native.zspage_info(zspage)

    def zspages(self) -> list[int]:
        """Ids of the zspages in use."""
        return [z for z in range(self.native.nr_zspage_ids)
                if self.native.zspage_info(z) is not None]

    def handle_of(self, zspage: int, idx: int) -> int:
        """The handle stored in an allocated slot (what compaction reads)."""
        return self.native.handle_of(zspage, idx)
