"""Swap entry encoding (include/linux/swapops.h)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import swaplab.mm.swapops as so
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


def test_pte_encodings_scalar_and_array_forms_agree():
    entries = [swp_entry(t, o) for t, o in ((0, 1), (3, 12345), (23, (1 << 40) + 7))]
    ptes = [0, so.mk_pte(5), so.mk_pte(1 << 30)] + [so.swp_entry_to_pte(e) for e in entries]
    arr = np.array(ptes, dtype=np.uint64)
    assert so.ptes_present(arr).tolist() == [so.pte_present(p) for p in ptes] == \
        [False, True, True, False, False, False]
    assert so.ptes_swap(arr).tolist() == [False, False, False, True, True, True]
    assert so.ptes_pfn(arr[1:3]).tolist() == [so.pte_pfn(p) for p in ptes[1:3]] == [5, 1 << 30]
    back = so.ptes_to_swp_entries(arr[3:])
    assert back.tolist() == [so.pte_to_swp_entry(p) for p in ptes[3:]] == entries
    assert so.swp_types(back).tolist() == [swp_type(e) for e in entries] == [0, 3, 23]
    assert so.swp_offsets(back).tolist() == [swp_offset(e) for e in entries]
