"""Reclaim's writeout has one entry point, swap_writeout(folios): its array
form for the common case gives exactly what the folio-by-folio steps give —
the same flags, zero map, counters, batches and bios — on any mix of zero
pages, unreferenced slots and large folios."""

from __future__ import annotations

import errno

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from swaplab import PAGE_SIZE, PG, Folio, SwapIoCtx, System
from swaplab.mm.page_io import swap_read_folio, swap_read_submit, swap_write_submit, swap_writeout
from swaplab.mm.swapfile import folio_alloc_swap, swap_dup_entries

#: (order, all zero, slot referenced) per folio
FOLIO = st.tuples(st.sampled_from([0, 0, 0, 0, 2]), st.booleans(), st.booleans())


def _run(spec: list[tuple[int, bool, bool]], batch: bool) -> dict:
    # no swapoff at the end: the folios stay in the swap cache with their
    # references, as a process's pages would (the System is simply dropped)
    s = System("32M")
    rd = s.add_ramdisk("8M")
    s.mkswap(rd)
    si = s.swapon(rd)
    rng = np.random.default_rng(len(spec))
    folios = []
    for order, zero, referenced in spec:
        f = Folio.alloc(s.mem, order)
        f.data[:] = 0 if zero else rng.integers(1, 255, f.size, dtype=np.uint8)
        f.set(PG.uptodate | PG.swapbacked)
        f.lock()
        assert folio_alloc_swap(f) == 0
        if referenced:  # else writeout frees the swap instead of writing
            assert swap_dup_entries(s, f.swap) == 0
        folios.append(f)
    want = [f.data.copy() for f in folios]
    rd.reset_stat()
    ctx = SwapIoCtx()
    batches = []
    if batch:
        swap_writeout(folios, ctx)
    else:
        for f in folios:
            swap_writeout([f], ctx)
    if ctx.sio is not None:
        batches.append(len(ctx.sio.folios))  # the batch still being built
    swap_write_submit(ctx)
    out = {"vm": s.vmstat.snapshot(), "bios": rd.stat()["write_ios"],
           "flags": [f.flags for f in folios], "zero": si.zeromap.copy().tolist(),
           "inuse": si.inuse_pages, "open": batches}
    kept = [k for k, f in enumerate(folios) if f.test(PG.swapcache)]
    for k in kept:  # and every page written reads back
        f = folios[k]
        f.lock()
        f.clear(PG.uptodate)
        f.data[:] = 0xAB
    ctx = SwapIoCtx()
    for k in kept:
        swap_read_folio(folios[k], ctx)
    swap_read_submit(ctx)
    out["read_ok"] = all(np.array_equal(folios[k].data, want[k]) for k in kept)
    return out


@settings(max_examples=30, deadline=None)
@given(st.lists(FOLIO, min_size=1, max_size=70))
def test_writeout_of_a_batch_equals_single_folio_calls(spec):
    a, b = _run(spec, batch=False), _run(spec, batch=True)
    assert a == b
    assert a["read_ok"]


def test_the_array_form_is_exercised():
    spec = [(0, k % 5 == 0, k % 7 != 0) for k in range(70)]
    a, b = _run(spec, batch=False), _run(spec, batch=True)
    assert a == b
    assert a["vm"]["swpout_zero"] > 0 and a["vm"]["pswpout"] > 0 and a["bios"] > 0
    assert PAGE_SIZE == 4096


# --- reclaim: shrink_folios' array steps against its folio-by-folio steps -------------

#: (all zero, locked by someone, already in the swap cache, a second process
#: shares nothing: the page belongs to the cgroup with a swap.max) per page
PAGE = st.tuples(st.booleans(), st.sampled_from([False] * 5 + [True]),
                 st.sampled_from([False] * 3 + [True]), st.booleans())


def _reclaim(spec: list[tuple[bool, bool, bool, bool]], swap_max: int, each: bool) -> dict:
    from swaplab.mm.vmscan import _shrink_each, shrink_folios

    s = System("32M")
    rd = s.add_ramdisk("8M")
    s.mkswap(rd)
    si = s.swapon(rd)
    cg = s.create_cgroup("limited")
    cg.attr["memory.swap.max"] = str(swap_max * PAGE_SIZE)
    mms = {False: s.create_mm(len(spec)), True: s.create_mm(len(spec), memcg=cg)}
    rng = np.random.default_rng(len(spec))
    pfns, want = [], []
    for k, (zero, locked, cached, limited) in enumerate(spec):
        mm = mms[limited]
        page = np.zeros(PAGE_SIZE, np.uint8) if zero else rng.integers(1, 255, PAGE_SIZE,
                                                                        dtype=np.uint8)
        mm.write(k, page)
        f = mm.folio_at(k)
        if cached:  # in the swap cache already (swap.max may refuse it a slot)
            f.lock()
            assert folio_alloc_swap(f) in (0, -errno.ENOMEM)
            f.unlock()
        if locked:
            f.lock()
        pfns.append(f.pfn)
        want.append((limited, k, page))
    pfns = np.array(pfns, dtype=np.int64)
    seen = []
    for mm in mms.values():
        mm.on_swap_out = lambda mm, v, e: seen.extend(zip(v.tolist(), e.tolist(),
                                                          strict=True))
    freed, kept = (_shrink_each if each else shrink_folios)(s, pfns)
    out = {"freed": freed, "kept": kept.tolist(), "vm": s.vmstat.snapshot(),
           "ptes": [mm.ptes.tolist() for mm in mms.values()],
           "flags": s.mem.flags[pfns].tolist(), "swap_map": si.swap_map.tolist(),
           "cache": si.cache.tolist(), "zero": si.zeromap.tolist(),
           "inuse": si.inuse_pages, "free": s.swap.nr_swap_pages,
           "cg": (cg.swap_usage, dict(cg.swap_events)), "seen": sorted(seen),
           "bios": rd.stat()["write_ios"]}
    for k, f in enumerate(pfns.tolist()):  # release the test's locks, then read all back
        if spec[k][1]:
            Folio(s.mem, f).unlock()
    out["read"] = all(np.array_equal(np.frombuffer(mms[lim].read(v), np.uint8), page)
                      for lim, v, page in want)
    s.close()
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(PAGE, min_size=1, max_size=80), st.integers(0, 40))
def test_reclaim_of_a_list_equals_its_folio_by_folio_steps(spec, swap_max):
    a, b = _reclaim(spec, swap_max, each=True), _reclaim(spec, swap_max, each=False)
    assert a == b
    assert a["read"]


def test_reclaim_array_form_is_exercised():
    spec = [(k % 5 == 0, k % 11 == 0, k % 7 == 0, k % 2 == 0) for k in range(80)]
    a, b = _reclaim(spec, 12, each=True), _reclaim(spec, 12, each=False)
    assert a == b
    assert a["freed"] > 0 and a["kept"] and a["cg"][1]["fail"] > 0
    assert a["vm"]["pswpout"] > 0 and a["vm"]["swpout_zero"] > 0 and a["read"]
