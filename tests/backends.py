"""A small real swap backend for core tests: pages kept in a numpy array,
every batch recorded, failures switched on by the test."""

from __future__ import annotations

import numpy as np

from swaplab import PAGE_SIZE, SwapOps
from swaplab.block.blkdev import BlockDeviceOperations
from swaplab.block.brd import BRD_FOPS, RamDisk
from swaplab.mm.page_io import READ, WRITE, swap_read_end, swap_write_end
from swaplab.mm.swapops import swp_offset


class ArrayBackend:
    """Stores each page of a batch at its slot; remembers every batch."""

    def __init__(self, nr_slots: int, *, can_merge=None) -> None:
        self.store = np.zeros((nr_slots, PAGE_SIZE), dtype=np.uint8)
        self.batches: list[tuple[int, list[int]]] = []  # (rw, [offsets of folios])
        self.fail_writes = False
        self.fail_reads = False
        self.freed: list[int] = []
        self.ops = SwapOps(name="array", submit_write=self.submit_write,
                           submit_read=self.submit_read, can_merge=can_merge,
                           slot_free_notify=self.slot_free_notify)

    def _offsets(self, sio):
        return [swp_offset(f.swap) for f in sio.folios]

    def submit_write(self, ctx) -> None:
        sio = ctx.sio
        self.batches.append((WRITE, self._offsets(sio)))
        if not self.fail_writes:
            for f in sio.folios:
                off = swp_offset(f.swap)
                self.store[off : off + f.nr_pages] = f.pages
        swap_write_end(sio, self.fail_writes)

    def submit_read(self, ctx) -> None:
        sio = ctx.sio
        self.batches.append((READ, self._offsets(sio)))
        if not self.fail_reads:
            for f in sio.folios:
                off = swp_offset(f.swap)
                f.pages[:] = self.store[off : off + f.nr_pages]
        swap_read_end(sio, self.fail_reads)

    def slot_free_notify(self, sis, offset: int) -> None:
        self.freed.append(offset)


def ramdisk_with_fops(system, size: int, fops: BlockDeviceOperations, *, name: str = "tst"):
    """A RAM disk whose ops table is ``fops`` (a driver of its own), registered in ``system``."""
    rd = RamDisk(f"{name}{len(system.block)}", size, len(system.block))
    rd.bdev.fops = fops
    return system.add_disk(rd.bdev, rd)


def fops_like_brd(name: str, **hooks) -> BlockDeviceOperations:
    """A new driver ops table that does I/O like brd, with extra hooks."""
    return BlockDeviceOperations(name=name, submit_bio=BRD_FOPS.submit_bio, **hooks)
