"""The SwapOps conformance kit on every backend we ship, and on three broken ones."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from backends import fops_like_brd, ramdisk_with_fops
from swaplab import SwapOps
from swaplab.mm.page_io import swap_read_end, swap_write_end
from swaplab.mm.swapops import swp_offset
from swaplab.mm.zswap import Zswap
from swaplab.testing import ConformanceFailure, run_swap_ops_conformance

FAST = {"max_examples": 15, "stateful_step_count": 10}


def _zram(system, tmp, bio_per_page=False):
    z = system.load_zram()[0]
    z.attr["disksize"] = "32M"
    return (z.bdev, {"ops": "bio-per-page"}) if bio_per_page else z.bdev


def _zram_stored(system):
    z = system.modules["zram"][0]
    return z.stats["pages_stored"] - int(z.slot_allocated(0))  # slot 0: mkswap's header


@pytest.mark.parametrize("bio_per_page", [False, True], ids=["swap_ops", "bio-per-page"])
def test_zram(bio_per_page):
    run_swap_ops_conformance(lambda s, t: _zram(s, t, bio_per_page), stored_pages=_zram_stored,
                             large_folio_swapin=True, **FAST)


def test_ramdisk_block_ops():
    run_swap_ops_conformance(lambda s, t: s.add_ramdisk("32M"), large_folio_swapin=True,
                             **FAST)


def test_filedisk_block_ops():
    run_swap_ops_conformance(lambda s, t: s.add_filedisk(t / "disk.img", "32M"),
                             large_folio_swapin=True, **FAST)


def test_swap_file():
    def make(s, t):
        path = t / "swapfile"
        with open(path, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, 32 << 20)
        return path
    run_swap_ops_conformance(make, **FAST)


def test_zswap_over_a_disk():
    def make(s, t):
        d = s.add_ramdisk("32M")
        Zswap(s, "lz4", enabled=True)
        return d
    run_swap_ops_conformance(make, stored_pages=lambda s: s.zswap.stored_pages, **FAST)


def test_filedisk_behind_virtual_swap_entries():
    """The kit on virtual entries whose pages the ghost writes to a file-backed
    disk (zswap off: every page goes to the physical area, large folios too)."""
    run_swap_ops_conformance(lambda s, t: s.add_filedisk(t / "disk.img", "32M"),
                             large_folio_swapin=True, virtual=True, **FAST)


# --- three broken backends: the kit must catch each -------------------------------------

class DictBackend:
    """Pages in a dict by slot; ``bug`` breaks one rule of the contract."""

    def __init__(self, bug: str | None) -> None:
        self.pages: dict[int, np.ndarray] = {}
        self.bug = bug
        self.ops = SwapOps("dict", self.submit_write, self.submit_read,
                           slot_free_notify=self.slot_free_notify)

    def submit_write(self, ctx) -> None:
        sio = ctx.sio
        if self.bug == "never_write":
            return  # takes the batch and never completes it
        folios = sio.folios[:-1] if self.bug == "loses" and len(sio.folios) > 1 else sio.folios
        for f in folios:
            off = swp_offset(f.swap)
            for k in range(f.nr_pages):
                self.pages[off + k] = f.pages[k].copy()
        swap_write_end(sio, False)
        if self.bug == "twice":
            swap_write_end(sio, False)

    def submit_read(self, ctx) -> None:
        sio = ctx.sio
        if self.bug == "never_read" and len(sio.folios) > 1:
            return  # a read batch of several folios is never completed
        for f in sio.folios:
            off = swp_offset(f.swap)
            for k in range(f.nr_pages):
                f.pages[k] = self.pages.get(off + k, 0)
        swap_read_end(sio, False)

    def slot_free_notify(self, sis, off: int) -> None:
        if self.bug != "leaks":
            self.pages.pop(off, None)


def _dict_backend(bug):
    """make_backend and stored_pages for a fresh DictBackend in every machine."""
    backends = {}

    def make(system, tmp):
        backend = backends[id(system)] = DictBackend(bug)

        def activate(sis) -> int:
            sis.ops = backend.ops
            sis.private_data = backend
            return 0

        return ramdisk_with_fops(system, 32 << 20, fops_like_brd("dict", swap_activate=activate))

    return make, (lambda system: len(backends[id(system)].pages))


def test_a_correct_dict_backend_passes():
    make, stored = _dict_backend(None)
    run_swap_ops_conformance(make, stored_pages=stored, **FAST)


@pytest.mark.parametrize("bug, needle", [
    ("loses", "not the page written"),
    ("twice", "completed twice"),
    ("leaks", "was not dropped"),
])
def test_broken_backends_fail(bug, needle):
    make, stored = _dict_backend(bug)
    # the leak is only visible through the backend's own count; the others must be
    # caught by the page and batch checks alone
    with pytest.raises(ConformanceFailure, match=needle):
        run_swap_ops_conformance(make, stored_pages=stored if bug == "leaks" else None,
                                 **FAST)


@pytest.mark.parametrize("bug, what", [("never_write", "WRITE"), ("never_read", "READ")])
def test_a_batch_that_never_completes_fails_the_kit_within_its_timeout(bug, what):
    """The kit names the batch and gives up after completion_timeout (plus the
    little Hypothesis needs to report), instead of waiting on its folios."""
    make, _ = _dict_backend(bug)
    t = time.monotonic()
    with pytest.raises(ConformanceFailure, match=rf"SwapIocb\({what} .* not completed within 2 s"):
        run_swap_ops_conformance(make, completion_timeout=2.0, **FAST)
    assert time.monotonic() - t < 2.0 + 10


def test_large_folio_swapin_reads_whole_large_folios_back(monkeypatch):
    """With large_folio_swapin the kit reads entries written as large folios back
    as one folio of their order, and a correct backend passes; the backend
    sees read batches holding large folios."""
    orders_read: list[int] = []
    submit_read = DictBackend.submit_read

    def recording(self, ctx):
        orders_read.extend(f.order for f in ctx.sio.folios)
        submit_read(self, ctx)

    monkeypatch.setattr(DictBackend, "submit_read", recording)
    make, stored = _dict_backend(None)
    run_swap_ops_conformance(make, stored_pages=stored, large_folio_swapin=True, **FAST)
    assert max(orders_read) >= 1
