"""vmstat counters and their /proc/vmstat text."""

from __future__ import annotations

import threading

import numpy as np
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


def test_a_snapshot_never_sees_half_a_pair():
    """count2 is one compiled step: a reader in another thread sees both of
    its counters moved or neither, at every moment."""
    v = VmStat()
    stop = threading.Event()
    seen = []

    def read():
        while not stop.is_set():
            snap = v.snapshot()
            seen.append(snap["pgfault"] - snap["pgmajfault"])

    r = threading.Thread(target=read)
    r.start()
    for _ in range(50000):
        v.count2(vmstat.PGFAULT, vmstat.PGMAJFAULT)
    stop.set()
    r.join()
    assert seen and set(seen) == {0}
    assert v["pgfault"] == 50000


def test_cgroup_batches_count_from_threads_and_refuse_bad_ids():
    st = MemcgStats()
    ids = np.array([0, 3, 3, 7], dtype=np.int32)

    def work():
        for _ in range(2000):
            st.count_ids(ids, MemcgEvent.pswpout)
            st.count(7, MemcgEvent.pswpin, 2)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    col = st.ev[:, MemcgEvent.pswpout]
    assert (col[0], col[3], col[7]) == (8000, 16000, 8000) and col.sum() == 32000
    assert st.ev[7, MemcgEvent.pswpin] == 16000
    before = st.ev.copy()
    with pytest.raises(IndexError, match=r"cgroup id 256 outside 0\.\.255"):
        st.count_ids(np.array([1, 256], dtype=np.int32), MemcgEvent.pswpout)
    with pytest.raises(IndexError, match="cgroup id -1"):
        st.count(-1, MemcgEvent.pswpin)
    with pytest.raises(IndexError, match="item 99"):
        st.count(1, 99)
    with pytest.raises(OSError, match="int32"):
        st.count_ids(np.array([1], dtype=np.int64), MemcgEvent.pswpout)
    assert (st.ev == before).all()  # a refused call adds nothing
    with pytest.raises(IndexError, match="item 20 outside"):
        VmStat().count(len(VmEvent))
