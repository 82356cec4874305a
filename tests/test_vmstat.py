"""vmstat counters and their /proc/vmstat text."""

from __future__ import annotations

import threading

import pytest

from swaplab.mm.vmstat import MthpStat, VmEvent, VmStat


def test_text_format_and_names():
    v = VmStat()
    v.count(VmEvent.pswpout, 3)
    text = v.text()
    lines = text.splitlines()
    assert "pswpout 3" in lines
    for name in ("pswpin", "swap_ra", "swap_ra_hit", "nrswpin", "nrswpout", "thp_swpout",
                 "thp_swpout_fallback", "swpin_zero", "swpout_zero", "zswpin", "zswpout",
                 "zswpwb", "nr_swapcached"):
        assert any(line.split()[0] == name for line in lines)
    assert all(len(line.split()) == 2 for line in lines)
    assert text.endswith("\n")


def test_mthp_ignores_order_zero_and_names_dirs():
    v = VmStat()
    v.count_mthp(0, MthpStat.swpout)
    v.count_mthp(4, MthpStat.swpout, 2)
    assert v.mthp(0, "swpout") == 0 and v.mthp(4, "swpout") == 2
    assert v.mthp_text(4)["swpout"] == "2\n"
    assert VmStat.mthp_dir(4) == "hugepages-64kB"
    assert VmStat.mthp_dir(9) == "hugepages-2048kB"
    with pytest.raises(ValueError):
        v.mthp_text(0)


def test_counts_from_threads_add_up():
    v = VmStat()

    def work():
        for _ in range(5000):
            v.count(VmEvent.pswpin)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert v["pswpin"] == 20000
