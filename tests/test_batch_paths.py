"""The batch forms (zsmalloc store_batch / obj_views, zram write_pages /
read_pages, alloc_pages_bulk, zram's swap_ops batch layout) give exactly what
their one-at-a-time forms give: the same objects, slots, pages and counters."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import sample_pages
from swaplab import PAGE_SIZE, PG, Folio
from swaplab.drivers.zram.swap_ops import _batch
from swaplab.lib.compress import compressor
from swaplab.mm.page_alloc import PhysMem
from swaplab.mm.page_io import WRITE, SwapIocb
from swaplab.mm.swapfile import folio_alloc_swap, swap_cache_del_folio
from swaplab.mm.zsmalloc import ZsPool
from zram_helpers import mm_stat, zram_device

PAGES = sample_pages(300, seed=5)


def _objects(n: int, seed: int) -> list[bytes]:
    """Real compressed pages (lz4), some raw pages among them (huge objects)."""
    comp = compressor("lz4").compress
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        page = PAGES[k % len(PAGES)]
        c = comp(page)
        out.append(page.tobytes() if len(c) >= 3625 or rng.random() < 0.05 else c)
    return out


def _pool_state(p: ZsPool) -> tuple:
    """Everything observable: per-zspage fields and page bytes of live zspages,
    the rows of live handles (a freed zspage's, page's or handle's leftovers
    are reset on reuse)."""
    n = p._next_handle
    live = [z for z, c in enumerate(p.zs_class) if c >= 0]
    return (p.total_pages, list(p.zs_class), [p.zs_inuse[z] for z in live],
            [p.zs_free[z] for z in live], [p.zs_bump[z] for z in live],
            [[list(g) for g in c] for c in p.groups], list(p.objs_used),
            list(p.objs_allocated),
            {h: (int(p.handles[h]), int(p.handle_off[h])) for h in range(n) if p.handles[h]},
            [bytes(p.mem[pg * PAGE_SIZE : (pg + 1) * PAGE_SIZE]) for z in live
             for pg in p.zs_pagelist[z]], list(p.nonfull))


def _sequential(pool: ZsPool, objs: list[bytes], limit: int = 0) -> tuple[list[int], int]:
    """zram's loop: zs_malloc, mem_limit check after it, zs_obj_write."""
    hs = []
    for o in objs:
        h = pool.malloc(len(o))
        if h < 0:
            return hs, h
        if limit and pool.total_pages > limit:
            pool.free(h)
            return hs, -errno.ENOMEM
        pool.write(h, o)
        hs.append(h)
    return hs, 0


def _churn(pool: ZsPool, hs: list[int]) -> None:
    """Free every third object: freed-slot chains and part-full zspages."""
    for h in hs[::3]:
        pool.free(h)


def test_store_batch_is_a_loop_of_malloc_and_write():
    objs = _objects(700, seed=1)
    a, b = ZsPool("a", 4096), ZsPool("b", 4096)
    ha, _ = _sequential(a, objs[:400])
    hb = []
    for k in range(0, 400, 32):
        got, m, err, _ = b.store_batch(objs[k : min(k + 32, 400)])
        assert err == 0 and m == len(got)
        hb += got
    assert ha == hb and _pool_state(a) == _pool_state(b)
    _churn(a, ha)
    _churn(b, hb)
    ha2, _ = _sequential(a, objs[400:])
    hb2 = []
    for k in range(400, 700, 32):
        hb2 += b.store_batch(objs[k : k + 32])[0]
    assert ha2 == hb2 and _pool_state(a) == _pool_state(b)
    # every object reads back through obj_views, straddlers included
    live = [h for h in ha + ha2 if a.handles[h]]
    sizes = np.array([len(o) for o in objs[:400]] + [len(o) for o in objs[400:]])
    size_of = dict(zip(ha + ha2, sizes.tolist(), strict=True))
    views = b.obj_views(np.array(live), [size_of[h] for h in live])
    straddling = 0
    for h, v in zip(live, views, strict=True):
        want = a.read(h, size_of[h], np.empty(PAGE_SIZE, np.uint8))
        straddling += isinstance(v, bytes)
        assert bytes(v) == want.tobytes()
    assert straddling > 0


@pytest.mark.parametrize("limit_extra", [0, 3, 11])
def test_store_batch_stops_where_the_loop_stops(limit_extra):
    objs = _objects(200, seed=2)
    a, b = ZsPool("a", 4096), ZsPool("b", 4096)
    _sequential(a, objs[:100])
    b.store_batch(objs[:100])
    limit = a.total_pages + limit_extra
    ha, erra = _sequential(a, objs[100:], limit)
    hb, m, errb, peak = b.store_batch(objs[100:], limit)
    assert erra == errb == -errno.ENOMEM and hb == ha and m == len(ha) < 100
    assert _pool_state(a) == _pool_state(b)
    assert peak == limit + 1 or peak > limit  # the allocation that went over was seen


def test_store_batch_at_the_pool_limit():
    objs = _objects(120, seed=3)
    a, b = ZsPool("a", 30), ZsPool("b", 30)
    ha, erra = _sequential(a, objs)
    hb, m, errb, _ = b.store_batch(objs)
    assert erra == errb == -errno.ENOMEM and ha == hb and m < len(objs)
    assert _pool_state(a) == _pool_state(b)


def _device_state(z) -> tuple:
    n = z.nr_pages
    return (mm_stat(z), z.handle[:n].tolist(), (z.flags[:n]).tolist(),
            z.stats.snapshot())


@pytest.mark.parametrize("mem_limit", ["0", "300K"])
def test_zram_write_pages_fast_path_equals_the_page_path(system, mem_limit):
    pages = PAGES.copy()
    pages[7] = 0  # zero-filled
    pages[8].view(np.uint64)[:] = 0x0101010101010101  # same-filled
    pages[9] = np.random.default_rng(0).integers(0, 256, PAGE_SIZE, dtype=np.uint8)  # huge
    za = zram_device(system, "4M")
    zb = za.ctl[za.ctl.hot_add()]
    zb.attr["disksize"] = "4M"
    za.attr["mem_limit"] = zb.attr["mem_limit"] = mem_limit
    ra = rb = (0, 0)
    for k in range(0, len(pages), 32):
        idx = np.arange(k, min(k + 32, len(pages))) + 5
        rows = np.arange(idx[0] - 5, idx[-1] - 4)
        words = pages[rows].view(np.uint64)
        same = (words == words[:, :1]).all(axis=1)
        ra = za._write_pages_slow(pages[rows], idx, same)
        rb = zb.write_pages(pages, idx, rows)
        assert ra == rb
        if ra[1]:
            break
    assert (ra[1] == -errno.ENOMEM) == (mem_limit != "0")
    assert _device_state(za) == _device_state(zb)


def test_zram_overwrite_in_a_batch_frees_the_old_objects(system):
    z = zram_device(system, "4M")
    idx = np.arange(40)
    assert z.write_pages(PAGES, idx) == (40, 0)
    before = mm_stat(z)
    assert z.write_pages(PAGES[40:80], idx) == (40, 0)
    after = mm_stat(z)
    assert after[0] == before[0] == 40 * PAGE_SIZE
    out = np.zeros((40, PAGE_SIZE), dtype=np.uint8)
    assert z.read_pages(out, idx) == (40, 0)
    assert np.array_equal(out, PAGES[40:80])


def test_zram_read_pages_fast_path_equals_the_page_path(system):
    z = zram_device(system, "4M")
    pages = PAGES[:96].copy()
    pages[3] = 0
    pages[4] = np.random.default_rng(1).integers(0, 256, PAGE_SIZE, dtype=np.uint8)
    idx = np.arange(96) + 1
    assert z.write_pages(pages, idx) == (96, 0)
    z.attr["idle"] = "all"
    fast = np.full((100, PAGE_SIZE), 0xEE, dtype=np.uint8)
    rows = np.arange(96)[::-1] + 2  # any rows of any page array
    assert z.read_pages(fast, idx, rows) == (96, 0)
    assert np.array_equal(fast[rows], pages)
    assert not (z.flags[idx] & (1 << 18)).any()  # marked accessed: IDLE cleared
    assert not (z.flags[idx] & (1 << 14)).any()  # and unlocked
    slow = np.zeros((96, PAGE_SIZE), dtype=np.uint8)
    f = z.slots_lock(idx)
    try:
        got = z._read_objects_slow(slow, np.arange(96)[f & 0x1FFF > 0],
                                   z.handle[idx][f & 0x1FFF > 0], f[f & 0x1FFF > 0])
    finally:
        z.slots_unlock(idx)
    assert got == int(np.count_nonzero(f & 0x1FFF))
    nz = np.flatnonzero(f & 0x1FFF)
    assert np.array_equal(slow[nz], pages[nz])


def test_zram_read_pages_stops_at_a_corrupt_object(system):
    z = zram_device(system, "4M")
    idx = np.arange(32)
    assert z.write_pages(PAGES, idx) == (32, 0)
    bad = 20
    z.mem_pool.write(int(z.handle[bad]), b"\xff" * int(z.flags[bad] & 0x1FFF))
    out = np.zeros((32, PAGE_SIZE), dtype=np.uint8)
    assert z.read_pages(out, idx) == (bad, -errno.EINVAL)
    assert np.array_equal(out[:bad], PAGES[:bad])
    assert not (z.flags[idx] & (1 << 14)).any()  # every slot unlocked


def test_alloc_pages_bulk_takes_clean_frames_and_keeps_the_buddy_lists():
    a, b = PhysMem(4096), PhysMem(4096)
    for m in (a, b):  # the same fragmentation in both
        held = [m.alloc_pages(o) for o in (3, 0, 5, 0, 2)]
        m.free_pages(held[1], 0)
        m.free_pages(held[3], 0)
        m.swap[held[0]] = 77  # state a freed frame must not keep
        m.memcg[held[0]] = 3
        m.memcg_pages[3] += 8
        m.memcg_pages[0] -= 8
        m.free_pages(held[0], 3)
    one = [a.alloc_pages(0) for _ in range(300)]
    bulk = b.alloc_pages_bulk(300)
    assert len(set(bulk)) == 300 and a.nr_free == b.nr_free
    assert not b.swap[bulk].any() and not b.memcg[bulk].any() and (b.mapping[bulk] == -1).all()
    assert not b.order[bulk].any() and not b.flags[bulk].any()

    def free_frames(m):
        return {p + i for o, blocks in enumerate(m.free_area) for p in blocks
                for i in range(1 << o)}
    fb = free_frames(b)
    assert len(fb) == b.nr_free and not fb & set(bulk)  # the buddy lists stay exact
    assert free_frames(a) | set(one) == fb | set(bulk)
    assert b.alloc_pages_bulk(b.nr_free + 1) is None and a.nr_free == b.nr_free
    for p in bulk:  # freeing them all merges everything back
        b.free_pages(p)
    for p in one:
        a.free_pages(p)
    assert [sorted(s) for s in a.free_area] == [sorted(s) for s in b.free_area]


def test_swap_ops_batch_layout_with_large_folios(system):
    z = zram_device(system, "8M")
    system.mkswap(z.bdev)
    sis = system.swapon(z.bdev)
    folios = []
    for order in (0, 2, 0, 3):
        f = Folio.alloc(system.mem, order)
        f.set(PG.uptodate | PG.swapbacked)
        f.lock()
        assert folio_alloc_swap(f) == 0
        folios.append(f)
    sio = SwapIocb(sis, WRITE)
    sio.folios = folios
    pfns, idx = _batch(sio)
    want_p, want_i = [], []
    for f in folios:
        want_p += range(f.pfn, f.pfn + f.nr_pages)
        want_i += range(f.swap & ((1 << 58) - 1), (f.swap & ((1 << 58) - 1)) + f.nr_pages)
    assert pfns.tolist() == want_p and idx.tolist() == want_i
    for f in folios:  # out of the swap cache (frees the slots), unlocked, freed
        swap_cache_del_folio(f)
        f.unlock()
        f.free()


def _check_page_maps(p: ZsPool) -> None:
    """page -> zspage and page -> next page agree with every live zspage's pages."""
    owned = {}
    for z, pages in enumerate(p.zs_pagelist):
        for i, pg in enumerate(pages):
            owned[pg] = z
            assert p.page_zspage[pg] == z + 1
            if i + 1 < len(pages):
                assert p.page_next[pg] == pages[i + 1]
    stray = np.flatnonzero(p.page_zspage)
    assert set(stray.tolist()) == set(owned)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4096)), min_size=1, max_size=150),
       st.randoms(use_true_random=False))
def test_pool_pages_reused_in_any_order_stay_mapped(ops, rnd):
    """Zspages freed in random order hand their pages to later zspages in
    non-contiguous runs; every object must still be found and read back."""
    pool = ZsPool("p", 1024)
    live: dict[int, bytes] = {}
    for kind, size in ops:
        if kind == 2 and live:
            for h in rnd.sample(sorted(live), k=max(1, len(live) // 2)):
                pool.free(h)
                del live[h]
            continue
        data = bytes([size & 0xFF]) * size
        batch = [data] * (1 + kind * 5)
        hs, m, err, _ = pool.store_batch(batch)
        assert err == 0 and m == len(batch)
        live.update(dict.fromkeys(hs, data))
    _check_page_maps(pool)
    hs = np.array(sorted(live), dtype=np.int64)
    views = pool.obj_views(hs, [len(live[h]) for h in hs.tolist()])
    assert all(bytes(v) == live[h] for h, v in zip(hs.tolist(), views, strict=True))
    for h in hs.tolist():
        z, idx = pool._locate(h)
        assert pool.handle_of(z, idx) == h


def test_a_zspage_on_reused_pages_that_are_not_a_run():
    pool = ZsPool("p", 1024)
    size = next(int(s) - 8 for s, pg in zip(pool.classes.size, pool.classes.pages,
                                           strict=True) if pg == 3)
    # pages 5, 9 and 7 were freed in that order: last - first == npages - 1,
    # yet they are no run
    pool._next_page = 12  # pages 1..11 have been used: their map entries exist
    for page_map in (pool.page_zspage, pool.page_next, pool.page_handle):
        page_map += [0] * 11
    pool._freed_pages = [5, 9, 7]
    hs, m, err, _ = pool.store_batch([b"\x01" * size])
    assert (m, err) == (1, 0) and pool.zs_pagelist[pool._locate(hs[0])[0]] == [5, 9, 7]
    _check_page_maps(pool)
    assert pool.page_zspage[6] == pool.page_zspage[8] == 0
