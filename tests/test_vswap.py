"""Virtual swap entries, zswap under them, and compressed writeback
(mm/vswap.py; kernel-facts §10): the design's own test plan."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from swaplab import System
from swaplab.consts import PAGE_SIZE
from swaplab.mm.vswap_table import (
    VT,
    VT_NR_CODECS,
    vt_blob,
    vt_mk,
    vt_phys,
    vt_tag,
    vts_mk_phys,
    vts_phys,
    vts_tag,
)
from swaplab.mm.zswap import Zswap
from swaplab.workload.corpus import corpus_pages

N = 512


def _machine(tmp_path, *, zswap=True, cwb=False, layout="A", memory="64M",
             swapin="swap-table"):
    s = System(memory, swapin=swapin)
    disk = s.add_filedisk(tmp_path / "disk.img", 16 << 20)
    s.mkswap(disk)
    s.swapon(disk)
    if zswap:
        z = Zswap(s, "lz4", enabled=True)
        z.max_pool_percent = 100
    ghost = s.swapon_virtual(disk, compressed_writeback=cwb, layout=layout)
    return s, disk, ghost


def _swapped_out(s, n=N, seed=3, memcg=None):
    pages = corpus_pages("sample", n, seed=seed, zero=0.05)
    pages[7] = np.random.default_rng(seed).integers(0, 256, PAGE_SIZE, dtype=np.uint8)
    mm = s.create_mm(n, memcg=memcg)
    mm.populate(0, pages)
    assert mm.pageout() == n
    return mm, pages


def _read_all(mm, pages):
    for v in range(len(pages)):
        assert mm.read(v) == pages[v].tobytes(), f"page {v} differs"


def _phys_in_use(s):
    return s.swap.vswap.physical.inuse_pages


def test_descriptor_encoding_round_trips():
    v = vt_mk(VT.PHYS_COMPRESSED, 5, (1 << 26) - 1, 4095, 4095, VT_NR_CODECS - 1, 7)
    assert vt_tag(v) == VT.PHYS_COMPRESSED
    assert vt_phys(v) == (5, (1 << 26) - 1)
    assert vt_blob(v) == (4095, 4095, VT_NR_CODECS - 1)
    assert v < 1 << 64
    offs = np.array([1, 2, 1000, (1 << 26) - 1])
    arr = vts_mk_phys(3, offs)
    assert (vts_tag(arr) == VT.PHYS).all()
    t, o = vts_phys(arr)
    assert (t == 3).all() and (o == offs).all()


def test_pages_take_virtual_entries_and_only_zswap_holds_them(tmp_path):
    s, disk, ghost = _machine(tmp_path)
    with s:
        mm, pages = _swapped_out(s)
        entries = mm.ptes[mm.ptes != 0] >> np.uint64(1)
        assert ((entries >> np.uint64(58)) == ghost.type).all()  # every PTE is virtual
        vs = s.swap.vswap
        c = vs.counts()
        nzero = int((~pages.any(axis=1)).sum())
        assert c["slots_zero"] == nzero
        assert c["slots_zswap"] == N - nzero == s.zswap.stored_pages
        assert _phys_in_use(s) == 0  # nothing physical until writeback
        assert disk.stat()["write_ios"] == 1  # mkswap's header, nothing else
        _read_all(mm, pages)
        assert vs.counts()["slots_none"] == ghost.max  # every virtual slot freed on swap-in


@pytest.mark.parametrize("cwb", [False, True], ids=["raw", "compressed"])
def test_writeback_moves_only_the_descriptor_and_every_page_comes_back(tmp_path, cwb):
    s, disk, _ghost = _machine(tmp_path, cwb=cwb)
    with s:
        mm, pages = _swapped_out(s)
        ptes = mm.ptes.copy()
        z = s.zswap
        stored = z.stored_pages
        raw = z.debugfs()["stored_incompressible_pages"]
        assert raw >= 1  # the random page at least
        w0 = disk.stat()["write_ios"]
        assert z.writeback_all() == stored
        writes = disk.stat()["write_ios"] - w0
        assert z.stored_pages == 0
        assert (mm.ptes == ptes).all()  # page tables keep the virtual entries
        c = s.swap.vswap.counts()
        assert c["slots_phys"] + c["slots_phys_compressed"] == stored
        assert _phys_in_use(s) == stored
        d = z.debugfs()
        assert d["written_back_pages"] == stored == s.vmstat["zswpwb"]
        if cwb:
            assert d["writeback_decompressions"] == 0
            assert d["written_back_compressed_pages"] == c["slots_phys_compressed"] > 0
            assert c["slots_phys"] == raw  # pages stored raw go out raw
        else:
            assert d["writeback_decompressions"] == stored
            assert c["slots_phys_compressed"] == 0
            # written 32 entries a batch, one bio per run of neighbouring slots
            assert writes <= 2 * -(-stored // 32)
        reads0 = disk.stat()["read_ios"]
        _read_all(mm, pages)
        assert disk.stat()["read_ios"] - reads0 == stored  # one backing read a fault
        assert _phys_in_use(s) == 0
        if cwb:
            assert z.debugfs()["compressed_blob_reads"] == stored - raw


@pytest.mark.parametrize("layout", ["A", "C"])
def test_compressed_writeback_writes_fewer_bytes(tmp_path, layout):
    written = {}
    for cwb in (False, True):
        where = tmp_path / ("cwb" if cwb else "raw")
        where.mkdir()
        s, disk, _ = _machine(where, cwb=cwb, layout=layout)
        with s:
            mm, pages = _swapped_out(s)
            before = disk.stat()["write_sectors"]
            s.zswap.writeback_all()
            written[cwb] = disk.stat()["write_sectors"] - before
            _read_all(mm, pages)
    # the sample corpus compresses about 2:1 with lz4: blobs rounded to a
    # sector (A) or packed end to end (C) take well under the raw pages
    assert written[True] < 0.7 * written[False]
    if layout == "C":
        assert written[True] < 0.62 * written[False]


def test_layout_a_gives_each_blob_a_slot_and_writes_its_blocks_only(tmp_path):
    s, disk, _ = _machine(tmp_path, cwb=True, layout="A")
    with s:
        mm, pages = _swapped_out(s)
        tree = s.zswap.trees[s.swap.vswap.ghost.type]
        lengths = tree.length[tree.handle != 0]
        blob_lengths = lengths[lengths < PAGE_SIZE]
        raw = int((lengths == PAGE_SIZE).sum())
        w0, s0 = disk.stat()["write_ios"], disk.stat()["write_sectors"]
        assert s.zswap.writeback_all() == len(lengths)
        vt = s.swap.vswap.vtable
        blobs = vt[vts_tag(vt) == VT.PHYS_COMPRESSED]
        places = [vt_blob(int(v)) for v in blobs]
        slots = [vt_phys(int(v))[1] for v in blobs]
        assert len(set(slots)) == len(blobs) == len(blob_lengths)  # a slot of its own
        assert all(boff == 0 for _, boff, _ in places)  # at its start
        assert sorted(c for c, _, _ in places) == sorted(blob_lengths.tolist())
        # each blob's used 512-byte blocks and the raw pages' sectors, nothing more
        sectors = sum(-(-int(n) // 512) for n in blob_lengths) + raw * (PAGE_SIZE // 512)
        assert disk.stat()["write_sectors"] - s0 == sectors
        assert disk.stat()["write_ios"] - w0 >= len(blob_lengths) // 2  # not one big write
        _read_all(mm, pages)


def test_packed_blobs_share_pages_and_free_them_when_the_last_goes(tmp_path):
    s, _disk, _ = _machine(tmp_path, cwb=True, layout="C")
    with s:
        mm, pages = _swapped_out(s)
        stored = s.zswap.stored_pages
        s.zswap.writeback_all()
        blobs = s.swap.vswap.counts()["slots_phys_compressed"]
        assert _phys_in_use(s) < blobs  # several blobs a page
        # free every other page's entry (munmap): shared pages stay until their last blob
        for v in range(0, N, 2):
            mm.zap(v, v + 1)
        assert 0 < _phys_in_use(s) <= stored
        for v in range(1, N, 2):
            assert mm.read(v) == pages[v].tobytes()
        assert _phys_in_use(s) == 0
        assert s.swap.vswap.counts()["slots_none"] == s.swap.vswap.ghost.max


@pytest.mark.parametrize("layout", ["A", "C"])
def test_swapoff_of_the_physical_area_brings_every_blob_back(tmp_path, layout):
    s, disk, _ghost = _machine(tmp_path, cwb=True, layout=layout)
    with s:
        mm, pages = _swapped_out(s)
        s.zswap.writeback_all()
        s.zswap.set_compressor("lzo")  # the blobs' pool is no longer current: it stays
        s.swapoff(disk)
        c = s.swap.vswap.counts()
        assert c["slots_phys"] == c["slots_phys_compressed"] == 0
        assert c["slots_folio"] == N - c["slots_zero"]
        assert s.swap.vswap.physical.inuse_pages == 0
        assert len(s.zswap.pools) == 1  # the old pool went with its last blob
        _read_all(mm, pages)
        # the layer goes on without a physical area: zswap takes the pages again
        assert mm.pageout() == N
        assert s.zswap.stored_pages == N - c["slots_zero"]
        _read_all(mm, pages)


def test_a_blob_that_cannot_be_written_falls_back_to_decompress_and_write(tmp_path):
    s, disk, _ = _machine(tmp_path, cwb=True)
    with s:
        mm, pages = _swapped_out(s)
        stored = s.zswap.stored_pages
        raw = s.zswap.debugfs()["stored_incompressible_pages"]
        # the first write of the first batch: a blob's (a batch writes its blobs first)
        s.faults.arm("disk.write.eio", target=disk.name, times=1)
        assert s.zswap.writeback_all() == stored
        d = s.zswap.debugfs()
        assert d["compressed_writeback_fallback"] == 1
        assert d["writeback_decompressions"] == 1  # the fallback's, and only it
        c = s.swap.vswap.counts()
        assert c["slots_phys"] == raw + 1  # the raw pages and the fallback's page
        assert _phys_in_use(s) == stored  # the failed blob's slot was given back
        _read_all(mm, pages)


def test_a_failed_page_write_keeps_the_page_in_memory(tmp_path):
    s, disk, _ = _machine(tmp_path, zswap=False)
    with s:
        pages = corpus_pages("sample", 64, seed=1)
        mm = s.create_mm(64)
        mm.populate(0, pages)
        # the first write of the first batch: a blob's (a batch writes its blobs first)
        s.faults.arm("disk.write.eio", target=disk.name, times=1)
        freed = mm.pageout()
        # the failed batch's pages stay in memory: dirty swap-cache folios, the
        # only copy (FOLIO), holding no physical slot
        assert freed == 32 and s.vmstat["nr_swapcached"] == 32
        c = s.swap.vswap.counts()
        assert c["slots_folio"] == 32 and c["slots_phys"] == freed == _phys_in_use(s)
        _read_all(mm, pages)


@pytest.mark.parametrize("cwb", [False, True], ids=["raw", "compressed"])
def test_a_cgroup_is_charged_for_physical_slots_only(tmp_path, cwb):
    s, _disk, _ = _machine(tmp_path, cwb=cwb)
    with s:
        cg = s.create_cgroup("app")
        cg.attr["memory.swap.max"] = str(100 * PAGE_SIZE)
        mm, pages = _swapped_out(s, memcg=cg)  # past swap.max: virtual slots are free
        assert int(cg.attr["memory.swap.current"]) == 0
        stored = s.zswap.stored_pages
        assert stored > 100
        assert s.zswap.writeback_all() == 100  # then the cgroup's limit stops writeback
        assert int(cg.attr["memory.swap.current"]) == 100 * PAGE_SIZE == _phys_in_use(s) * \
            PAGE_SIZE
        assert s.zswap.stored_pages == stored - 100
        assert s.vmstat["nr_swapcached"] == 0  # no page left half-written back
        _read_all(mm, pages)
        assert int(cg.attr["memory.swap.current"]) == 0


def test_zswap_off_writes_pages_to_the_physical_area_lazily(tmp_path):
    s, _disk, _ = _machine(tmp_path, zswap=False)
    with s:
        mm, pages = _swapped_out(s)
        c = s.swap.vswap.counts()
        assert c["slots_phys"] == N - c["slots_zero"] == _phys_in_use(s)
        assert s.vmstat["pswpout"] == c["slots_phys"]
        _read_all(mm, pages)
        assert _phys_in_use(s) == 0


def test_swapoff_of_the_ghost_brings_every_page_back(tmp_path):
    s, _disk, ghost = _machine(tmp_path, cwb=True)
    with s:
        mm, pages = _swapped_out(s)
        s.zswap.writeback_all()
        phys = s.swap.vswap.physical
        assert mm.swapped() == N
        s.swapoff(ghost)
        assert s.swap.vswap is None and mm.swapped() == 0
        assert phys.inuse_pages == 0
        assert "[vswap]" not in s.proc_swaps()
        _read_all(mm, pages)


def test_bad_requests_are_refused_with_the_kernels_errno(tmp_path):
    s, disk, ghost = _machine(tmp_path)
    with s:
        with pytest.raises(OSError) as e:
            s.swapon_virtual(disk)
        assert e.value.errno == errno.EBUSY
        with pytest.raises(OSError) as e:
            s.swapon_virtual(tmp_path / "nothing")
        assert e.value.errno == errno.EINVAL
        s.swapoff(ghost)
        with pytest.raises(OSError) as e:
            s.swapon_virtual(disk, layout="B")
        assert e.value.errno == errno.EINVAL and "'B'" in str(e.value)
        assert s.swap.vswap is None and "[vswap]" not in s.proc_swaps()


def test_a_packed_blob_never_straddles_pages_that_are_not_neighbours():
    from swaplab.mm.vswap import _Entry, _place

    def blobs(*lengths):
        return [_Entry(i, i, 1, 1, n, 0, np.zeros(n, np.uint8)) for i, n in enumerate(lengths)]

    # 3000 + 3000 bytes: the second blob would run from page 0 into page 1
    assert _place(blobs(3000, 3000), np.array([7, 8])) == [0, 3000]
    # page 1 is not page 0's neighbour on the device: the blob starts on page 1
    assert _place(blobs(3000, 3000), np.array([7, 20])) == [0, 4096]
    # and when that leaves too few pages, the caller is told
    assert _place(blobs(3000, 3000, 3000), np.array([7, 20])) is None
    assert _place(blobs(3000, 3000, 3000), np.array([7, 20, 21])) == [0, 4096, 7096]


@pytest.mark.parametrize("cwb", [False, True], ids=["raw", "compressed"])
def test_sync_bypass_swapin_reads_virtual_entries_from_zswap_and_the_disk(tmp_path, cwb):
    """The older swap-in (no swap cache for a count-1 entry on a synchronous
    area) over the ghost: half the pages from zswap, half from the disk."""
    s, _, ghost = _machine(tmp_path, cwb=cwb, swapin="sync-bypass")
    with s:
        mm, pages = _swapped_out(s)
        for v in range(N // 2):
            assert mm.read(v) == pages[v].tobytes()
        s.zswap.writeback_all()
        assert _phys_in_use(s) > 0
        for v in range(N // 2, N):
            assert mm.read(v) == pages[v].tobytes()
        assert _phys_in_use(s) == 0 and s.vmstat["nr_swapcached"] == 0
        assert s.swap.vswap.counts()["slots_none"] == ghost.max
