"""zram's swap_ops, as the series has them (kernel-facts §1.9).

- ``submit_write``: each page of each folio goes straight to the write path
  (``Zram.write_pages``, the batch form of ``zram_write_page``) at index
  ``swp_offset(folio.swap) + j`` — no bio, so
  /sys/block/zramN/stat does not see swap I/O. The first error counts
  ``failed_writes`` once, logs, and stops; pages already stored stay stored
  and ``swap_write_end(sio, failed)`` re-dirties the whole batch. Each stored
  page is marked accessed under its slot lock.
- ``submit_read``: with a backing device configured the whole batch goes down
  the block read path (``swap_bdev_submit_read``: bios into zram, because
  written-back slots need the backing device). Otherwise each slot is read
  and marked accessed in the same slot-lock section (``Zram.read_pages``, one
  compiled call for the batch); the first error counts ``failed_reads`` once
  and stops.
- no ``can_merge``: any folios of the same device batch together.
- ``slot_free_notify``: notify_free++, trylock, miss_free++ on contention.

The device is ``sis.private_data`` (set by swap_activate); with a plain
registration it is found through ``sis.bdev``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ...mm.page_io import swap_bdev_submit_read, swap_read_end, swap_write_end
from ...mm.swap_iocb import SwapIoCtx, SwapOps

if TYPE_CHECKING:
    from ...mm.swapfile import SwapInfo
    from .zram_drv import Zram


def _zram(sis: SwapInfo) -> Zram:
    return sis.private_data if sis.private_data is not None else sis.bdev.private_data


def _failed(zram: Zram, what: str, err: int, idx: np.ndarray, m: int) -> bool:
    """Count and log a failed batch once (failed_writes / failed_reads)."""
    if err >= 0:
        return False
    zram.stats.add("failed_writes" if what == "Write" else "failed_reads")
    zram.system.printk.ratelimited(
        f"zram-swap-{what}", logging.ERROR,
        f"{what}-error on swap-device {zram.name} at index {int(idx[m])}: err={err}")
    return True


def zram_swap_submit_write(ctx: SwapIoCtx) -> None:
    sio = ctx.sio
    zram = _zram(ctx.sis)
    _, pfns, idx = sio.pages()
    m, err = zram.write_pages(sio.folios[0].mem.data, idx, pfns)
    swap_write_end(sio, _failed(zram, "Write", err, idx, m))


def zram_swap_submit_read(ctx: SwapIoCtx) -> None:
    zram = _zram(ctx.sis)
    if zram.backing_dev is not None:
        swap_bdev_submit_read(ctx)
        return
    sio = ctx.sio
    _, pfns, idx = sio.pages()
    m, err = zram.read_pages(sio.folios[0].mem.data, idx, pfns)
    swap_read_end(sio, err < 0 and _failed(zram, "Read", err, idx, m))


def zram_swap_slot_free_notify(sis: SwapInfo, offset: int) -> None:
    _zram(sis).slot_free_notify(offset)


zram_swap_ops = SwapOps(name="zram", submit_write=zram_swap_submit_write,
                        submit_read=zram_swap_submit_read,
                        slot_free_notify=zram_swap_slot_free_notify)
