"""The swap cache seen from the fault side (mm/swap_state.c).

:func:`read_swap_cache_async` finds or creates the swap-cache folio for an
entry and, when it created it, starts the read into the caller's batch.
Readahead around the faulting entry builds on it.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .folio import PG, Folio
from .page_io import SwapIoCtx, swap_read_folio
from .swapfile import swap_cache_add_folio, swap_cache_get_folio

if TYPE_CHECKING:
    from ..system import System


def read_swap_cache_async(system: System, entry: int, ctx: SwapIoCtx
                          ) -> tuple[Folio | None, bool]:
    """Return ``(folio, started)`` for ``entry``.

    ``started`` is True when this call allocated the folio, inserted it into
    the swap cache and queued its read in ``ctx`` (the read completes when the
    caller flushes ``ctx``). An existing swap-cache folio is returned with
    ``started`` False. ``(None, False)`` means no memory, or the entry was
    freed meanwhile.
    """
    while True:
        folio = swap_cache_get_folio(system, entry)
        if folio is not None:
            return folio, False
        folio = Folio.alloc(system.mem, 0)
        if folio is None:
            return None, False
        folio.lock()
        folio.set(PG.swapbacked)
        ret = swap_cache_add_folio(folio, entry)
        if ret == 0:
            swap_read_folio(folio, ctx)
            return folio, True
        folio.unlock()
        folio.free()
        if ret != -errno.EEXIST:
            return None, False
