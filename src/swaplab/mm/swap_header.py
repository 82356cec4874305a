"""The on-disk swap header (include/linux/swap.h ``union swap_header``).

Page 0 of every swap area: 1024 boot bytes, then ``version``,
``last_page``, ``nr_badpages`` (u32 each, native endian), a 16-byte UUID, a
16-byte volume label, padding, the bad-page list, and the magic
``SWAPSPACE2`` in the last 10 bytes of the page. :func:`build_swap_header`
produces the page util-linux mkswap writes (boot bytes zeroed), byte for byte.
"""

from __future__ import annotations

import errno
import struct
import uuid as uuidlib
from dataclasses import dataclass

from ..consts import PAGE_SIZE
from ..errors import kerror

SWAP_MAGIC = b"SWAPSPACE2"
SWAP_HEADER_INFO_OFFSET = 1024
_INFO = struct.Struct("=III16s16s")
BADPAGES_OFFSET = SWAP_HEADER_INFO_OFFSET + _INFO.size + 117 * 4
#: How many bad pages fit between the list start and the magic (637).
MAX_SWAP_BADPAGES = (PAGE_SIZE - len(SWAP_MAGIC) - BADPAGES_OFFSET) // 4
#: util-linux refuses areas smaller than this many pages.
MIN_SWAP_PAGES = 10


@dataclass(frozen=True)
class SwapHeader:
    """The fields swapon reads from page 0."""

    version: int
    last_page: int
    nr_badpages: int
    uuid: uuidlib.UUID
    label: str
    badpages: tuple[int, ...]


def build_swap_header(nr_pages: int, *, uuid: uuidlib.UUID | str | None = None,
                      label: str | None = None, badpages: tuple[int, ...] = ()) -> bytes:
    """Return page 0 of a swap area of ``nr_pages`` pages as mkswap writes it.

    Raises EINVAL (as mkswap refuses) for fewer than 10 pages, a label longer
    than 16 bytes is cut to 16 like mkswap does, and too many bad pages.
    """
    if nr_pages < MIN_SWAP_PAGES:
        raise kerror(errno.EINVAL, f"swap space needs to be at least "
                     f"{MIN_SWAP_PAGES * PAGE_SIZE // 1024} KiB, not {nr_pages} pages")
    if len(badpages) > MAX_SWAP_BADPAGES:
        raise kerror(errno.EINVAL, f"{len(badpages)} bad pages is more than "
                     f"{MAX_SWAP_BADPAGES}")
    u = uuidlib.uuid4() if uuid is None else uuidlib.UUID(str(uuid))
    vol = (label or "").encode()[:16]
    page = bytearray(PAGE_SIZE)
    _INFO.pack_into(page, SWAP_HEADER_INFO_OFFSET, 1, nr_pages - 1, len(badpages), u.bytes,
                    vol.ljust(16, b"\0"))
    for i, bad in enumerate(badpages):
        struct.pack_into("=I", page, BADPAGES_OFFSET + 4 * i, bad)
    page[PAGE_SIZE - len(SWAP_MAGIC) :] = SWAP_MAGIC
    return bytes(page)


def parse_swap_header(page: bytes, where: str = "swap area") -> SwapHeader:
    """Read page 0 the way sys_swapon does; EINVAL with the kernel's reason if bad."""
    if len(page) < PAGE_SIZE or page[PAGE_SIZE - len(SWAP_MAGIC) : PAGE_SIZE] != SWAP_MAGIC:
        raise kerror(errno.EINVAL, f"{where}: Unable to find swap-space signature")
    version, last_page, nr_bad, u, vol = _INFO.unpack_from(page, SWAP_HEADER_INFO_OFFSET)
    if version != 1:
        raise kerror(errno.EINVAL, f"{where}: Unable to handle swap header version {version}")
    if nr_bad > MAX_SWAP_BADPAGES:
        raise kerror(errno.EINVAL, f"{where}: {nr_bad} bad pages is more than "
                     f"{MAX_SWAP_BADPAGES}")
    bad = struct.unpack_from(f"={nr_bad}I", page, BADPAGES_OFFSET)
    return SwapHeader(version, last_page, nr_bad, uuidlib.UUID(bytes=u),
                      vol.rstrip(b"\0").decode(errors="replace"), tuple(bad))
