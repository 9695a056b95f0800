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

``--blocks`` instead measures one seed on several cores: the units of every
step split into blocks run in parallel (``simulate(..., unit_blocks=B)``), at
:math:`N = 65536` and :math:`262144`, against the serial loop in the same run
(target: at least 1.7x with 2 blocks on 2 cores), and writes
``benchmarks/results/simulator_blocks.json``.

``--outputs`` measures the evaluation of :math:`h^N_t` on the headline study's
1024 exact histories at its 6 times (:meth:`SimulationResult.outputs`, the
compiled suffix-tree route) against the training run itself at
:math:`N = 32768` (target: at most 20 %), and the numpy route in the same run;
writes ``benchmarks/results/simulator_outputs.json``.
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


def blocks_rate(N, K, blocks):
    """Unit-steps per second of one seed with the units of a step in ``blocks`` parallel blocks."""
    problem = Problem(GaussianAR1(0.5), StateFunction("sin(2*x)"), NetworkSpec(),
                      horizon=K / N)
    res = simulate(problem, N, 0, backend="numba", progress=False, unit_blocks=blocks)
    return N * (res.n_steps + res.warmup) / res.wall_time


def main_blocks(repeat: int):
    """Speed-up of parallel unit blocks over the serial loop, one seed, same run."""
    blocks = max(2, min(os.cpu_count() or 2, 8))
    blocks_rate(64, 4, blocks)  # compile both loops outside the timings
    blocks_rate(64, 4, 1)
    rows = []
    print(f"{'N':>7} {'steps':>6} {'serial':>11} {f'{blocks} blocks':>11} {'speed-up':>9}"
          "   (unit-steps/s)")
    for N in (65536, 262144):
        K = int(max(20, 4e7 // N))
        serial = max(blocks_rate(N, K, 1) for _ in range(repeat))
        par = max(blocks_rate(N, K, blocks) for _ in range(repeat))
        rows.append({"N": N, "steps": K, "serial": serial, "blocks": blocks, "parallel": par,
                     "speed_up": par / serial})
        print(f"{N:>7} {K:>6} {serial:>11.3g} {par:>11.3g} {par / serial:>8.2f}x")
    summary = {"target_speed_up": 1.7, "targets_met": all(r["speed_up"] >= 1.7 for r in rows),
               "cpu_count": os.cpu_count(),
               "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    write_json(RESULTS.with_name("simulator_blocks.json"), {"rows": rows, "summary": summary})
    return rows, summary


def main_outputs(N: int = 32768):
    """Time of h^N_t on the headline histories x times against the training run at width N."""
    from limitsolver.headline import headline_problem, headline_study
    from limitsolver.histories import exact_histories
    from limitsolver.simulation import network_output

    problem = headline_problem()
    times = np.asarray(headline_study().times)
    H = exact_histories(problem.chain, problem.depth).values
    small = simulate(problem, 64, [0], snapshot_times=times, backend="numba", progress=False)
    small.outputs(H[:4], times)  # compile outside the timings
    t0 = time.perf_counter()
    res = simulate(problem, N, [0], snapshot_times=times, backend="numba", progress=False)
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    new = res.outputs(H, times)[0]
    t_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    old = np.stack([network_output(res.parameters(t), H, problem.network.activation,
                                   problem.network.beta, backend="numpy")[0] for t in times])
    t_old = time.perf_counter() - t0
    row = {"N": N, "histories": H.shape[0], "times": len(times), "training_s": t_run,
           "outputs_s": t_new, "numpy_outputs_s": t_old, "fraction": t_new / t_run,
           "max_abs_difference": float(np.abs(new - old).max()), "target_fraction": 0.2,
           "target_met": bool(t_new <= 0.2 * t_run), "cpu_count": os.cpu_count(),
           "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    print(f"N={N}: training {t_run:.2f} s; h^N_t on {H.shape[0]} histories x {len(times)} "
          f"times {t_new:.2f} s ({100 * row['fraction']:.0f}% of the run, target 20%); numpy "
          f"route {t_old:.2f} s; max |difference| {row['max_abs_difference']:.1e}")
    write_json(RESULTS.with_name("simulator_outputs.json"), row)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and steps")
    parser.add_argument("--repeat", type=int, default=3, help="runs per rate (>= 1); best kept")
    parser.add_argument("--blocks", action="store_true",
                        help="one seed on several cores: parallel unit blocks against serial")
    parser.add_argument("--outputs", action="store_true",
                        help="h^N_t on the headline histories against a training run")
    args = parser.parse_args(argv)
    args.repeat = max(1, args.repeat)
    if args.outputs:
        return main_outputs()
    if args.blocks:
        return main_blocks(args.repeat)

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
