"""A regular file's block map, from the FS_IOC_FIEMAP ioctl.

Swap files are mapped like generic_swapfile_activate does: page by page into
runs that are contiguous on the device, and a file with holes (unallocated or
delayed-allocation ranges) cannot be swap. Where the filesystem has no FIEMAP
(tmpfs, some network filesystems) the file is taken as one extent.
"""

from __future__ import annotations

import errno
import fcntl
import struct

from ..consts import PAGE_SHIFT, PAGE_SIZE

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_UNKNOWN = 0x2
FIEMAP_EXTENT_DELALLOC = 0x4
_HDR = struct.Struct("=QQIIII")
_EXT = struct.Struct("=QQQQQIIII")
_BATCH = 256


def _fiemap(fd: int, length: int) -> list[tuple[int, int, int, int]] | None:
    """(logical, physical, length, flags) for every extent, or None without FIEMAP."""
    out: list[tuple[int, int, int, int]] = []
    start = 0
    while start < length:
        buf = bytearray(_HDR.size + _BATCH * _EXT.size)
        _HDR.pack_into(buf, 0, start, length - start, FIEMAP_FLAG_SYNC, 0, _BATCH, 0)
        try:
            fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
        except OSError as e:
            if e.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
                return None
            raise
        mapped = _HDR.unpack_from(buf, 0)[3]
        if mapped == 0:
            break
        last = False
        for i in range(mapped):
            lg, ph, ln, _, _, fl, _, _, _ = _EXT.unpack_from(buf, _HDR.size + i * _EXT.size)
            out.append((lg, ph, ln, fl))
            last = bool(fl & FIEMAP_EXTENT_LAST)
        start = out[-1][0] + out[-1][2]
        if last:
            break
    return out


def file_extents(fd: int, length: int) -> tuple[list[tuple[int, int, int]], bool]:
    """Map the first ``length`` bytes of a file into swap extents.

    Returns ``([(start_page, nr_pages, start_block), ...], has_holes)``.
    Physically adjacent runs are merged; a run whose physical start is not
    page-aligned, a delayed or unknown extent, or a gap counts as a hole.
    """
    npages = length >> PAGE_SHIFT
    raw = _fiemap(fd, length)
    if raw is None:
        return [(0, npages, 0)], False
    exts: list[tuple[int, int, int]] = []
    covered = 0
    for lg, ph, ln, fl in raw:
        if fl & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC) or ph % PAGE_SIZE:
            return exts, True
        p0 = lg >> PAGE_SHIFT
        n = min((lg + ln) >> PAGE_SHIFT, npages) - p0
        if p0 != covered:
            return exts, True
        if n <= 0:
            continue
        blk = ph >> PAGE_SHIFT
        if exts and exts[-1][0] + exts[-1][1] == p0 and exts[-1][2] + exts[-1][1] == blk:
            s, m, b = exts[-1]
            exts[-1] = (s, m + n, b)
        else:
            exts.append((p0, n, blk))
        covered = p0 + n
        if covered >= npages:
            break
    return exts, covered < npages

