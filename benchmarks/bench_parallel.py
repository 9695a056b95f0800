r"""One seed on several cores: the unit blocks of ``simulate`` against its serial loop.

A training step of the network of ``THEORY.md`` §2 costs :math:`O(N d)` and the
steps are sequential, so one seed uses one core unless the units of each step
are shared out: ``simulate(..., unit_blocks=B)`` splits them into :math:`B`
fixed blocks run by the cores of the machine, with one reduction (the output
:math:`f^N_k`) per step. This benchmark times, on one seed (tanh, rtrl,
:math:`d = 1`, AR(1) chain), seconds per training step (the run's wall time,
frozen warm-up and the per-chunk checks included, over its steps) of

* ``serial``: ``unit_blocks=1``, the serial compiled loop;
* ``blocks``: the partition of ``unit_blocks="auto"`` (blocks of
  ``AUTO_BLOCK_UNITS`` units; below ``AUTO_BLOCKS_MIN_UNITS``, where "auto"
  is serial, as many blocks as threads), on every core this process may use,

alternating the two, and keeps the best of ``--repeat`` runs of each (other
processes may share the cores: the best run is the least disturbed; the load
average before and after each size is recorded). The speed-up is serial over
blocks. Targets: at least 1.7x on 2 cores at :math:`N = 65536` and
:math:`262144`. The table also says from which :math:`N` the blocks pay (a
speed-up of at least 1.2 there and at every larger size measured) and the
largest relative difference of the two runs' outputs (the same numbers to
rounding).

Run ``python -m benchmarks.bench_parallel [--quick] [--repeat R] [--sizes N ...]``
(``--work W``: unit-steps per run);
prints a table and writes ``benchmarks/results/parallel.json``. The speed-up
needs idle cores: with more busy processes than cores, threads that wait for
each other every step lose their advantage (see the recorded load).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "parallel.json"
SIZES = (4096, 16384, 32768, 65536, 131072, 262144)
QUICK_SIZES = (16384, 65536, 262144)
TARGET_SIZES = (65536, 262144)
TARGET = 1.7
PAYS = 1.2


def _problem(N: int, K: int):
    from limitsolver.chains import GaussianAR1
    from limitsolver.network import NetworkSpec
    from limitsolver.problem import Problem
    from limitsolver.targets import StateFunction

    return Problem(GaussianAR1(0.5), StateFunction("sin(2*x)"), NetworkSpec(), horizon=K / N)


def _load() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def partition(N: int, threads: int) -> int:
    """Blocks at width ``N``: those of ``unit_blocks="auto"``, or one per thread below its threshold."""
    from limitsolver.simulation.simulate import AUTO_BLOCK_UNITS, AUTO_BLOCKS_MIN_UNITS

    if N >= AUTO_BLOCKS_MIN_UNITS:
        return -(-N // AUTO_BLOCK_UNITS)
    return max(threads, -(-N // AUTO_BLOCK_UNITS))


def measure(N: int, K: int, blocks: int, repeat: int) -> dict:
    """Best seconds per step of the serial loop and of ``blocks`` unit blocks (alternated)."""
    from limitsolver.simulation import simulate

    problem = _problem(N, K)
    best = {"serial": math.inf, "blocks": math.inf}
    out = {}
    for _ in range(repeat):
        for name, b in (("serial", 1), ("blocks", blocks)):
            res = simulate(problem, N, 0, backend="numba", progress=False, unit_blocks=b)
            best[name] = min(best[name], res.wall_time / (res.n_steps + res.warmup))
            out[name] = res.predictions[0]
    scale = np.abs(out["serial"]).max()
    return {"serial_s_per_step": best["serial"], "blocks_s_per_step": best["blocks"],
            "speed_up": best["serial"] / best["blocks"],
            "max_rel_difference": float(np.abs(out["blocks"] - out["serial"]).max() / scale),
            "steps": K}


def pays_from(rows: list[dict], threshold: float = PAYS) -> int | None:
    """The smallest measured N from which every larger measured N has a speed-up >= ``threshold``."""
    n = None
    for r in sorted(rows, key=lambda r: -r["N"]):
        if r["speed_up"] < threshold:
            break
        n = r["N"]
    return n


def main(argv=None):
    from limitsolver.io import write_json
    from limitsolver.simulation.simulate import _block_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, fewer steps")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (>= 1); best kept")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, metavar="N",
                        help=f"widths to measure (default {SIZES})")
    parser.add_argument("--work", type=float, default=None,
                        help="unit-steps per run (default 1e8, 3e7 with --quick)")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    work = args.work or (3e7 if args.quick else 1e8)
    threads = _block_threads(2**20)
    measure(256, 8, 2, 1)  # compile both loops outside the timings
    print(f"one seed, tanh, rtrl, d = 1; {threads} threads; best of {repeat} "
          f"(seconds per step, wall time incl. warm-up and checks)")
    print(f"{'N':>7} {'steps':>6} {'blocks':>6} {'serial':>10} {'blocks':>10} {'speed-up':>9} "
          f"{'max rel diff':>12} {'load':>10}")
    rows = []
    for N in sizes:
        K = int(max(20, work // N))
        blocks = partition(N, threads)
        before = _load()
        row = {"N": N, "blocks": blocks, "threads": threads, **measure(N, K, blocks, repeat),
               "load_before": before, "load_after": _load()}
        rows.append(row)
        print(f"{N:>7} {K:>6} {blocks:>6} {row['serial_s_per_step'] * 1e6:>8.1f}us "
              f"{row['blocks_s_per_step'] * 1e6:>8.1f}us {row['speed_up']:>8.2f}x "
              f"{row['max_rel_difference']:>12.1e} {before:>4.1f}-{row['load_after']:<4.1f}",
              flush=True)
    at = {r["N"]: r["speed_up"] for r in rows}
    summary = {"target_speed_up": TARGET, "target_sizes": list(TARGET_SIZES),
               "speed_up_at_targets": {N: at.get(N) for N in TARGET_SIZES},
               "targets_met": all(at.get(N, 0.0) >= TARGET for N in TARGET_SIZES),
               "pays_from_N": pays_from(rows), "pays_threshold": PAYS,
               "threads": threads, "repeat": repeat, "cpu_count": os.cpu_count(),
               "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    n_pay = summary["pays_from_N"]
    print(f"speed-up at N = {', '.join(f'{N}: {at.get(N, math.nan):.2f}x' for N in TARGET_SIZES)}"
          f" (target {TARGET}x on {threads} threads: "
          f"{'met' if summary['targets_met'] else 'NOT met'}); blocks pay (>= {PAYS}x) from "
          f"N = {n_pay if n_pay else 'none measured'}")
    write_json(RESULTS, {"rows": rows, "summary": summary, "quick": args.quick})
    return rows, summary


if __name__ == "__main__":
    main()
