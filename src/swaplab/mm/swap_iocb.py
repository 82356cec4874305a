"""The types a swap backend is written against (include/linux/swap.h after the
swap_iocb rework): the ``swap_ops`` method table, the ``swap_iocb`` batch and
the caller's ``swap_io_ctx``. What the core does with them — batching,
submission, completion — is :mod:`swaplab.mm.page_io`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..consts import PAGE_SHIFT
from .folio import Folio

if TYPE_CHECKING:
    from .swapfile import SwapInfo

READ = 0
WRITE = 1


@dataclass(frozen=True, eq=False)
class SwapOps:
    """A swap backend's method table (``struct swap_ops``).

    ``submit_write(ctx)`` / ``submit_read(ctx)`` take ``ctx.sio`` and must end
    it exactly once with :func:`swap_write_end` / :func:`swap_read_end`.
    ``can_merge(folio, prev_folio, prev_size, rw)`` may veto adding ``folio``
    after ``prev_folio``; ``None`` accepts any folio of the same area.
    ``slot_free_notify(sis, offset)`` runs under the swap cluster lock when a
    slot is freed: it must not sleep (trylock only).
    """

    name: str
    submit_write: Callable[[SwapIoCtx], None]
    submit_read: Callable[[SwapIoCtx], None]
    can_merge: Callable[[Folio, Folio, int, int], bool] | None = None
    slot_free_notify: Callable[[SwapInfo, int], None] | None = None


class SwapIocb:
    """One batch of up to 32 folios for one swap area (``struct swap_iocb``)."""

    __slots__ = ("_ended", "_pages", "folios", "len", "rw", "sis", "start_ns")

    def __init__(self, sis: SwapInfo, rw: int) -> None:
        self.sis = sis
        self.rw = rw
        self.folios: list[Folio] = []
        self.len = 0
        self._ended = False
        self._pages: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: when the core handed the batch to the backend (perf_counter_ns; 0: not yet)
        self.start_ns = 0

    def pages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(head pfn of every folio, pfn of every page, swap offset of every
        page), int64, in order: one compiled walk over the frame arrays,
        done once for the batch (again only if folios were added since)."""
        p = self._pages
        if p is None or len(p[0]) != len(self.folios):
            folios = self.folios
            out = np.empty((3, max(len(folios), self.len >> PAGE_SHIFT)), dtype=np.int64)
            nr_folios, nr_pages = folios[0].mem.map.folios_pages(folios, out)
            if nr_folios == nr_pages == out.shape[1]:  # all order 0: whole rows, no slices
                p = self._pages = (out[0], out[1], out[2])
            else:
                p = self._pages = (out[0, :nr_folios], out[1, :nr_pages], out[2, :nr_pages])
        return p

    def pfns(self) -> np.ndarray:
        """The head pfn of every folio, in order."""
        return self.pages()[0]

    @property
    def nr_bvecs(self) -> int:
        return len(self.folios)

    @property
    def ended(self) -> bool:
        return self._ended

    def __repr__(self) -> str:
        return (f"SwapIocb({'WRITE' if self.rw else 'READ'} type={self.sis.type} "
                f"folios={len(self.folios)} len={self.len})")


def swap_iocb_nr_folios(sio: SwapIocb) -> int:
    """Number of folios in the batch."""
    return len(sio.folios)


def swap_iocb_folio(sio: SwapIocb, i: int) -> Folio:
    """The ``i``-th folio of the batch."""
    return sio.folios[i]


@dataclass(slots=True)
class SwapIoCtx:
    """The batch a caller is building (``struct swap_io_ctx``); start it empty."""

    sio: SwapIocb | None = None
    sis: SwapInfo | None = None
