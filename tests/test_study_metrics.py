"""The metrics of convergence and refinement studies, recomputed independently.

A small study on a two-state chain with stationary law pi = (0.6, 0.4), so that the
stationary probabilities of histories are far from uniform, is recomputed from scratch
through the public API: each finite network is re-simulated, its output h^N_t evaluated on
every history, the limit solved afresh with h_0 = h^N_0 (beta = 1/2 without doubling,
THEORY.md §3) or h_0 = 0 (beta > 1/2), and the metrics of THEORY.md §7 computed with
history weights pi(x_{k-L+1}) prod_j P(x_j, x_{j+1}) written out here from the chain's
matrix, not taken from the package. The refinement studies (THEORY.md §4.5) are recomputed
the same way. Agreement is to rounding (the same arithmetic in another order).
"""

from __future__ import annotations

import numpy as np
import pytest

from limitsolver import (
    FiniteChain,
    LinearMemory,
    NetworkSpec,
    Prior,
    Problem,
    exact_histories,
    simulate,
    solve_limit,
)
from limitsolver.studies import (
    ConvergenceStudy,
    refine_depth,
    refine_histories,
    refine_nodes,
    run_convergence,
)

P = np.array([[0.8, 0.2], [0.3, 0.7]])
PI = np.array([0.6, 0.4])                         # solves pi P = pi: 0.6 * 0.2 = 0.4 * 0.3
STATES = np.array([-1.0, 1.0])
RHO = np.array([1.0, 0.5, 0.25])
GRID = {"n_w": 16, "n_b": 4, "kind": "legendre"}


def make_problem(beta=0.5, doubled=False, memory_tol=0.05, horizon=0.5):
    net = NetworkSpec(beta=beta, memory_tol=memory_tol, prior=Prior(doubled=doubled))
    return Problem(FiniteChain(P, states=STATES), LinearMemory(RHO), net, horizon=horizon)


def stationary_weights(values):
    """pi of each window (values[:, 0] current state), from P and PI by hand."""
    idx = (values[:, :, 0] > 0).astype(int)        # state -1 -> 0, state 1 -> 1
    w = PI[idx[:, -1]]
    for j in range(values.shape[1] - 1, 0, -1):    # from the oldest state forwards
        w = w * P[idx[:, j], idx[:, j - 1]]
    return w


def target_values(values):
    return values[:, :RHO.size, 0] @ RHO


def sup_l2(a, b, weights):
    return max(np.sqrt(np.sum(weights * (x - y) ** 2)) for x, y in zip(a, b, strict=True))


def recompute_run(problem, times, n, seed, values, weights, g):
    """(sup_l2, tracking, loss_gap) of one finite network, from scratch."""
    res = simulate(problem, n, [seed], snapshot_times=times, backend="numpy")
    hN = np.stack([res.output(values, time=t)[0] for t in times])
    own_start = problem.network.beta == 0.5 and not problem.network.prior.doubled
    h0 = hN[0] if own_start else np.zeros(values.shape[0])
    sol = solve_limit(problem, histories="exact", times=times, grid=GRID, h0=h0,
                      error_estimate=False)
    # the package lists the exact histories in its own order: match them to ours
    order = {tuple(v): m for m, v in enumerate(sol.histories.values[:, :, 0])}
    perm = np.array([order[tuple(v)] for v in values[:, :, 0]])
    h = sol.h[:, perm]
    e_sup = sup_l2(hN, h, weights)
    loss_n = 0.5 * ((g - hN) ** 2) @ weights
    loss_l = 0.5 * ((g - h) ** 2) @ weights
    e_loss = np.max(np.abs(loss_n - loss_l))
    # tracking: every training step k, window (X_k, X_{k-1}, ...) of the network's own path
    K, W, L = res.n_steps, res.warmup, values.shape[1]
    path = res.paths[0]
    windows = np.stack([path[W + k - np.arange(L)] for k in range(K)])
    h0_track = res.output(windows, time=0.0)[0] if own_start else np.zeros(K)
    h_track = sol.evaluate(windows, times=np.arange(K) / n, h0_new=h0_track)
    e_track = np.sqrt(np.mean((res.predictions[0] - np.diagonal(h_track)) ** 2))
    return e_sup, e_track, e_loss, (hN, h)


@pytest.mark.parametrize("beta", [0.5, 0.75])
def test_convergence_metrics_recomputed_with_stationary_history_weights(beta):
    problem = make_problem(beta=beta)
    study = ConvergenceStudy(problem, n_units=(16, 32), seeds=(0, 1), n_times=3,
                             tracking_samples=10**6, grid=dict(GRID), backend="numpy",
                             depth_check=False)
    result = run_convergence(study, jobs=1, progress=False)
    values = exact_histories(problem.chain, problem.depth).values
    weights = stationary_weights(values)
    assert abs(weights.sum() - 1) < 1e-12 and weights.max() / weights.min() > 10
    g = target_values(values)
    uniform_differs = False
    for i, n in enumerate(study.n_units):
        for j, seed in enumerate(study.seeds):
            e_sup, e_track, e_loss, (hN, h) = recompute_run(problem, study.times, n, seed,
                                                            values, weights, g)
            assert result.errors["sup_l2"][i, j] == pytest.approx(e_sup, rel=1e-9)
            assert result.errors["tracking"][i, j] == pytest.approx(e_track, rel=1e-9)
            assert result.errors["loss_gap"][i, j] == pytest.approx(e_loss, rel=1e-9)
            flat = np.full(weights.size, 1.0 / weights.size)
            uniform_differs |= abs(sup_l2(hN, h, flat) / e_sup - 1) > 1e-3
            np.testing.assert_allclose(result.finite_loss[i, j],
                                       0.5 * ((g - hN) ** 2) @ weights, rtol=1e-10)
    # the check is sharp: uniform weights would have given other numbers
    assert uniform_differs


@pytest.fixture(scope="module")
def doubled_problem():
    # refinement solves use the default initial output: zero with doubling
    return make_problem(doubled=True)


def _solve(problem, grid=GRID, times=None, **kw):
    return solve_limit(problem, histories="exact", times=times, grid=grid,
                       error_estimate=False, **kw)


def test_node_refinement_errors_recomputed(doubled_problem):
    n_w = (4, 8, 16)
    r = refine_nodes(doubled_problem, n_w=n_w, n_times=5)
    t = np.linspace(0, doubled_problem.horizon, 5)
    sols = [_solve(doubled_problem, {"n_w": n, "n_b": max(2, round(n / 4))}, t) for n in n_w]
    w = stationary_weights(sols[-1].histories.values)
    expected = [sup_l2(s.h, sols[-1].h, w) for s in sols[:-1]]
    np.testing.assert_allclose(r.errors, expected, rtol=1e-9)
    np.testing.assert_array_equal(r.levels, n_w[:-1])


def test_depth_refinement_errors_recomputed(doubled_problem):
    r = refine_depth(doubled_problem, extra_levels=1, n_times=5, grid=GRID)
    t = np.linspace(0, doubled_problem.horizon, 5)
    net = doubled_problem.network
    sols = [_solve(doubled_problem.replace(network=net.replace(
        memory_tol=net.memory_tol * net.gamma**k)), times=t) for k in range(2)]
    deep = sols[-1]
    w = stationary_weights(deep.histories.values)
    expected = []
    for s in sols[:-1]:
        L = s.histories.depth
        expected.append(sup_l2(s.evaluate(deep.histories.values[:, :L], times=t), deep.h, w))
    np.testing.assert_allclose(r.errors, expected, rtol=1e-9)
    np.testing.assert_array_equal(r.levels, [s.histories.depth for s in sols[:-1]])


def test_history_refinement_errors_recomputed(doubled_problem):
    M, seeds = (32, 64), (0, 1, 2)
    r = refine_histories(doubled_problem, M=M, seeds=seeds, n_times=5, grid=GRID)
    t = np.linspace(0, doubled_problem.horizon, 5)
    exact = _solve(doubled_problem, times=t)
    w = stationary_weights(exact.histories.values)
    loss_exact = 0.5 * ((exact.g - exact.h) ** 2) @ w
    expected = []
    for m in M:
        gaps = []
        for s in seeds:
            mc = solve_limit(doubled_problem, histories=m, times=t, grid=GRID, seed=s,
                             error_estimate=False)
            loss_mc = np.mean(0.5 * (mc.g - mc.h) ** 2, axis=1)   # weights 1/M
            gaps.append(np.max(np.abs(loss_mc - loss_exact)))
        expected.append(np.mean(gaps))
    np.testing.assert_allclose(r.errors, expected, rtol=1e-9)
