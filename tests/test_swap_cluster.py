"""The cluster lists (mm/swap_cluster.c: SwapClusters) against a plain
model, and the order-0 allocation walk on its own arrays: where it stops,
what it takes, and what it refuses."""

from __future__ import annotations

import errno
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swaplab import _native
from swaplab.consts import SWAP_NR_ORDERS, SWAPFILE_CLUSTER
from swaplab.mm.folio import PG
from swaplab.mm.page_alloc import PhysMem
from swaplab.mm.swapfile import (
    CLUSTER_FLAG_FRAG,
    CLUSTER_FLAG_FREE,
    CLUSTER_FLAG_FULL,
    CLUSTER_FLAG_NONFULL,
    CLUSTER_LIST_FRAG,
    CLUSTER_LIST_FREE,
    CLUSTER_LIST_FULL,
    CLUSTER_LIST_NONFULL,
    SWAP_CACHE_NONE,
    SWAP_MAP_BAD,
)

NR = 8


class Clusters:
    """SwapClusters over fresh arrays, and the same lists as a plain model:
    a Python list per (flag, order), moves to the tail (list_move_tail)."""

    def __init__(self, nr: int = NR) -> None:
        self.count = np.zeros(nr, dtype=np.int32)
        self.flags = np.zeros(nr, dtype=np.uint8)
        self.order = np.zeros(nr, dtype=np.uint8)
        self.links = np.zeros(2 * nr, dtype=np.int32)
        self.heads = np.zeros(2 * _native.CLUSTER_NR_LISTS, dtype=np.int32)
        self.cl = _native.SwapClusters(self.count, self.flags, self.order, self.links,
                                       self.heads)
        self.model: dict[tuple[int, int], list[int]] = {}
        self.where: dict[int, tuple[int, int]] = {}

    def _model_move(self, c: int, flag: int) -> None:
        if c in self.where:
            self.model[self.where.pop(c)].remove(c)
        order = 0 if flag in (CLUSTER_FLAG_FREE, CLUSTER_FLAG_FULL) else int(self.order[c])
        self.where[c] = (flag, order)
        self.model.setdefault((flag, order), []).append(c)

    def move(self, c: int, flag: int) -> None:
        self.cl.move(c, flag)
        self._model_move(c, flag)

    def _model_relocate(self, c: int, flag_before: int) -> bool:
        n = int(self.count[c])
        if n == 0:
            self._model_move(c, CLUSTER_FLAG_FREE)
            return True
        if n >= SWAPFILE_CLUSTER:
            self._model_move(c, CLUSTER_FLAG_FULL)
        elif flag_before in (CLUSTER_FLAG_FREE, CLUSTER_FLAG_FULL):
            self._model_move(c, CLUSTER_FLAG_NONFULL)
        return False

    def alloc(self, c: int, nr: int) -> None:
        """nr more slots in use, then relocate (an allocation's steps)."""
        flag = int(self.flags[c])
        self.count[c] += nr
        assert self.cl.relocate(c) is False
        assert self._model_relocate(c, flag) is False

    def put(self, c: int, nr: int) -> None:
        flag = int(self.flags[c])
        became = self.cl.put(c, nr)
        assert became == self._model_relocate(c, flag) == (self.count[c] == 0)

    def lists(self) -> dict[tuple[int, int], list[int]]:
        out = {(CLUSTER_FLAG_FREE, 0): self.cl.members(CLUSTER_LIST_FREE),
               (CLUSTER_FLAG_FULL, 0): self.cl.members(CLUSTER_LIST_FULL)}
        for o in range(SWAP_NR_ORDERS):
            out[(CLUSTER_FLAG_NONFULL, o)] = self.cl.members(CLUSTER_LIST_NONFULL + o)
            out[(CLUSTER_FLAG_FRAG, o)] = self.cl.members(CLUSTER_LIST_FRAG + o)
        return {k: v for k, v in out.items() if v}

    def check(self) -> None:
        assert self.lists() == {k: v for k, v in self.model.items() if v}
        for (flag, order), members in self.model.items():
            for c in members:
                assert self.flags[c] == flag
                assert flag in (CLUSTER_FLAG_FREE, CLUSTER_FLAG_FULL) or self.order[c] == order


def test_list_numbers_are_the_compiled_ones() -> None:
    assert CLUSTER_LIST_FRAG + SWAP_NR_ORDERS == _native.CLUSTER_NR_LISTS


def test_a_new_object_has_every_cluster_on_no_list() -> None:
    c = Clusters()
    assert c.lists() == {} and c.cl.first(CLUSTER_LIST_FREE) == -1
    assert c.flags.tolist() == [0] * NR


_steps = st.lists(st.tuples(st.sampled_from(["move", "alloc", "put", "order"]),
                            st.integers(0, NR - 1), st.integers(1, 4), st.integers(1, 512)),
                  max_size=60)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_lists_follow_the_model(steps) -> None:
    """Any mix of moves, allocations (count up, relocate), frees (put) and
    free clusters taken for an order leaves the same lists, in the same
    order, as the model; put says when a cluster became free."""
    c = Clusters()
    for i in range(NR):
        c.move(i, CLUSTER_FLAG_FREE)
    for op, i, flag, n in steps:
        if op == "move":
            c.move(i, flag)
        elif op == "order" and c.flags[i] == CLUSTER_FLAG_FREE:
            c.order[i] = n % SWAP_NR_ORDERS  # a free cluster's list ignores its order
            c.move(i, CLUSTER_FLAG_NONFULL)
        elif op == "alloc" and c.count[i] < SWAPFILE_CLUSTER:
            c.alloc(i, min(n, SWAPFILE_CLUSTER - int(c.count[i])))
        elif op == "put" and c.count[i]:
            c.put(i, min(n, int(c.count[i])))
        c.check()


def test_bad_calls_are_refused_by_name() -> None:
    c = Clusters()
    with pytest.raises(OSError, match=r"cluster 8 outside 0\.\.7") as e:
        c.cl.move(NR, CLUSTER_FLAG_FREE)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError, match="flag 0 is not a list"):
        c.cl.move(0, 0)
    with pytest.raises(OSError, match="2 slots of cluster 1, which has 0 in use"):
        c.cl.put(1, 2)
    with pytest.raises(OSError, match="list 22 outside"):
        c.cl.first(_native.CLUSTER_NR_LISTS)
    with pytest.raises(OSError, match="links must hold 16 items"):
        _native.SwapClusters(c.count, c.flags, c.order, np.zeros(NR, dtype=np.int32), c.heads)
    assert c.lists() == {}


# --- the allocation walk ----------------------------------------------------------------

class Area:
    """A table of NR clusters, its clusters on their lists, and a frame map."""

    def __init__(self) -> None:
        n = NR * SWAPFILE_CLUSTER
        self.swap_map = np.zeros(n, dtype=np.uint16)
        self.swap_map[0] = SWAP_MAP_BAD
        self.cache = np.full(n, SWAP_CACHE_NONE, dtype=np.int64)
        self.table = _native.SwapTable(self.swap_map, self.cache)
        self.c = Clusters()
        self.c.count[0] = 1
        for i in range(NR):
            self.c.move(i, CLUSTER_FLAG_NONFULL if self.c.count[i] else CLUSTER_FLAG_FREE)
        self.locks = [threading.Lock() for _ in range(NR)]
        self.mem = PhysMem(256)
        self.pfns = np.arange(100, 100 + 64, dtype=np.int64)

    def use(self, lo: int, hi: int) -> None:
        """Slots [lo, hi) of one cluster in use (a reference each)."""
        self.swap_map[lo:hi] = 1
        self.c.alloc(lo // SWAPFILE_CLUSTER, hi - lo)

    def walk(self, hint: int, area_next: int = 0, may_next: bool = True, nr: int = 64,
             max_: int = NR * SWAPFILE_CLUSTER):
        offs = np.full(nr, -1, dtype=np.int64)
        ret = self.c.cl.alloc_walk(self.table, self.mem.map, self.locks, max_, hint,
                                   area_next, may_next, self.pfns[:nr], offs, 3)
        return ret, offs


def test_walk_takes_the_slots_after_the_hint_then_the_first_nonfull_cluster() -> None:
    a = Area()
    a.use(1, 500)      # cluster 0: 11 free slots, 500..511
    a.use(512, 1020)   # cluster 1: 4 free, 1020..1023 (nonfull, after 0)
    (n, hint, area_next, why), offs = a.walk(505, nr=10)
    # 505..511 from the hint; the hints are then cleared (the cluster's end),
    # so the next folio goes where cluster_alloc_swap_entry goes first: the
    # nonfull list's first cluster, 0 again, from its first slot
    assert (n, why) == (10, _native.SWAP_WALK_DONE)
    assert offs.tolist() == [*range(505, 512), 500, 501, 502]
    assert hint == area_next == 503
    assert a.cache[505:512].tolist() == a.pfns[:7].tolist()
    for k, off in enumerate(range(505, 512)):
        assert a.mem.swap[a.pfns[k]] == (3 << 58) | off
        assert a.mem.flags[a.pfns[k]] & PG.swapcache
    assert a.c.count[0] == 510 and a.c.flags[0] == CLUSTER_FLAG_NONFULL


def test_walk_goes_through_nonfull_clusters_in_list_order() -> None:
    a = Area()
    a.use(1, 510)        # cluster 0: 510, 511
    a.use(512, 1021)     # cluster 1: 1021..1023
    a.use(1024, 1535)    # cluster 2: 1535
    (n, hint, area_next, why), offs = a.walk(-1, nr=8)
    # 0, 1, 2 are full now; the nonfull list is empty: folio_alloc_swap's turn
    assert (n, why) == (6, _native.SWAP_WALK_SLOW)
    assert offs[:6].tolist() == [510, 511, 1021, 1022, 1023, 1535]
    assert a.c.cl.members(CLUSTER_LIST_FULL) == [0, 1, 2]
    assert a.c.cl.first(CLUSTER_LIST_NONFULL) == -1
    assert hint == -1 and area_next == 0


def test_walk_leaves_a_hint_cluster_with_room_before_the_hint_to_folio_alloc_swap() -> None:
    """Nothing free after the hint, but its cluster still has room before
    it: folio_alloc_swap would scan that cluster again from its start, not
    go to the nonfull list's first cluster, so the walk stops there."""
    a = Area()
    a.use(1, 100)                 # cluster 0: 100..511 free, first on the nonfull list
    a.use(512, 600)
    a.use(602, 1024)              # cluster 1: 600, 601 free only
    (n, hint, _, why), _ = a.walk(700)
    assert (n, hint, why) == (0, 700, _native.SWAP_WALK_SLOW)
    assert a.cache[100:512].tolist() == [SWAP_CACHE_NONE] * 412
    a.use(600, 602)               # cluster 1 full now: not usable, so on to cluster 0
    (n, hint, _, why), offs = a.walk(700, nr=3)
    assert (n, why) == (3, _native.SWAP_WALK_DONE) and offs.tolist() == [100, 101, 102]


def test_walk_stops_where_folio_alloc_swap_decides() -> None:
    a = Area()
    a.use(1, 300)  # cluster 0: 300..511 free
    # the area's own next offset is usable: folio_alloc_swap scans from it
    (n, _, _, why), _ = a.walk(-1, area_next=400)
    assert (n, why) == (0, _native.SWAP_WALK_SLOW)
    # not allowed to choose a cluster (several areas, or a virtual one)
    (n, _, _, why), _ = a.walk(-1, may_next=False)
    assert (n, why) == (0, _native.SWAP_WALK_SLOW)
    assert a.cache[300:512].tolist() == [SWAP_CACHE_NONE] * 212


def test_walk_stops_at_a_busy_cluster_lock() -> None:
    a = Area()
    a.use(1, 500)
    with a.locks[0]:  # someone holds the cluster: nothing is taken there
        (n, hint, _, why), _ = a.walk(500)
    assert (n, hint, why) == (0, 500, _native.SWAP_WALK_BUSY)
    assert a.cache[500:512].tolist() == [SWAP_CACHE_NONE] * 12
    assert not any(lk.locked() for lk in a.locks)  # every lock it took went back
    (n, _, _, why), _ = a.walk(500, nr=12)
    assert (n, why) == (12, _native.SWAP_WALK_DONE)


def test_walk_refuses_bad_arguments() -> None:
    a = Area()
    before = (a.cache.tobytes(), a.c.count.tobytes(), a.c.links.tobytes())
    with pytest.raises(OSError, match="hint 99999") as e:
        a.walk(99999)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError, match="pfn 9999 outside the map"):
        a.pfns[0] = 9999
        a.walk(-1)
    a.pfns[0] = 100
    with pytest.raises(TypeError, match="locks a list"):
        a.c.cl.alloc_walk(a.table, a.mem.map, tuple(a.locks), NR * 512, -1, 0, True,
                          a.pfns, np.empty(64, dtype=np.int64), 3)
    with pytest.raises(OSError, match="13 locks"):
        a.c.cl.alloc_walk(a.table, a.mem.map, a.locks + a.locks[:5], NR * 512, -1, 0, True,
                          a.pfns, np.empty(64, dtype=np.int64), 3)
    assert (a.cache.tobytes(), a.c.count.tobytes(), a.c.links.tobytes()) == before
