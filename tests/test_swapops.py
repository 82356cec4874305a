"""Swap entry encoding (include/linux/swapops.h)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swaplab.mm.swapops import (
    MAX_SWAPFILES,
    SWAP_ENTRY_INVALID,
    SWP_OFFSET_MASK,
    SWP_TYPE_SHIFT,
    swp_entry,
    swp_offset,
    swp_type,
)


def test_kernel_constants():
    assert SWP_TYPE_SHIFT == 58
    assert SWP_OFFSET_MASK == (1 << 58) - 1
    assert MAX_SWAPFILES == 24
    assert swp_entry(0, 0) == SWAP_ENTRY_INVALID == 0


def test_layout_type_high_offset_low():
    assert swp_entry(3, 5) == (3 << 58) | 5
    assert swp_entry(1, 1 << 58) == 1 << 58  # offset is masked


@given(st.integers(0, 31), st.integers(0, SWP_OFFSET_MASK))
def test_roundtrip(t, off):
    e = swp_entry(t, off)
    assert swp_type(e) == t and swp_offset(e) == off
