"""The batch forms of writeout and read-start do what the per-folio forms do."""

from __future__ import annotations

import numpy as np

from swaplab import PAGE_SIZE, PG, Folio, SwapIoCtx, System
from swaplab.mm.page_io import (
    swap_read_folio,
    swap_read_folios,
    swap_read_submit,
    swap_write_submit,
    swap_writeout,
    swap_writeout_folios,
)
from swaplab.mm.swapfile import folio_alloc_swap, swap_dup_entries


def _run(batch: bool):
    s = System("32M")
    rd = s.add_ramdisk("8M")
    s.mkswap(rd)
    si = s.swapon(rd)
    rng = np.random.default_rng(0)
    folios = []
    for k in range(70):
        f = Folio.alloc(s.mem)
        f.data[:] = 0 if k % 5 == 0 else rng.integers(1, 255, PAGE_SIZE, dtype=np.uint8)
        f.set(PG.uptodate | PG.swapbacked)
        f.lock()
        assert folio_alloc_swap(f) == 0
        if k % 7:  # every 7th slot is unreferenced: writeout frees it instead
            assert swap_dup_entries(s, f.swap) == 0
        folios.append(f)
    want = [f.data.copy() for f in folios]
    rd.reset_stat()
    ctx = SwapIoCtx()
    if batch:
        swap_writeout_folios(folios, ctx)
    else:
        for f in folios:
            swap_writeout(f, ctx)
    swap_write_submit(ctx)
    flags = [f.flags for f in folios]
    out = {"vm": s.vmstat.snapshot(), "bios": rd.stat()["write_ios"], "flags": flags,
           "zero": si.zeromap.copy(), "inuse": si.inuse_pages}
    kept = [f for f in folios if f.test(PG.swapcache)]
    for f in kept:
        f.lock()
        f.clear(PG.uptodate)
        f.data[:] = 0xAB
    ctx = SwapIoCtx()
    if batch:
        swap_read_folios(kept, ctx)
    else:
        for f in kept:
            swap_read_folio(f, ctx)
    swap_read_submit(ctx)
    out["read_ok"] = all(np.array_equal(f.data, want[folios.index(f)]) for f in kept)
    out["vm2"] = s.vmstat.snapshot()
    return out


def test_batch_writeout_and_read_match_per_folio():
    a, b = _run(False), _run(True)
    assert a["vm"] == b["vm"] and a["bios"] == b["bios"] and a["flags"] == b["flags"]
    assert np.array_equal(a["zero"], b["zero"]) and a["inuse"] == b["inuse"]
    assert a["read_ok"] and b["read_ok"] and a["vm2"] == b["vm2"]
    assert a["vm"]["swpout_zero"] > 0 and a["vm"]["pswpout"] > 0
