"""The anonymous LRU lists (mm/lru.py over the compiled lru_* walks)."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swaplab import PG
from swaplab.mm.lru import LRU_ACTIVE_ANON, LRU_INACTIVE_ANON, Lruvec
from swaplab.mm.page_alloc import PhysMem


class _Cg:
    id = 3


def _lruvec(nr_frames: int) -> tuple[PhysMem, Lruvec]:
    mem = PhysMem(nr_frames)
    pfns = mem.alloc_pages_bulk(nr_frames)
    assert pfns is not None
    mem.move_charge_frames(np.array(pfns, dtype=np.int64), _Cg.id)
    return mem, Lruvec(mem, _Cg())


_ops = st.lists(st.tuples(st.sampled_from(["add", "add_one", "isolate", "free", "move"]),
                          st.integers(0, 1), st.lists(st.integers(0, 199), max_size=40),
                          st.integers(0, 40)), max_size=60)


@settings(max_examples=120, deadline=None)
@given(_ops)
def test_lists_keep_order_and_counts_as_a_plain_model(ops):
    """Whatever mix of adds, isolations, frees and moves between the lists
    (leaving stale rows, growing and compacting the buffers), each list
    hands out its folios oldest first exactly as two plain Python lists
    would, PG_lru and PG_active say where a folio is, and the counts match."""
    mem, lv = _lruvec(200)
    model: list[list[int]] = [[], []]
    off: set[int] = set(range(200))  # frames on no list (and allocated)
    freed: set[int] = set()
    for op, which, pfns, n in ops:
        if op in ("add", "add_one"):
            batch = list(dict.fromkeys(p for p in pfns if p in off))
            if op == "add_one":
                batch = batch[:1]
                for p in batch:
                    lv.add_folio(p, active=bool(which))
            else:
                lv.add(np.array(batch, dtype=np.int64), active=bool(which))
            model[which] += batch
            off -= set(batch)
        elif op == "isolate":
            got = lv.isolate(which, n).tolist()
            assert got == model[which][:n]
            del model[which][:n]
            off |= set(got)
        elif op == "free":  # freeing a folio on a list leaves a stale row behind
            for p in dict.fromkeys(pfns):
                if p in freed:
                    continue
                mem.free_pages(p)
                freed.add(p)
                off.discard(p)
                for lst in model:
                    if p in lst:
                        lst.remove(p)
        else:  # isolate from one list and put back on the other
            got = lv.isolate(which, n)
            assert got.tolist() == model[which][:n]
            del model[which][:n]
            lv.add(got, active=not which)
            model[1 - which] += got.tolist()
        assert [lv.nr_inactive, lv.nr_active] == [len(m) for m in model]
    for which, active in ((LRU_INACTIVE_ANON, 0), (LRU_ACTIVE_ANON, PG.active)):
        for p in model[which]:
            assert mem.flags[p] & (PG.lru | PG.active) == PG.lru | active
    for p in off:
        assert not mem.flags[p] & PG.lru
    assert lv.isolate(LRU_INACTIVE_ANON, 500).tolist() == model[LRU_INACTIVE_ANON]
    assert lv.isolate(LRU_ACTIVE_ANON, 500).tolist() == model[LRU_ACTIVE_ANON]


def test_adding_a_folio_on_a_list_changes_nothing():
    mem, lv = _lruvec(16)
    lv.add(np.array([1, 2], dtype=np.int64))
    flags, seq = mem.flags.copy(), mem.lru_seq.copy()
    with pytest.raises(RuntimeError, match="on a list"):
        lv.add(np.array([3, 2], dtype=np.int64), active=True)
    assert np.array_equal(mem.flags, flags) and np.array_equal(mem.lru_seq, seq)
    assert (lv.nr_inactive, lv.nr_active) == (2, 0)
    assert lv.isolate(LRU_INACTIVE_ANON, 8).tolist() == [1, 2]


def test_lru_walks_refuse_bad_rows_by_name():
    mem, lv = _lruvec(16)
    lst = lv.lists[LRU_INACTIVE_ANON]
    args = (mem.lru_seq, lst.pfn, lst.seq)
    with pytest.raises(OSError) as e:  # tail past the rows
        mem.map.lru_isolate(*args, 0, len(lst.pfn) + 1, 0, 3, np.empty(4, np.int64))
    assert e.value.errno == errno.EINVAL and "head" in str(e.value)
    lst.pfn[0] = 99  # a row naming a frame past the map
    with pytest.raises(OSError, match="outside the map"):
        mem.map.lru_isolate(*args, 0, 1, 0, 3, np.empty(4, np.int64))
    with pytest.raises(OSError, match="too few"):
        lst.pfn[0] = 1
        mem.map.lru_add(*args, 0, 0, 0, 3, np.array([1], np.int64), 1)
        mem.map.lru_compact(*args, 0, 1, 0, 3, np.empty(0, np.int64), np.empty(0, np.int64))
