"""Benchmark of the limit solver: kernel assembly throughput, whole-solve time and memory, scaling.

Measures, in one run:

* kernel assembly ``A = F F'^T`` (rtrl, symmetric) and the truncated (non-symmetric)
  kernel for ``M`` histories and ``G`` nodes (d = 1), against a plain numpy product
  ``(M, 3G) @ (3G, M)`` of the same shapes; the ratio of throughputs is reported;
* the whole ``solve_limit`` (histories, features, factor/kernel, decomposition,
  201 time points) with its wall time and peak traced memory;
* the cost of the solve as ``M`` and as ``G`` grow, with fitted exponents;
* the exponential flow of a large non-symmetric system (the low-rank route beyond
  1500 columns) on an equispaced grid of 201 times: one ``expm_multiply`` per time
  step against one dense exponential for all steps, as a ratio.

Usage: ``python benchmarks/bench_limit.py [--quick]``; writes
``benchmarks/results/limit.json``.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from limitsolver.chains import GaussianAR1
from limitsolver.histories import sample_histories
from limitsolver.io import write_json
from limitsolver.limit.hidden_layer import features
from limitsolver.limit.kernels import tangent_kernel
from limitsolver.limit.ode import _affine_integral
from limitsolver.limit.quadrature import parameter_grid
from limitsolver.limit.solver import solve_limit
from limitsolver.network import NetworkSpec
from limitsolver.problem import Problem
from limitsolver.targets import StateFunction


def _best(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _problem() -> Problem:
    return Problem(GaussianAR1(0.6), StateFunction(lambda x: np.tanh(2 * x[..., 0])),
                   NetworkSpec(), horizon=2.0)


def kernel_assembly(M: int, n_w: int, n_b: int, repeat: int) -> dict:
    pb = _problem()
    hist = sample_histories(pb.chain, pb.depth, M, 0)
    rule = parameter_grid(pb.network.prior, 1, n_w=n_w, n_b=n_b)
    feat = features(hist, rule, pb.network.activation)
    G = rule.G
    rng = np.random.default_rng(1)
    X = rng.standard_normal((M, 3 * G))
    Y = rng.standard_normal((3 * G, M))
    t_mm = _best(lambda: X @ Y, repeat)
    t_sym = _best(lambda: tangent_kernel(feat, feat, rule, 1.0, "rtrl"), repeat)
    t_tr = _best(lambda: tangent_kernel(feat, feat, rule, 1.0, "truncated"), repeat)
    flops = 2.0 * M * M * 3 * G
    return {"M": M, "G": G, "numpy_matmul_s": t_mm, "rtrl_kernel_s": t_sym,
            "truncated_kernel_s": t_tr, "matmul_gflops": flops / t_mm / 1e9,
            "rtrl_throughput_ratio": t_mm / t_sym, "truncated_throughput_ratio": t_mm / t_tr}


def whole_solve(M: int, n_w: int, n_b: int, method: str = "spectral") -> dict:
    pb = _problem()
    tracemalloc.start()
    t0 = time.perf_counter()
    sol = solve_limit(pb, histories=M, grid={"n_w": n_w, "n_b": n_b}, seed=0, method=method,
                      error_estimate=False, progress=False)
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"M": M, "G": sol.grid.G, "method": method, "route": sol.diagnostics["route"],
            "n_times": int(sol.times.size), "wall_s": wall, "peak_traced_MiB": peak / 2**20,
            "timing": sol.diagnostics["timing"], "final_loss": float(sol.loss[-1])}


def exponential_stepping(n: int, n_times: int = 201) -> dict:
    """``z' = v + Yz`` on an equispaced grid: ``expm_multiply`` per step vs one cached expm."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, n)) / np.sqrt(n)
    Y = -(X @ X.T / n + 0.1 * rng.standard_normal((n, n)) / np.sqrt(n))
    v = rng.standard_normal(n)
    t = np.linspace(0.0, 2.0, n_times)
    t0 = time.perf_counter()
    z_step = _affine_integral(Y, v, t, dense_max=0, max_distinct=0)
    per_step = time.perf_counter() - t0
    t0 = time.perf_counter()
    z_once = _affine_integral(Y, v, t, dense_max=0)
    once = time.perf_counter() - t0
    return {"n": n, "n_times": n_times, "expm_multiply_per_step_s": per_step,
            "one_expm_s": once, "speedup": per_step / once,
            "max_abs_difference": float(np.max(np.abs(z_step - z_once)))}


def _slope(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "limit.json"))
    args = ap.parse_args(argv)
    if args.quick:
        M, n_w, n_b, repeat = 1024, 32, 4, 2
        Ms, nws = [256, 512, 1024], [16, 32, 64]
    else:
        M, n_w, n_b, repeat = 4096, 64, 4, 3
        Ms, nws = [512, 1024, 2048, 4096], [32, 64, 128, 256]
    out: dict = {"quick": args.quick}
    ka = kernel_assembly(M, n_w, n_b, repeat)
    out["kernel_assembly"] = ka
    print(f"kernel assembly M={ka['M']} G={ka['G']}: numpy (M,3G)@(3G,M) "
          f"{ka['numpy_matmul_s']:.3f}s ({ka['matmul_gflops']:.1f} GFlop/s); "
          f"rtrl A {ka['rtrl_kernel_s']:.3f}s (ratio {ka['rtrl_throughput_ratio']:.2f}); "
          f"truncated A {ka['truncated_kernel_s']:.3f}s "
          f"(ratio {ka['truncated_throughput_ratio']:.2f})")
    ws = whole_solve(M, n_w, n_b)
    out["whole_solve"] = ws
    print(f"whole solve M={ws['M']} G={ws['G']} ({ws['route']}), {ws['n_times']} times: "
          f"{ws['wall_s']:.2f}s, peak traced memory {ws['peak_traced_MiB']:.0f} MiB, "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"{'M':>6} {'G':>6} {'solve s':>9} {'peak MiB':>9}")
    rows_M = [whole_solve(m, n_w, n_b) for m in Ms]
    for r in rows_M:
        print(f"{r['M']:>6} {r['G']:>6} {r['wall_s']:>9.3f} {r['peak_traced_MiB']:>9.0f}")
    rows_G = [whole_solve(Ms[-2], nw, n_b) for nw in nws]
    for r in rows_G:
        print(f"{r['M']:>6} {r['G']:>6} {r['wall_s']:>9.3f} {r['peak_traced_MiB']:>9.0f}")
    out["scaling_M"] = rows_M
    out["scaling_G"] = rows_G
    out["exponent_M"] = _slope([r["M"] for r in rows_M], [r["wall_s"] for r in rows_M])
    out["exponent_G"] = _slope([r["G"] for r in rows_G], [r["wall_s"] for r in rows_G])
    ex = exponential_stepping(400 if args.quick else 1600)
    out["exponential_stepping"] = ex
    print(f"exponential flow n={ex['n']}, {ex['n_times']} times: expm_multiply per step "
          f"{ex['expm_multiply_per_step_s']:.2f}s, one expm {ex['one_expm_s']:.2f}s "
          f"(speed-up {ex['speedup']:.1f}x, max |diff| {ex['max_abs_difference']:.1e})")
    out["max_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fitted cost exponents: time ~ M^{out['exponent_M']:.2f} (G fixed), "
          f"~ G^{out['exponent_G']:.2f} (M fixed)")
    write_json(args.out, out)
    return out


if __name__ == "__main__":
    main()
