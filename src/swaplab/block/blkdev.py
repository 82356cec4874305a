"""Block devices and their ops table (include/linux/blkdev.h).

A driver provides one :class:`BlockDeviceOperations` table shared by all its
devices (like ``static const struct block_device_operations brd_fops``); the
swap core keys driver registrations on that table's identity. Besides
``submit_bio`` a table may offer:

- ``swap_activate(sis) -> int``: called at swapon before anything else is
  tried; returns 0 after installing ``sis.ops`` and ``sis.private_data``, or
  a negative errno to fail swapon, or ``-ENOTSUPP`` ("not for me, use the
  other ways");
- ``swap_deactivate(sis)``: called at swapoff;
- ``swap_slot_free_notify(bdev, offset)``: the notification used
  when an area runs on the old per-page bio path.

Accounting follows /sys/block/<dev>/stat (Documentation/block/stat.rst): a
bio is counted when it ends, in I/Os, sectors and milliseconds.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag
from typing import TYPE_CHECKING, Any

import numpy as np

from ..consts import PAGE_SIZE, SECTOR_SHIFT
from ..errors import kerror
from .bio import Bio, ReqOp, bio_endio, submit_bio_wait
from .plug import current_plug

if TYPE_CHECKING:
    from ..faults import FaultInjector
    from ..mm.swapfile import SwapInfo

#: Largest bio the pread/pwrite path builds (BIO_MAX_VECS pages: 1 MiB).
BIO_MAX_VECS = 256


class BlkFeat(IntFlag):
    """Queue features (BLK_FEAT_*)."""

    NONE = 0
    WRITE_CACHE = 1 << 0
    FUA = 1 << 1
    ROTATIONAL = 1 << 2
    IO_STAT = 1 << 4
    STABLE_WRITES = 1 << 5
    SYNCHRONOUS = 1 << 6


@dataclass(frozen=True, eq=False)
class BlockDeviceOperations:
    """A driver's ops table; compared by identity."""

    name: str
    submit_bio: Callable[[Bio], None]
    swap_activate: Callable[[SwapInfo], int] | None = None
    swap_deactivate: Callable[[SwapInfo], None] | None = None
    swap_slot_free_notify: Callable[[BlockDevice, int], None] | None = None
    #: whether the driver accounts discard bios in the stat file (a bio-based
    #: driver does its own accounting; zram's covers only reads and writes)
    io_acct_discard: bool = True
    #: a request-based (blk-mq) driver: bios reach it as requests, merged on
    #: the submitting thread's plug (block/plug.py); a bio-based one (zram,
    #: brd) gets every bio as it is submitted
    request_based: bool = False


# Field order of /sys/block/<dev>/stat.
_STAT_FIELDS = ("read_ios", "read_merges", "read_sectors", "read_ticks",
                "write_ios", "write_merges", "write_sectors", "write_ticks",
                "in_flight", "io_ticks", "time_in_queue",
                "discard_ios", "discard_merges", "discard_sectors", "discard_ticks",
                "flush_ios", "flush_ticks")
_DISCARD = ReqOp.DISCARD
_U8 = np.dtype(np.uint8)
_monotonic_ns = time.monotonic_ns
_OP_COLS = {ReqOp.READ: (0, 2, 3), ReqOp.WRITE: (4, 6, 7), ReqOp.DISCARD: (11, 13, 14),
            ReqOp.WRITE_ZEROES: (4, 6, 7), ReqOp.FLUSH: (15, None, 16)}


def _bytes(buf: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """``buf`` as a flat uint8 array over the same memory (a contiguous one as is)."""
    if type(buf) is np.ndarray and buf.dtype is _U8 and buf.ndim == 1 and buf.strides[0] == 1:
        return buf
    return np.frombuffer(memoryview(buf).cast("B"), dtype=np.uint8)


class BlockDevice:
    """One gendisk: name, size, queue features, driver ops and I/O accounting."""

    def __init__(
        self,
        name: str,
        fops: BlockDeviceOperations,
        capacity_bytes: int,
        *,
        major: int,
        minor: int,
        features: BlkFeat = BlkFeat.IO_STAT,
        logical_block_size: int = 512,
        max_discard_sectors: int = 0,
        private_data: Any = None,
    ) -> None:
        self.name = name
        self.fops = fops
        #: the owning System's failure points (set by add_disk)
        self.faults: FaultInjector | None = None
        self.major = major
        self.minor = minor
        self._io_stat = False
        self.features = features
        self.logical_block_size = logical_block_size
        self.max_discard_sectors = max_discard_sectors
        self.private_data = private_data
        self.nr_sectors = capacity_bytes >> SECTOR_SHIFT
        self.holder: object | None = None
        self.open_count = 0
        self._stat = [0] * len(_STAT_FIELDS)  # a list: a few scalar updates per bio
        self._stat_lock = threading.Lock()

    @property
    def features(self) -> BlkFeat:
        """Queue features; drivers may change them (zram sets SYNCHRONOUS)."""
        return self._features

    @features.setter
    def features(self, value: BlkFeat) -> None:
        self._features = value
        self._io_stat = bool(value & BlkFeat.IO_STAT)  # read on every bio

    # --- identity and capacity ----------------------------------------------------------
    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    @property
    def capacity(self) -> int:
        """Size in bytes."""
        return self.nr_sectors << SECTOR_SHIFT

    def set_capacity(self, nbytes: int) -> None:
        self.nr_sectors = nbytes >> SECTOR_SHIFT

    def __repr__(self) -> str:
        return f"BlockDevice({self.name} {self.major}:{self.minor} {self.capacity} bytes)"

    # --- exclusive claim (swapon opens the device exclusively) --------------------------
    def claim(self, holder: object) -> None:
        """Open exclusively for ``holder``; EBUSY when someone else holds it."""
        if self.holder is not None:
            raise kerror(errno.EBUSY, f"{self.path} is already in use")
        self.holder = holder
        self.open_count += 1

    def release(self, holder: object) -> None:
        if self.holder is holder:
            self.holder = None
            self.open_count -= 1

    # --- I/O submission and accounting --------------------------------------------------
    def submit_bio(self, bio: Bio) -> None:
        """Check the bio against the device, start accounting, call the driver.

        A bio reaching past the end of the device ends at once with EIO, as
        the block layer's bio_check_eod does.
        """
        if bio.sector + bio.nr_sectors > self.nr_sectors:
            bio.status = errno.EIO
            bio_endio(bio)
            return
        if self.fops.request_based:
            plug = current_plug(self, bio)
            if plug is not None:
                plug.add(bio)
                return
        self.dispatch_bio(bio)

    def dispatch_bio(self, bio: Bio) -> None:
        """Start accounting a bio (or a merged request) and hand it to the driver,
        through the armed failure points."""
        if self._io_stat and (bio.op != _DISCARD or self.fops.io_acct_discard):
            bio.start_ns = _monotonic_ns()
            lock = self._stat_lock  # acquire/release: half the cost of `with` here
            lock.acquire()
            self._stat[8] += 1
            lock.release()
        faults = self.faults
        if faults is not None and faults.armed and bio.op in (ReqOp.READ, ReqOp.WRITE):
            self._submit_faulty(bio, faults)
            return
        self.fops.submit_bio(bio)

    def count_merge(self, op: ReqOp) -> None:
        """A bio was merged into a request: the stat file's read/write merges."""
        if self._io_stat:
            with self._stat_lock:
                self._stat[1 if op == ReqOp.READ else 5] += 1

    def _submit_faulty(self, bio: Bio, faults: FaultInjector) -> None:
        """submit_bio with the disk.* failure points (swaplab/faults.py) armed."""
        rd = bio.op == ReqOp.READ
        kind = "read" if rd else "write"
        if faults.hit(f"disk.{kind}.eio", self.name):
            bio.status = errno.EIO
            bio_endio(bio)
            return
        if not rd and faults.hit("disk.write.enospc", self.name):
            bio.status = errno.ENOSPC
            bio_endio(bio)
            return
        if faults.hit(f"disk.{kind}.short", self.name):
            # the first half of the bio is transferred, then the request fails
            want = bio.size // 2 // PAGE_SIZE * PAGE_SIZE
            vecs, got = [], 0
            for v in bio.vecs:
                if got >= want:
                    break
                vecs.append(v[: min(v.nbytes, want - got)])
                got += vecs[-1].nbytes
            if vecs:
                part = Bio(self, bio.op, bio.sector, vecs, flags=bio.flags)
                done = threading.Event()
                part.end_io = lambda _b: done.set()
                self.fops.submit_bio(part)
                done.wait()
            bio.status = errno.EIO
            bio_endio(bio)
            return
        self.fops.submit_bio(bio)

    def _account_done(self, bio: Bio) -> None:
        start = bio.start_ns
        if not start:
            return
        bio.start_ns = 0
        ms = (_monotonic_ns() - start) // 1_000_000
        ios, sectors, ticks = _OP_COLS[bio.op]
        st = self._stat
        lock = self._stat_lock
        lock.acquire()
        st[8] -= 1
        st[ios] += 1
        if sectors is not None:
            st[sectors] += bio.nr_sectors
        st[ticks] += ms
        st[9] += ms
        st[10] += ms
        lock.release()

    def stat(self) -> dict[str, int]:
        """The /sys/block/<dev>/stat fields by name."""
        with self._stat_lock:
            return dict(zip(_STAT_FIELDS, (int(v) for v in self._stat), strict=True))

    def stat_text(self) -> str:
        """/sys/block/<dev>/stat exactly as the kernel prints it."""
        return " ".join(f"{v:8d}" for v in self.stat().values()) + "\n"

    def reset_stat(self) -> None:
        with self._stat_lock:
            self._stat = [0] * len(_STAT_FIELDS)

    # --- what writing to /dev/<name> does -----------------------------------------------
    def _check_direct(self, offset: int, length: int) -> None:
        lbs = self.logical_block_size
        if offset % lbs or length % lbs:
            raise kerror(errno.EINVAL, f"{self.path}: offset {offset} and length {length} "
                         f"must be multiples of the logical block size {lbs}")

    def _bios(self, op: ReqOp, buf: np.ndarray, offset: int) -> None:
        """Cut ``buf`` into bios of at most 1 MiB (BIO_MAX_VECS pages), each one
        multi-page segment when it starts on a page boundary (else split at
        page boundaries); submit each and wait for it."""
        pos = 0
        n = buf.nbytes
        while pos < n:
            start = offset + pos
            end = min(n, pos + BIO_MAX_VECS * PAGE_SIZE)
            if not start % PAGE_SIZE:
                vecs = [buf[pos:end] if pos or end < n else buf]
            else:
                vecs = []
                p = pos
                while p < end:
                    seg = min(end - p, PAGE_SIZE - ((offset + p) % PAGE_SIZE))
                    vecs.append(buf[p : p + seg])
                    p += seg
            bio = Bio(self, op, start >> SECTOR_SHIFT, vecs,
                      nr_sectors=(end - pos) >> SECTOR_SHIFT)
            ret = submit_bio_wait(bio)
            if ret:
                raise kerror(-ret, f"{op.name.lower()} of {self.path} at byte {start} failed")
            pos = end

    def pwrite(self, buf: bytes | bytearray | memoryview | np.ndarray, offset: int) -> int:
        """Write ``buf`` at byte ``offset`` like pwrite(2) on /dev/<name> with O_DIRECT.

        Offset and length must be multiples of the logical block size (EINVAL);
        writing at or past the end is ENOSPC; a write reaching past the end is
        shortened. Returns the bytes written.
        """
        data = _bytes(buf)
        self._check_direct(offset, data.nbytes)
        if data.nbytes == 0:
            return 0
        if offset >= self.capacity:
            raise kerror(errno.ENOSPC, f"{self.path}: write at {offset} is past the end "
                         f"({self.capacity} bytes)")
        data = data[: self.capacity - offset]
        self._bios(ReqOp.WRITE, data, offset)
        return data.nbytes

    def pread(self, length: int, offset: int) -> bytes:
        """Read ``length`` bytes at byte ``offset`` like pread(2) with O_DIRECT.

        Reads past the end are shortened (empty at or after the end).
        """
        if length < 0:
            raise kerror(errno.EINVAL, f"{self.path}: negative length {length}")
        out = bytearray(max(0, min(length, self.capacity - max(offset, 0))))
        n = self.preadinto(out, offset)
        return bytes(out[:n])

    def preadinto(self, buf: bytearray | memoryview | np.ndarray, offset: int) -> int:
        """preadv(2) with O_DIRECT into the caller's ``buf``: read ``len(buf)``
        bytes at byte ``offset`` (shortened at the end of the device) straight
        into it; returns the bytes read."""
        data = _bytes(buf)
        if offset < 0:
            raise kerror(errno.EINVAL, f"{self.path}: negative offset {offset}")
        self._check_direct(offset, data.nbytes)
        length = max(0, min(data.nbytes, self.capacity - offset))
        if length:
            self._bios(ReqOp.READ, data if length == data.nbytes else data[:length], offset)
        return length

    def discard(self, offset: int, length: int) -> None:
        """BLKDISCARD: ask the driver to drop a byte range."""
        self._check_direct(offset, length)
        if not self.max_discard_sectors:
            raise kerror(errno.EOPNOTSUPP, f"{self.path} does not support discard")
        bio = Bio(self, ReqOp.DISCARD, offset >> SECTOR_SHIFT, nr_sectors=length >> SECTOR_SHIFT)
        ret = submit_bio_wait(bio)
        if ret:
            raise kerror(-ret, f"discard of {self.path} at byte {offset} failed")
