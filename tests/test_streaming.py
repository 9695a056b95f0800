"""The limit solved in chunks of histories (limitsolver.limit.streaming) against the in-memory solve.

Both routes are exact solutions of the same linear ODE on the same histories and
nodes; they differ only in how the r x r problem is formed (Gram matrix of the factor
vs thin SVD of the weighted factor, or the full truncated factors), so at finite times
they agree to rounding of O(1) outputs. At t = inf the pseudo-inverse of the smallest
kept eigenvalues amplifies that rounding: the Gram matrix squares the condition number,
so there eigenvalues near the rank tolerance 10 M eps lambda_max carry relative errors
of order r eps lambda_max / lambda, and the tolerance is accordingly wider.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitsolver.activations import activation
from limitsolver.chains import FiniteChain, GaussianAR1
from limitsolver.errors import ConfigError, DiscretisationError
from limitsolver.histories import exact_histories, sample_histories
from limitsolver.limit.feature_map import FeatureMap
from limitsolver.limit.fluctuations import predict_fluctuations
from limitsolver.limit.hidden_layer import features
from limitsolver.limit.kernels import kernel_factor
from limitsolver.limit.quadrature import parameter_grid
from limitsolver.limit.solver import solve_limit
from limitsolver.limit.streaming import FactorChunks, chunk_rows, in_memory_bytes
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior
from limitsolver.problem import Problem
from limitsolver.targets import StateFunction

GRID = {"n_w": 8, "n_b": 4}
TIMES = np.linspace(0.0, 2.0, 9)
#: finite times: rounding of O(1) outputs through an r x r decomposition (r = 96 here)
ATOL = 1e-12


def _ar1(gradient="rtrl", doubled=False):
    return Problem(GaussianAR1(0.6), StateFunction(lambda x: np.tanh(2 * x[..., 0])),
                   NetworkSpec(gradient=gradient, prior=Prior(doubled=doubled)), horizon=2.0)


def _plane(gradient="rtrl"):
    """A three-state chain on points of the plane (d = 2)."""
    chain = FiniteChain([[0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]],
                        states=[[-1.0, 0.3], [0.2, -0.8], [1.1, 0.5]])
    net = NetworkSpec(prior=Prior(b_max=0.3), memory_tol=1e-2, gradient=gradient)
    return Problem(chain, StateFunction(lambda x: np.sin(x[..., 0]) * x[..., 1]), net,
                   horizon=2.0)


def _pair(problem, chunk, **kw):
    kw = {"grid": GRID, "times": TIMES, "seed": 4, "progress": False, **kw}
    return solve_limit(problem, **kw), solve_limit(problem, chunk_size=chunk, **kw)


@pytest.mark.parametrize("gradient", ["rtrl", "truncated"])
@pytest.mark.parametrize("h0", ["zero", "gp"])
def test_streamed_solve_agrees_with_the_in_memory_solve(gradient, h0):
    mem, st_ = _pair(_ar1(gradient), 333, histories=1500, h0=h0)
    assert "Gram matrix" in st_.diagnostics["route"] and "Gram" not in mem.diagnostics["route"]
    assert st_.diagnostics["chunk_size"] == 333 and st_.training_features is None
    np.testing.assert_allclose(st_.h0, mem.h0, rtol=0, atol=ATOL)
    np.testing.assert_allclose(st_.h, mem.h, rtol=0, atol=ATOL)
    np.testing.assert_allclose(st_.loss, mem.loss, rtol=0, atol=ATOL)
    # the loss is the weighted square residual of the outputs it returns
    np.testing.assert_allclose(st_.loss, 0.5 * (st_.g - st_.h) ** 2 @ st_.weights, rtol=1e-13)
    for key in ("quadrature_error", "monte_carlo_se", "monte_carlo_se_loss"):
        assert st_.discretisation[key] == pytest.approx(mem.discretisation[key], rel=1e-9)


@pytest.mark.parametrize("gradient", ["rtrl", "truncated"])
def test_streamed_solve_in_two_dimensions_with_exact_histories(gradient):
    mem, st_ = _pair(_plane(gradient), 17, error_estimate=False)
    assert st_.histories.M > 17
    np.testing.assert_allclose(st_.h, mem.h, rtol=0, atol=ATOL)
    new = mem.histories.values[::5]
    zeros = np.zeros(new.shape[0])
    np.testing.assert_allclose(st_.evaluate(new, h0_new=zeros), mem.evaluate(new, h0_new=zeros),
                               rtol=0, atol=ATOL)
    h0 = np.cos(np.arange(mem.M))
    np.testing.assert_allclose(st_.propagate(h0).h, mem.propagate(h0).h, rtol=0, atol=ATOL)


def test_long_time_limit_in_chunks():
    times = np.array([0.0, 1.0, 50.0, np.inf])
    mem, st_ = _pair(_ar1(), 250, histories=1000, times=times, error_estimate=False)
    np.testing.assert_allclose(st_.h[:-1], mem.h[:-1], rtol=0, atol=ATOL)
    # pseudo-inverse of eigenvalues down to the rank tolerance (see the module docstring)
    np.testing.assert_allclose(st_.h[-1], mem.h[-1], rtol=0, atol=1e-7)
    assert st_.loss[-1] <= st_.loss[-2] + 1e-12
    # truncated: the same r x r generator; at t = inf its eigenvectors' conditioning (up to
    # 1e10 is accepted) decides the null modes, so only large finite times are compared
    tr_mem, tr_st = _pair(_plane("truncated"), 11, times=times[:-1], error_estimate=False)
    np.testing.assert_allclose(tr_st.h, tr_mem.h, rtol=0, atol=1e-11)


def test_the_number_of_chunks_changes_only_rounding():
    pb = _ar1()
    kw = {"histories": 700, "grid": GRID, "times": TIMES, "seed": 2, "error_estimate": False,
          "progress": False}
    ref = solve_limit(pb, chunk_size=700, **kw)
    for rows in (1, 64, 699):
        np.testing.assert_allclose(solve_limit(pb, chunk_size=rows, **kw).h, ref.h, rtol=0,
                                   atol=ATOL)
    again = solve_limit(pb, chunk_size=64, **kw)
    assert np.array_equal(again.h, solve_limit(pb, chunk_size=64, **kw).h)  # reproducible


@settings(max_examples=15, deadline=None)
@given(d=st.integers(1, 2), L=st.integers(1, 6), m=st.integers(1, 9),
       name=st.sampled_from(["tanh", "sigmoid", "erf", "linear", "0.5*u + tanh(u)**3"]),
       seed=st.integers(0, 2**16))
def test_compiled_factor_rows_equal_the_numpy_features(d, L, m, name, seed):
    """The compiled rows against features() and kernel_factor(), written independently."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, L, d))
    rule = parameter_grid(Prior(b_max=0.4), d, n_w=3, n_b=2)
    act = activation(name)
    feat = features(X, rule, act)
    for gradient in ("rtrl", "truncated"):
        fmap = FeatureMap(rule, act, gradient, c2=2.5, depth=1)
        (sl, F, T), = list(FactorChunks(fmap, X, rows=m, backend="numba"))
        F0 = kernel_factor(feat, rule, 2.5, slot="eval", mode=gradient)
        T0 = kernel_factor(feat, rule, 2.5, slot="train", mode=gradient)
        scale = max(1.0, float(np.abs(F0).max()))
        np.testing.assert_allclose(F, F0, rtol=0, atol=1e-14 * scale)
        np.testing.assert_allclose(T, T0, rtol=0, atol=1e-14 * scale)
        assert (T is F) == (gradient == "rtrl")


def test_numpy_rows_give_the_same_solution():
    pb = _plane("truncated")
    hist = exact_histories(pb.chain, pb.depth)
    fmap = FeatureMap.from_problem(pb, parameter_grid(pb.network.prior, 2, **GRID))
    om = hist.weights
    r0 = np.sin(np.arange(hist.M))
    Z1, b1 = FactorChunks(fmap, hist, 5, backend="numba").gram(om, lambda sl, F: r0[sl])
    Z2, b2 = FactorChunks(fmap, hist, 7, backend="numpy").gram(om, lambda sl, F: r0[sl])
    feat = fmap.features(hist)
    U, V = fmap.factors(feat, feat, weights=om)   # A W = U V^T, the in-memory factors
    np.testing.assert_allclose(Z1, V.T @ U, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Z2, V.T @ U, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b1, V.T @ r0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b2, V.T @ r0, rtol=0, atol=1e-12)


def test_the_memory_budget_decides_in_memory_or_chunks_and_the_chunk_size():
    pb = _ar1()
    fmap = FeatureMap.from_problem(pb, parameter_grid(pb.network.prior, 1, **GRID))
    M = 2000
    need = in_memory_bytes(fmap, M)
    assert need == 8.0 * M * (32 * 2 * 2 + 3 * 96)  # G = 32 nodes, d = 1, r = 96
    kw = {"histories": M, "grid": GRID, "times": TIMES, "seed": 1, "error_estimate": False,
          "progress": False}
    assert "Gram" not in solve_limit(pb, memory_budget=2 * need, **kw).diagnostics["route"]
    small = solve_limit(pb, memory_budget=need / 2, **kw)
    rows = int(0.25 * (need / 2) // (8 * 96 * 2))
    assert small.diagnostics["chunk_size"] == rows == chunk_rows(fmap, M, budget=need / 2)
    assert 64 < rows < M


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "many"])
def test_bad_chunk_size_is_named(bad):
    with pytest.raises(ConfigError, match="chunk_size"):
        solve_limit(_ar1(), histories=100, grid=GRID, seed=0, chunk_size=bad,
                    error_estimate=False, progress=False)


def test_routes_that_need_the_kernel_are_refused_in_chunks():
    for method in ("dense", "ivp"):
        with pytest.raises(ConfigError, match="cannot be solved in chunks"):
            solve_limit(_ar1(), histories=100, grid=GRID, seed=0, chunk_size=10, method=method,
                        error_estimate=False, progress=False)


def test_outputs_beyond_the_budget_are_refused_before_the_work():
    with pytest.raises(DiscretisationError, match="memory_budget"):
        solve_limit(_ar1(), histories=5000, grid=GRID, seed=0, chunk_size=100,
                    times=np.linspace(0, 1, 10_000), memory_budget="100MB",
                    error_estimate=False, progress=False)


def test_queries_that_need_training_features_say_so():
    _, st_ = _pair(_ar1(), 100, histories=300, error_estimate=False)
    with pytest.raises(DiscretisationError, match="in chunks"):
        _ = st_.flow.training_rows
    with pytest.raises(ConfigError, match="in chunks"):
        predict_fluctuations(st_)


def test_sampled_histories_beyond_the_in_memory_budget_are_streamed_not_refused():
    pb = _ar1()
    M = 4000
    hist = sample_histories(pb.chain, pb.depth, M, 0)
    fmap = FeatureMap.from_problem(pb, parameter_grid(pb.network.prior, 1, **GRID))
    budget = in_memory_bytes(fmap, M) / 3
    sol = solve_limit(pb, histories=M, grid=GRID, times=TIMES, seed=0, memory_budget=budget,
                      error_estimate=False, progress=False)
    assert sol.M == M and "Gram" in sol.diagnostics["route"]
    assert hist.values.shape == sol.histories.values.shape


def test_auto_chunks_many_sampled_histories_and_none_keeps_them_in_memory():
    from limitsolver.limit.solver import STREAM_FROM

    pb = _ar1()
    kw = {"histories": STREAM_FROM, "grid": GRID, "times": TIMES, "seed": 0,
          "error_estimate": False, "progress": False}
    auto = solve_limit(pb, **kw)
    assert "Gram" in auto.diagnostics["route"] and auto.training_features is None
    mem = solve_limit(pb, chunk_size=None, **kw)
    assert "Gram" not in mem.diagnostics["route"] and mem.training_features is not None
    np.testing.assert_allclose(auto.h, mem.h, rtol=0, atol=ATOL)
    with pytest.raises(DiscretisationError, match="features on"):   # in memory: refused
        solve_limit(pb, chunk_size=None, memory_budget="4MB", **kw)  # windows fit, features not


def test_the_performance_page_example_runs_at_a_smaller_size():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "performance.rst").read_text()
    block = text.split(".. code-block:: python\n", 1)[1].split("\n\n``chunk_size")[0]
    code = "\n".join(line[3:] for line in block.splitlines())
    assert "histories=10**6" in code
    scope: dict = {"STREAM_FROM": 8192}
    exec(compile(code.replace("10**6", "STREAM_FROM"), "performance.rst", "exec"), scope)
    sol = scope["sol"]
    assert "Gram matrix" in sol.diagnostics["route"] and sol.diagnostics["chunk_size"] == 8192


def test_the_memory_budget_argument_reaches_every_size_check(monkeypatch):
    """A budget passed to solve_limit rules the in-memory features too, not the default."""
    from limitsolver.budget import MEMORY_BUDGET_ENV

    monkeypatch.setenv(MEMORY_BUDGET_ENV, "2MB")      # the default: windows fit, features not
    kw = {"histories": 2000, "grid": GRID, "times": TIMES, "seed": 0, "error_estimate": True,
          "progress": False, "chunk_size": None}
    with pytest.raises(DiscretisationError, match="features on"):
        solve_limit(_ar1(), **kw)
    sol = solve_limit(_ar1(), memory_budget="1GiB", **kw)    # features and refined features
    assert sol.training_features is not None and sol.discretisation["quadrature_error"] > 0
