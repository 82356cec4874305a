"""The batch forms (zram write_pages / read_pages, alloc_pages_bulk, zram's
swap_ops batch layout) give exactly what their one-at-a-time forms give: the
same objects, slots, pages and counters; a pool over the machine's frames
keeps the machine's accounting."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import sample_pages
from swaplab import PAGE_SIZE, PG, Folio
from swaplab.mm.page_alloc import PhysMem
from swaplab.mm.swap_iocb import WRITE, SwapIocb
from swaplab.mm.swapfile import folio_alloc_swap, swap_cache_del_folio
from swaplab.mm.zsmalloc import ZsPool
from zram_helpers import mm_stat, zram_device

PAGES = sample_pages(300, seed=5)


def _device_state(z) -> tuple:
    n = z.nr_pages
    return (mm_stat(z), z.handle[:n].tolist(), (z.flags[:n]).tolist(),
            z.stats.snapshot())


@pytest.mark.parametrize("mem_limit", ["0", "300K"])
def test_zram_write_pages_batch_equals_a_loop_of_write_page(system, mem_limit):
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
        ra = (0, 0)
        for j, (i, r) in enumerate(zip(idx.tolist(), rows.tolist(), strict=True)):
            err = za.write_page(pages[r], i)
            ra = (j, err) if err else (j + 1, 0)
            if err:
                break
        rb = zb.write_pages(pages, idx, rows)
        assert ra == rb
        if ra[1]:
            break
    assert (ra[1] == -errno.ENOMEM) == (mem_limit != "0")
    assert _device_state(za) == _device_state(zb)


def test_zram_faulty_write_path_equals_the_batch_path_when_nothing_fires(system):
    """With a fault point armed elsewhere, writes go page by page asking every
    zram point; none firing, the device ends exactly as the batch path leaves it."""
    za = zram_device(system, "4M")
    zb = za.ctl[za.ctl.hot_add()]
    zb.attr["disksize"] = "4M"
    idx = np.arange(200, dtype=np.int64)
    system.faults.arm("disk.read.eio", target="nothing-here")
    assert za.write_pages(PAGES, idx) == (200, 0)
    system.faults.disarm()
    assert zb.write_pages(PAGES, idx) == (200, 0)
    assert _device_state(za) == _device_state(zb)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 299), st.integers(0, 63)), min_size=1,
                max_size=120))
def test_zram_batches_equal_single_pages_on_the_same_state(writes):
    """Any sequence of (page, slot) writes, as one batch and as single calls,
    leaves the same slots, objects and counters, and reads back the same."""
    from swaplab import System

    with System("16M") as s:
        za = zram_device(s, "256K")
        zb = za.ctl[za.ctl.hot_add()]
        zb.attr["disksize"] = "256K"
        rows = np.array([w[0] for w in writes], dtype=np.int64)
        idx = np.array([w[1] for w in writes], dtype=np.int64)
        for r, i in zip(rows.tolist(), idx.tolist(), strict=True):
            assert za.write_page(PAGES[r], i) == 0
        assert zb.write_pages(PAGES, idx, rows) == (len(writes), 0)
        assert _device_state(za) == _device_state(zb)
        slots = np.unique(idx)
        out_a = np.zeros((len(slots), PAGE_SIZE), dtype=np.uint8)
        out_b = np.zeros_like(out_a)
        for k, i in enumerate(slots.tolist()):
            assert za.read_page(out_a[k], i) == 0
        assert zb.read_pages(out_b, slots) == (len(slots), 0)
        assert np.array_equal(out_a, out_b)
        last = {i: r for r, i in zip(rows.tolist(), idx.tolist(), strict=True)}
        assert np.array_equal(out_b, PAGES[[last[i] for i in slots.tolist()]])


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
    one = np.zeros((96, PAGE_SIZE), dtype=np.uint8)
    for k, i in enumerate(idx.tolist()):  # the single-page path reads the same
        assert z.read_page(one[k], i) == 0
    assert np.array_equal(one, pages)


def test_zram_a_run_of_slots_is_the_array_of_its_indices(system):
    """An int ``indices`` (a bio segment) means slots first, first + 1, ...: the
    same device state and pages as the explicit array; a run past the table is
    refused before anything is stored."""
    za = zram_device(system, "4M")
    zb = za.ctl[za.ctl.hot_add()]
    zb.attr["disksize"] = "4M"
    assert za.write_pages(PAGES[:50], np.arange(7, 57)) == (50, 0)
    assert zb.write_pages(PAGES[:50], 7) == (50, 0)
    assert _device_state(za) == _device_state(zb)
    out = np.zeros((50, PAGE_SIZE), dtype=np.uint8)
    assert zb.read_pages(out, 7) == (50, 0)
    assert np.array_equal(out, PAGES[:50])
    rows = np.arange(20)[::-1].copy()
    part = np.zeros((20, PAGE_SIZE), dtype=np.uint8)
    assert zb.read_pages(part, 30, rows) == (20, 0)  # rows still pick the pages
    assert np.array_equal(part[rows], PAGES[23:43])
    before = _device_state(zb)
    last = zb.nr_pages - 3
    for bad in (last, -1):
        with pytest.raises(IndexError, match="outside a table"):
            zb.meta.write_pages(PAGES[:4], None, bad, 0)
        with pytest.raises(IndexError, match="outside a table"):
            zb.meta.read_pages(out[:4], None, bad, 0)
    assert _device_state(zb) == before


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
    sio.len = sum(f.size for f in folios)
    heads, pfns, idx = sio.pages()
    assert heads.tolist() == [f.pfn for f in folios]
    want_p, want_i = [], []
    for f in folios:
        want_p += range(f.pfn, f.pfn + f.nr_pages)
        want_i += range(f.swap & ((1 << 58) - 1), (f.swap & ((1 << 58) - 1)) + f.nr_pages)
    assert pfns.tolist() == want_p and idx.tolist() == want_i
    for f in folios:  # out of the swap cache (frees the slots), unlocked, freed
        swap_cache_del_folio(f)
        f.unlock()
        f.free()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4096)), min_size=1, max_size=150),
       st.randoms(use_true_random=False))
def test_pool_on_machine_frames_reused_in_any_order(ops, rnd):
    """A pool over a machine's frames takes them from its page allocator in
    whatever order fragmentation left them (zspages of frames that are no
    run); every object reads back and names its handle, the machine's free
    count drops by exactly the pool's pages and its frame list, and all come
    back at the end."""
    mem = PhysMem(2048)
    held = [mem.alloc_pages(0) for _ in range(600)]
    for p in rnd.sample(held, k=300):  # a fragmented machine
        mem.free_pages(p)
    free0 = mem.nr_free
    pool = ZsPool("p", 1024, mem=mem)
    live: dict[int, bytes] = {}
    for kind, size in ops:
        if kind == 2 and live:
            for h in rnd.sample(sorted(live), k=max(1, len(live) // 2)):
                pool.free(h)
                del live[h]
            continue
        data = bytes([size & 0xFF]) * size
        for _ in range(1 + kind * 5):
            h = pool.malloc(size)
            assert h > 0
            pool.write(h, data)
            live[h] = data
        assert mem.nr_free == free0 - pool.total_pages - pool.cached_frames
        assert pool.cached_frames <= 126
    for h, data in live.items():
        assert pool.read(h, len(data)).tobytes() == data
        z, idx = pool.location(h)
        assert pool.handle_of(z, idx) == h
    pool.destroy()
    assert mem.nr_free == free0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 3)), min_size=1,
                max_size=300),
       st.randoms(use_true_random=False))
def test_free_frames_equals_a_loop_of_free_pages(frames, rnd):
    """Freeing order-0 frames in one call leaves the machine as freeing them
    one by one does: clean frame state, the same buddy lists (merged the
    same way), free count, cgroup charges and LRU counts."""
    mems = [PhysMem(1024), PhysMem(1024)]
    for m in mems:  # the same history on both: a fragmented allocator
        held = [m.alloc_pages(0) for _ in range(len(frames) + 40)]
        for p in held[::3]:
            m.free_pages(p)
    pfns = [p for p in held if p not in held[::3]][: len(frames)]
    rnd.shuffle(pfns)
    for m in mems:
        for pfn, (lru, active, memcg) in zip(pfns, frames, strict=False):
            m.move_charge(pfn, 1, memcg)
            m.flags[pfn] = PG.uptodate | (PG.lru if lru else 0) | (PG.active if active else 0)
            if lru:
                m.lru_count[memcg, 1 if active else 0] += 1
            m.swap[pfn] = 7
            m.mapping[pfn] = 3
    a, b = mems
    for pfn in pfns:
        a.free_pages(pfn)
    b.free_frames(np.array(pfns))
    for name in ("flags", "order", "swap", "memcg", "mapping", "lru_count"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.nr_free == b.nr_free and a.memcg_pages == b.memcg_pages
    assert [sorted(s) for s in a.free_area] == [sorted(s) for s in b.free_area]


def test_zap_frees_every_kind_of_pte_and_waits_for_a_locked_folio():
    """zap over a mix — plain resident folios (freed in bulk), a folio still
    in the swap cache, swap PTEs, and a folio another thread has locked
    (zap waits for it) — clears every PTE and gives back every frame, charge
    and swap slot."""
    import threading
    import time

    from swaplab import System

    with System("16M") as s:
        d = s.add_ramdisk("8M")
        s.mkswap(d)
        s.swapon(d)
        free0, swap0 = s.mem.nr_free, s.swap.nr_swap_pages
        mm = s.create_mm(64)
        pages = sample_pages(64, seed=9, kind="text")
        for v in range(64):
            mm.write(v, pages[v])
        assert mm.pageout(0, 32) == 32  # swap PTEs for 0..31
        mm.fault(3)  # back in, maybe still in the swap cache (readahead brings neighbours)
        held = mm.folio_at(40)
        held.lock()
        assert mm.swapped() > 0 and mm.resident() > 32

        def unlock_later():
            time.sleep(0.2)
            held.unlock()

        t = threading.Thread(target=unlock_later)
        t.start()
        start = time.perf_counter()
        assert mm.zap(0, 64) == 64
        assert time.perf_counter() - start >= 0.15  # it waited for the locked folio
        t.join()
        assert not mm.ptes.any() and mm.resident() == 0 and mm.swapped() == 0
        assert s.mem.nr_free == free0 and s.swap.nr_swap_pages == swap0
        assert not (s.mem.flags & np.uint32(PG.locked)).any()
        s.exit_mm(mm)


def _mm_state(system, mm):
    mem = system.mem
    pfns = [int(mm.ptes[v]) >> 1 for v in range(mm.nr_pages)]
    return ([mm.read(v) for v in range(mm.nr_pages)],
            [int(mem.flags[p]) for p in pfns], [int(mem.index[p]) for p in pfns],
            {int(mem.mapping[p]) for p in pfns}, mem.nr_free, mm.memcg.lruvec.nr_inactive,
            system.vmstat["pgfault"], mm.memcg.stat("pgfault"))


@pytest.mark.parametrize("case", ["bulk", "touched", "low-memory"])
def test_populate_equals_a_loop_of_write(case):
    from swaplab import System

    # low-memory: 220 of 256 frames leave fewer than the low watermark's 40 free
    pages = PAGES[:220] if case == "low-memory" else PAGES[:64]
    states = []
    for batch in (False, True):
        with System("1M" if case == "low-memory" else "16M") as s:
            mm = s.create_mm(240)
            if case == "touched":
                mm.write(30, PAGES[100])
            if batch:
                mm.populate(10, pages)
            else:
                for k in range(len(pages)):
                    mm.write(10 + k, pages[k])
            states.append(_mm_state(s, mm))
    assert states[0] == states[1]


def test_populate_refuses_pages_outside_the_mm_or_of_the_wrong_size(system):
    mm = system.create_mm(16)
    with pytest.raises(OSError) as e:
        mm.populate(10, PAGES[:7])
    assert e.value.errno == errno.EFAULT
    with pytest.raises(OSError, match=r"shaped \(2, 100\)") as e:
        mm.populate(0, np.zeros((2, 100), dtype=np.uint8))
    assert e.value.errno == errno.EINVAL
    assert mm.resident() == 0
