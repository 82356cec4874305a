"""Every backend with a pool reports a BackendStatistics record, and the
figures in it are the backend's own counters."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import sample_pages
from swaplab import PAGE_SIZE, System
from swaplab.statistics import BackendStatistics


def test_zram_devices_report_their_counters():
    with System("64M") as s:
        zs = s.load_module("zram", num_devices=2)
        zs[0].attr["disksize"] = "4M"
        pages = sample_pages(40, seed=2, kind="text")
        pages[3] = 0  # same-filled: stored, no pool bytes
        for i, p in enumerate(pages):
            zs[0].bdev.pwrite(p, i * PAGE_SIZE)
        recs = s.backend_statistics()
        assert [r.name for r in recs] == ["zram0", "zram1"]
        r = recs[0]
        assert isinstance(r, BackendStatistics) and r.kind == "zram"
        mm = [int(x) for x in zs[0].attr["mm_stat"].split()]
        assert r.stored_pages == 40 and r.data_bytes == 40 * PAGE_SIZE == mm[0]
        assert r.compressed_bytes == mm[1] > 0 and r.pool_bytes == mm[2] > 0
        assert r.files["mm_stat"] == zs[0].attr["mm_stat"].strip()
        assert list(r.fields["mm_stat"].values()) == mm  # the same columns, by name
        assert r.fields["mm_stat"]["mem_used_total"] == mm[2]
        assert r.fields["bd_stat"] == {"bd_count": 0, "bd_reads": 0, "bd_writes": 0}
        assert recs[1].stored_pages == 0 and recs[1].pool_bytes == 0
        (bare, _) = s.backend_statistics(files=False)  # the counters only
        assert bare == dataclasses.replace(r, files={}, fields={})
        with pytest.raises(dataclasses.FrozenInstanceError):
            r.stored_pages = 0  # type: ignore[misc]


def test_zswap_reports_its_pool():
    with System("64M") as s:
        s.mkswap(d := s.add_ramdisk("8M"))
        s.swapon(d)
        from swaplab.mm.zswap import Zswap

        zs = Zswap(s)
        zs.params["enabled"] = "Y"
        mm = s.create_mm(32)
        for i, p in enumerate(sample_pages(32, seed=4, kind="text")):
            mm.write(i, p.tobytes())
        mm.pageout()
        (r,) = s.backend_statistics()
        d = zs.debugfs()
        assert r.kind == "zswap" and r.stored_pages == d["stored_pages"] > 0
        assert r.pool_bytes == d["pool_total_size"] > 0
        assert 0 < r.compressed_bytes < r.data_bytes == r.stored_pages * PAGE_SIZE
        assert r.files == d and s.backend_statistics(files=False) == [
            dataclasses.replace(r, files={})]


def test_backing_reads_is_the_records_figure_without_the_records(tmp_path):
    with System("64M") as s:
        assert s.backing_reads() is None  # no driver with a pool
        zs = s.load_module("zram", num_devices=2)
        assert s.backing_reads() == 0
        disk = s.add_filedisk(tmp_path / "backing.img", "4M")
        zs[1].attr["backing_dev"] = f"/dev/{disk.name}"
        zs[1].attr["disksize"] = "4M"
        pages = sample_pages(12, seed=3, kind="text")
        for i, p in enumerate(pages):
            zs[1].bdev.pwrite(p, i * PAGE_SIZE)
        zs[1].attr["writeback"] = "page_indexes=0-7"
        back = bytearray(PAGE_SIZE)
        for i in (0, 3, 5, 9):
            zs[1].bdev.preadinto(back, i * PAGE_SIZE)
            assert bytes(back) == pages[i].tobytes()
        recs = s.backend_statistics(files=False)
        assert s.backing_reads() == sum(r.backing_reads for r in recs) == 3
