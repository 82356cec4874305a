"""What a swap backend reports about itself (one record type for all of them).

Every backend a System can swap to through a pool of its own — each zram
device, zswap — describes itself with a :class:`BackendStatistics`: the
figures a benchmark or a report compares across designs, and the backend's
own files verbatim. Readers (the bench, the workload engine, the CLI) take
``System.backend_statistics()`` instead of reaching into a driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackendStatistics:
    """One backend's state at the moment it was asked."""

    #: "zram0", "zswap", ...
    name: str
    #: the kind of backend: "zram", "zswap"
    kind: str
    #: pages it holds (in its pool, same-filled, or written back)
    stored_pages: int
    #: uncompressed bytes of what its pool holds in memory
    data_bytes: int
    #: compressed bytes of the same
    compressed_bytes: int
    #: memory its pool takes (zsmalloc pages)
    pool_bytes: int
    #: pages it keeps on a backing device (zram writeback)
    backing_pages: int = 0
    #: pages it has read back from that device
    backing_reads: int = 0
    #: its own files, as the kernel shows them (mm_stat, bd_stat, io_stat;
    #: zswap's debugfs values)
    files: Mapping[str, str | int] = field(default_factory=dict)
    #: the same files' columns by name ({"mm_stat": {"orig_data_size": ...}}):
    #: for reports, where an unlabelled row of numbers says nothing
    fields: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: pages it has written back to a backing device (zram's bd_writes, zswap's
    #: written_back_pages)
    written_back_pages: int = 0
    #: of those, how many it decompressed to write them
    writeback_decompressions: int = 0
    #: bytes of its own tables per slot it can hold (zram's slot table entry,
    #: zswap's per-slot entry arrays, the virtual swap descriptor)
    metadata_bytes_per_slot: float = 0.0
