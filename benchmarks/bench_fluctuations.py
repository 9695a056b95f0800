r"""The fluctuation prediction (theory §8): its cost, and its accuracy against finite networks.

Two parts, both measured in one run:

* **cost**: :func:`limitsolver.limit.fluctuations.predict_fluctuations` at the headline
  problem (:func:`limitsolver.headline.headline_study`: :math:`M = 1024` exact histories,
  :math:`64\times 16` nodes, 6 times, 512 sample paths) against one
  :func:`limitsolver.simulation.simulate` run at the study's largest width
  (:math:`N = 32768`, one seed, parameters stored at the study's times). The prediction is
  timed from the problem (its limit solve included) and from a solved limit; the row of
  the suite is *prediction from the problem / one finite run* (target below 1).
  Compilation and caches of both sides are kept out by small untimed runs first.
* **accuracy**: on the check problem of §8 (:func:`check_problem`: the two-state chain
  :math:`P = [[0.8, 0.2], [0.3, 0.7]]` on :math:`\pm 1`, the target
  :math:`\sum_{j<6} 0.5^j X_{k-j}`, tanh, :math:`\sigma_w = 1`, :math:`b_{\max} = 0.5`,
  :math:`\alpha = 1`, doubled, rtrl, ``memory_tol = 3e-3`` (depth 10, :math:`M = 1024`
  exact histories), :math:`T = 2`, :math:`64\times 16` Legendre nodes), the measured
  :math:`N\,\mathbb E\|h^N_t - h_t\|^2_{L^2(\pi)}` over seeds at several widths against
  :math:`K_t + D_t`, per time, as the ratio measured / predicted with a 95 % interval
  (:math:`\pm 1.96` standard errors of the mean over seeds; the prediction's own error is
  below :math:`10^{-3}` relative); the same over all times pooled (per seed, the sum over
  times); and :math:`\mathbb E\sup_t\sqrt N\|h^N_t - h_t\|` against
  ``constants["sup_l2"]`` (interval from the delta method with both standard errors, as
  :func:`limitsolver.studies.prediction.compare_with_prediction`).

Run ``python -m benchmarks.bench_fluctuations [--quick]``: prints both parts and writes
``benchmarks/results/fluctuations.json``. ``--quick`` measures the accuracy at
:math:`N = 1024, 4096` with 16 seeds; the default at :math:`N = 1024, 4096` with 64 seeds.
``--full`` runs the measurements of where the leading order stops being accurate instead
(small widths, the reference widths, a long horizon, :math:`\beta = 3/4`; tens of minutes)
and writes ``benchmarks/results/fluctuations-full.json``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from limitsolver.io import write_json

__all__ = ["check_problem", "cost", "accuracy", "beyond", "format_cost", "format_accuracy",
           "CHECK_GRID", "main"]

RESULTS = Path(__file__).resolve().parent / "results"
#: The parameter rule of the check problem (as the headline study's).
CHECK_GRID = {"n_w": 64, "n_b": 16, "kind": "legendre"}
#: Normal quantile of the two-sided 95 % intervals.
Z95 = 1.959963984540054


def check_problem(*, horizon: float = 2.0, beta: float = 0.5, memory_tol: float = 3e-3,
                  n_terms: int = 6, doubled: bool = True):
    r"""The check problem of ``THEORY.md`` §8 (see the module docstring).

    Parameters
    ----------
    horizon : float
        :math:`T`.
    beta : float
        Output scaling exponent :math:`\beta`.
    memory_tol : float
        Memory tolerance of the network (``3e-3``: depth 10).
    n_terms : int
        Terms of the geometric linear-memory target (decay 0.5).
    doubled : bool
        Doubled initialisation.

    Returns
    -------
    Problem
    """
    from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem

    chain = FiniteChain([[0.8, 0.2], [0.3, 0.7]], states=[-1.0, 1.0])
    prior = Prior(sigma_w=1.0, b_max=0.5, doubled=doubled)
    net = NetworkSpec(activation="tanh", prior=prior, beta=beta, alpha=1.0, gradient="rtrl",
                      memory_tol=memory_tol)
    return Problem(chain, LinearMemory.geometric(decay=0.5, n_terms=n_terms), net,
                   horizon=horizon)


def cost(*, study=None, n_units: int | None = None, n_samples: int = 512, seed: int = 0,
         backend: str = "auto", show: bool = True) -> dict:
    r"""Time the prediction at the headline problem against one finite run at its largest width.

    Parameters
    ----------
    study : ConvergenceStudy, optional
        The study (default :func:`limitsolver.headline.headline_study` with seed 0).
    n_units : int, optional
        Width of the finite run (default the study's largest).
    n_samples : int
        Sample paths of the prediction (its default).
    seed : int
        Seed of the finite run and of the sample paths.
    backend : {"auto", "numba", "numpy"}
        Simulator backend.
    show : bool
        Print the comparison.

    Returns
    -------
    dict
        ``n_units``, ``M``, ``G``, ``n_times``, ``n_samples``, ``seconds``
        (``limit_solve``, ``prediction_from_solution``, ``prediction_from_problem``,
        ``finite_run``), ``ratio`` (``prediction`` = from the problem / finite run,
        ``prediction_given_limit`` = from the solution / finite run) and the
        prediction's own ``timing`` split.
    """
    from limitsolver.headline import headline_study
    from limitsolver.limit import solve_limit
    from limitsolver.limit.fluctuations import predict_fluctuations
    from limitsolver.simulation import simulate

    study = headline_study(0) if study is None else study
    problem, times = study.problem, study.times
    N = int(study.n_units[-1] if n_units is None else n_units)
    grid = dict(study.grid)

    def solve(rule):
        return solve_limit(problem, histories=study.histories, times=times, grid=rule,
                           h0="zero", error_estimate=False, progress=False)

    # one-off costs (compilation, caches) out of the timings
    predict_fluctuations(solve({"n_w": 4, "n_b": 2, "kind": "legendre"}), n_samples=4,
                         progress=False)
    simulate(problem, 16, [seed], snapshot_times=times, backend=backend, progress=False)

    t0 = time.perf_counter()
    pred = predict_fluctuations(problem, times=times, histories=study.histories, grid=grid,
                                n_samples=n_samples, seed=seed, progress=False)
    t_problem = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = solve(grid)
    t_solve = time.perf_counter() - t0
    t0 = time.perf_counter()
    predict_fluctuations(sol, n_samples=n_samples, seed=seed, progress=False)
    t_sol = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = simulate(problem, N, [seed], snapshot_times=times, backend=backend, progress=False)
    t_finite = time.perf_counter() - t0
    out = {"n_units": N, "M": int(sol.histories.M), "G": int(sol.grid.G),
           "n_times": int(len(times)), "n_samples": int(n_samples),
           "finite_backend": res.backend, "finite_steps": int(res.n_steps),
           "seconds": {"limit_solve": t_solve, "prediction_from_solution": t_sol,
                       "prediction_from_problem": t_problem, "finite_run": t_finite},
           "ratio": {"prediction": t_problem / t_finite,
                     "prediction_given_limit": t_sol / t_finite},
           "timing": dict(pred.diagnostics["timing"]),
           "predicted_sup_l2_at_N": float(pred.error(N, "sup_l2"))}
    if show:
        print(format_cost(out))
    return out


def format_cost(out: dict) -> str:
    """The comparison of :func:`cost` as text.

    Parameters
    ----------
    out : dict
        The output of :func:`cost`.

    Returns
    -------
    str
    """
    s, r = out["seconds"], out["ratio"]
    return "\n".join([
        f"prediction: M = {out['M']} exact histories, G = {out['G']} nodes, "
        f"{out['n_times']} times, {out['n_samples']} sample paths",
        f"  from the problem (limit solve included) {s['prediction_from_problem']:>9.3g} s",
        f"  from a solved limit                     {s['prediction_from_solution']:>9.3g} s"
        f"  (the solve alone {s['limit_solve']:.3g} s)",
        f"finite: N = {out['n_units']}, one seed, {out['finite_steps']} steps "
        f"({out['finite_backend']})       {s['finite_run']:>9.3g} s",
        f"prediction / one finite run = {r['prediction']:.3g} (target < 1; given the limit "
        f"{r['prediction_given_limit']:.3g})",
    ])


def _interval(ratio, rel):
    return ratio * (1 - Z95 * rel), ratio * (1 + Z95 * rel)


def _measure_width(problem, sol, pred, N, seeds, backend):
    """Per-seed N |h^N_t - h_t|^2 at every time of ``sol`` (shape (n_seeds, n_times))."""
    from limitsolver.simulation import simulate

    hist = sol.histories
    t0 = time.perf_counter()
    res = simulate(problem, int(N), list(seeds), snapshot_times=sol.times, backend=backend,
                   progress=False)
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    sq = np.stack([N * ((res.output(hist.values, time=float(t)) - sol.h[i]) ** 2)
                   @ hist.weights for i, t in enumerate(sol.times)], axis=1)
    return sq, {"simulate": t_sim, "outputs": time.perf_counter() - t0}


def _compare(sq, pred, scale=None):
    """Ratios measured / predicted of the squared errors per time, pooled, and of the sup."""
    n = sq.shape[0]
    root = math.sqrt(n)
    total = pred.total
    pos = total > 0
    mean = sq.mean(axis=0)
    se = sq.std(axis=0, ddof=1) / root
    ratio = np.where(pos, mean / np.where(pos, total, 1.0), np.nan)
    ratio_se = np.where(pos, se / np.where(pos, total, 1.0), np.nan)
    pooled = sq[:, pos].sum(axis=1) / total[pos].sum()
    sup = np.sqrt(sq).max(axis=1)
    C, sC = float(pred.constants["sup_l2"]), float(pred.constants_se["sup_l2"])
    sup_mean, sup_se = float(sup.mean()), float(sup.std(ddof=1) / root)
    sup_ratio = sup_mean / C
    lo, hi = _interval(sup_ratio, math.hypot(sup_se / sup_mean, sC / C))
    p_mean, p_se = float(pooled.mean()), float(pooled.std(ddof=1) / root)
    return {"n_seeds": int(n), "mean": mean, "stderr": se, "predicted": total,
            "ratio": ratio, "ratio_low": ratio - Z95 * ratio_se,
            "ratio_high": ratio + Z95 * ratio_se,
            "pooled_ratio": p_mean, "pooled_ratio_low": p_mean - Z95 * p_se,
            "pooled_ratio_high": p_mean + Z95 * p_se,
            "sup_l2": {"measured": sup_mean, "measured_se": sup_se, "predicted": C,
                       "predicted_se": sC, "ratio": sup_ratio, "ratio_low": lo,
                       "ratio_high": hi}}


def accuracy(problem=None, *, widths: Sequence[int] = (1024, 4096), n_seeds: int = 64,
             times=None, grid: dict | None = None, n_samples: int = 2000, seed: int = 0,
             first_seed: int = 0, backend: str = "auto", predict_problem=None,
             show: bool = True) -> dict:
    r"""Measured :math:`N\,\mathbb E\|h^N_t - h_t\|^2` over seeds against :math:`K_t + D_t`.

    Parameters
    ----------
    problem : Problem, optional
        The problem of the finite networks (default :func:`check_problem`).
    widths : sequence of int
        Widths :math:`N`.
    n_seeds : int
        Seeds per width (``first_seed, ..., first_seed + n_seeds - 1``, all in one
        :func:`~limitsolver.simulation.simulate` call).
    times : array_like, optional
        Times (default ``linspace(0, T, 5)``).
    grid : dict, optional
        Parameter rule of the limit (default :data:`CHECK_GRID`).
    n_samples : int
        Sample paths of the prediction (for the sup constant).
    seed : int
        Seed of the sample paths.
    first_seed : int
        First seed of the finite networks.
    backend : {"auto", "numba", "numpy"}
        Simulator backend.
    predict_problem : Problem, optional
        The problem whose limit and prediction the measurements are compared with
        (default ``problem``; e.g. its :math:`\beta = 1/2` twin, to show how a
        :math:`\beta \ne 1/2` network departs from the prediction, which refuses it).
    show : bool
        Print the table.

    Returns
    -------
    dict
        ``times``, ``M``, ``G``, ``depth``, ``kernel`` (:math:`K_t`), ``data``
        (:math:`D_t`), ``predicted`` (their sum), ``constants``, ``constants_se``,
        ``seconds`` (``prediction`` and per width) and ``widths``: per width the output
        of the comparison (``n_seeds``, per-time ``mean``, ``stderr``, ``ratio`` with
        ``ratio_low``/``ratio_high``, the pooled ratio with its interval, and ``sup_l2``
        with measured, predicted and their ratio with its interval).
    """
    from limitsolver.limit import solve_limit
    from limitsolver.limit.fluctuations import predict_fluctuations

    problem = check_problem() if problem is None else problem
    ref = problem if predict_problem is None else predict_problem
    times = (np.linspace(0.0, float(problem.horizon), 5) if times is None
             else np.asarray(times, dtype=float))
    sol = solve_limit(ref, histories="exact", times=times,
                      grid=dict(CHECK_GRID if grid is None else grid), h0="zero",
                      error_estimate=False, progress=False)
    t0 = time.perf_counter()
    pred = predict_fluctuations(sol, n_samples=n_samples, seed=seed, progress=False)
    out = {"times": times, "M": int(sol.histories.M), "G": int(sol.grid.G),
           "depth": int(sol.histories.depth), "beta": float(problem.network.beta),
           "predicted_beta": float(ref.network.beta), "kernel": pred.kernel,
           "data": pred.data, "predicted": pred.total, "constants": dict(pred.constants),
           "constants_se": dict(pred.constants_se),
           "seconds": {"prediction": time.perf_counter() - t0}, "widths": {}}
    seeds = range(first_seed, first_seed + int(n_seeds))
    for N in widths:
        sq, secs = _measure_width(problem, sol, pred, N, seeds, backend)
        row = _compare(sq, pred)
        row["sqrtN_rms"] = np.sqrt(row["mean"])
        out["widths"][int(N)] = row
        out["seconds"][f"N={int(N)}"] = secs
        if show:
            print(format_accuracy(out, only=int(N)), flush=True)
    return out


def format_accuracy(out: dict, only: int | None = None) -> str:
    """The table of :func:`accuracy`: per width and time, measured, predicted, ratio [95 %].

    Parameters
    ----------
    out : dict
        The output of :func:`accuracy`.
    only : int, optional
        One width only.

    Returns
    -------
    str
    """
    lines = []
    t = np.asarray(out["times"])
    for N, r in out["widths"].items():
        if only is not None and int(N) != only:
            continue
        lines.append(f"N = {N}, {r['n_seeds']} seeds (beta = {out['beta']:g}, predicted at "
                     f"beta = {out['predicted_beta']:g}; M = {out['M']}, G = {out['G']})")
        lines.append(f"  {'t':>6} {'K_t':>9} {'D_t':>9} {'N E|e|^2':>10} {'se':>8} "
                     f"{'ratio':>6}  95% interval")
        for i in range(1, t.size):
            lines.append(f"  {t[i]:>6.3g} {out['kernel'][i]:>9.4g} {out['data'][i]:>9.4g} "
                         f"{r['mean'][i]:>10.4g} {r['stderr'][i]:>8.2g} {r['ratio'][i]:>6.3f}  "
                         f"[{r['ratio_low'][i]:.3f}, {r['ratio_high'][i]:.3f}]")
        s = r["sup_l2"]
        lines.append(f"  pooled over times: ratio {r['pooled_ratio']:.3f} "
                     f"[{r['pooled_ratio_low']:.3f}, {r['pooled_ratio_high']:.3f}]")
        lines.append(f"  E sup_t sqrt(N)|e_t|: {s['measured']:.4g} ± {s['measured_se']:.2g}, "
                     f"predicted {s['predicted']:.4g} ± {s['predicted_se']:.1g}, ratio "
                     f"{s['ratio']:.3f} [{s['ratio_low']:.3f}, {s['ratio_high']:.3f}]")
    return "\n".join(lines)


def beyond(*, n_seeds: int = 64, small_widths: Sequence[int] = (64, 128, 256),
           reference_widths: Sequence[int] = (4096, 16384), reference_seeds: int | None = None,
           long_horizon: float = 8.0, long_widths: Sequence[int] = (1024, 4096),
           beta_widths: Sequence[int] = (256, 1024, 4096), parts: Sequence[str] = (
               "small", "reference", "long", "beta"), out_path: Path | None = None) -> dict:
    r"""Where the leading order stops being accurate: small N, long horizons, :math:`\beta > 1/2`.

    Each part is :func:`accuracy` on :func:`check_problem`: ``small`` at ``small_widths``;
    ``reference`` at ``reference_widths`` (``reference_seeds`` seeds, default ``n_seeds``);
    ``long`` at :math:`T` = ``long_horizon`` (9 times) at ``long_widths``; ``beta`` the
    :math:`\beta = 3/4` doubled network at ``beta_widths`` against the limit and
    prediction of its :math:`\beta = 1/2` twin. The record is written to ``out_path``
    after every part (a slow part does not lose the others).

    Returns
    -------
    dict
        One :func:`accuracy` output per part.
    """
    record: dict = {}
    for part in parts:
        if part == "small":
            record[part] = accuracy(widths=small_widths, n_seeds=n_seeds)
        elif part == "reference":
            record[part] = accuracy(widths=reference_widths,
                                    n_seeds=reference_seeds or n_seeds, first_seed=1000)
        elif part == "long":
            record[part] = accuracy(check_problem(horizon=long_horizon), widths=long_widths,
                                    n_seeds=n_seeds, times=np.linspace(0, long_horizon, 9),
                                    first_seed=2000)
        elif part == "beta":
            record[part] = accuracy(check_problem(beta=0.75), widths=beta_widths,
                                    n_seeds=n_seeds, predict_problem=check_problem(),
                                    first_seed=3000)
        else:
            raise ValueError(f"`parts` names an unknown part {part!r}; valid: small, "
                             "reference, long, beta.")
        if out_path is not None:
            write_json(out_path, record)
    return record


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python -m benchmarks.bench_fluctuations [--quick | --full]``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    dict
        What was written.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="16 seeds in the accuracy part")
    p.add_argument("--full", action="store_true",
                   help="the measurements of where the leading order stops being accurate")
    p.add_argument("--parts", nargs="+", default=["small", "reference", "long", "beta"],
                   help="parts of --full (small, reference, long, beta)")
    p.add_argument("--seeds", type=int, default=64, help="seeds per width of --full")
    p.add_argument("--reference-seeds", type=int, default=None,
                   help="seeds at the reference widths of --full (default --seeds)")
    p.add_argument("--reference-widths", type=int, nargs="+", default=[4096, 16384],
                   help="reference widths of --full")
    p.add_argument("--out", type=Path, default=RESULTS / "fluctuations-full.json",
                   help="JSON of --full")
    args = p.parse_args(argv)
    if args.full:
        return beyond(n_seeds=args.seeds, reference_seeds=args.reference_seeds,
                      reference_widths=args.reference_widths, parts=args.parts,
                      out_path=args.out)
    out = {"cost": cost(), "accuracy": accuracy(n_seeds=16 if args.quick else 64),
           "quick": args.quick}
    write_json(RESULTS / "fluctuations.json", out)
    return out


if __name__ == "__main__":
    main()
