r"""The cost of evaluating :math:`h^N_t` on the study's histories against the training run itself.

The convergence study evaluates, for every run, the frozen-parameter output
:math:`h^N_t(\xi)` (``THEORY.md`` §3) on the limit's histories at every time of
its grid (:meth:`limitsolver.simulation.SimulationResult.outputs`). This
benchmark times, in one process and one run, at the headline configuration
(:func:`limitsolver.headline.headline_problem`: exact histories of the two-state
chain on :math:`\pm 1`, window :math:`L = 10`, :math:`M = 1024`; doubled
initialisation; the study's 6 times; :math:`N = 32768`, one seed):

* **training**: one :func:`limitsolver.simulation.simulate` run storing the
  parameters at the 6 times (compilation excluded: a small untimed run first,
  and the run's own ``compile_time`` subtracted);
* **evaluation**: ``res.outputs(histories, times)`` as the study calls it, with
  numba's default threads and on one thread (two study workers on two cores
  get one core each);
* where the evaluation's time goes: the snapshots' parameters, the distinct
  windows (:func:`limitsolver.simulation.output._distinct_windows`), the suffix
  tree, the compiled walk; and the walk without the sign symmetry (every window
  and its negation, the route before it), for comparison;
* counts: windows, windows evaluated, tree nodes with and without the symmetry,
  the :math:`M(L-1)` memory steps per unit without suffix sharing, and the
  networks evaluated (the :math:`t = 0` network of a doubled start is exactly
  zero and skipped).

The headline number is *evaluation / training* (target at most 0.2). Times are
medians over ``repeat`` repetitions (training too).

Run ``python -m benchmarks.bench_output [--quick]``; prints the ratios and writes
``benchmarks/results/output.json``. ``--quick`` times everything once.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from limitsolver.io import write_json

__all__ = ["output_cost", "format_output", "main"]

RESULTS = Path(__file__).resolve().parent / "results" / "output.json"


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def output_cost(*, n_units: int = 32768, n_times: int = 6, seed: int = 0, repeat: int = 3,
                problem=None) -> dict:
    """Time the evaluation of :math:`h^N_t` and the training run of the same network.

    Parameters
    ----------
    n_units : int
        Width :math:`N` (even: doubled initialisation).
    n_times : int
        Number of snapshot times on :math:`[0, T]`, as the study's ``n_times``.
    seed : int
        Seed of the run.
    repeat : int
        Repetitions of every timing (medians are reported).
    problem : Problem, optional
        A problem on a finite chain (default: the headline problem).

    Returns
    -------
    dict
        ``seconds`` (training, evaluation, evaluation_one_thread and the parts of the
        evaluation), ``ratio`` (each against training), ``counts``, ``n_units``,
        ``numba_threads``.
    """
    import numba

    from limitsolver.headline import headline_problem
    from limitsolver.histories import exact_histories
    from limitsolver.memory import suffix_tree
    from limitsolver.prior import UnitParameters
    from limitsolver.simulation import output as om
    from limitsolver.simulation import simulate

    problem = headline_problem() if problem is None else problem
    net = problem.network
    hist = exact_histories(problem.chain, problem.depth).values
    times = np.linspace(0.0, problem.horizon, n_times)
    simulate(problem.replace(horizon=0.1), 64, [seed], snapshot_times=[0.0, 0.1],
             progress=False, backend="numba").outputs(hist[:4])             # compile / load
    runs = []

    def train():
        runs.append(simulate(problem, n_units, [seed], snapshot_times=times, progress=False,
                             backend="numba"))

    t_train = [_median_time(train, 1) - runs[-1].compile_time for _ in range(repeat)]
    res = runs[-1]
    sec = {"training": float(np.median(t_train))}
    sec["evaluation"] = _median_time(lambda: res.outputs(hist, times), repeat)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        sec["evaluation_one_thread"] = _median_time(lambda: res.outputs(hist, times), repeat)
    finally:
        numba.set_num_threads(threads)

    # the parts, on the same data
    snaps = [res.parameters(t) for t in times]
    stack = lambda: UnitParameters(*(np.concatenate([getattr(p, f) for p in snaps])  # noqa: E731
                                     for f in ("c", "w", "b")))
    sec["parameters"] = _median_time(stack, repeat)
    p = stack()
    live = ~om._mirrored(p.c, p.w, p.b)
    c, w, b = (np.ascontiguousarray(a[live]) for a in (p.c, p.w, p.b))
    act = net.activation
    kernel = om._compiled(act, True)
    odd = om._odd_kernel(act)
    sec["distinct_windows"] = _median_time(lambda: om._distinct_windows(hist, odd), repeat)
    windows = om._distinct_windows(hist, odd)[0]
    sec["suffix_tree"] = _median_time(lambda: suffix_tree(windows), repeat)
    n_blocks = -(-n_units // om._BLOCK)

    def walk(ws):
        tree = suffix_tree(ws)
        part = np.zeros((c.shape[0], n_blocks, ws.shape[0]))
        return lambda: kernel(c, w, b, tree.x, tree.up, np.ascontiguousarray(ws[:, 0, :]),
                              tree.leaf, om._BLOCK, part)

    sec["walk"] = _median_time(walk(windows), repeat)
    sec["walk_without_sign_symmetry"] = _median_time(walk(hist), repeat)
    M, L, _ = hist.shape
    counts = {"windows": M, "windows_evaluated": int(windows.shape[0]),
              "tree_nodes": int(suffix_tree(windows).x.shape[0]),
              "tree_nodes_without_sign_symmetry": int(suffix_tree(hist).x.shape[0]),
              "memory_steps_without_suffix_sharing": M * (L - 1),
              "networks": n_times, "networks_evaluated": int(live.sum())}
    ratio = {k: v / sec["training"] for k, v in sec.items() if k != "training"}
    return {"seconds": sec, "ratio": ratio, "counts": counts, "n_units": n_units,
            "n_times": n_times, "numba_threads": threads, "odd_activation": odd}


def format_output(res: dict) -> str:
    """Lines: the headline ratio against its 0.2 target, then each part against training."""
    s, r, n = res["seconds"], res["ratio"], res["counts"]
    lines = [f"h^N_t on {n['windows']} histories x {res['n_times']} times at N = "
             f"{res['n_units']}: evaluation / training = {r['evaluation']:.3f} (target <= 0.2; "
             f"{s['evaluation']:.3g} s / {s['training']:.3g} s, {res['numba_threads']} threads)",
             f"  on one thread:              {r['evaluation_one_thread']:.3f}"]
    for key in ("parameters", "distinct_windows", "suffix_tree", "walk",
                "walk_without_sign_symmetry"):
        lines.append(f"  {key:<28}{r[key]:.3f}  ({s[key]:.3g} s)")
    lines.append(f"  windows evaluated {n['windows_evaluated']} of {n['windows']}; tree nodes "
                 f"{n['tree_nodes']} ({n['tree_nodes_without_sign_symmetry']} without the sign "
                 f"symmetry; {n['memory_steps_without_suffix_sharing']} memory steps without "
                 f"suffix sharing); networks evaluated {n['networks_evaluated']} of "
                 f"{n['networks']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python -m benchmarks.bench_output [--quick]``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    dict
        The output of :func:`output_cost`.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time everything once")
    parser.add_argument("--n-units", type=int, default=32768, help="width N (default 32768)")
    args = parser.parse_args(argv)
    res = output_cost(n_units=args.n_units, repeat=1 if args.quick else 3)
    print(format_output(res))
    write_json(RESULTS, {**res, "quick": args.quick})
    return res


if __name__ == "__main__":  # pragma: no cover
    main()
