"""The cluster slot allocator, entry counts and the swap cache table."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from swaplab import PG, Folio
from swaplab.consts import SWAPFILE_CLUSTER
from swaplab.mm.swapfile import (
    CLUSTER_FLAG_FRAG,
    CLUSTER_FLAG_FREE,
    CLUSTER_FLAG_FULL,
    CLUSTER_FLAG_NONFULL,
    folio_alloc_swap,
    folio_free_swap,
    swap_cache_add_folio,
    swap_cache_del_folio,
    swap_cache_get_folio,
    swap_count,
    swap_dup_entries,
    swap_put_entries,
)
from swaplab.mm.swapops import swp_offset


@pytest.fixture
def area(system):
    rd = system.add_ramdisk("8M")  # 2048 slots, 4 clusters
    system.mkswap(rd)
    return system.swapon(rd)


def alloc(system, order=0):
    f = Folio.alloc(system.mem, order)
    f.lock()
    ret = folio_alloc_swap(f)
    f.unlock()
    return f, ret


def test_512_slots_per_cluster_and_initial_lists(area):
    assert SWAPFILE_CLUSTER == 512
    assert area.nr_clusters == 4
    assert area.cluster_count.tolist() == [1, 0, 0, 0]  # the header
    assert area.cluster_flags.tolist() == [CLUSTER_FLAG_NONFULL] + [CLUSTER_FLAG_FREE] * 3
    assert list(area.free_clusters) == [1, 2, 3]


def test_order0_fills_a_cluster_then_moves_on(system, area):
    offs = [swp_offset(alloc(system)[0].swap) for _ in range(512)]
    assert offs[:511] == list(range(1, 512))
    assert offs[511] == 512
    assert area.cluster_flags[0] == CLUSTER_FLAG_FULL
    assert area.cluster_count[1] == 1 and area.cluster_flags[1] == CLUSTER_FLAG_NONFULL
    assert area.inuse_pages == 512
    assert system.swap.nr_swap_pages == area.pages - 512


@pytest.mark.parametrize("order", [1, 2, 4, 9])
def test_large_folios_get_aligned_runs(system, area, order):
    f, ret = alloc(system, order)
    assert ret == 0
    off = swp_offset(f.swap)
    assert off % (1 << order) == 0 and off != 0
    assert (area.cache[off : off + f.nr_pages] == f.pfn).all()
    assert area.cluster_order[off // 512] == order
    assert f.test(PG.swapcache)


def test_large_allocation_falls_back_when_fragmented(system, area):
    # take every slot, then free one slot in every 16-aligned group: no order-4 run is left
    folios = []
    while True:
        f, ret = alloc(system)
        if ret:
            break
        folios.append(f)
    assert len(folios) == area.pages
    assert area.inuse_pages == area.pages
    assert system.swap.avail == []
    for f in folios:
        if swp_offset(f.swap) % 16 == 3:
            swap_cache_del_folio(f)
    assert system.swap.avail == [area]
    before = system.vmstat.mthp(4, "swpout_fallback")
    f, ret = alloc(system, 4)
    assert ret == -errno.ENOMEM
    assert system.vmstat.mthp(4, "swpout_fallback") == before + 1
    _, ret = alloc(system, 9)
    assert ret == -errno.ENOMEM and system.vmstat["thp_swpout_fallback"] == 1
    # the split folio's pages still fit one by one
    for _ in range(16):
        assert alloc(system, 0)[1] == 0


def test_order0_steals_from_other_orders(system, area):
    big = [alloc(system, 4)[0] for _ in range(3 * 32)]  # clusters 1..3 serve order 4
    assert all(swp_offset(f.swap) >= 512 for f in big)
    for f in big[::2]:
        swap_cache_del_folio(f)
    smalls = []
    while True:
        f, ret = alloc(system, 0)
        if ret:
            break
        smalls.append(swp_offset(f.swap))
    assert any(o >= 512 for o in smalls)  # taken from order-4 clusters
    assert area.inuse_pages == area.pages


def test_frag_list_gets_clusters_that_failed_a_scan(system, area):
    fs = [alloc(system, 2)[0] for _ in range(128)]  # cluster 1 serves order 2, now full
    c = swp_offset(fs[0].swap) // 512
    assert {swp_offset(f.swap) // 512 for f in fs} == {c}
    # keep the first slot of every run referenced, drop the cache: no free run of 4 is left
    for f in fs:
        assert swap_dup_entries(system, f.swap, 1) == 0
    kept = [f.swap for f in fs]
    for f in fs:
        swap_cache_del_folio(f)
    assert area.cluster_count[c] == 128
    assert area.cluster_flags[c] == CLUSTER_FLAG_NONFULL and c in area.nonfull_clusters[2]
    f, ret = alloc(system, 2)
    assert ret == 0 and swp_offset(f.swap) // 512 != c
    assert area.cluster_flags[c] == CLUSTER_FLAG_FRAG and c in area.frag_clusters[2]
    # order 0 still finds room there
    _, ret = alloc(system, 0)
    assert ret == 0
    for e in kept:
        swap_put_entries(system, e)


def test_swap_cache_add_races(system, area):
    f, _ = alloc(system)
    e = f.swap
    swap_dup_entries(system, e)
    g = Folio.alloc(system.mem)
    assert swap_cache_add_folio(g, e) == -errno.EEXIST
    swap_cache_del_folio(f)
    assert swap_cache_add_folio(g, e) == 0
    assert swap_cache_get_folio(system, e) == g
    swap_put_entries(system, e)
    assert area.inuse_pages == 1  # the cache still holds it
    swap_cache_del_folio(g)
    assert area.inuse_pages == 0


def test_counts_and_freeing(system, area):
    f, _ = alloc(system)
    e = f.swap
    assert swap_count(system, e) == 0
    assert swap_dup_entries(system, e) == 0
    assert swap_dup_entries(system, e) == 0
    assert swap_count(system, e) == 2
    assert not folio_free_swap(f)  # still referenced
    swap_put_entries(system, e)
    swap_cache_del_folio(f)
    assert swap_cache_get_folio(system, e) is None
    assert area.inuse_pages == 1  # count 1 keeps the slot
    swap_put_entries(system, e)
    assert area.inuse_pages == 0
    assert swap_dup_entries(system, e) == -errno.ENOENT
    with pytest.raises(OSError) as exc:
        swap_put_entries(system, e)
    assert exc.value.errno == errno.EINVAL


def test_folio_free_swap_frees_and_dirties(system, area):
    f, _ = alloc(system)
    f.clear(PG.dirty)
    assert folio_free_swap(f)
    assert f.test(PG.dirty) and not f.test(PG.swapcache) and f.swap == 0
    assert area.inuse_pages == 0


def test_folio_free_swap_refuses_under_writeback(system, area):
    f, _ = alloc(system)
    f.start_writeback()
    assert not folio_free_swap(f)
    f.end_writeback()
    assert folio_free_swap(f)


def test_cluster_returns_to_free_list(system, area):
    fs = [alloc(system)[0] for _ in range(511 + 10)]
    c1 = [f for f in fs if swp_offset(f.swap) >= 512]
    assert area.cluster_flags[1] == CLUSTER_FLAG_NONFULL
    for f in c1:
        swap_cache_del_folio(f)
    assert area.cluster_flags[1] == CLUSTER_FLAG_FREE and 1 in area.free_clusters
    for f in fs[:5]:
        swap_cache_del_folio(f)
    assert area.cluster_flags[0] == CLUSTER_FLAG_NONFULL
    assert np.count_nonzero(area.cache >= 0) == 511 - 5


def test_dropping_references_per_cluster_frees_what_nobody_holds():
    """swap_put_slots (zap's batch) equals swap_put_entries one by one: counts
    drop, a slot at zero that no swap-cache folio holds is freed (and its
    device told), a cached or still-referenced one stays; an entry not in
    use is EINVAL by name, its cluster untouched."""
    from swaplab import System
    from swaplab.mm.swapfile import swap_put_slots
    from swaplab.mm.swapops import swp_entry

    def machine():
        s = System("16M")
        rd = s.add_ramdisk("8M")
        s.mkswap(rd)
        si = s.swapon(rd)
        entries = []
        for k in range(1200):  # three clusters' worth
            f = Folio.alloc(s.mem, 0)
            f.set(PG.uptodate | PG.swapbacked)
            f.lock()
            assert folio_alloc_swap(f) == 0
            entry = f.swap
            assert swap_dup_entries(s, entry) == 0
            if k % 5 == 0:
                assert swap_dup_entries(s, entry) == 0  # a second reference
            if k % 3:  # the cache lets go: only the references hold the slot
                swap_cache_del_folio(f)
            entries.append(entry)
        return s, si, np.array(entries, dtype=np.uint64)

    a, sa, ea = machine()
    b, sb, eb = machine()
    for e in ea.tolist():
        swap_put_entries(a, e)
    swap_put_slots(b, eb)
    assert sa.swap_map.tolist() == sb.swap_map.tolist()
    assert sa.cache.tolist() == sb.cache.tolist()
    assert sa.inuse_pages == sb.inuse_pages < 1200 and a.swap.nr_swap_pages == b.swap.nr_swap_pages
    freed = [k for k in range(1200) if k % 3 and k % 5]
    assert all(swap_count(b, int(eb[k])) == 0 for k in freed)
    assert sb.inuse_pages == 1200 - len(freed)
    before = sb.swap_map.copy()
    bad = swp_entry(sb.type, swp_offset(int(eb[freed[0]])))
    with pytest.raises(OSError, match=f"Unused swap offset entry {bad:#x}") as e:
        swap_put_slots(b, np.array([bad], dtype=np.uint64))
    assert e.value.errno == errno.EINVAL and (sb.swap_map == before).all()


def test_a_batch_continues_at_the_hint_and_passes_over_a_full_cluster(system, area):
    from swaplab.mm.swapfile import folios_alloc_swap

    first, ret = alloc(system)  # one folio: the hint now points into its cluster
    assert ret == 0
    c = swp_offset(first.swap) // SWAPFILE_CLUSTER
    folios = [Folio.alloc(system.mem, 0) for _ in range(SWAPFILE_CLUSTER + 8)]
    for f in folios:
        f.lock()
    pfns = np.array([f.pfn for f in folios], dtype=np.int64)
    ok = folios_alloc_swap(system.mem, pfns)
    assert ok.all()
    offs = [swp_offset(f.swap) for f in folios]
    # the cluster of the first folio fills up, in order, then the batch moves on
    assert area.cluster_count[c] == SWAPFILE_CLUSTER and area.cluster_flags[c] == CLUSTER_FLAG_FULL
    assert offs == sorted(offs) and len(set(offs)) == len(offs)
    assert offs[0] == swp_offset(first.swap) + 1
    for f, o in zip(folios, offs, strict=True):
        assert f.test(PG.swapcache) and area.cache[o] == f.pfn
    # a refused batch (not int64) takes nothing and leaves the cgroup's swap charge
    more = [Folio.alloc(system.mem, 0) for _ in range(4)]
    memcg = system.memcgs[0]
    before = (memcg.swap_usage, area.inuse_pages, area.cache.copy())
    with pytest.raises(OSError) as e:
        folios_alloc_swap(system.mem, np.array([f.pfn for f in more], dtype=np.int32))
    assert e.value.errno == errno.EINVAL
    assert (memcg.swap_usage, area.inuse_pages) == before[:2]
    assert np.array_equal(area.cache, before[2])
    for f in folios:
        f.unlock()


def _fragmented(nr_batch: int):
    """An area whose first three clusters are full but for holes all over
    them (so all three are on the nonfull list, in offset order), the per-CPU
    hint used up, and ``nr_batch`` new locked folios to give slots to."""
    from swaplab import System

    s = System("32M")
    rd = s.add_ramdisk("8M")
    s.mkswap(rd)
    si = s.swapon(rd)
    held = [alloc(s)[0] for _ in range(3 * SWAPFILE_CLUSTER - 1)]  # slot 0 is the header
    for f in held[5::7]:
        f.lock()
        swap_cache_del_folio(f)
        f.unlock()
    folios = [Folio.alloc(s.mem, 0) for _ in range(nr_batch)]
    for f in folios:
        f.lock()
    return s, si, folios


def _alloc_state(s, si, folios) -> dict:
    pc = s.swap.percpu_cluster[0]
    return {"offs": [swp_offset(f.swap) if f.test(PG.swapcache) else -1 for f in folios],
            "cache": si.cache.tolist(), "map": si.swap_map.tolist(),
            "count": si.cluster_count.tolist(), "flags": si.cluster_flags.tolist(),
            "nonfull": list(si.nonfull_clusters[0]), "frag": list(si.frag_clusters[0]),
            "free": list(si.free_clusters), "next": list(si.next_offset),
            "pc": None if pc is None else (pc[0].type, pc[1]), "inuse": si.inuse_pages,
            "nr": s.swap.nr_swap_pages, "vm": s.vmstat.snapshot()}


def test_a_batch_across_fragmented_clusters_takes_the_single_calls_slots(monkeypatch):
    """A reclaim batch over clusters with a few free slots each moves from
    cluster to cluster as folio_alloc_swap would (the first cluster of the
    nonfull list, scanned from its first slot), then to a free cluster: the
    slots, lists, hints and counters equal those of one call a folio."""
    from swaplab.mm import swapfile

    n = 260  # the 219 holes of three clusters, then a free cluster
    s1, si1, f1 = _fragmented(n)
    assert list(si1.nonfull_clusters[0]) == [0, 1, 2] and s1.swap.percpu_cluster[0] is None
    for f in f1:
        assert folio_alloc_swap(f) == 0
    s2, si2, f2 = _fragmented(n)
    single = []
    real = swapfile.folio_alloc_swap
    monkeypatch.setattr(swapfile, "folio_alloc_swap",
                        lambda folio: single.append(folio.pfn) or real(folio))
    ok = swapfile.folios_alloc_swap(s2.mem, np.array([f.pfn for f in f2], dtype=np.int64))
    assert ok.all()
    one, batch = _alloc_state(s1, si1, f1), _alloc_state(s2, si2, f2)
    assert batch == one
    holes = [o for o in range(3 * SWAPFILE_CLUSTER) if o % 7 == 6]  # held[5::7]: slot k + 1
    assert one["offs"][: len(holes)] == holes
    assert one["offs"][len(holes)] == 3 * SWAPFILE_CLUSTER  # then the free cluster, from its start
    # the compiled walk went through the three nonfull clusters itself; the
    # free cluster is folio_alloc_swap's choice (cluster_alloc_swap_entry's
    # third), for its first folio only: the walk continues from its hint
    assert single == [f2[len(holes)].pfn]
    for s, fs in ((s1, f1), (s2, f2)):
        for f in fs:
            f.unlock()
        s.close()


def test_a_batch_from_a_hint_past_its_clusters_last_hole_takes_the_single_calls_slots():
    """The per-CPU hint sits after the last free slot of a cluster that
    still has holes before it: folio_alloc_swap scans that cluster again
    from its start (not the nonfull list's first cluster), and a batch
    takes the same slots, lists and hints as one call a folio."""
    from swaplab.mm import swapfile

    states = []
    for batch in (False, True):
        s, si, folios = _fragmented(40)
        s.swap.percpu_cluster[0] = (si, SWAPFILE_CLUSTER + 510)  # past hole 1021 of cluster 1
        if batch:
            ok = swapfile.folios_alloc_swap(s.mem, np.array([f.pfn for f in folios],
                                                            dtype=np.int64))
            assert ok.all()
        else:
            for f in folios:
                assert folio_alloc_swap(f) == 0
        states.append(_alloc_state(s, si, folios))
        for f in folios:
            f.unlock()
        s.close()
    one, batch = states
    assert batch == one
    assert one["offs"][0] == SWAPFILE_CLUSTER + 5  # cluster 1's first hole, not cluster 0's
