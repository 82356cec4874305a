"""Swap entries and PTEs (include/linux/swapops.h, the arch's pte helpers).

``swp_entry_t`` is one unsigned long: the type (index of the swap area) in the
high bits and the page offset in the low bits, in the arch-independent form
``(type << SWP_TYPE_SHIFT) | offset``. Entry 0 (type 0, offset 0) is
``SWAP_ENTRY_INVALID``: offset 0 holds the swap header and is never handed out.

A PTE (one uint64 a page of a process) is 0 (never touched), present
(``pfn << 1 | PTE_PRESENT``) or a swap PTE (``entry << 1``). Every module
reads and writes them through the helpers here; the ``ptes_*`` / ``swp_*s``
forms take and return numpy arrays.
"""

from __future__ import annotations

import numpy as np

BITS_PER_XA_VALUE = 63
MAX_SWAPFILES_SHIFT = 5
SWP_TYPE_SHIFT = BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT  # 58
SWP_OFFSET_MASK = (1 << SWP_TYPE_SHIFT) - 1
#: 32 type values less the ones reserved for non-swap entries on a full
#: x86_64 config (device-private 3, migration 3, hwpoison 1, pte marker 1).
MAX_SWAPFILES = (1 << MAX_SWAPFILES_SHIFT) - 8
SWAP_ENTRY_INVALID = 0


def swp_entry(type_: int, offset: int) -> int:
    """Encode (type, offset) as an entry value."""
    return (type_ << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK)


def swp_type(entry: int) -> int:
    return entry >> SWP_TYPE_SHIFT


def swp_offset(entry: int) -> int:
    return entry & SWP_OFFSET_MASK


def swp_types(entries: np.ndarray) -> np.ndarray:
    """:func:`swp_type` of every entry of a uint64 array (int64 result)."""
    return (entries >> np.uint64(SWP_TYPE_SHIFT)).astype(np.int64)


def swp_offsets(entries: np.ndarray) -> np.ndarray:
    """:func:`swp_offset` of every entry of a uint64 array (int64 result)."""
    return (entries & np.uint64(SWP_OFFSET_MASK)).astype(np.int64)


def swp_entries(type_: int, offsets: np.ndarray) -> np.ndarray:
    """:func:`swp_entry` of one type and every offset of an int array (uint64 result)."""
    return (np.uint64(type_ << SWP_TYPE_SHIFT)
            | (offsets.astype(np.uint64) & np.uint64(SWP_OFFSET_MASK)))


# --- PTEs --------------------------------------------------------------------------------

PTE_PRESENT = 1


def mk_pte(pfn: int) -> int:
    """The PTE mapping frame ``pfn``."""
    return (pfn << 1) | PTE_PRESENT


def swp_entry_to_pte(entry: int) -> int:
    """The swap PTE holding ``entry``."""
    return entry << 1


def pte_present(pte: int) -> bool:
    return bool(pte & PTE_PRESENT)


def pte_pfn(pte: int) -> int:
    """The frame a present PTE maps."""
    return pte >> 1


def pte_to_swp_entry(pte: int) -> int:
    """The entry a swap PTE holds."""
    return pte >> 1


def mk_ptes(pfns: np.ndarray) -> np.ndarray:
    """:func:`mk_pte` of every frame of an int array (uint64 result)."""
    return (pfns.astype(np.uint64) << np.uint64(1)) | np.uint64(PTE_PRESENT)


def swp_entries_to_ptes(entries: np.ndarray) -> np.ndarray:
    """:func:`swp_entry_to_pte` of every entry of a uint64 array (uint64 result)."""
    return entries.astype(np.uint64) << np.uint64(1)


def ptes_present(ptes: np.ndarray) -> np.ndarray:
    """Which PTEs of a uint64 array are present (bool array)."""
    return (ptes & np.uint64(PTE_PRESENT)) != 0


def ptes_swap(ptes: np.ndarray) -> np.ndarray:
    """Which PTEs of a uint64 array hold a swap entry (bool array)."""
    return ((ptes & np.uint64(PTE_PRESENT)) == 0) & (ptes != 0)


def ptes_pfn(ptes: np.ndarray) -> np.ndarray:
    """:func:`pte_pfn` of every (present) PTE of a uint64 array (int64 result)."""
    return (ptes >> np.uint64(1)).astype(np.int64)


def ptes_to_swp_entries(ptes: np.ndarray) -> np.ndarray:
    """:func:`pte_to_swp_entry` of every (swap) PTE of a uint64 array (uint64 result)."""
    return ptes >> np.uint64(1)
