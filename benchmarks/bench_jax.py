r"""The jax backend's step loop against numba and numpy, in unit-steps per second, same run.

``simulate(..., backend=B)`` on the same problem (AR(1) chain, target
:math:`\sin 2x`, tanh, rtrl, :math:`d = 1`) at a few widths :math:`N` and seed counts
:math:`S`; rate = :math:`N S (K + W)` unit-steps over the run's ``wall_time``
(:math:`W` frozen warm-up steps included). Compilation is excluded: every backend
runs once on the same shapes before it is timed (the jax run's compile seconds are
recorded, first run minus second). Each rate is the best of ``--repeat`` runs.

The per-step cost of the jax route is fitted as :math:`t_{\rm step} = a + b\,N S`
(least squares over the rows): :math:`a` is the fixed cost of one step of the
compiled scan (on a GPU: the kernel launches of a step), :math:`b` the cost of one
unit-step. ``docs/accelerators.rst`` turns these into the expected scaling on a GPU.

Run ``python -m benchmarks.bench_jax [--quick] [--repeat R]``; prints a table and
writes ``benchmarks/results/jax.json``. Without JAX it prints why, writes the reason
to the JSON (``skipped``) and exits 0.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from limitsolver.chains import GaussianAR1
from limitsolver.io import write_json
from limitsolver.network import NetworkSpec
from limitsolver.problem import Problem
from limitsolver.simulation import simulate
from limitsolver.targets import StateFunction

RESULTS = Path(__file__).resolve().parent / "results" / "jax.json"
BACKENDS = ("jax", "numba", "numpy")


def _problem(N: int, K: int) -> Problem:
    return Problem(GaussianAR1(0.5), StateFunction("sin(2*x)"), NetworkSpec(), horizon=K / N)


def rate(N: int, S: int, K: int, backend: str) -> tuple[float, float]:
    """(unit-steps per second, wall seconds) of one run of ``S`` seeds, ``K`` steps, width ``N``."""
    res = simulate(_problem(N, K), N, list(range(S)), backend=backend, progress=False)
    return N * S * (res.n_steps + res.warmup) / res.wall_time, res.wall_time


def fit_step_cost(rows: list[dict]) -> dict:
    r"""Least-squares :math:`t_{\rm step} = a + b\,N S` of the jax rows (seconds per step).

    The residuals are relative (weights :math:`1/t_{\rm step}`): the rows span
    decades of :math:`N S`, and plain residuals would let the largest rows alone
    decide :math:`a`.

    Parameters
    ----------
    rows : list of dict
        With ``N``, ``seeds`` and ``jax`` (unit-steps per second).

    Returns
    -------
    dict
        ``step_overhead_s`` (:math:`a`), ``unit_step_s`` (:math:`b`) and
        ``unit_steps_per_s_asymptotic`` (:math:`1/b`).
    """
    work = np.array([r["N"] * r["seeds"] for r in rows], dtype=float)
    t = work / np.array([r["jax"] for r in rows])
    b, a = np.polyfit(work, t, 1, w=1.0 / t)
    return {"step_overhead_s": float(a), "unit_step_s": float(b),
            "unit_steps_per_s_asymptotic": float(1.0 / b) if b > 0 else float("nan")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and steps")
    parser.add_argument("--repeat", type=int, default=3, help="runs per rate (>= 1); best kept")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    try:
        import jax
    except ImportError as exc:
        why = f"jax is not installed ({exc}); pip install \".[jax]\" to run this benchmark"
        print(f"bench_jax: skipped: {why}")
        write_json(RESULTS, {"skipped": why, "rows": []})
        return 0
    device = str(jax.devices()[0])
    sizes = [(64, 1), (1024, 1), (16384, 1), (1024, 8)] if args.quick else \
        [(64, 1), (1024, 1), (16384, 1), (65536, 1), (1024, 8), (16384, 8)]
    work = 4e6 if args.quick else 2e7  # unit-steps per measurement
    rate(16, 1, 4, "numba")             # compile numba's kernels outside the timings
    rate(16, 2, 4, "numba")
    rows = []
    print(f"jax device: {device}; {os.cpu_count()} CPUs")
    print(f"{'N':>7} {'seeds':>5} {'steps':>6} {'jax':>10} {'numba':>10} {'numpy':>10} "
          f"{'jax/numba':>9} {'jax/numpy':>9} {'compile s':>9}   (unit-steps/s)")
    for N, S in sizes:
        K = int(max(50, min(20000, work // (N * S))))
        first = time.perf_counter()
        rate(N, S, K, "jax")             # compiles this shape's scans
        first = time.perf_counter() - first
        row = {"N": N, "seeds": S, "steps": K}
        for backend in BACKENDS:
            runs = [rate(N, S, K, backend) for _ in range(repeat)]
            row[backend] = max(r[0] for r in runs)
            if backend == "jax":
                row["jax_compile_s"] = max(0.0, first - min(r[1] for r in runs))
        row["jax_over_numba"] = row["jax"] / row["numba"]
        row["jax_over_numpy"] = row["jax"] / row["numpy"]
        rows.append(row)
        print(f"{N:>7} {S:>5} {K:>6} {row['jax']:>10.3g} {row['numba']:>10.3g} "
              f"{row['numpy']:>10.3g} {row['jax_over_numba']:>9.2f} "
              f"{row['jax_over_numpy']:>9.2f} {row['jax_compile_s']:>9.2f}", flush=True)
    fit = fit_step_cost(rows)
    print(f"jax per-step cost on {device}: {1e6 * fit['step_overhead_s']:.1f} us per step + "
          f"{1e9 * fit['unit_step_s']:.2f} ns per unit-step "
          f"({fit['unit_steps_per_s_asymptotic']:.3g} unit-steps/s at large N S)")
    summary = {"device": device, "jax_version": jax.__version__, "fit": fit,
               "repeat": repeat, "cpu_count": os.cpu_count(),
               "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    write_json(RESULTS, {"rows": rows, "summary": summary, "quick": args.quick})
    return rows, summary


if __name__ == "__main__":
    main()
