"""A scenario's access phase on its own, for timing it and for counting its
instructions.

    python benchmarks/run_phase.py scenarios/zram-1g.toml [--no-accesses]

Builds the scenario's machine and processes, populates them and runs the
access phase as ``swaplab run`` does (``Workload.populate_all`` and
``Workload.run_accesses``), without the final sweep. Prints the populate and
run seconds, faults a second and the run phase's swap counters.

Instructions, repeatable on a noisy VM (docs/PERFORMANCE.md): run it under
callgrind twice, as is and with ``--no-accesses``
(``PYTHONHASHSEED=0 valgrind --tool=callgrind python benchmarks/run_phase.py
...``, with the package's ``.pyc`` files already written: an environment
with PYTHONDONTWRITEBYTECODE compiles every module on every run); the
difference of the two totals is the access phase's. Use a scenario whose
corpus reads the same pages every run (``sample``, ``stdlib``) for counts
that repeat: ``files`` follows the machine's files.
"""

from __future__ import annotations

import argparse
import time

from swaplab.workload.engine import Workload
from swaplab.workload.scenario import load_scenario


def main(argv: list[str] | None = None) -> dict[str, float | int]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", help="a scenario file (TOML)")
    ap.add_argument("--no-accesses", action="store_true",
                    help="stop after populating (the baseline for counting instructions)")
    args = ap.parse_args(argv)
    sc = load_scenario(args.scenario)
    with Workload(sc) as w:
        t0 = time.perf_counter()
        if sc.run.populate:
            w.populate_all()
        t1 = time.perf_counter()
        done, vm = (0, {}) if args.no_accesses else w.run_accesses()
        t2 = time.perf_counter()
    run_s = t2 - t1
    out: dict[str, float | int] = {
        "populate_s": round(t1 - t0, 3), "run_s": round(run_s, 3), "accesses": done,
        "faults_per_s": round(vm.get("pgfault", 0) / run_s) if done else 0,
        **{k: vm.get(k, 0) for k in ("pgfault", "pswpin", "pswpout", "pgscan_direct",
                                     "pgsteal_direct")}}
    print(" ".join(f"{k} {v}" for k, v in out.items()))
    return out


if __name__ == "__main__":
    main()
