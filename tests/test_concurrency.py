"""Several threads swapping in and out of the same areas at once (real threads)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_in_threads
from swaplab import PAGE_SIZE


@pytest.mark.parametrize("nthreads", [4])
def test_threads_swap_on_shared_areas(system, tmp_path, nthreads):
    a = system.add_ramdisk("16M")
    b = system.add_filedisk(tmp_path / "b.img", "16M")
    for d in (a, b):
        system.mkswap(d)
        system.swapon(d)
    npages = 400
    mms = [system.create_mm(npages) for _ in range(nthreads)]

    def worker(k: int) -> None:
        rng = np.random.default_rng(k)
        mm = mms[k]
        want = {}
        for rnd in range(4):
            for v in range(npages):
                if rnd == 0 or rng.random() < 0.3:
                    data = rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8)
                    data[:8] = np.frombuffer(np.int64(k * 1_000_000 + v).tobytes(), np.uint8)
                    mm.write(v, data)
                    want[v] = data.tobytes()
            mm.pageout(0, npages // 2 + rnd * 50)
            for v in rng.permutation(npages)[: npages // 2]:
                got = mm.read(int(v))
                assert got == want[int(v)], f"thread {k} page {v} differs"
        for v in range(npages):
            assert mm.read(v) == want[v]

    errors = run_in_threads(worker, nthreads, timeout=120)
    assert not errors, errors[0]
    for si in system.swap.active():
        used = int(np.count_nonzero(si.swap_map[1 : si.max] > 0) +
                   np.count_nonzero((si.swap_map[1 : si.max] == 0) & (si.cache[1 : si.max] >= 0)))
        assert used == si.inuse_pages
    system.swapoff(a)
    system.swapoff(b)
    assert system.swap.nr_swap_pages == 0 == system.swap.total_swap_pages
