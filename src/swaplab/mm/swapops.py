"""Swap entries (include/linux/swapops.h).

``swp_entry_t`` is one unsigned long: the type (index of the swap area) in the
high bits and the page offset in the low bits, in the arch-independent form
``(type << SWP_TYPE_SHIFT) | offset``. Entry 0 (type 0, offset 0) is
``SWAP_ENTRY_INVALID``: offset 0 holds the swap header and is never handed out.
"""

from __future__ import annotations

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
