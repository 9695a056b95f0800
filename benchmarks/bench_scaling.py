r"""Cost against size, with fitted exponents: finite networks in :math:`N`, the limit in :math:`M` and :math:`G`.

Every exponent is the least-squares slope :math:`p` of :math:`\log t = \log C + p\log n`
over the sizes measured in the same run (:func:`fit_exponent`); the expectations
below come from the operation counts of ``THEORY.md`` §2 and §4.

* **Finite network** (§2): a run of horizon :math:`T` takes :math:`K = \lfloor NT\rfloor`
  steps of cost :math:`O(Nd)` each, so its time grows like :math:`N^2 T`: expected
  exponent 2 once the per-step arithmetic outweighs the per-step overhead. One
  seed, backend ``"auto"`` (what the convergence study uses), numba compilation
  excluded by a small untimed run first.
* **Limit solve in** :math:`M` (§4.2–4.4): :math:`M` stationary Monte Carlo
  histories, a fixed rule of :math:`G` nodes with :math:`r = (d+2)G < M`. Features
  cost :math:`O(MGLd)` and the thin-SVD spectral route :math:`O(Mr^2)`: expected
  exponent 1.
* **Limit solve in** :math:`G`: :math:`M` fixed, :math:`G` grown with
  :math:`r < M` throughout, so the thin route's :math:`O(Mr^2)` term gives expected
  exponent 2 (less while the linear feature cost still dominates).

Both limit sweeps solve the default problem of ``limitsolver converge``
(:func:`limitsolver.headline.headline_table`) at the study's six times,
with ``error_estimate=False`` (the cost of one solve, not of its refinement).

Run ``python -m benchmarks.bench_scaling [--quick]``; prints a table and writes
``benchmarks/results/scaling.json``. ``python -m benchmarks`` runs it as part of
the suite.
Run alone, BLAS uses the environment's thread settings (set
``OPENBLAS_NUM_THREADS=1`` for one core); the suite sets one thread by default.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from limitsolver.config import problem_from_config
from limitsolver.headline import headline_table as problem_defaults
from limitsolver.io import write_json

__all__ = ["fit_exponent", "finite_network_scaling", "limit_scaling_M", "limit_scaling_G",
           "scaling", "SIZES", "main"]

RESULTS = Path(__file__).resolve().parent / "results" / "scaling.json"

#: Sizes of the quick and full sweeps.
SIZES: dict[str, dict] = {
    "quick": {"n_units": (2048, 4096, 8192, 16384),
              "M": (1024, 2048, 4096, 8192), "M_grid": {"n_w": 16, "n_b": 8},
              "n_w": (8, 16, 32, 64), "n_b": 4, "G_M": 2048, "repeat": 2},
    "full": {"n_units": (1024, 2048, 4096, 8192, 16384, 32768),
             "M": (1024, 2048, 4096, 8192, 16384, 32768), "M_grid": {"n_w": 16, "n_b": 8},
             "n_w": (8, 16, 32, 64, 128), "n_b": 8, "G_M": 8192, "repeat": 3},
}


def fit_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> dict:
    r"""Least-squares fit of :math:`\log t = \log C + p \log n`.

    Parameters
    ----------
    sizes, seconds : sequence of float
        At least two positive sizes (not all equal) and positive times.

    Returns
    -------
    dict
        ``exponent`` :math:`p`, ``constant`` :math:`C` and ``exponent_se``, the
        standard error of :math:`p` from the residuals (``nan`` with two points).
    """
    n = np.asarray(sizes, dtype=float)
    t = np.asarray(seconds, dtype=float)
    if n.shape != t.shape or n.size < 2 or np.any(n <= 0) or np.any(t <= 0):
        raise ValueError("`sizes` and `seconds` must be equally long positive sequences of "
                         "at least two points.")
    x, y = np.log(n), np.log(t)
    if np.ptp(x) == 0:
        raise ValueError("`sizes` must not all be equal.")
    X = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    se = float("nan")
    if n.size > 2:
        res = y - X @ coef
        s2 = float(res @ res) / (n.size - 2)
        se = float(np.sqrt(s2 / np.sum((x - x.mean()) ** 2)))
    return {"exponent": float(coef[1]), "constant": float(np.exp(coef[0])), "exponent_se": se}


def _best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Minimum wall time of ``repeat`` calls of ``fn`` and the last result."""
    best, out = np.inf, None
    for _ in range(max(1, int(repeat))):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return float(best), out


def _default_problem():
    return problem_from_config(problem_defaults())


def finite_network_scaling(n_units: Sequence[int], *, horizon: float | None = None,
                           seed: int = 0, backend: str = "auto") -> dict:
    r"""Seconds for one finite-network run of horizon :math:`T` at each width :math:`N`.

    Each run is :func:`limitsolver.simulation.simulate` on the default problem
    (one seed, :math:`\lfloor NT\rfloor` steps after the warm-up); the work is
    :math:`N(K + \text{warm-up})` unit-steps. Expected exponent 2.

    Returns
    -------
    dict
        ``rows`` (``N``, ``steps``, ``seconds``, ``unit_steps_per_s``, ``backend``),
        the fit of seconds against ``N`` (:func:`fit_exponent`), ``local_exponent``
        (the slope between the two largest widths, where the per-step overhead
        matters least) and ``expected``.
    """
    from limitsolver.simulation import simulate

    problem = _default_problem()
    if horizon is not None:
        problem = problem.replace(horizon=float(horizon))
    simulate(problem, 16, [seed], backend=backend, progress=False)   # compile outside the timings
    rows = []
    for N in n_units:
        t0 = time.perf_counter()
        res = simulate(problem, int(N), [seed], backend=backend, progress=False)
        sec = time.perf_counter() - t0
        rows.append({"N": int(N), "steps": int(res.n_steps), "seconds": sec,
                     "unit_steps_per_s": int(N) * (res.n_steps + res.warmup) / sec,
                     "backend": res.backend})
    fit = fit_exponent([r["N"] for r in rows], [r["seconds"] for r in rows])
    last = fit_exponent([r["N"] for r in rows[-2:]], [r["seconds"] for r in rows[-2:]])
    return {"horizon": float(problem.horizon), "rows": rows, **fit,
            "local_exponent": last["exponent"], "expected": 2.0}


def _limit_time(problem, histories, grid: dict, seed: int, repeat: int):
    from limitsolver.limit import solve_limit

    times = np.linspace(0.0, float(problem.horizon), 6)
    return _best_of(lambda: solve_limit(problem, histories=histories, times=times, grid=grid,
                                        h0="zero", seed=seed, error_estimate=False,
                                        progress=False), repeat)


def limit_scaling_M(Ms: Sequence[int], *, grid: dict | None = None, seed: int = 0,
                    repeat: int = 1) -> dict:
    r"""Seconds of one limit solve against the number :math:`M` of Monte Carlo histories.

    The rule ``grid`` (default ``{"n_w": 16, "n_b": 8}``, :math:`G = 128`) is fixed;
    each solve draws :math:`M` stationary windows of the default problem's depth.
    Expected exponent 1 (cost :math:`O(MGLd + Mr^2)`).

    Returns
    -------
    dict
        ``rows`` (``M``, ``G``, ``seconds``, ``route``), the fit against ``M`` and
        ``expected``.
    """
    problem = _default_problem()
    grid = dict(grid or {"n_w": 16, "n_b": 8})
    _limit_time(problem, int(min(Ms)), grid, seed, 1)                # first-call costs
    rows = []
    for M in Ms:
        sec, sol = _limit_time(problem, int(M), grid, seed, repeat)
        rows.append({"M": int(sol.histories.M), "G": int(sol.grid.G), "seconds": sec,
                     "route": sol.diagnostics.get("route")})
    fit = fit_exponent([r["M"] for r in rows], [r["seconds"] for r in rows])
    return {"grid": grid, "rows": rows, **fit, "expected": 1.0}


def limit_scaling_G(n_w: Sequence[int], *, n_b: int = 4, M: int = 2048, seed: int = 0,
                    repeat: int = 1) -> dict:
    r"""Seconds of one limit solve against the number :math:`G = n_w n_b` of parameter nodes.

    :math:`M` Monte Carlo histories are fixed; Legendre rules with ``n_w`` nodes on
    the :math:`w` axis and ``n_b`` on the :math:`b` axis. Expected exponent 2 while
    :math:`r = 3G < M` (thin route, :math:`O(Mr^2)`).

    Returns
    -------
    dict
        ``rows`` (``M``, ``G``, ``seconds``, ``route``), the fit against ``G`` and
        ``expected``.
    """
    problem = _default_problem()
    _limit_time(problem, int(M), {"n_w": int(min(n_w)), "n_b": int(n_b)}, seed, 1)
    rows = []
    for nw in n_w:
        grid = {"n_w": int(nw), "n_b": int(n_b), "kind": "legendre"}
        sec, sol = _limit_time(problem, int(M), grid, seed, repeat)
        rows.append({"M": int(sol.histories.M), "G": int(sol.grid.G), "seconds": sec,
                     "route": sol.diagnostics.get("route")})
    fit = fit_exponent([r["G"] for r in rows], [r["seconds"] for r in rows])
    return {"M": int(M), "n_b": int(n_b), "rows": rows, **fit, "expected": 2.0}


def scaling(*, quick: bool = True, sizes: dict | None = None, limit: bool = True,
            seed: int = 0, backend: str = "auto", show: bool = True) -> dict:
    """Run the sweeps (sizes from :data:`SIZES`, updated by ``sizes``) and print their tables.

    Parameters
    ----------
    quick : bool
        ``SIZES["quick"]`` or ``SIZES["full"]``.
    sizes : dict, optional
        Entries replacing those of :data:`SIZES`.
    limit : bool
        Also sweep the limit solve in :math:`M` and :math:`G` (the suite turns this
        off when :mod:`benchmarks.bench_limit` already gave those exponents).
    seed : int
        Seed of the finite runs and of the Monte Carlo histories.
    backend : {"auto", "numba", "numpy"}
        Simulator backend of the finite runs.
    show : bool
        Print the tables.

    Returns
    -------
    dict
        ``finite_network`` and, with ``limit``, ``limit_M`` and ``limit_G`` (see the
        sweep functions); ``sizes``.
    """
    s = dict(SIZES["quick" if quick else "full"])
    s.update(sizes or {})
    out = {"finite_network": finite_network_scaling(s["n_units"], seed=seed,
                                                        backend=backend), "sizes": s}
    if limit:
        out["limit_M"] = limit_scaling_M(s["M"], grid=s["M_grid"], seed=seed,
                                         repeat=s["repeat"])
        out["limit_G"] = limit_scaling_G(s["n_w"], n_b=s["n_b"], M=s["G_M"], seed=seed,
                                         repeat=s["repeat"])
    if show:
        print(format_scaling(out))
    return out


def _fit_line(name: str, r: dict) -> str:
    se = r["exponent_se"]
    pm = f" ± {se:.2f}" if np.isfinite(se) else ""
    return f"{name}: fitted exponent {r['exponent']:.2f}{pm} (expected ~{r['expected']:g})"


def format_scaling(out: dict) -> str:
    """The tables of :func:`scaling` as text."""
    fn = out["finite_network"]
    lines = [f"finite network, one seed, horizon T = {fn['horizon']:g}",
             f"{'N':>8} {'steps':>8} {'seconds':>10} {'unit-steps/s':>13} backend"]
    lines += [f"{r['N']:>8} {r['steps']:>8} {r['seconds']:>10.3g} "
              f"{r['unit_steps_per_s']:>13.3g} {r['backend']}" for r in fn["rows"]]
    lines.append(_fit_line("seconds vs N", fn)
                 + f"; between the two largest N: {fn['local_exponent']:.2f}")
    for title, key, name in (("limit solve vs M", "M", "limit_M"),
                             ("limit solve vs G", "G", "limit_G")):
        if name not in out:
            continue
        r = out[name]
        lines += ["", title, f"{'M':>8} {'G':>6} {'seconds':>10} route"]
        lines += [f"{x['M']:>8} {x['G']:>6} {x['seconds']:>10.3g} {x['route']}"
                  for x in r["rows"]]
        lines.append(_fit_line(f"seconds vs {key}", r))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python -m benchmarks.bench_scaling [--quick]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller sizes")
    args = parser.parse_args(argv)
    out = scaling(quick=args.quick)
    write_json(RESULTS, {**out, "quick": args.quick})
    return out


if __name__ == "__main__":
    main()
