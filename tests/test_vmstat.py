"""vmstat counters and their /proc/vmstat text."""

from __future__ import annotations

import threading

import pytest

from swaplab.mm import vmstat
from swaplab.mm.memcontrol import (
    MEMCG_PGFAULT,
    MEMCG_PGMAJFAULT,
    MEMCG_PSWPIN,
    MemcgEvent,
    MemcgStats,
)
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


def test_counts_from_threads_add_up_in_pairs():
    """count2 (a major fault's pgfault + pgmajfault) and the per-cgroup pair
    lose nothing under contention, and the plain-int items the fault path
    counts with name the same counters as the enums."""
    v = VmStat()
    st = MemcgStats()

    def work():
        for _ in range(5000):
            v.count2(vmstat.PGFAULT, vmstat.PGMAJFAULT)
            v.mod(vmstat.NR_SWAPCACHE, 1)
            st.count2(3, MEMCG_PGFAULT, MEMCG_PGMAJFAULT)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert v["pgfault"] == v["pgmajfault"] == v["nr_swapcached"] == 20000
    assert v["pswpin"] == 0
    assert st.ev[3, MemcgEvent.pgfault] == st.ev[3, MemcgEvent.pgmajfault] == 20000
    assert st.ev[3].sum() == 40000 and st.ev.sum() == 40000
    for name in ("PGFAULT", "PGMAJFAULT", "PSWPIN", "NRSWPIN", "NRSWPOUT"):
        assert getattr(vmstat, name) == VmEvent[name.lower()]
    assert VmEvent.nr_swapcached == vmstat.NR_SWAPCACHE
    assert MemcgEvent.pswpin == MEMCG_PSWPIN
    with pytest.raises(IndexError):
        st.count2(256, MEMCG_PGFAULT, MEMCG_PGMAJFAULT)
