"""The virtual swap table's descriptor: where a virtual slot's data is
(the 8-byte, tag-encoded per-slot entry of the virtual swap layer; kernel-facts §10).

One uint64 a virtual slot. The low three bits are the tag; what the other
bits mean depends on it:

=================  ==============================================================
NONE               the slot is free
ZERO               the page was all zeroes: nothing is stored anywhere
FOLIO              the only copy is the folio in the swap cache
ZSWAP              zswap holds it (its entry is indexed by the virtual slot)
PHYS               a page on a physical area: type, offset
PHYS_COMPRESSED    a compressed blob on a physical area: type, offset of the page
                   the blob starts in, byte offset in that page (layout C packs
                   several blobs into a run of pages; layout A's is 0), compressed
                   length, the codec id of the zswap pool that made it, flags
=================  ==============================================================

Bit layout (low to high): tag 3, type 5 (MAX_SWAPFILES fits), physical
offset 26 (an area of up to 2**26 pages, 256 GiB, may back virtual slots),
compressed length 12 (0 < clen < PAGE_SIZE), byte offset 12, codec id 3
(eight pools with live blobs), flags 3. The ``vt_*`` helpers take and give
scalars; the ``vts_*`` forms work on uint64 arrays.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class VT(IntEnum):
    """Tags of a virtual slot's descriptor."""

    NONE = 0
    ZERO = 1
    FOLIO = 2
    ZSWAP = 3
    PHYS = 4
    PHYS_COMPRESSED = 5


_TAG_BITS, _TYPE_BITS, _OFF_BITS, _LEN_BITS, _BOFF_BITS, _CODEC_BITS = 3, 5, 26, 12, 12, 3
_TYPE_SHIFT = _TAG_BITS
_OFF_SHIFT = _TYPE_SHIFT + _TYPE_BITS
_LEN_SHIFT = _OFF_SHIFT + _OFF_BITS
_BOFF_SHIFT = _LEN_SHIFT + _LEN_BITS
_CODEC_SHIFT = _BOFF_SHIFT + _BOFF_BITS
_FLAGS_SHIFT = _CODEC_SHIFT + _CODEC_BITS

#: the largest physical area (pages) whose slots a descriptor can name
VT_MAX_PHYS_PAGES = 1 << _OFF_BITS
#: codec ids a PHYS_COMPRESSED descriptor can name (pools with live blobs)
VT_NR_CODECS = 1 << _CODEC_BITS


def vt_mk(tag: VT, type_: int = 0, offset: int = 0, clen: int = 0, boff: int = 0,
          codec: int = 0, flags: int = 0) -> int:
    """The descriptor of one slot."""
    return (int(tag) | type_ << _TYPE_SHIFT | offset << _OFF_SHIFT | clen << _LEN_SHIFT
            | boff << _BOFF_SHIFT | codec << _CODEC_SHIFT | flags << _FLAGS_SHIFT)


def vt_tag(v: int) -> VT:
    return VT(v & ((1 << _TAG_BITS) - 1))


def vt_phys(v: int) -> tuple[int, int]:
    """(type, offset) of a PHYS or PHYS_COMPRESSED descriptor."""
    return (v >> _TYPE_SHIFT) & ((1 << _TYPE_BITS) - 1), (v >> _OFF_SHIFT) & ((1 << _OFF_BITS)
                                                                              - 1)


def vt_blob(v: int) -> tuple[int, int, int]:
    """(compressed length, byte offset, codec id) of a PHYS_COMPRESSED descriptor."""
    return ((v >> _LEN_SHIFT) & ((1 << _LEN_BITS) - 1),
            (v >> _BOFF_SHIFT) & ((1 << _BOFF_BITS) - 1),
            (v >> _CODEC_SHIFT) & ((1 << _CODEC_BITS) - 1))


def vts_tag(v: np.ndarray) -> np.ndarray:
    """:func:`vt_tag` of every descriptor of a uint64 array (uint8 result)."""
    return (v & np.uint64((1 << _TAG_BITS) - 1)).astype(np.uint8)


def vts_phys(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`vt_phys` of every descriptor of a uint64 array (int64 results)."""
    t = (v >> np.uint64(_TYPE_SHIFT)) & np.uint64((1 << _TYPE_BITS) - 1)
    o = (v >> np.uint64(_OFF_SHIFT)) & np.uint64((1 << _OFF_BITS) - 1)
    return t.astype(np.int64), o.astype(np.int64)


def vts_mk_phys(type_: int, offsets: np.ndarray) -> np.ndarray:
    """PHYS descriptors of one area's ``offsets`` (uint64 result)."""
    return (np.uint64(int(VT.PHYS) | type_ << _TYPE_SHIFT)
            | (offsets.astype(np.uint64) << np.uint64(_OFF_SHIFT)))
