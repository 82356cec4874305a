"""Per-thread plugging: bios held and merged before the driver sees them
(blk_start_plug / blk_finish_plug, block/blk-core.c and blk-mq.c).

A thread that plugs (``with blk_plug():``) keeps the read and write bios it
submits to a request-based device (a table with ``request_based``: the
file-backed disk, like the kernel's loop driver on blk-mq) on its plug instead
of dispatching them. A bio that starts where the last held request of the same
device, operation and flags ends is merged into it (a back merge; the device's
``read_merges`` / ``write_merges`` count it), up to :data:`MAX_SECTORS` and
:data:`MAX_SEGMENTS`. The plug is flushed, each request going to the driver
as one bio, when it holds :data:`BLK_MAX_REQUEST_COUNT` requests, when the
thread is about to sleep on I/O (:func:`blk_flush_plug`, called by
``submit_bio_wait`` as schedule() would), and when the plug ends. Bio-based
drivers (zram, the RAM disk) never see a plug: as in the kernel, their bios
go straight to ``submit_bio``.

When a merged request ends, every bio in it ends with the request's status,
each through its own ``end_io``; the device counts one I/O for the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .bio import Bio, ReqOp, bio_endio, blk_flush_plug, current

if TYPE_CHECKING:
    from .blkdev import BlockDevice

#: requests a plug holds before it is flushed (BLK_MAX_REQUEST_COUNT)
BLK_MAX_REQUEST_COUNT = 32
#: largest merged request, in sectors (BLK_DEF_MAX_SECTORS_CAP: 1280 KiB)
MAX_SECTORS = 2560
#: most segments in a merged request (BLK_MAX_SEGMENTS)
MAX_SEGMENTS = 128

_MERGEABLE = (ReqOp.READ, ReqOp.WRITE)
__all__ = ["BLK_MAX_REQUEST_COUNT", "BlkPlug", "blk_flush_plug", "blk_plug", "current_plug"]


class _Request:
    """Bios merged back to back: one transfer for the driver."""

    __slots__ = ("bdev", "bios", "end", "flags", "op", "sector", "segments")

    def __init__(self, bio: Bio) -> None:
        self.bdev = bio.bdev
        self.op = bio.op
        self.flags = bio.flags
        self.sector = bio.sector
        self.end = bio.sector + bio.nr_sectors
        self.segments = len(bio.vecs)
        self.bios = [bio]

    def back_merge(self, bio: Bio) -> bool:
        """Append ``bio`` if it continues this request; True when it did."""
        if (bio.bdev is not self.bdev or bio.op != self.op or bio.flags != self.flags
                or bio.sector != self.end
                or self.end + bio.nr_sectors - self.sector > MAX_SECTORS
                or self.segments + len(bio.vecs) > MAX_SEGMENTS):
            return False
        self.bios.append(bio)
        self.end += bio.nr_sectors
        self.segments += len(bio.vecs)
        return True

    def dispatch(self) -> None:
        """Send the request to its device: the bio itself when nothing was merged
        into it, else one bio over all segments that ends every bio in it."""
        bios = self.bios
        if len(bios) == 1:
            self.bdev.dispatch_bio(bios[0])
            return
        vecs = [v for b in bios for v in b.vecs]
        self.bdev.dispatch_bio(Bio(self.bdev, self.op, self.sector, vecs, flags=self.flags,
                                   end_io=_request_endio, private=bios))


def _request_endio(rq: Bio) -> None:
    for bio in rq.private:
        bio.status = rq.status
        bio_endio(bio)


class BlkPlug:
    """``struct blk_plug``: the requests a thread holds."""

    __slots__ = ("requests",)

    def __init__(self) -> None:
        self.requests: list[_Request] = []

    def add(self, bio: Bio) -> None:
        """Hold ``bio``: merged into the last request when it continues it
        (counted as a merge by its device), else a request of its own;
        a full plug is flushed first."""
        rqs = self.requests
        if rqs and rqs[-1].back_merge(bio):
            bio.bdev.count_merge(bio.op)
            return
        if len(rqs) >= BLK_MAX_REQUEST_COUNT:
            self.flush()
        self.requests.append(_Request(bio))

    def flush(self) -> None:
        """Dispatch every held request, oldest first."""
        rqs, self.requests = self.requests, []
        for rq in rqs:
            rq.dispatch()


def current_plug(bdev: BlockDevice, bio: Bio) -> BlkPlug | None:
    """The calling thread's plug if ``bio`` may wait on it: a read or write to a
    request-based device while the thread plugs; else None."""
    plug = getattr(current, "plug", None)
    if plug is None or not bdev.fops.request_based or bio.op not in _MERGEABLE:
        return None
    return plug


@contextmanager
def blk_plug() -> Iterator[BlkPlug | None]:
    """blk_start_plug ... blk_finish_plug around the block; a nested plug is
    the outer one (the kernel ignores a second blk_start_plug)."""
    if getattr(current, "plug", None) is not None:
        yield None
        return
    plug = BlkPlug()
    current.plug = plug
    try:
        yield plug
    finally:
        current.plug = None
        plug.flush()
