"""The block layer: bios, block devices and their ops tables, two real disks."""

from .bio import Bio, ReqFlag, ReqOp, bio_endio, submit_bio, submit_bio_wait
from .blkdev import BlkFeat, BlockDevice, BlockDeviceOperations
from .brd import RamDisk
from .filedisk import FileDisk

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
    "submit_bio",
    "submit_bio_wait",
]
