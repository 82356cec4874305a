"""Everything a swap backend needs, from one module.

A backend is two things (docs/backends.md walks through a complete one):

- a **block device** (:class:`BlockDevice`) whose driver ops table
  (:class:`BlockDeviceOperations`) has a ``submit_bio``: mkswap writes the
  swap header page and swapon reads it back with bios, so even a backend that
  takes all swap I/O through swap_ops must serve plain bios; and a
  ``swap_activate(sis)`` hook that installs the backend's :class:`SwapOps`
  (``sis.ops``) and its own state (``sis.private_data``), returning 0 or a
  negative errno;
- the **swap_ops** themselves: ``submit_write(ctx)`` and ``submit_read(ctx)``
  get a batch (``ctx.sio``: its ``folios``, each with ``swap`` — the entry
  of its first page, :func:`swp_offset` gives the slot — ``nr_pages`` and
  ``pages``, the page contents as an array) and must complete it exactly
  once with :func:`swap_write_end` / :func:`swap_read_end` (``failed`` True
  keeps a written page dirty, leaves a read page not uptodate); optional
  ``can_merge`` and ``slot_free_notify(sis, offset)`` (the slot's data may
  go).

:func:`swaplab.testing.run_swap_ops_conformance` checks a backend against
the contract (``pip install 'swaplab[testing]'``).
"""

from __future__ import annotations

from .block.bio import Bio, ReqOp, bio_endio
from .block.blkdev import BlockDevice, BlockDeviceOperations
from .consts import PAGE_SHIFT, PAGE_SIZE, SECTOR_SHIFT, SECTOR_SIZE
from .errors import kerror
from .mm.folio import PG, Folio
from .mm.page_io import READ, WRITE, swap_read_end, swap_write_end
from .mm.swap_iocb import SwapIocb, SwapIoCtx, SwapOps
from .mm.swapfile import SwapInfo
from .mm.swapops import swp_entry, swp_offset, swp_type

__all__ = [
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "PG",
    "READ",
    "SECTOR_SHIFT",
    "SECTOR_SIZE",
    "WRITE",
    "Bio",
    "BlockDevice",
    "BlockDeviceOperations",
    "Folio",
    "ReqOp",
    "SwapInfo",
    "SwapIoCtx",
    "SwapIocb",
    "SwapOps",
    "bio_endio",
    "kerror",
    "swap_read_end",
    "swap_write_end",
    "swp_entry",
    "swp_offset",
    "swp_type",
]
