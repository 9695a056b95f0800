"""Benchmark of the limit solved in chunks of histories: time linear in M, memory bounded.

For Monte Carlo histories of a Gaussian AR(1) chain (depth 28 at the default memory
tolerance) on G = 256 nodes (r = 768 factor columns), or with ``--chain circle`` of the
circle walk (d = 2, G = 256, r = 1024), measures in one run, each size in
a fresh process (so that its peak resident memory is its own):

* the streamed solve in chunks of the rows the default 4 GiB budget gives
  (:func:`limitsolver.limit.chunk_rows`, or ``--chunk`` rows) at
  ``M = 10^4 ... 10^6``: wall time, its phases, peak RSS; the fitted exponent of time
  against M;
* the in-memory solve (features and factor held, thin SVD) at the sizes where it fits,
  as the reference: the ratio in-memory / streamed time at the same M, from the same run.

Usage: ``python -m benchmarks.bench_streaming [--quick] [--max-m 1000000]``; writes
``benchmarks/results/streaming.json``. Targets: M = 10^6 in at most 3 minutes on 2 cores
with at most 4 GB peak memory, exponent at most 1.1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from limitsolver.chains import CircleWalk, GaussianAR1
from limitsolver.limit.solver import solve_limit
from limitsolver.network import NetworkSpec
from limitsolver.problem import Problem
from limitsolver.targets import StateFunction

M, chunk, n_w, n_b, n_times = (int(a) for a in sys.argv[1:6])
if sys.argv[6] == "circle":   # states (cos x, sin x): d = 2
    pb = Problem(CircleWalk(0.5), StateFunction(lambda x: np.sin(x[..., 0])), NetworkSpec(),
                 horizon=2.0)
else:
    pb = Problem(GaussianAR1(0.6), StateFunction(lambda x: np.tanh(2 * x[..., 0])),
                 NetworkSpec(), horizon=2.0)
kw = dict(histories=M, grid={"n_w": n_w, "n_b": n_b}, seed=0, error_estimate=False,
          progress=False, times=np.linspace(0.0, 2.0, n_times))
if chunk < 0:          # in memory, whatever the budget
    kw["memory_budget"] = "1TiB"
else:                  # in chunks: the given rows, or those the default budget gives
    from limitsolver.limit import FeatureMap, chunk_rows, parameter_grid
    fmap = FeatureMap.from_problem(pb, parameter_grid(pb.network.prior, pb.dim, n_w=n_w,
                                                       n_b=n_b))
    kw["chunk_size"] = chunk or chunk_rows(fmap, M)
solve_limit(pb, **{**kw, "histories": 512, "chunk_size": kw.get("chunk_size") and 256})  # compile / load the kernels first
t0 = time.perf_counter()
sol = solve_limit(pb, **kw)
wall = time.perf_counter() - t0
print(json.dumps({"M": M, "wall_s": wall, "route": sol.diagnostics["route"],
                  "chunk_size": sol.diagnostics.get("chunk_size"),
                  "timing": sol.diagnostics["timing"], "depth": int(sol.histories.depth),
                  "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "final_loss": float(sol.loss[-1])}))
"""


def _run(M: int, chunk: int, n_w: int, n_b: int, n_times: int, chain: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(M), str(chunk), str(n_w), str(n_b),
                           str(n_times), chain], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"M={M}: {proc.stderr.strip().splitlines()[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="M up to 3e4 (smoke run)")
    ap.add_argument("--max-m", type=int, default=1_000_000, help="largest M")
    ap.add_argument("--chunk", type=int, default=0, help="rows per chunk (0: from the budget)")
    ap.add_argument("--times", type=int, default=201, help="number of output times")
    ap.add_argument("--chain", choices=("ar1", "circle"), default="ar1",
                    help="AR(1) (d = 1, grid 32 x 8) or the circle walk (d = 2, grid 8 x 8 x 4)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "streaming.json"))
    args = ap.parse_args(argv)
    n_w, n_b = (32, 8) if args.chain == "ar1" else (8, 4)
    top = 30_000 if args.quick else args.max_m
    Ms = [m for m in (10_000, 30_000, 100_000, 300_000, 1_000_000) if m <= top]
    rows = []
    print(f"{'M':>8} {'route':>9} {'wall s':>8} {'pass 1 s':>9} {'pass 2 s':>9} {'peak MiB':>9}")
    for M in Ms:
        r = _run(M, args.chunk, n_w, n_b, args.times, args.chain)
        rows.append(r)
        tm = r["timing"]
        print(f"{M:>8} {'chunks':>9} {r['wall_s']:>8.2f} {tm.get('features_and_gram', 0):>9.2f} "
              f"{tm.get('times', 0):>9.2f} {r['peak_rss_MiB']:>9.0f}")
    ref = [_run(M, -1, n_w, n_b, args.times, args.chain) for M in Ms[:2]]
    for r_mem, r_st in zip(ref, rows, strict=False):
        print(f"{r_mem['M']:>8} {'in memory':>9} {r_mem['wall_s']:>8.2f} {'':>9} {'':>9} "
              f"{r_mem['peak_rss_MiB']:>9.0f}   in memory / chunks = "
              f"{r_mem['wall_s'] / r_st['wall_s']:.2f}")
    slope = float(np.polyfit(np.log(Ms), np.log([r["wall_s"] for r in rows]), 1)[0])
    out = {"quick": args.quick, "chain": args.chain, "G": n_w ** (2 if args.chain == "circle" else 1) * n_b, "n_times": args.times, "streamed": rows,
           "in_memory": ref, "exponent_M": slope,
           "ratio_in_memory_over_streamed": [a["wall_s"] / b["wall_s"]
                                             for a, b in zip(ref, rows, strict=False)]}
    print(f"time ~ M^{slope:.2f} over M = {Ms[0]}..{Ms[-1]} (target <= 1.1); largest M: "
          f"{rows[-1]['wall_s']:.0f} s, peak {rows[-1]['peak_rss_MiB'] / 1024:.2f} GiB")
    from limitsolver.io import write_json

    write_json(args.out, out)
    return out


if __name__ == "__main__":
    main()
