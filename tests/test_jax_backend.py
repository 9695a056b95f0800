"""The optional jax backend of ``simulate`` against the numpy backend (the reference loop).

Truth: the numpy backend on the same seeds (so the same numpy draws of parameters and
paths); the two differ only by summation order and a few ulp of sigma per step, so
outputs, errors, losses, snapshots and final parameters agree to 1e-12 absolute (the
observed difference is ~1e-15). Tests that need JAX are marked ``jax`` and skipped
when it is not installed; the error without JAX is tested without it.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from limitsolver.chains import CircleWalk, GaussianAR1
from limitsolver.errors import ConfigError, DivergenceError
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior
from limitsolver.problem import Problem
from limitsolver.simulation import simulate
from limitsolver.simulation._jax import INSTALL, scan_lengths
from limitsolver.targets import StateFunction

try:
    import jax  # noqa: F401

    HAVE_JAX = True
except ImportError:
    HAVE_JAX = False

needs_jax = pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed (the `jax` extra)")

NET = NetworkSpec(memory_tol=1e-4, alpha=1.5)
TIMES = [0.0, 1.3, 2.0, 4.0]


def _problem(dim, network, horizon=4.0):
    if dim == 1:
        return Problem(GaussianAR1(0.5), StateFunction("sin(2*x)"), network, horizon=horizon)
    return Problem(CircleWalk(0.7), StateFunction(lambda x: x[..., 0] * x[..., 1]), network,
                   horizon=horizon)


def _max_difference(a, b) -> float:
    """max |a - b| over predictions, errors, running and cumulative losses, snapshots, final."""
    pairs = [(a.predictions, b.predictions), (a.errors, b.errors),
             (a.running_loss, b.running_loss), (a.cumulative_loss, b.cumulative_loss),
             *zip(a.snapshots, b.snapshots, strict=True), *zip(a.final, b.final, strict=True)]
    for x, y in pairs:
        assert x.shape == y.shape
    return max(float(np.max(np.abs(x - y))) for x, y in pairs)


@pytest.mark.parametrize("beta", [0.5, 0.75])
@pytest.mark.parametrize("doubled", [False, True])
@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("mode", ["rtrl", "truncated"])
@pytest.mark.jax
@needs_jax
def test_jax_agrees_with_numpy_on_the_same_draws(mode, dim, doubled, beta):
    net = NET.replace(gradient=mode, beta=beta, prior=Prior(doubled=doubled))
    problem = _problem(dim, net)
    # chunks of 7 steps between snapshots: several scans per chunk, state carried across
    a = simulate(problem, 24, [0, 1, 2], backend="numpy", snapshot_times=TIMES, chunk_steps=7)
    b = simulate(problem, 24, [0, 1, 2], backend="jax", snapshot_times=TIMES, chunk_steps=7)
    assert b.backend == "jax" and b.status == "finished" and b.n_steps == 96
    np.testing.assert_array_equal(b.paths, a.paths)          # the same numpy draws
    np.testing.assert_array_equal(b.snapshots.c[:, 0], a.snapshots.c[:, 0])
    assert _max_difference(a, b) <= 1e-12
    # the network moved: agreement is not that of two untrained networks
    assert np.max(np.abs(a.final.w - a.snapshots.w[:, 0])) > 1e-3


@pytest.mark.parametrize("act", ["sigmoid", "erf", "softplus", "linear"])
@pytest.mark.jax
@needs_jax
def test_jax_agrees_with_numpy_for_every_activation_it_has(act):
    problem = _problem(1, NET.replace(activation=act), horizon=2.0)
    a = simulate(problem, 24, [0, 1, 2], backend="numpy", snapshot_times=TIMES[:3])
    b = simulate(problem, 24, [0, 1, 2], backend="jax", snapshot_times=TIMES[:3])
    assert _max_difference(a, b) <= 1e-12


@pytest.mark.jax
@needs_jax
def test_jax_same_seed_same_numbers_and_float64():
    problem = _problem(2, NET)
    a = simulate(problem, 24, [3, 5], backend="jax", snapshot_times=TIMES)
    b = simulate(problem, 24, [3, 5], backend="jax", snapshot_times=TIMES)
    assert _max_difference(a, b) == 0.0
    assert a.predictions.dtype == np.float64 and a.final.w.dtype == np.float64
    # a float32 run would differ from numpy at ~1e-7, not at rounding of doubles
    ref = simulate(problem, 24, [3, 5], backend="numpy", snapshot_times=TIMES)
    assert _max_difference(a, ref) <= 1e-12


@pytest.mark.jax
@needs_jax
def test_jax_seed_in_an_ensemble_equals_its_run_alone_to_rounding():
    # the draws are the seed's own; XLA's order of the sum over units may depend on the
    # batch shape, so the numbers agree to rounding rather than bit for bit
    problem = _problem(1, NET)
    both = simulate(problem, 24, [4, 9], backend="jax", snapshot_times=TIMES)
    for q, seed in enumerate((4, 9)):
        alone = simulate(problem, 24, seed, backend="jax", snapshot_times=TIMES)
        assert np.max(np.abs(alone.predictions[0] - both.predictions[q])) <= 1e-12
        for x, y in zip(alone.final, both.final, strict=True):
            assert np.max(np.abs(x[0] - y[q])) <= 1e-12


@pytest.mark.jax
@needs_jax
def test_jax_leaves_the_users_dtype_setting_alone():
    import jax
    import jax.numpy as jnp

    before = bool(jax.config.jax_enable_x64)
    simulate(_problem(1, NET, horizon=0.5), 8, 0, backend="jax")
    assert bool(jax.config.jax_enable_x64) == before
    if not before:
        assert jnp.zeros(1).dtype == jnp.float32


@pytest.mark.jax
@needs_jax
def test_jax_divergence_is_reported_at_the_numpy_step():
    # linear units, target 1e3 and a huge learning rate: the error grows geometrically
    problem = _problem(1, NET.replace(activation="linear", alpha=1e4), horizon=50.0)
    problem = problem.replace(target=StateFunction("1000 + 0*x"))
    found = {}
    for backend in ("numpy", "jax"):
        with pytest.raises(DivergenceError, match=r"left the bound .* at training step") as info:
            simulate(problem, 4, [3, 7], backend=backend)
        found[backend] = (info.value.step, re.search(r"seed \d+", str(info.value)).group())
    assert found["jax"] == found["numpy"] and found["jax"][0] > 0
    # the parameter bound (outputs stay finite while w grows without bound)
    problem = _problem(1, NET.replace(prior=Prior(sigma_c=1e149)), horizon=1.0)
    with pytest.raises(DivergenceError, match=r"max\|w\| = .* left the bound .* seed 0"):
        simulate(problem, 256, 0, backend="jax")


@pytest.mark.jax
@needs_jax
def test_jax_refuses_an_activation_it_has_no_form_of():
    problem = _problem(1, NET.replace(activation="u/sqrt(1+u**2)"), horizon=0.5)
    with pytest.raises(ConfigError, match=r"backend.*jax.*supports.*tanh.*numba"):
        simulate(problem, 4, 0, backend="jax")


def test_jax_missing_is_a_config_error_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)   # `import jax` raises ImportError
    with pytest.raises(ConfigError, match=r"jax.*extra.*pip install \"\.\[jax\]\"") as info:
        simulate(_problem(1, NET, horizon=0.5), 4, 0, backend="jax")
    assert "pip install jax" in str(info.value) and INSTALL in str(info.value)


def test_auto_never_chooses_jax_and_limitsolver_does_not_import_it():
    assert simulate(_problem(1, NET, horizon=0.5), 4, 0).backend in ("numpy", "numba")
    code = ("import sys, limitsolver, limitsolver.simulation.simulate\n"
            "print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"


@given(n=st.integers(0, 2**40))
def test_scan_lengths_are_the_binary_expansion(n):
    lengths = scan_lengths(n)
    assert sum(lengths) == n
    assert all(m > 0 and m & (m - 1) == 0 for m in lengths)      # powers of two
    assert lengths == sorted(set(lengths), reverse=True)         # distinct, decreasing
    assert len(lengths) == bin(n).count("1")


# -- the benchmark's bookkeeping (no timing is asserted) ------------------------------------


def _bench():
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("benchmarks.bench_jax"), importlib.import_module(
        "benchmarks.run")


def test_bench_fit_recovers_an_exact_linear_step_cost():
    bench, _ = _bench()
    a, b = 4e-6, 3e-9   # t_step = a + b N S exactly
    rows = [{"N": N, "seeds": S, "jax": N * S / (a + b * N * S)}
            for N, S in ((64, 1), (1024, 1), (16384, 1), (1024, 8))]
    fit = bench.fit_step_cost(rows)
    assert fit["step_overhead_s"] == pytest.approx(a, rel=1e-9)
    assert fit["unit_step_s"] == pytest.approx(b, rel=1e-9)
    assert fit["unit_steps_per_s_asymptotic"] == pytest.approx(1 / b, rel=1e-9)


def test_bench_rows_and_the_skip_without_jax(monkeypatch, tmp_path):
    bench, run = _bench()
    data = {"rows": [{"N": 64, "seeds": 2, "jax": 3e7, "numba": 1.5e8, "numpy": 1.5e6}],
            "summary": {"device": "cpu:0"}}
    rows = {r["quantity"]: r["value"] for r in run._rows_jax({"data": data})}
    assert rows == {"jax / numba, N=64, seeds=2": pytest.approx(0.2),
                    "jax / numpy, N=64, seeds=2": pytest.approx(20.0)}
    monkeypatch.setitem(sys.modules, "jax", None)
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "jax.json")
    assert bench.main(["--quick"]) == 0
    saved = json.loads((tmp_path / "jax.json").read_text())
    assert "not installed" in saved["skipped"] and saved["rows"] == []
    (row,) = run._rows_jax({"data": saved})
    assert row["value"] is None and row["note"].startswith("skipped: jax is not installed")


@pytest.mark.jax
@needs_jax
def test_unit_blocks_belong_to_the_numba_backend():
    with pytest.raises(ConfigError, match="unit_blocks.*numba backend"):
        simulate(_problem(1, NET), 64, 0, backend="jax", unit_blocks=2)
    # "auto" never splits a jax run: the same numbers as one block
    a = simulate(_problem(1, NET), 64, 0, backend="jax", progress=False)
    b = simulate(_problem(1, NET), 64, 0, backend="jax", unit_blocks=1, progress=False)
    assert np.array_equal(a.predictions, b.predictions)
