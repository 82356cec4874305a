"""Physical memory (one frame array, buddy allocator) and folio flags."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from swaplab import PAGE_SIZE, PG, Folio
from swaplab.mm.page_alloc import MAX_PAGE_ORDER, PhysMem


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
