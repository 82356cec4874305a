"""The block layer: bios, block devices and their ops tables, two real disks."""

from .bio import Bio, ReqFlag, ReqOp, bio_endio, submit_bio, submit_bio_wait, submit_bios_wait
from .blkdev import BlkFeat, BlockDevice, BlockDeviceOperations
from .brd import RamDisk
from .filedisk import FileDisk
from .plug import blk_flush_plug, blk_plug

__all__ = [
    "Bio",
    "BlkFeat",
    "BlockDevice",
    "BlockDeviceOperations",
    "FileDisk",
    "RamDisk",
    "ReqFlag",
    "ReqOp",
    "bio_endio",
    "blk_flush_plug",
    "blk_plug",
    "submit_bio",
    "submit_bio_wait",
    "submit_bios_wait",
]
