"""A RAM disk (drivers/block/brd.c): sectors kept in an anonymous mapping.

Its memory is an mmap, so pages the disk never wrote cost nothing and read
as zeroes. It completes every bio inline. By default it is non-rotational;
``synchronous=True`` also sets BLK_FEAT_SYNCHRONOUS, which makes swapon mark
the area SWP_SYNCHRONOUS_IO (the zram-like path) for tests of that path.
"""

from __future__ import annotations

import mmap

import numpy as np

from ..consts import PAGE_SIZE, SECTOR_SHIFT
from .bio import Bio, ReqOp, bio_endio
from .blkdev import BlkFeat, BlockDevice, BlockDeviceOperations

RAMDISK_MAJOR = 1


class RamDisk:
    """Driver state of one RAM disk; ``self.bdev`` is its block device."""

    def __init__(self, name: str, size_bytes: int, minor: int = 0, *,
                 synchronous: bool = False) -> None:
        if size_bytes <= 0 or size_bytes % PAGE_SIZE:
            raise ValueError(f"RAM disk size {size_bytes} must be a positive multiple of "
                             f"{PAGE_SIZE}")
        self._map = mmap.mmap(-1, size_bytes)
        self.store = np.frombuffer(self._map, dtype=np.uint8)
        features = BlkFeat.IO_STAT | (BlkFeat.SYNCHRONOUS if synchronous else BlkFeat.NONE)
        self.bdev = BlockDevice(name, BRD_FOPS, size_bytes, major=RAMDISK_MAJOR, minor=minor,
                                features=features, logical_block_size=512,
                                max_discard_sectors=size_bytes >> SECTOR_SHIFT,
                                private_data=self)


def _brd_submit_bio(bio: Bio) -> None:
    brd: RamDisk = bio.bdev.private_data
    pos = bio.sector << SECTOR_SHIFT
    if bio.op == ReqOp.READ:
        for v in bio.vecs:
            n = v.nbytes
            v[:] = brd.store[pos : pos + n]
            pos += n
    elif bio.op == ReqOp.WRITE:
        for v in bio.vecs:
            n = v.nbytes
            brd.store[pos : pos + n] = v
            pos += n
    elif bio.op in (ReqOp.DISCARD, ReqOp.WRITE_ZEROES):
        brd.store[pos : pos + bio.size] = 0
    bio_endio(bio)


BRD_FOPS = BlockDeviceOperations(name="brd", submit_bio=_brd_submit_bio)
