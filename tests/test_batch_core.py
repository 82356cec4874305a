"""Reclaim's writeout has one entry point, swap_writeout(folios): its array
form for the common case gives exactly what the folio-by-folio steps give —
the same flags, zero map, counters, batches and bios — on any mix of zero
pages, unreferenced slots and large folios."""

from __future__ import annotations

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
