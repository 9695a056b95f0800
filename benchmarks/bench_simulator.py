r"""Speed of the finite-network step loop (``THEORY.md`` §2): unit-steps per second.

One training step costs :math:`O(N d)`; the loop over steps is sequential, so
unit-steps per second decide what :math:`N` (work :math:`\propto N^2 T`) a run
can reach. Compared, on one seed, tanh, rtrl, :math:`d = 1`:

* ``reference``: a straightforward numpy step loop written here from §2,
  independent of the package code, on one BLAS thread (one seed on one core, as
  the package's loops; threadpoolctl);
* ``numpy``: the package's numpy backend (:func:`limitsolver.memory.memory_step`);
* ``numba``: the package's jitted fused loop (compilation excluded);
* ``torch``: PyTorch eager on CPU, when importable.

Each rate is the best of ``--repeat`` runs (other processes may share the
cores; the best run is the least disturbed). Targets at :math:`N = 4096`: the
best package backend at least 5x the reference and at least 5e7 unit-steps/s
on one core (one seed runs on one core in both backends).

Run ``python -m benchmarks.bench_simulator [--quick] [--repeat R]``; prints a
table and writes ``benchmarks/results/simulator.json``.

One seed on several cores is :mod:`benchmarks.bench_parallel`; :math:`h^N_t` on
histories is :mod:`benchmarks.bench_output`.
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
from limitsolver.studies.executors import blas_threads
from limitsolver.targets import StateFunction

RESULTS = Path(__file__).resolve().parent / "results" / "simulator.json"


def reference_loop(X, Y, N, seed=0, alpha=1.0, beta=0.5):
    """Straightforward numpy loop of §2 (rtrl, tanh, d = 1); returns elapsed seconds.

    Runs with one BLAS thread, as the package's loops run one seed on one core:
    its ``np.dot`` would otherwise hand each step's inner product to BLAS threads
    and wait for them (about 10 ms a step on a busy machine).
    """
    rng = np.random.default_rng(seed)
    c = rng.choice([-1.0, 1.0], N)
    w = rng.standard_normal(N)
    b = rng.uniform(-0.5, 0.5, N)
    s = np.zeros(N)
    jw = np.zeros(N)
    jb = np.zeros(N)
    lr = alpha * N ** (2 * beta - 2)
    sc = N ** (-beta)
    with blas_threads(1):
        t0 = time.perf_counter()
        for k in range(len(X)):
            x = X[k]
            u = w * x + b * s
            s_new = np.tanh(u)
            du = 1.0 - s_new**2
            jw = du * (x + b * jw)
            jb = du * (s + b * jb)
            s = s_new
            e = Y[k] - sc * np.dot(c, s)
            g = lr * e * sc
            gc = g * c
            c = c + g * s
            w = w + gc * jw
            b = b + gc * jb
        return time.perf_counter() - t0


def torch_loop(X, Y, N, seed=0, alpha=1.0, beta=0.5):  # pragma: no cover - optional
    import torch

    torch.set_num_threads(1)
    g0 = torch.Generator().manual_seed(seed)
    c = torch.randint(0, 2, (N,), generator=g0, dtype=torch.float64) * 2 - 1
    w = torch.randn(N, generator=g0, dtype=torch.float64)
    b = (torch.rand(N, generator=g0, dtype=torch.float64) - 0.5)
    s = torch.zeros(N, dtype=torch.float64)
    jw = torch.zeros_like(s)
    jb = torch.zeros_like(s)
    lr = alpha * N ** (2 * beta - 2)
    sc = N ** (-beta)
    Xt = torch.as_tensor(X)
    Yt = torch.as_tensor(Y)
    t0 = time.perf_counter()
    with torch.no_grad():
        for k in range(len(X)):
            x = Xt[k]
            s_new = torch.tanh(w * x + b * s)
            du = 1.0 - s_new * s_new
            jw = du * (x + b * jw)
            jb = du * (s + b * jb)
            s = s_new
            e = Yt[k] - sc * torch.dot(c, s)
            g = lr * e * sc
            gc = g * c
            c = c + g * s
            w = w + gc * jw
            b = b + gc * jb
    return time.perf_counter() - t0


def package_rate(N, K, backend):
    problem = Problem(GaussianAR1(0.5), StateFunction("sin(2*x)"), NetworkSpec(),
                      horizon=K / N)
    res = simulate(problem, N, 0, backend=backend, progress=False)
    # wall_time includes the frozen warm-up steps
    return N * (res.n_steps + res.warmup) / res.wall_time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and steps")
    parser.add_argument("--repeat", type=int, default=3, help="runs per rate (>= 1); best kept")
    args = parser.parse_args(argv)
    args.repeat = max(1, args.repeat)

    def best(f, *fargs):
        return max(f(*fargs) for _ in range(args.repeat))

    sizes = [64, 256, 1024, 4096, 16384] if args.quick else [64, 256, 1024, 4096, 16384, 65536]
    work = 2e6 if args.quick else 2e7  # unit-steps per measurement
    try:
        import torch  # noqa: F401

        have_torch = True
    except ImportError:
        have_torch = False
    # compile once, outside the timings
    package_rate(16, 4, "numba")
    rows = []
    print(f"{'N':>7} {'steps':>7} {'reference':>11} {'numpy':>11} {'numba':>11}"
          + (f" {'torch':>11}" if have_torch else "") + "   (unit-steps/s)")
    for N in sizes:
        K = int(max(50, min(20000, work // N)))
        rng = np.random.default_rng(1)
        X = rng.standard_normal(K)
        Y = np.sin(2 * X)
        row = {"N": N, "steps": K,
               "reference": N * K / min(reference_loop(X, Y, N) for _ in range(args.repeat)),
               "numpy": best(package_rate, N, K, "numpy"),
               "numba": best(package_rate, N, K, "numba")}
        if have_torch:
            row["torch"] = N * K / min(torch_loop(X, Y, N) for _ in range(args.repeat))
        rows.append(row)
        print(f"{N:>7} {K:>7} {row['reference']:>11.3g} {row['numpy']:>11.3g} "
              f"{row['numba']:>11.3g}" + (f" {row['torch']:>11.3g}" if have_torch else ""))
    at = next(r for r in rows if r["N"] == 4096)
    winner = max(("numpy", "numba"), key=lambda b: at[b])
    ratio = at[winner] / at["reference"]
    summary = {
        "best_backend_at_4096": winner,
        "best_over_reference_at_4096": ratio,
        "best_unit_steps_per_s_per_core_at_4096": at[winner],  # one seed runs on one core
        "numba_over_reference_at_4096": at["numba"] / at["reference"],
        "targets": {"ratio": 5.0, "unit_steps_per_s_per_core": 5e7},
        "targets_met": bool(ratio >= 5.0 and at[winner] >= 5e7),
        "repeat": args.repeat,
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    print(f"N=4096: best backend {winner}: {ratio:.2f}x the reference (target 5x), "
          f"{at[winner]:.3g} unit-steps/s on one core (target 5e7); "
          f"targets {'met' if summary['targets_met'] else 'NOT met'}")
    write_json(RESULTS, {"rows": rows, "summary": summary, "quick": args.quick})
    return rows, summary


if __name__ == "__main__":
    main()
