"""Size checks refuse large work before allocating it, with the estimate and the fix."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from limitsolver.budget import (
    DEFAULT_MEMORY_BUDGET,
    MEMORY_BUDGET_ENV,
    check_memory,
    format_bytes,
    memory_budget,
    work_budget,
)
from limitsolver.chains import FiniteChain, GaussianAR1
from limitsolver.errors import ConfigError, DiscretisationError
from limitsolver.histories import exact_histories, path_windows, sample_histories
from limitsolver.limit import parameter_grid, solve_limit
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior
from limitsolver.problem import Problem
from limitsolver.targets import StateFunction


def _refuses_fast(fn, match, *, max_seconds=2.0, max_bytes=64 * 2**20):
    """``fn`` raises DiscretisationError matching ``match`` quickly and without allocating."""
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(DiscretisationError, match=match) as info:
        fn()
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < max_seconds and peak < max_bytes
    return str(info.value)


def test_budget_resolution(monkeypatch):
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    assert memory_budget() == DEFAULT_MEMORY_BUDGET == 4 * 2**30
    assert memory_budget("8GiB") == 8 * 2**30 and memory_budget("512 MB") == 512 * 10**6
    assert memory_budget(1e6) == 10**6
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "2GiB")
    assert memory_budget() == 2 * 2**30 and memory_budget(100) == 100
    assert work_budget("2e10") == 2e10
    for bad in ("lots", "-1GiB", 0, True, "8 parsecs"):
        with pytest.raises(ConfigError, match="`memory_budget`"):
            memory_budget(bad)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "nonsense")
    with pytest.raises(ConfigError, match=MEMORY_BUDGET_ENV):
        memory_budget()
    assert format_bytes(74.5 * 2**30) == "74.5 GiB" and format_bytes(12) == "12 B"


def test_check_memory_message_names_estimate_budget_and_fixes():
    with pytest.raises(DiscretisationError) as info:
        check_memory(3 * 2**30, "the thing", fix="make it smaller", budget="1GiB")
    msg = str(info.value)
    assert "3 GiB" in msg and "1 GiB" in msg and "make it smaller" in msg
    assert MEMORY_BUDGET_ENV in msg and "`memory_budget=`" in msg
    check_memory(2**30, "the thing", fix="-", budget="1GiB")  # at the budget: accepted


def test_huge_parameter_grid_is_refused_before_building(monkeypatch):
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    msg = _refuses_fast(lambda: parameter_grid(Prior(), 1, n_w=10**5, n_b=10**5),
                        "nodes.*memory budget")
    assert "use fewer nodes" in msg
    # a raised budget lets a moderate rule through; a lowered one refuses it
    assert parameter_grid(Prior(), 1, n_w=64, n_b=16, memory_budget="1GiB").G == 1024
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "10KiB")
    with pytest.raises(DiscretisationError, match="10 KiB"):
        parameter_grid(Prior(), 1, n_w=64, n_b=16)


def test_many_deep_histories_are_refused_before_sampling(monkeypatch):
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    msg = _refuses_fast(lambda: sample_histories(GaussianAR1(0.5), 690432, 1000, 0),
                        "1000 Monte Carlo histories of depth 690432")
    assert "memory_tol" in msg
    chain = FiniteChain.two_state(0.3, 0.4)
    _refuses_fast(lambda: exact_histories(chain, 40, max_histories=2**40, memory_budget="1MiB"),
                  "exact histories of depth 40")
    _refuses_fast(lambda: path_windows(np.zeros(10**6), 5000), "windows of depth 5000")


def test_deep_memory_recursion_is_refused_before_running(monkeypatch):
    # tolerance 1e-300 with b_max = 0.999: windows of length ~690000, whose suffix
    # recursion makes some numpy calls per level (minutes)
    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    net = NetworkSpec(prior=Prior(b_max=0.999, doubled=True), memory_tol=1e-300)
    pb = Problem(GaussianAR1(0.5), StateFunction(lambda x: x[..., 0]), net, horizon=1.0)
    assert pb.depth > 10**5
    msg = _refuses_fast(lambda: solve_limit(pb, histories=1, seed=0, grid={"n_w": 8, "n_b": 4}),
                        "memory recursion over 1 windows")
    assert "memory_tol" in msg and "work budget" in msg


def test_feature_size_check_refuses_only_what_is_too_large(monkeypatch):
    from limitsolver.limit import FeatureMap

    monkeypatch.delenv(MEMORY_BUDGET_ENV, raising=False)
    monkeypatch.delenv("LIMITSOLVER_WORK_BUDGET", raising=False)
    fmap = FeatureMap(parameter_grid(Prior(b_max=0.5), 1, n_w=64, n_b=16), "tanh", "rtrl", 1.0)
    fmap.check_size(10**5, 20)  # 1e5 windows of depth 20 on 1024 nodes: 3.3 GB, accepted
    fmap.check_size(1, 5000)  # the suffix recursion is linear in the depth: 5000 levels pass
    with pytest.raises(DiscretisationError, match="memory recursion over 1 windows of length "
                                                   "700000"):
        fmap.check_size(1, 700_000)  # but some numpy calls per level, 7e5 times, do not
    with pytest.raises(DiscretisationError, match="features on 200000 histories"):
        fmap.check_size(2 * 10**5, 20)
    fmap.check_size(1, 700_000, work_budget=1e11)  # a raised budget lets it through
