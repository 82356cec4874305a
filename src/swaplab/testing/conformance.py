"""The SwapOps conformance kit: run any swap backend through the swap core.

    from swaplab.testing import run_swap_ops_conformance

    def make_backend(system, tmp):
        # DictStore: the complete example backend of docs/backends.md (a
        # BlockDevice whose ops table's swap_activate installs its SwapOps)
        store = DictStore("dict0", 64 << 20)
        return system.add_disk(store.bdev, store)

    def stored_pages(system):                    # optional: pages your backend holds
        return len(system.driver(system.block["dict0"]).slots)

    run_swap_ops_conformance(make_backend, stored_pages=stored_pages)

``make_backend(system, tmp)`` builds the backend inside a fresh
:class:`~swaplab.System` (``tmp`` is a scratch folder for real files) and
returns what ``mkswap``/``swapon`` take — a block device or a swap-file path —
or ``(target, swapon_kwargs)``. The kit then runs a Hypothesis rule-based state
machine: swapon; batches of swap-outs of random folios (orders 0..4) through
one SwapIoCtx; batched swap-ins of random stored entries (large folios read
back whole where the backend says it takes them: ``large_folio_swapin``);
frees; several threads doing all of that at once; swapoff. After every step it checks:

- every page read back equals what was written (a lost or corrupted page fails);
- every submitted batch completed exactly once, before ``submit_*`` returned
  or within ``completion_timeout`` seconds, write batches and read batches
  alike (a batch completed twice fails; one not completed in time fails with
  its description, within the timeout, instead of hanging the kit);
- the counters add up: pswpout + zswpout + swpout_zero = pages written out,
  pswpin + zswpin + swpin_zero = pages read back;
- no slot leaks: the area's used slots equal the live entries, and, when
  ``stored_pages`` is given, so does the backend's own count of stored pages
  (it must drop a page when its slot is freed, at least by swapoff);
- a failed write leaves the folio dirty (nothing lost), a failed read leaves it
  not uptodate;
- swapoff clears ``private_data`` and ends with no slot in use.

It raises :class:`ConformanceFailure` (an AssertionError) with Hypothesis's
shrunk example of the steps that broke the rule.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ..consts import PAGE_SIZE
from ..mm.folio import PG, Folio
from ..mm.page_io import swap_read_folio, swap_read_submit, swap_write_submit
from ..mm.page_io import swap_writeout as _swap_writeout
from ..mm.swap_iocb import SwapIoCtx
from ..mm.swapfile import (
    folio_alloc_swap,
    swap_cache_add_folio,
    swap_cache_del_folio,
    swap_dup_entries,
    swap_put_entries,
)
from ..system import System


class ConformanceFailure(AssertionError):
    """The backend broke a rule of the SwapOps contract."""


class _BatchStuck(BaseException):
    """A batch missed its completion deadline. Its folios stay locked or under
    writeback for good, so the run ends here: Hypothesis lets a BaseException
    through at once instead of shrinking (which would wait out the deadline
    again and again), and :func:`run_swap_ops_conformance` reports it."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConformanceFailure(msg)


def _page_data(key: int, nr: int) -> np.ndarray:
    """``nr`` pages of contents for entry ``key``: text-like, compressible, never zero."""
    rng = np.random.default_rng(key)
    words = np.frombuffer(b"swap slot page folio batch zram zswap bio iocb ctx ", np.uint8)
    out = words[rng.integers(0, len(words), size=(nr, PAGE_SIZE))]
    out[:, :8] = np.frombuffer(np.uint64(key).tobytes(), np.uint8)
    out[:, 8] = np.arange(nr, dtype=np.uint8) + 1
    return out


def _step(fn: Callable[..., None]) -> Callable[..., None]:
    """Remember that a step failed, so teardown does not bury the failure."""
    import functools

    @functools.wraps(fn)
    def run(self: _Machine, *args: Any, **kwargs: Any) -> None:
        try:
            fn(self, *args, **kwargs)
        except BaseException:
            self.failed = True
            raise
    return run


class _Machine(RuleBasedStateMachine):
    make_backend: Callable[[System, Path], Any]
    stored_pages: Callable[[System], int] | None
    timeout: float
    large_folio_swapin: bool
    virtual: bool

    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory(prefix="swaplab-conformance-")
        self.system = System("64M")
        made = type(self).make_backend(self.system, Path(self._tmp.name))
        target, kwargs = made if isinstance(made, tuple) else (made, {})
        self.system.mkswap(target)
        self.si = self._swapon(target, kwargs)
        self.kwargs = kwargs
        self.target = target
        self.sios: list[Any] = []
        self.model: dict[int, np.ndarray] = {}  # entry -> pages it must read back
        self.out_pages = 0
        self.in_pages = 0
        self.key = 1
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []
        #: second completions the core refused, seen by the submit wrappers
        self.ended_twice: list[BaseException] = []
        self._wrap_ops()
        self.on = True
        self.failed = False

    def _swapon(self, target: Any, kwargs: dict[str, Any]) -> Any:
        """swapon; with ``virtual``, the virtual swap layer in front of the area
        (the kit then works on virtual entries whose pages go to the area)."""
        si = self.system.swapon(target, **kwargs)
        self.phys = si
        return self.system.swapon_virtual(target) if self.virtual else si

    def _swapoff(self) -> None:
        si = self.si
        self.system.swapoff(si if self.virtual else self.target)
        _check(si.private_data is None, f"swapoff left private_data {si.private_data!r}")
        if self.virtual:
            self.system.swapoff(self.target)
            _check(self.phys.inuse_pages == 0,
                   f"{self.phys.inuse_pages} physical slots in use after swapoff")

    # --- recording the batches ------------------------------------------------------------
    def _wrap_ops(self) -> None:
        ops = self.si.ops
        _check(ops is not None, f"swapon left {self.si.name} without swap_ops")
        record = self.sios

        twice = self.ended_twice

        def wrap(fn):
            def submit(ctx):
                record.append(ctx.sio)
                try:
                    return fn(ctx)
                except RuntimeError as e:  # the core's exactly-once check
                    if "called twice" in str(e):
                        # the core logs a raising backend and goes on: keep it
                        # for _settle, which fails the rule
                        twice.append(e)
                        raise ConformanceFailure(f"a batch completed twice: {e}") from e
                    raise
            return submit

        self.si.ops = dataclasses.replace(ops, submit_write=wrap(ops.submit_write),
                                          submit_read=wrap(ops.submit_read))

    def _await(self) -> None:
        """Every batch submitted so far must have ended, or end within
        ``completion_timeout`` seconds from now; one that does not fails the
        rule, naming it, instead of leaving the kit waiting on its folios."""
        mem = self.system.mem  # the batch completions wake sleepers on its flags
        deadline = time.monotonic() + self.timeout
        for sio in list(self.sios):
            with mem.flag_lock:
                while not sio.ended:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.failed = True
                        raise _BatchStuck(f"{sio!r} was submitted but not completed "
                                          f"within {self.timeout:g} s")
                    mem.wait_flags(left)

    def _settle(self) -> None:
        """Every recorded batch must end, exactly once (the core refuses a second end)."""
        _check(not self.ended_twice,
               f"a batch completed twice: {self.ended_twice[0] if self.ended_twice else ''}")
        self._await()
        self.sios.clear()

    # --- operations -----------------------------------------------------------------------
    def _swapout(self, orders: list[int]) -> list[tuple[int, int]]:
        system = self.system
        folios = []
        for order in orders:
            f = Folio.alloc(system.mem, order)
            if f is None:
                continue
            with self.lock:
                key = self.key
                self.key += 1
            f.pages[:] = _page_data(key, f.nr_pages)
            f.set(PG.uptodate | PG.swapbacked)
            f.lock()
            if folio_alloc_swap(f):
                f.unlock()
                f.free()
                continue
            _check(swap_dup_entries(system, f.swap, f.nr_pages) == 0, "swap_dup failed")
            folios.append((f, f.pages.copy()))
        ctx = SwapIoCtx()
        for f, _ in folios:
            f.clear(PG.dirty)
            _swap_writeout([f], ctx)
        swap_write_submit(ctx)
        self._await()
        done = []
        for f, data in folios:
            f.wait_writeback()
            entry, nr = f.swap, f.nr_pages
            with self.lock:
                self.out_pages += nr
            f.lock()
            if f.test(PG.dirty):  # the write failed: the page must still be here
                _check(np.array_equal(f.pages, data), "a failed write changed the folio")
                swap_cache_del_folio(f)
                swap_put_entries(system, entry, nr)
            else:
                swap_cache_del_folio(f)
                with self.lock:
                    self.model[entry] = data
                done.append((entry, nr))
            f.unlock()
            f.free()
        return done

    def _swapin(self, entries: list[int]) -> None:
        """Read the pages of ``entries`` back: one order-0 folio per page (as a fault
        would), or, where the backend advertises large-folio swap-in, an entry
        written as a large folio comes back as one folio of its order (mTHP
        swap-in; the kernel does it only where zswap is not involved)."""
        system = self.system
        ctx = SwapIoCtx()
        got = []
        for e in entries:
            with self.lock:
                data = self.model.get(e)
            if data is None:
                continue
            if self.large_folio_swapin and len(data) > 1:
                f = Folio.alloc(system.mem, len(data).bit_length() - 1)
                if f is not None:
                    f.lock()
                    f.set(PG.swapbacked)
                    if swap_cache_add_folio(f, e) == 0:
                        swap_read_folio(f, ctx)
                        got.append((e, f, data))
                        continue
                    f.unlock()
                    f.free()
            for k in range(len(data)):
                f = Folio.alloc(system.mem, 0)
                if f is None:
                    continue
                f.lock()
                f.set(PG.swapbacked)
                if swap_cache_add_folio(f, e + k):
                    f.unlock()
                    f.free()
                    continue
                swap_read_folio(f, ctx)
                got.append((e + k, f, data[k : k + 1]))
        swap_read_submit(ctx)
        self._await()
        problem = None
        dirty = []
        for e, f, data in got:
            f.lock()  # unlocked by swap_read_end (or at once for zero/zswap pages)
            if problem is None:
                if not f.test(PG.uptodate):
                    problem = f"entry {e:#x}: read failed (folio not uptodate)"
                elif not np.array_equal(f.pages, data):
                    problem = f"entry {e:#x}: the page read back is not the page written"
                else:
                    with self.lock:
                        self.in_pages += len(data)
            if problem is None and f.test(PG.dirty):
                dirty.append(f)  # an exclusive load (zswap): memory holds the only copy
                continue
            swap_cache_del_folio(f)
            f.unlock()
            f.free()
        if dirty:  # reclaim would write these out again before dropping them
            wctx = SwapIoCtx()
            for f in dirty:
                f.clear(PG.dirty)
                _swap_writeout([f], wctx)
            swap_write_submit(wctx)
            self._await()
            for f in dirty:
                f.wait_writeback()
                with self.lock:
                    self.out_pages += 1
                f.lock()
                _check(not f.test(PG.dirty) or problem is not None,
                       "rewriting an exclusively loaded page failed")
                swap_cache_del_folio(f)
                f.unlock()
                f.free()
        _check(problem is None, problem or "")

    def _free(self, entries: list[int]) -> None:
        for e in entries:
            with self.lock:
                data = self.model.pop(e, None)
            if data is not None:
                swap_put_entries(self.system, e, len(data))

    # --- rules ----------------------------------------------------------------------------
    @precondition(lambda self: self.on)
    @rule(orders=st.lists(st.integers(0, 4), min_size=1, max_size=12))
    @_step
    def swap_out(self, orders: list[int]) -> None:
        self._swapout(orders)
        self._settle()

    @precondition(lambda self: self.on and self.model)
    @rule(data=st.data())
    @_step
    def swap_in(self, data: st.DataObject) -> None:
        keys = sorted(self.model)
        picked = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=32,
                                    unique=True))
        self._swapin(picked)
        self._settle()

    @precondition(lambda self: self.on and self.model)
    @rule(data=st.data())
    @_step
    def free(self, data: st.DataObject) -> None:
        keys = sorted(self.model)
        self._free(data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=16,
                                      unique=True)))

    @precondition(lambda self: self.on)
    @rule(nthreads=st.integers(2, 4), rounds=st.integers(1, 3))
    @_step
    def concurrent(self, nthreads: int, rounds: int) -> None:
        def worker(seed: int) -> None:
            try:
                rng = np.random.default_rng(seed)
                for _ in range(rounds):
                    mine = self._swapout([int(x) for x in rng.integers(0, 3, size=4)])
                    self._swapin([e for e, _ in mine])
                    self._free([e for e, _ in mine[: len(mine) // 2]])
            except BaseException as e:  # reported below, with the thread's failure
                self.errors.append(e)

        threads = [threading.Thread(target=worker, args=(self.key + i,), daemon=True)
                   for i in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.timeout)
            _check(not t.is_alive(), f"a swapping thread did not finish in {self.timeout} s "
                   "(deadlock?)")
        if self.errors:
            err = self.errors[0]
            if isinstance(err, ConformanceFailure | _BatchStuck):
                raise err
            raise ConformanceFailure(f"a swapping thread failed: {err!r}") from err
        self._settle()

    @precondition(lambda self: self.on)
    @rule()
    @_step
    def swap_off_and_on(self) -> None:
        """Free everything, swapoff (private_data must be cleared), swapon again."""
        self._free(sorted(self.model))
        self._no_leaks()
        self._swapoff()
        if self.stored_pages is not None:
            n = self.stored_pages(self.system)
            _check(n == 0, f"after swapoff the backend still holds {n} pages")
        self.si = self._swapon(self.target, self.kwargs)
        self._wrap_ops()

    # --- invariants -----------------------------------------------------------------------
    def _no_leaks(self) -> None:
        with self.lock:
            live = sum(len(d) for d in self.model.values())
        _check(self.si.inuse_pages == live,
               f"{self.si.inuse_pages} slots in use for {live} live pages")
        if self.virtual:
            named = self.system.swap.vswap.counts()["slots_phys"]
            _check(self.phys.inuse_pages == named,
                   f"{self.phys.inuse_pages} physical slots in use, {named} named by "
                   "virtual slots")
        if self.stored_pages is not None:
            n = self.stored_pages(self.system)
            _check(n == live, f"the backend holds {n} pages for {live} live slots "
                   "(a freed slot's page was not dropped)")

    @invariant()
    @_step
    def counters_add_up(self) -> None:
        if not self.on:
            return
        vm = self.system.vmstat
        _check(vm["pswpout"] + vm["zswpout"] + vm["swpout_zero"] == self.out_pages,
               f"pswpout {vm['pswpout']} + zswpout {vm['zswpout']} + swpout_zero "
               f"{vm['swpout_zero']} != {self.out_pages} pages written out")
        _check(vm["pswpin"] + vm["zswpin"] + vm["swpin_zero"] == self.in_pages,
               f"pswpin {vm['pswpin']} + zswpin {vm['zswpin']} + swpin_zero "
               f"{vm['swpin_zero']} != {self.in_pages} pages read back")

    @invariant()
    @_step
    def no_slot_leaks(self) -> None:
        if self.on:
            self._no_leaks()

    def teardown(self) -> None:
        if self.failed:  # leave the broken machine as it is: its folios may be locked
            self.on = False
            self._tmp.cleanup()
            return
        try:
            if self.on:
                self._free(sorted(self.model))
                self._no_leaks()
                si = self.si
                self._swapoff()
                _check(si.inuse_pages == 0, f"{si.inuse_pages} slots in use after swapoff")
        finally:
            self.on = False
            self.system.close()
            self._tmp.cleanup()


def run_swap_ops_conformance(make_backend: Callable[[System, Path], Any], *,
                             stored_pages: Callable[[System], int] | None = None,
                             max_examples: int = 20, stateful_step_count: int = 12,
                             completion_timeout: float = 30.0,
                             large_folio_swapin: bool = False, virtual: bool = False,
                             hypothesis_settings: settings | None = None) -> None:
    """Run the conformance state machine against the backend ``make_backend`` builds.

    ``large_folio_swapin`` says the backend takes read batches of large folios
    (orders 1..4, as mTHP swap-in gives them): the kit then reads entries
    written as large folios back whole. ``virtual`` runs the kit on virtual
    entries with the backend as the physical area behind them (the virtual
    swap layer's ghost takes the batches and writes them to the backend's
    area; its slots in use must equal the pages the virtual slots name).
    Raises :class:`ConformanceFailure`
    naming the broken rule (see the module docstring for the rules and how to
    write ``make_backend``).
    """
    machine = type("SwapOpsConformance", (_Machine,), {
        "make_backend": staticmethod(make_backend),
        "stored_pages": staticmethod(stored_pages) if stored_pages else None,
        "timeout": completion_timeout,
        "large_folio_swapin": large_folio_swapin,
        "virtual": virtual,
    })
    machine.TestCase.settings = hypothesis_settings or settings(
        max_examples=max_examples, stateful_step_count=stateful_step_count, deadline=None,
        suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    try:
        run_state_machine_as_test(machine, settings=machine.TestCase.settings)
    except _BatchStuck as e:
        raise ConformanceFailure(str(e)) from None
