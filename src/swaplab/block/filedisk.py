"""A disk over a real file (like drivers/block/loop.c with direct I/O).

Every bio becomes one ``preadv``/``pwritev`` on the file at ``sector * 512``;
as loop is a request-based driver, bios a thread submits under a plug that
follow one another on the disk arrive merged, as one transfer
(block/plug.py).
The file is opened with O_DIRECT where the filesystem allows it; where it
does not (tmpfs on older kernels, character devices) the disk falls back to
buffered I/O and says so in ``direct_io_fallback``. Buffers that are not
page-aligned go through an aligned bounce buffer under O_DIRECT.

Errors the file gives (EIO, ENOSPC, ...) end the bio with that errno; a
short transfer ends it with EIO, as loop does.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import stat
import threading

import numpy as np

from ..consts import PAGE_SIZE, SECTOR_SHIFT
from ..errors import kerror
from .bio import Bio, ReqOp, bio_endio
from .blkdev import BlkFeat, BlockDevice, BlockDeviceOperations

log = logging.getLogger(__name__)

LOOP_MAJOR = 7


def open_direct(path: str, flags: int, mode: int = 0o600, *,
                direct: bool = True) -> tuple[int, str | None]:
    """Open ``path`` with O_DIRECT where the filesystem allows it.

    Returns the descriptor and, when O_DIRECT was wanted but refused, the
    reason it fell back to buffered I/O (None otherwise).
    """
    flags |= getattr(os, "O_CLOEXEC", 0)
    reason = None
    if direct and hasattr(os, "O_DIRECT"):
        try:
            return os.open(path, flags | os.O_DIRECT, mode), None
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            reason = f"O_DIRECT refused ({e.strerror}); using buffered I/O"
    elif direct:
        reason = "O_DIRECT not available on this platform"
    return os.open(path, flags, mode), reason


def read_page_aligned(fd: int, offset: int) -> bytes:
    """Read one page at ``offset`` into a page-aligned buffer (safe under O_DIRECT)."""
    buf = mmap.mmap(-1, PAGE_SIZE)
    try:
        n = os.preadv(fd, [buf], offset)
        return bytes(buf[:n])
    finally:
        buf.close()


def _aligned(vecs: list[np.ndarray]) -> bool:
    """Whether O_DIRECT takes ``vecs`` as they are (page-aligned, whole sectors)."""
    return all(v.ctypes.data % PAGE_SIZE == 0 and v.nbytes % 512 == 0 for v in vecs)


class FileDisk:
    """Driver state of one file-backed disk; ``self.bdev`` is its block device."""

    def __init__(self, name: str, path: str | os.PathLike[str], size_bytes: int | None = None,
                 minor: int = 0, *, direct: bool = True, rotational: bool = False) -> None:
        self.path = os.fspath(path)
        fd, self.direct_io_fallback = open_direct(self.path, os.O_RDWR | os.O_CREAT,
                                                  direct=direct)
        self.direct_io = direct and self.direct_io_fallback is None
        if self.direct_io_fallback:
            log.info("%s: %s", self.path, self.direct_io_fallback)
        self.fd = fd
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            if size_bytes is None:
                size_bytes = st.st_size
            elif st.st_size < size_bytes:
                os.ftruncate(fd, size_bytes)
        elif size_bytes is None:
            os.close(fd)
            raise kerror(errno.EINVAL, f"{self.path} is not a regular file: give its size")
        if not size_bytes or size_bytes % PAGE_SIZE:
            os.close(fd)
            raise kerror(errno.EINVAL, f"disk size {size_bytes} of {self.path} must be a "
                         f"positive multiple of {PAGE_SIZE}")
        self._bounce_lock = threading.Lock()
        self._bounce = np.frombuffer(mmap.mmap(-1, 256 * PAGE_SIZE), dtype=np.uint8)
        features = BlkFeat.IO_STAT | (BlkFeat.ROTATIONAL if rotational else BlkFeat.NONE)
        self.bdev = BlockDevice(name, FILEDISK_FOPS, size_bytes, major=LOOP_MAJOR, minor=minor,
                                features=features, logical_block_size=512,
                                private_data=self)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _rw(self, bio: Bio) -> int:
        """Do the transfer; return 0 or a positive errno.

        Under O_DIRECT the buffers go to the file as they are; the kernel
        refuses buffers that are not aligned with EINVAL before it moves a
        byte, and only then does the transfer go through the bounce buffer
        (frames of the mem_map are page-aligned, so that is rare, and
        testing every buffer first cost more than the rare retry)."""
        pos = bio.sector << SECTOR_SHIFT
        vecs = bio.vecs
        want = bio.size
        try:
            if bio.op == ReqOp.READ:
                got = os.preadv(self.fd, vecs, pos)
            else:
                got = os.pwritev(self.fd, vecs, pos)
        except OSError as e:
            if e.errno != errno.EINVAL or not self.direct_io or _aligned(vecs):
                return e.errno or errno.EIO
            try:
                return self._rw_bounced(bio, pos, want)
            except OSError as e2:
                return e2.errno or errno.EIO
        return 0 if got == want else errno.EIO

    def _rw_bounced(self, bio: Bio, pos: int, want: int) -> int:
        with self._bounce_lock:
            done = 0
            step = self._bounce.nbytes
            flat = np.concatenate(bio.vecs) if bio.op != ReqOp.READ else None
            out = np.empty(want, dtype=np.uint8) if bio.op == ReqOp.READ else None
            while done < want:
                n = min(step, want - done)
                buf = self._bounce[:n]
                if bio.op == ReqOp.READ:
                    got = os.preadv(self.fd, [buf], pos + done)
                    out[done : done + got] = buf[:got]
                else:
                    buf[:] = flat[done : done + n]
                    got = os.pwritev(self.fd, [buf], pos + done)
                if got != n:
                    return errno.EIO
                done += n
            if out is not None:
                p = 0
                for v in bio.vecs:
                    v[:] = out[p : p + v.nbytes]
                    p += v.nbytes
        return 0


def _filedisk_submit_bio(bio: Bio) -> None:
    disk: FileDisk = bio.bdev.private_data
    if bio.op in (ReqOp.READ, ReqOp.WRITE):
        bio.status = disk._rw(bio)
    elif bio.op == ReqOp.FLUSH:
        try:
            os.fsync(disk.fd)
        except OSError as e:
            bio.status = e.errno or errno.EIO
    bio_endio(bio)


#: request-based, as the kernel's loop driver is (blk-mq): bios merge on a plug
FILEDISK_FOPS = BlockDeviceOperations(name="loop", submit_bio=_filedisk_submit_bio,
                                      request_based=True)
