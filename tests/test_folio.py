"""Physical memory (one frame array, buddy allocator) and folio flags."""

from __future__ import annotations

import errno
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swaplab import PAGE_SIZE, PG, Folio
from swaplab.mm.page_alloc import MAX_PAGE_ORDER, PhysMem
from swaplab.mm.swapops import swp_entry


def test_frames_are_one_page_aligned_array():
    mem = PhysMem(1024)
    assert mem.data.shape == (1024, PAGE_SIZE)
    assert mem.data.ctypes.data % PAGE_SIZE == 0
    assert mem.nr_free == 1024


def test_buddy_split_and_merge_restore_the_largest_block():
    mem = PhysMem(1 << MAX_PAGE_ORDER)
    assert mem.free_area[MAX_PAGE_ORDER] == {0}
    pfns = [mem.alloc_pages(0) for _ in range(5)]
    assert len(set(pfns)) == 5 and mem.nr_free == (1 << MAX_PAGE_ORDER) - 5
    big = mem.alloc_pages(4)
    assert big % 16 == 0 and big not in pfns
    for p in pfns:
        mem.free_pages(p, 0)
    mem.free_pages(big, 4)
    assert mem.free_area[MAX_PAGE_ORDER] == {0}
    assert all(not a for a in mem.free_area[:MAX_PAGE_ORDER])


def test_exhaustion_returns_minus_one():
    mem = PhysMem(4)
    got = [mem.alloc_pages(0) for _ in range(4)]
    assert sorted(got) == [0, 1, 2, 3]
    assert mem.alloc_pages(0) == -1
    assert mem.alloc_pages(1) == -1


def test_odd_sized_memory_is_fully_usable():
    mem = PhysMem(1000)
    assert sum(len(a) << o for o, a in enumerate(mem.free_area)) == 1000


@pytest.mark.parametrize("order", range(10))
def test_folio_orders(order):
    mem = PhysMem(2048)
    f = Folio.alloc(mem, order)
    assert f.order == order and f.nr_pages == 1 << order
    assert f.size == PAGE_SIZE << order
    assert f.pfn % (1 << order) == 0
    assert f.pages.shape == (1 << order, PAGE_SIZE)
    f.data[:] = 7
    assert (mem.data[f.pfn : f.pfn + f.nr_pages] == 7).all()
    assert f.test(PG.head) == (order > 0)


def test_folio_order_out_of_range():
    with pytest.raises(ValueError):
        Folio.alloc(PhysMem(16), 10)


def test_flags_and_swap_entry_live_in_arrays():
    mem = PhysMem(16)
    f = Folio.alloc(mem)
    g = Folio(mem, f.pfn)
    assert f == g and hash(f) == hash(g)
    f.set(PG.dirty | PG.uptodate)
    assert g.test(PG.dirty) and g.test(PG.uptodate)
    assert f.test_and_clear(PG.dirty) and not f.test(PG.dirty)
    f.swap = 12345
    assert int(mem.swap[f.pfn]) == 12345 == g.swap
    for flag in (PG.locked, PG.uptodate, PG.dirty, PG.writeback, PG.reclaim, PG.swapcache):
        f.set(flag)
        assert f.test(flag)
        f.clear(flag)
        assert not f.test(flag)


def test_folio_lock_sleeps_until_unlocked():
    mem = PhysMem(16)
    f = Folio.alloc(mem)
    assert f.trylock()
    assert not f.trylock()
    got = []

    def taker():
        f.lock()
        got.append(time.monotonic())
        f.unlock()

    t = threading.Thread(target=taker)
    t.start()
    time.sleep(0.05)
    released = time.monotonic()
    assert not got
    f.unlock()
    t.join(5)
    assert got and got[0] >= released
    with pytest.raises(RuntimeError):
        f.unlock()


def test_writeback_wait():
    mem = PhysMem(16)
    f = Folio.alloc(mem)
    f.start_writeback()
    t = threading.Timer(0.05, f.end_writeback)
    t.start()
    f.wait_writeback()
    assert not f.test(PG.writeback)


def test_free_resets_state():
    mem = PhysMem(16)
    f = Folio.alloc(mem, 2)
    f.set(PG.dirty)
    f.free()
    assert mem.nr_free == 16
    assert not np.any(mem.flags)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 1 << 20)),
                min_size=1, max_size=40),
       st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_batch_walks_equal_the_per_folio_steps(specs, set_, clear):
    """The compiled walks over a batch (``mem.map``) do what the per-folio
    steps say: each folio's pages are pfn+j at swap offset
    swp_offset(folio.swap)+j; completion sets and clears the flags of the
    heads only, counts each folio's pages to its cgroup, and folios per order."""
    mem = PhysMem(4096)
    folios, want_pages, want_offs = [], [], []
    for order, memcg, off in specs:
        f = Folio.alloc(mem, order)
        f.swap = swp_entry(1, off)
        mem.memcg[f.pfn] = memcg
        mem.flags[f.pfn] = off & 0xFFFF
        folios.append(f)
        want_pages += range(f.pfn, f.pfn + f.nr_pages)
        want_offs += range(off, off + f.nr_pages)
    before = mem.flags.copy()
    out = np.empty((3, len(want_pages)), dtype=np.int64)
    assert mem.map.folios_pages(folios, out) == (len(folios), len(want_pages))
    assert out[1].tolist() == want_pages and out[2].tolist() == want_offs
    heads = out[0, : len(folios)].copy()
    assert heads.tolist() == [f.pfn for f in folios]
    ev = np.zeros((4, 5), dtype=np.int64)
    nr, orders = mem.map.end_io(heads, set_, clear, ev, 3)
    assert nr == len(want_pages)
    want_orders = [sum(1 for o, _, _ in specs if o == k) for k in range(10)]
    assert orders == (tuple(want_orders) if any(want_orders[1:]) else None)
    want_flags = before.copy()
    want_flags[heads] = (before[heads] | set_) & ~np.uint32(clear)
    assert np.array_equal(mem.flags, want_flags)
    want_ev = np.zeros_like(ev)
    for f in folios:
        want_ev[mem.memcg[f.pfn], 3] += f.nr_pages
    assert np.array_equal(ev, want_ev)


def test_batch_walks_refuse_what_lies_outside_and_change_nothing():
    mem = PhysMem(64)
    f = Folio.alloc(mem, 1)
    out = np.empty((3, 1), dtype=np.int64)
    with pytest.raises(OSError) as e:  # two pages, room for one
        mem.map.folios_pages([f], out)
    assert e.value.errno == errno.EINVAL and "len" in str(e.value)
    flags = mem.flags.copy()
    for heads in ([f.pfn, 64], [f.pfn, -1]):
        with pytest.raises(OSError, match="out of range"):
            mem.map.end_io(np.array(heads, dtype=np.int64), PG.uptodate, 0)
    mem.memcg[f.pfn] = 7
    with pytest.raises(OSError, match="out of range"):  # a cgroup the table lacks
        mem.map.end_io(np.array([f.pfn]), PG.uptodate, 0, np.zeros((4, 2), np.int64), 1)
    assert np.array_equal(mem.flags, flags)
    with pytest.raises(OSError, match="int64"):
        mem.map.end_io(np.array([f.pfn], dtype=np.int32), PG.uptodate, 0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0x7FFFFF), st.booleans(), st.booleans()),
                min_size=0, max_size=40),
       st.integers(0, 0x7FFFFF), st.integers(0, 0x7FFFFF), st.integers(0, 0x7FFFFF))
def test_reclaim_walks_equal_their_array_definitions(specs, mask, set_, clear):
    """The compiled reclaim steps over a batch do what their array forms say:
    test_set (folio_trylock, folio_test_clear_dirty), check_references
    (young and referenced: activate; young only: mark referenced and keep;
    else reclaim) and may_free (dirty, writeback, mapped or held: unlock)."""
    mem = PhysMem(64)
    heads = np.arange(len(specs), dtype=np.int64)
    for pfn, (flags, mapped, held) in enumerate(specs):
        mem.flags[pfn] = flags
        mem.mapping[pfn] = 3 if mapped else -1
        mem.refs[pfn] = 1 if held else 0
    fl = mem.flags[heads].copy()

    want = fl & np.uint32(mask)  # test_set with want = the first head's masked flags
    want_val = int(want[0]) if len(want) else 0
    hit = np.empty(len(heads), dtype=bool)
    assert mem.map.test_set(heads, mask, want_val, set_, clear, hit) == np.count_nonzero(
        want == want_val)
    assert np.array_equal(hit, want == want_val)
    after = np.where(hit, (fl | np.uint32(set_)) & ~np.uint32(clear), fl)
    assert np.array_equal(mem.flags[heads], after)

    mem.flags[heads] = fl
    young = (fl & np.uint32(PG.young)) != 0
    referenced = (fl & np.uint32(PG.referenced)) != 0
    ref = np.empty(len(heads), dtype=np.uint8)
    assert mem.map.check_references(heads, ref) == np.count_nonzero(~young)
    assert np.array_equal(ref, np.where(young & referenced, 2, np.where(young, 1, 0)))
    assert np.array_equal(mem.flags[heads], (fl & ~np.uint32(PG.young | PG.referenced))
                          | np.where(young & ~referenced, np.uint32(PG.referenced), 0))

    mem.flags[heads] = fl
    busy = ((fl & np.uint32(PG.dirty | PG.writeback)) != 0) | (mem.mapping[heads] >= 0) \
        | (mem.refs[heads] != 0)
    ok = np.empty(len(heads), dtype=bool)
    assert mem.map.may_free(heads, mem.refs, ok) == np.count_nonzero(~busy)
    assert np.array_equal(ok, ~busy)
    assert np.array_equal(mem.flags[heads], np.where(busy, fl & ~np.uint32(PG.locked), fl))


def test_reclaim_walks_refuse_bad_arguments_and_change_nothing():
    mem = PhysMem(64)
    flags = mem.flags.copy()
    heads = np.array([1, 64], dtype=np.int64)  # frame 64 is past the end
    for call in (lambda: mem.map.test_set(heads, 1, 0, 1, 0, np.empty(2, bool)),
                 lambda: mem.map.check_references(heads, np.empty(2, np.uint8)),
                 lambda: mem.map.may_free(heads, mem.refs, np.empty(2, bool))):
        with pytest.raises(OSError, match="outside the map"):
            call()
    ok = np.array([1], dtype=np.int64)
    for bad, what in ((lambda: mem.map.test_set(ok, 1, 0, 1, 0, np.empty(2, bool)), "one byte"),
                      (lambda: mem.map.test_set(ok, 1 << 32, 0, 1, 0, np.empty(1, bool)),
                       "32 bits"),
                      (lambda: mem.map.may_free(ok, mem.refs[:8], np.empty(1, bool)), "refs"),
                      (lambda: mem.map.check_references(ok.astype(np.int32),
                                                        np.empty(1, np.uint8)), "int64"),
                      (lambda: mem.map.frames_clear(ok, mem.memcg_charged, mem.lru_count[:4]),
                       "shape")):
        with pytest.raises(OSError, match=what) as e:
            bad()
        assert e.value.errno == errno.EINVAL
    assert np.array_equal(mem.flags, flags)
    mem.memcg[1] = 300  # a cgroup id past the tables: refused before any change
    with pytest.raises(OSError, match="cgroup id"):
        mem.map.frames_clear(np.array([2, 1], dtype=np.int64), mem.memcg_charged,
                             mem.lru_count)
    assert mem.memcg[1] == 300 and not mem.memcg_charged.any()


def test_touch_marks_reads_of_present_pages_and_stops_at_the_rest():
    from swaplab.mm.swapops import mk_pte, swp_entry_to_pte

    mem = PhysMem(64)
    ptes = np.zeros(8, dtype=np.uint64)
    ptes[[1, 2, 3]] = [mk_pte(10), mk_pte(11), mk_pte(12)]
    ptes[4] = swp_entry_to_pte(swp_entry(0, 5))  # swapped out: a fault
    vpns = np.array([1, 2, 1, 3, 4, 2, 0], dtype=np.int64)
    writes = np.array([0, 0, 0, 1, 0, 0, 0], dtype=bool)
    assert mem.map.touch(ptes, vpns, writes, 0) == 3  # the write to page 3
    assert mem.flags[[10, 11, 12]].tolist() == [PG.young, PG.young, 0]
    assert mem.map.touch(ptes, vpns, writes, 4) == 4  # page 4 is not present
    assert mem.map.touch(ptes, vpns, writes, 5) == 6  # page 0 was never touched
    assert mem.map.touch(ptes, vpns, writes, 7) == 7  # nothing left
    flags = mem.flags.copy()
    for bad in ((ptes, np.array([8], dtype=np.int64), np.zeros(1, bool), 0),  # no page 8
                (ptes, vpns, writes[:3], 0), (ptes, vpns, writes, 8),
                (ptes.astype(np.uint32), vpns, writes, 0)):
        with pytest.raises(OSError) as e:
            mem.map.touch(*bad)
        assert e.value.errno == errno.EINVAL
    ptes[5] = mk_pte(64)  # a frame past the map's end
    with pytest.raises(OSError, match="outside the map"):
        mem.map.touch(ptes, np.array([5], dtype=np.int64), np.zeros(1, bool), 0)
    assert np.array_equal(mem.flags, flags)


# --- the buddy allocator (mm/page_alloc.c) ---------------------------------------------

def _check_buddy_lists(mem: PhysMem, held: dict[int, int]) -> None:
    """The free lists are exact: blocks aligned, inside the zone, disjoint from
    each other and from what is held, adding up to nr_free, and merged as far
    as they go (no free block's buddy is a free block of the same order)."""
    free = mem.free_area
    covered = np.zeros(mem.nr_frames, dtype=np.int32)
    for order, heads in enumerate(free):
        for pfn in heads:
            assert pfn % (1 << order) == 0 and pfn + (1 << order) <= mem.nr_frames
            covered[pfn : pfn + (1 << order)] += 1
            if order < MAX_PAGE_ORDER:
                assert (pfn ^ (1 << order)) not in heads
    for pfn, order in held.items():
        covered[pfn : pfn + (1 << order)] += 1
    assert covered.max() == 1 and int((covered == 1).sum()) == mem.nr_frames
    assert sum(len(h) << o for o, h in enumerate(free)) == mem.nr_free


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.lists(st.tuples(st.booleans(), st.integers(0, 10)),
                                      max_size=120))
def test_buddy_lists_stay_exact_through_any_allocs_and_frees(nr_frames, steps):
    mem = PhysMem(nr_frames)
    start = [sorted(h) for h in mem.free_area]
    held: dict[int, int] = {}
    for alloc, order in steps:
        if alloc or not held:
            pfn = mem.alloc_pages(order)
            if pfn < 0:  # only when no free block of that order or more exists
                assert not any(mem.free_area[order:])
                continue
            assert pfn % (1 << order) == 0 and pfn not in held
            held[pfn] = order
        else:
            pfn = sorted(held)[order % len(held)]
            mem.free_pages(pfn, held.pop(pfn))
        _check_buddy_lists(mem, held)
    for pfn, order in held.items():
        mem.free_pages(pfn, order)
    assert [sorted(h) for h in mem.free_area] == start and mem.nr_free == nr_frames


def test_freeing_a_free_block_or_a_frame_outside_is_refused_by_name():
    mem = PhysMem(64)
    pfn = mem.alloc_pages(0)
    mem.free_pages(pfn)
    with pytest.raises(OSError, match=f"pfn {pfn} order 0 is not an allocated block") as e:
        mem.free_pages(pfn)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError, match=r"pfn 64 .* zone of 64 frames"):
        mem.zone.free(64, 0)
    with pytest.raises(OSError, match="pfn 3 is not an allocated frame"):
        mem.free_frames(np.array([3]))
    assert mem.nr_free == 64 and mem.free_area[6] == {0}
