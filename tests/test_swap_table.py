"""The swap table's compiled steps (mm/swap_table.c) on their own arrays:
reference counts, the swap cache, and the end of a swap-in fault, each with
the errno the kernel's step gives and nothing changed on error."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from swaplab import _native
from swaplab.mm.folio import PG
from swaplab.mm.page_alloc import PhysMem
from swaplab.mm.swapfile import SWAP_CACHE_CLAIMED, SWAP_CACHE_NONE, SWAP_MAP_BAD, SWAP_MAP_MAX
from swaplab.mm.swapops import mk_pte, swp_entry

NR_SLOTS = 1024
NR_FRAMES = 64


class Arrays:
    """A swap table and a frame map over fresh arrays, kept to look at."""

    def __init__(self) -> None:
        self.swap_map = np.zeros(NR_SLOTS, dtype=np.uint16)
        self.swap_map[0] = SWAP_MAP_BAD
        self.cache = np.full(NR_SLOTS, SWAP_CACHE_NONE, dtype=np.int64)
        self.table = _native.SwapTable(self.swap_map, self.cache)
        mem = PhysMem(NR_FRAMES)  # the frame arrays, their MemMap and the buddy zone
        self.zone, self.memcg = mem.zone, mem.memcg
        self.flags, self.order, self.swap = mem.flags, mem.order, mem.swap
        self.mapping, self.index, self.map = mem.mapping, mem.index, mem.map
        self.ptes = np.zeros(16, dtype=np.uint64)

    def state(self) -> tuple[bytes | int, ...]:
        return (*(a.tobytes() for a in (self.swap_map, self.cache, self.flags, self.swap,
                                        self.memcg, self.mapping, self.index, self.ptes)),
                self.zone.nr_free)


@pytest.fixture
def t() -> Arrays:
    return Arrays()


def test_flag_bits_are_the_python_ones() -> None:
    for name in ("locked", "writeback", "referenced", "uptodate", "dirty", "lru", "active",
                 "swapcache", "swapbacked", "readahead", "young"):
        assert getattr(_native, f"PG_{name.upper()}") == getattr(PG, name), name


def test_cache_add_and_del(t: Arrays) -> None:
    e = swp_entry(1, 10)
    assert t.table.cache_add(t.map, 10, 1, 5, e) == -errno.ENOENT  # no reference
    t.swap_map[10:14] = 1
    assert t.table.cache_add(t.map, 10, 4, 5, e) == 0
    assert t.cache[10:14].tolist() == [5] * 4
    assert t.swap[5] == e and t.flags[5] == PG.swapcache
    t.cache[20] = SWAP_CACHE_CLAIMED
    t.swap_map[20] = 1
    before = t.state()
    assert t.table.cache_add(t.map, 12, 1, 6, e + 2) == -errno.EEXIST
    assert t.table.cache_add(t.map, 20, 1, 6, e + 10) == -errno.EEXIST  # a bypass claim
    assert t.state() == before  # nothing changed on error
    t.swap_map[11] = 0
    t.swap_map[13] = 0
    assert t.table.cache_del(t.map, 10, 4, 5) == 2  # the two unreferenced slots
    assert (t.cache[10:14] == SWAP_CACHE_NONE).all()
    assert t.swap[5] == 0 and t.flags[5] == 0


def test_cache_alloc_takes_a_frame_into_the_cache(t: Arrays) -> None:
    """swap_cache_alloc_folio: a free frame, charged, locked, swap-backed,
    PG_lru (inactive), with the entry and PG_swapcache, cached at the slot."""
    e = swp_entry(1, 10)
    t.swap_map[10] = 1
    free = t.zone.nr_free
    pfn = t.table.cache_alloc(t.map, t.zone, 10, e, 3)
    assert 0 <= pfn < NR_FRAMES and t.zone.nr_free == free - 1
    assert int(t.cache[10]) == pfn and int(t.swap[pfn]) == e and int(t.memcg[pfn]) == 3
    assert int(t.flags[pfn]) == PG.locked | PG.swapbacked | PG.lru | PG.swapcache
    assert not t.flags[pfn] & PG.active
    # a second swap-in of the slot finds it cached: no frame is taken
    before = t.state()
    assert t.table.cache_alloc(t.map, t.zone, 10, e, 3) == -errno.EEXIST
    assert t.state() == before


def test_cache_alloc_errors_change_nothing(t: Arrays) -> None:
    e = swp_entry(1, 20)
    before = t.state()
    assert t.table.cache_alloc(t.map, t.zone, 20, e, 0) == -errno.ENOENT  # freed meanwhile
    t.swap_map[20] = 1
    t.cache[20] = SWAP_CACHE_CLAIMED  # a bypassing swap-in holds it
    before = t.state()
    assert t.table.cache_alloc(t.map, t.zone, 20, e, 0) == -errno.EEXIST
    assert t.state() == before
    t.cache[20] = SWAP_CACHE_NONE
    held = np.empty(t.zone.nr_free, dtype=np.int64)
    assert t.zone.alloc_bulk(held) == len(held)  # every frame taken
    before = t.state()
    assert t.table.cache_alloc(t.map, t.zone, 20, e, 0) == -errno.ENOMEM
    assert t.state() == before


@pytest.mark.parametrize("args", [(NR_SLOTS, 0, 0), (-1, 0, 0), (5, 0, -1)])
def test_cache_alloc_refuses_bad_input(t: Arrays, args: tuple[int, int, int]) -> None:
    before = t.state()
    with pytest.raises(OSError) as ei:
        t.table.cache_alloc(t.map, t.zone, *args)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        t.table.cache_alloc(t.zone, t.map, 5, 0, 0)  # the arguments swapped
    with pytest.raises(OSError):
        t.table.cache_alloc(t.map, _native.BuddyZone(NR_FRAMES * 2), 5, 0, 0)  # another map's
    assert t.state() == before


def test_put_and_dup(t: Arrays) -> None:
    t.swap_map[30:33] = [1, 2, 1]
    t.cache[32] = 7
    assert t.table.put(30, 3) == 1  # 30 unused; 32 still cached
    assert t.swap_map[30:33].tolist() == [0, 1, 0]
    before = t.state()
    assert t.table.put(30, 2) == -errno.EINVAL  # slot 30 has nothing to drop
    assert t.table.put(0, 1) == -errno.EINVAL  # the header slot is bad
    assert t.state() == before
    assert t.table.dup(30, 1) == -errno.ENOENT  # not in use
    assert t.table.dup(32, 1) == 0  # cached, count 0: in use
    t.swap_map[40] = SWAP_MAP_MAX
    assert t.table.dup(40, 1) == -errno.ENOMEM
    assert t.swap_map[40] == SWAP_MAP_MAX


@pytest.mark.parametrize(("off", "nr"), [(-1, 1), (NR_SLOTS, 1), (NR_SLOTS - 1, 2), (5, 0)])
def test_ranges_outside_the_table_are_refused(t: Arrays, off: int, nr: int) -> None:
    for call in (lambda: t.table.put(off, nr), lambda: t.table.dup(off, nr),
                 lambda: t.table.cache_del(t.map, off, nr, 1)):
        with pytest.raises(OSError) as e:
            call()
        assert e.value.errno == errno.EINVAL


def _cached(t: Arrays, off: int, pfn: int, count: int = 1, flags: int = 0) -> None:
    t.swap_map[off] = count
    assert t.table.cache_add(t.map, off, 1, pfn, swp_entry(0, off)) == 0
    t.flags[pfn] |= PG.uptodate | PG.readahead | flags


def test_swapin_map_frees_the_swap_copy(t: Arrays) -> None:
    _cached(t, 50, 3)
    how = _native.SWAPIN_FREE_SWAP
    ret = t.table.swapin_map(t.map, t.ptes, 4, 3, 9, 50, how)
    assert ret == _native.SWAPIN_DONE | _native.SWAPIN_UNCACHED | _native.SWAPIN_SLOT_FREE
    assert t.ptes[4] == mk_pte(3) and t.mapping[3] == 9 and t.index[3] == 4
    assert t.swap_map[50] == 0 and t.cache[50] == SWAP_CACHE_NONE and t.swap[3] == 0
    assert t.flags[3] == PG.uptodate | PG.young | PG.dirty  # readahead cleared


def test_swapin_map_keeps_a_shared_or_kept_copy(t: Arrays) -> None:
    _cached(t, 60, 3, count=2)  # another PTE still references the slot
    ret = t.table.swapin_map(t.map, t.ptes, 1, 3, 9, 60, _native.SWAPIN_FREE_SWAP)
    assert ret == _native.SWAPIN_DONE
    assert t.swap_map[60] == 1 and t.cache[60] == 3 and t.flags[3] & PG.swapcache
    _cached(t, 61, 4)
    ret = t.table.swapin_map(t.map, t.ptes, 2, 4, 9, 61, 0)  # no free_swap: the copy stays
    assert ret == _native.SWAPIN_DONE and t.cache[61] == 4 and not t.flags[4] & PG.dirty
    _cached(t, 62, 5, flags=PG.writeback)  # under writeback: stays cached
    ret = t.table.swapin_map(t.map, t.ptes, 3, 5, 9, 62,
                             _native.SWAPIN_FREE_SWAP | _native.SWAPIN_WRITE)
    assert ret == _native.SWAPIN_DONE and t.cache[62] == 5 and t.flags[5] & PG.dirty


def test_swapin_map_bypass_releases_the_claim(t: Arrays) -> None:
    t.swap_map[70] = 1
    t.cache[70] = SWAP_CACHE_CLAIMED
    t.swap[6] = swp_entry(0, 70)
    t.flags[6] = PG.uptodate
    ret = t.table.swapin_map(t.map, t.ptes, 0, 6, 2, 70, _native.SWAPIN_BYPASS)
    assert ret == _native.SWAPIN_DONE | _native.SWAPIN_SLOT_FREE
    assert t.cache[70] == SWAP_CACHE_NONE and t.swap[6] == 0 and t.flags[6] & PG.dirty


def test_swapin_map_errors_change_nothing(t: Arrays) -> None:
    _cached(t, 80, 3)
    t.flags[3] |= PG.locked
    before = t.state()
    assert t.table.swapin_map(t.map, t.ptes, 0, 3, 1, 80, 0) == -errno.EAGAIN
    assert t.state() == before
    t.flags[3] &= ~np.uint32(PG.uptodate)
    assert t.table.swapin_map(t.map, t.ptes, 0, 3, 1, 80, _native.SWAPIN_LOCKED) == -errno.EIO
    t.flags[3] &= ~np.uint32(PG.locked)
    assert t.table.swapin_map(t.map, t.ptes, 0, 3, 1, 80, 0) == -errno.EIO
    t.flags[3] |= PG.uptodate
    t.swap_map[80] = 0
    assert t.table.swapin_map(t.map, t.ptes, 0, 3, 1, 80, 0) == -errno.EINVAL
    t.swap_map[80] = 1
    t.order[3] = 1  # a large folio is not mapped by this step
    assert t.table.swapin_map(t.map, t.ptes, 0, 3, 1, 80, 0) == -errno.EINVAL
    t.order[3] = 0
    with pytest.raises(OSError):
        t.table.swapin_map(t.map, t.ptes, 16, 3, 1, 80, 0)  # past the mm's PTEs


def test_wrong_arrays_are_refused() -> None:
    with pytest.raises(OSError):
        _native.SwapTable(np.zeros(8, dtype=np.int16), np.zeros(8, dtype=np.int64))
    with pytest.raises(OSError):
        _native.SwapTable(np.zeros(8, dtype=np.uint16), np.zeros(7, dtype=np.int64))
    with pytest.raises(TypeError):
        _native.SwapTable(np.zeros(8, dtype=np.uint16),
                          np.zeros(8, dtype=np.int64)).cache_del(object(), 1, 1, 0)


def test_find_free_continues_from_start_then_wraps(t: Arrays) -> None:
    t.swap_map[0:512] = 1
    t.swap_map[[3, 100, 200]] = 0
    t.cache[100] = 7  # cached, count 0: a slot folio_alloc_swap just took
    assert t.table.find_free(0, 512, 0, 0) == 3
    assert t.table.find_free(0, 512, 0, 150) == 200  # from the hint on
    assert t.table.find_free(0, 512, 0, 201) == 3  # nothing after it: wrap
    assert t.table.find_free(0, 512, 0, 9999) == 3  # a hint outside: the start
    t.swap_map[200] = 1
    t.swap_map[3] = 1
    assert t.table.find_free(0, 512, 0, 0) == -1
    # order 2: a free aligned run of four; the hint rounds down to the alignment
    t.swap_map[516:520] = 0  # one aligned run of four free slots
    t.swap_map[512:516] = 1
    t.swap_map[520:1024] = 1
    t.swap_map[520:524] = 0
    assert t.table.find_free(512, 1024, 2, 522) == 520
    assert t.table.find_free(512, 1024, 2, 512) == 516
    with pytest.raises(OSError) as e:
        t.table.find_free(1, 512, 2, 0)  # lo not aligned to the order
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        t.table.find_free(0, NR_SLOTS + 512, 0, 0)


def test_alloc_scan_takes_free_slots_in_order_one_a_folio(t: Arrays) -> None:
    t.swap_map[1:512] = 1
    t.swap_map[[40, 41, 90, 300]] = 0
    t.cache[41] = SWAP_CACHE_CLAIMED  # held by a bypassing swap-in: not free
    t.flags[[5, 6, 7]] = PG.locked
    pfns = np.array([5, 6, 7], dtype=np.int64)
    offs = np.full(3, -9, dtype=np.int64)
    assert t.table.alloc_scan(t.map, 30, 512, pfns, offs, 2) == 3
    assert offs.tolist() == [40, 90, 300]
    assert t.cache[[40, 90, 300]].tolist() == [5, 6, 7]
    assert t.swap_map[[40, 90, 300]].tolist() == [0, 0, 0]  # cached, count 0
    # each folio is in the swap cache at its slot, as swap_cache_add leaves it
    assert t.swap[[5, 6, 7]].tolist() == [swp_entry(2, o) for o in (40, 90, 300)]
    assert t.flags[[5, 6, 7]].tolist() == [PG.locked | PG.swapcache] * 3
    # nothing left from 30 on; a short scan takes fewer than asked, none twice
    assert t.table.alloc_scan(t.map, 30, 512, pfns, offs, 2) == 0
    t.swap_map[500] = 0
    assert t.table.alloc_scan(t.map, 0, 512, pfns[2:], offs, 2) == 1 and offs[0] == 500
    assert t.cache[500] == 7 and t.swap[7] == swp_entry(2, 500)
    t.swap_map[600] = 0  # a free slot each refused call below would have taken
    before = t.state()
    for bad in ((t.map, 0, 1024, pfns.astype(np.int32), offs, 2),
                (t.map, 0, 1024, np.array([NR_FRAMES], dtype=np.int64), offs, 2),
                (t.map, 0, NR_SLOTS + 1, pfns, offs, 2)):
        with pytest.raises(OSError) as e:
            t.table.alloc_scan(*bad)
        assert e.value.errno == errno.EINVAL
    assert t.state() == before


def test_dup_slots_takes_each_reference_or_refuses_it(t: Arrays) -> None:
    t.swap_map[[10, 11, 12]] = [1, SWAP_MAP_MAX, 0]
    t.cache[13] = 3  # count 0 but cached: in use
    offs = np.array([10, 11, 12, 13, 0], dtype=np.int64)  # 0 is the bad header slot
    ok = np.zeros(5, dtype=bool)
    assert t.table.dup_slots(offs, ok) == 2
    assert ok.tolist() == [True, False, False, True, False]
    assert t.swap_map[[10, 11, 12, 13, 0]].tolist() == [2, SWAP_MAP_MAX, 0, 1, SWAP_MAP_BAD]
    before = t.state()
    with pytest.raises(OSError) as e:
        t.table.dup_slots(np.array([10, NR_SLOTS], dtype=np.int64), np.zeros(2, dtype=bool))
    assert e.value.errno == errno.EINVAL and str(NR_SLOTS) in str(e.value)
    with pytest.raises(OSError):
        t.table.dup_slots(offs, np.zeros(4, dtype=bool))  # ok of the wrong length
    assert t.state() == before


def test_cache_del_slots_reports_the_unused(t: Arrays) -> None:
    for pfn, off, count in ((5, 20, 0), (6, 700, 2), (7, 21, 0)):
        t.swap_map[off] = count
        t.cache[off] = pfn
        t.swap[pfn] = swp_entry(1, off)
        t.flags[pfn] = PG.swapcache | PG.uptodate
    pfns = np.array([5, 6, 7], dtype=np.int64)
    offs = np.array([20, 700, 21], dtype=np.int64)
    unused = np.full(3, -1, dtype=np.int64)
    assert t.table.cache_del_slots(t.map, pfns, offs, unused) == 2
    assert unused[:2].tolist() == [20, 21]
    assert t.cache[[20, 700, 21]].tolist() == [SWAP_CACHE_NONE] * 3
    assert t.swap[[5, 6, 7]].tolist() == [0, 0, 0]
    assert t.flags[[5, 6, 7]].tolist() == [PG.uptodate] * 3
    before = t.state()
    with pytest.raises(OSError) as e:
        t.table.cache_del_slots(t.map, np.array([NR_FRAMES], dtype=np.int64),
                                np.array([20], dtype=np.int64), unused[:1])
    assert e.value.errno == errno.EINVAL and f"pfn {NR_FRAMES}" in str(e.value)
    assert t.state() == before


def test_writeout_scan_sorts_a_batch_as_swap_writeout_does(t: Arrays) -> None:
    """Slots nobody references are left alone (folio_free_swap decides); a
    page of zeroes goes to the zero map, unlocked, without I/O; any other
    clears its zero bit and goes under writeback, unlocked."""
    words = np.zeros((NR_FRAMES, 512), dtype=np.uint64)
    zeromap = np.zeros(NR_SLOTS, dtype=bool)
    pfns = np.array([3, 4, 5, 6], dtype=np.int64)
    for pfn, off in zip(pfns.tolist(), range(100, 104), strict=True):
        t.swap[pfn] = swp_entry(1, off)
    t.swap_map[[100, 101, 103]] = 1  # 102: no reference
    t.flags[pfns] = PG.locked | PG.swapcache
    words[4, 0] = 7  # a word of data at the start: not zero
    words[6, 511] = 1  # and at the end
    zeromap[[101, 102, 103]] = True  # stale bits
    offs = np.empty(4, dtype=np.int64)
    cls = np.empty(4, dtype=np.uint8)
    assert t.table.writeout_scan(t.map, words, pfns, 1, offs, zeromap, cls) == (2, 1)
    assert offs.tolist() == [100, 101, 102, 103]
    assert cls.tolist() == [_native.SWAP_WO_ZERO, _native.SWAP_WO_WRITE, _native.SWAP_WO_SLOW,
                            _native.SWAP_WO_WRITE]
    assert zeromap[100:104].tolist() == [True, False, True, False]  # 102 untouched
    assert t.flags[pfns].tolist() == [PG.swapcache, PG.swapcache | PG.writeback,
                                      PG.locked | PG.swapcache, PG.swapcache | PG.writeback]


def test_writeout_scan_leaves_other_batches_and_refuses_bad_arguments(t: Arrays) -> None:
    """A batch with a large folio, a folio of another area or one not in the
    swap cache is not this step's (None, nothing changed); bad arrays and
    slots outside the table are refused by name, nothing changed."""
    words = np.zeros((NR_FRAMES, 512), dtype=np.uint64)
    zeromap = np.zeros(NR_SLOTS, dtype=bool)
    pfns = np.array([3, 4], dtype=np.int64)
    t.swap[3], t.swap[4] = swp_entry(1, 5), swp_entry(1, 6)
    t.swap_map[5:7] = 1
    t.flags[pfns] = PG.locked | PG.swapcache
    offs, cls = np.empty(2, dtype=np.int64), np.empty(2, dtype=np.uint8)
    before = t.state()
    assert t.table.writeout_scan(t.map, words, pfns, 2, offs, zeromap, cls) is None  # type 1
    t.order[4] = 1
    assert t.table.writeout_scan(t.map, words, pfns, 1, offs, zeromap, cls) is None
    t.order[4] = 0
    t.flags[4] = PG.locked
    assert t.table.writeout_scan(t.map, words, pfns, 1, offs, zeromap, cls) is None
    t.flags[4] = PG.locked | PG.swapcache
    assert t.state() == before and not zeromap.any()
    for args, what in (((words[:8], pfns, 1, offs, zeromap, cls), "frames"),
                       ((words, pfns, 1, offs, zeromap[:8], cls), "zeromap"),
                       ((words, pfns, 1, offs, zeromap, np.empty(3, np.uint8)), "cls"),
                       ((words, pfns + NR_FRAMES, 1, offs, zeromap, cls), "outside the map")):
        with pytest.raises(OSError, match=what) as e:
            t.table.writeout_scan(t.map, *args)
        assert e.value.errno == errno.EINVAL
    t.swap[4] = swp_entry(1, NR_SLOTS + 3)
    with pytest.raises(OSError, match="outside the table"):
        t.table.writeout_scan(t.map, words, pfns, 1, offs, zeromap, cls)
    t.swap[4] = swp_entry(1, 6)
    assert t.state() == before and not zeromap.any()
