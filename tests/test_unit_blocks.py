"""One seed on several cores: the units of every step in blocks (``simulate(..., unit_blocks=)``).

Truths used: the serial compiled loop and a plain-Python scalar loop written from
THEORY.md section 2 (``reference_run`` of test_simulation.py, no numpy, no package
code), to rounding; and bit-for-bit identity wherever only the execution changes and
the arithmetic does not (threads, ensembles, chunks, a thread that never comes).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from test_simulation import reference_run

from limitsolver.activations import activation
from limitsolver.chains import CircleWalk, GaussianAR1
from limitsolver.errors import ConfigError, DivergenceError
from limitsolver.network import NetworkSpec
from limitsolver.prior import Prior
from limitsolver.problem import Problem
from limitsolver.simulation import simulate
from limitsolver.simulation._kernels import (
    block_bounds,
    compiled_kernel,
    kernel_module,
    run_blocks,
)
from limitsolver.simulation.simulate import AUTO_BLOCK_UNITS, AUTO_BLOCKS_MIN_UNITS
from limitsolver.targets import StateFunction

NET = NetworkSpec(memory_tol=1e-4)


def ar1_problem(network=NET, horizon=1.0):
    return Problem(GaussianAR1(0.5), StateFunction("sin(2*x)"), network, horizon=horizon)


def circle_problem(network=NET, horizon=1.0):
    return Problem(CircleWalk(0.7), StateFunction(lambda x: x[..., 0] * x[..., 1]), network,
                   horizon=horizon)


def bits(result):
    """Everything a run computes, as raw bits."""
    arrays = [result.predictions, result.errors, *result.final, *result.snapshots]
    return [np.ascontiguousarray(a).view(np.uint64).copy() for a in arrays]


def same_bits(a, b):
    return all(np.array_equal(x, y) for x, y in zip(bits(a), bits(b), strict=True))


def kernel_arrays(S, N, K, d, seed=0):
    """A chunk's inputs drawn independently of the package: X, Y, c, w, b, s, jw, jb."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((S, K, d))
    return [X, np.sin(2 * X[..., 0]), rng.choice([-1.0, 1.0], (S, N)),
            rng.standard_normal((S, N, d)), rng.uniform(-0.5, 0.5, (S, N)),
            rng.uniform(-0.5, 0.5, (S, N)), 0.1 * rng.standard_normal((S, N, d)),
            0.1 * rng.standard_normal((S, N))]


def run_kernel(arrays, n_blocks, n_threads, rtrl=True, lr=0.5):
    """The compiled chunk kernel on copies of ``arrays``; returns (f, e, bad, c, w, b, s, jw, jb)."""
    X, Y, *state = [a.copy() for a in arrays]
    S, K = Y.shape
    N = state[0].shape[1]
    f, e, bad = np.empty((S, K)), np.empty((S, K)), np.full(S, -1, dtype=np.int64)
    compiled_kernel("tanh", "tanh(u)")(X, Y, *state, lr / N, N ** -0.5, rtrl, True, f, e, bad,
                                       n_blocks, n_threads)
    return [f, e, bad, *state]


# -- the partition ------------------------------------------------------------------------


@pytest.mark.parametrize("N,B", [(1, 1), (7, 2), (40, 3), (40, 64), (150, 4), (65536, 16),
                                 (100_000, 25), (262144, 64)])
def test_blocks_cover_the_units_in_whole_cache_lines(N, B):
    bounds = block_bounds(N, B)
    sizes = np.diff(bounds)
    assert bounds.dtype == np.int64 and bounds.size == B + 1
    assert bounds[0] == 0 and bounds[-1] == N and np.all(sizes >= 0)
    full = sizes[sizes > 0]
    # every non-empty block but the last holds the same multiple of 8 units: the equal
    # share rounded up to whole 64-byte lines; the empty ones trail
    share = 8 * math.ceil(N / (8 * B))
    assert np.all(full[:-1] == share) and 0 < full[-1] <= share
    assert np.all(sizes[full.size:] == 0)


# -- agreement with the serial loop and an independent loop --------------------------------


@pytest.mark.parametrize("problem_of", [ar1_problem, circle_problem])  # d = 1 and d = 2
@pytest.mark.parametrize("gradient", ["rtrl", "truncated"])
@pytest.mark.parametrize("doubled", [False, True])
def test_blocks_give_the_serial_numbers_to_rounding(problem_of, gradient, doubled):
    net = NET.replace(alpha=1.5, gradient=gradient, prior=Prior(doubled=doubled))
    problem = problem_of(net, horizon=3.0)
    serial = simulate(problem, 40, 2, backend="numba", unit_blocks=1)
    for blocks in (2, 3, 64):  # 64 > N/8: trailing blocks are empty
        par = simulate(problem, 40, 2, backend="numba", unit_blocks=blocks)
        # only the order of the sum over 40 units differs: a few ulp of f per step, carried
        # through 120 steps of a contracting recursion (b_max sup|sigma'| < 1)
        np.testing.assert_allclose(par.predictions, serial.predictions, rtol=1e-12, atol=1e-14)
        for x, y in zip(par.final, serial.final, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
        assert not same_bits(par, serial) or blocks == 64  # a different sum, really taken


def test_blocks_agree_with_a_plain_python_loop():
    problem = circle_problem(NET.replace(alpha=1.5), horizon=2.0)
    N = 24
    f_ref, e_ref, c_ref, w_ref, b_ref = reference_run(problem, N, 5)
    res = simulate(problem, N, 5, backend="numba", unit_blocks=3)
    # the plain loop sums over units in order, the blocks in blocks of 8 with vectorised
    # partial sums; the kernel's tanh is within 3 ulp of libm's
    np.testing.assert_allclose(res.predictions[0], f_ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(res.final.c[0], c_ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(res.final.w[0], w_ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(res.final.b[0], b_ref, rtol=1e-11, atol=1e-13)


# -- the same bits whatever executes them -------------------------------------------------


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("rtrl", [True, False])
def test_a_block_count_gives_the_same_bits_on_any_number_of_threads(d, rtrl):
    arrays = kernel_arrays(1, 3000, 60, d)
    one = run_kernel(arrays, 7, 1, rtrl)
    for threads in (2, 3, 7, 16):  # 16 > blocks: at most one thread per block
        other = run_kernel(arrays, 7, threads, rtrl)
        for x, y in zip(one, other, strict=True):
            assert np.array_equal(x, y)
    serial = run_kernel(arrays, 1, 1, rtrl)
    for x, y in zip(one[3:], serial[3:], strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-13)


def test_a_seed_gives_the_same_bits_alone_and_in_an_ensemble():
    arrays = kernel_arrays(3, 500, 40, 2)
    together = run_kernel(arrays, 5, 2)  # parallel over seeds, each seed's blocks in turn
    for q in range(3):
        alone = run_kernel([a[q:q + 1] for a in arrays], 5, 2)  # one seed on two threads
        for x, y in zip(together, alone, strict=True):
            assert np.array_equal(x[q], y[0])
    problem = ar1_problem(horizon=2.0)
    ens = simulate(problem, 48, [3, 4], backend="numba", unit_blocks=4)
    one = simulate(problem, 48, 4, backend="numba", unit_blocks=4)
    assert np.array_equal(ens.predictions[1], one.predictions[0])
    assert np.array_equal(ens.final.w[1], one.final.w[0])


def test_runs_are_reproducible_and_chunks_do_not_change_a_bit():
    problem = circle_problem(NET.replace(alpha=1.5), horizon=2.0)
    times = [0.0, 0.5, 1.25, 2.0]
    a = simulate(problem, 64, 9, backend="numba", unit_blocks=5, snapshot_times=times)
    b = simulate(problem, 64, 9, backend="numba", unit_blocks=5, snapshot_times=times)
    c = simulate(problem, 64, 9, backend="numba", unit_blocks=5, snapshot_times=times,
                 chunk_steps=7)
    assert same_bits(a, b) and same_bits(a, c)


def test_one_thread_alone_runs_every_block_of_a_two_thread_run():
    # thread 1 never starts: thread 0 claims its blocks, then takes thread 1's, and closes
    # every step itself -- with the bits of the one-thread run
    module = kernel_module(activation("tanh"), "rtrl")
    X, Y, c, w, b, s, jw, jb = [a[0].copy() for a in kernel_arrays(1, 200, 30, 1)]
    ref = run_kernel([a[None] for a in (X, Y, c, w, b, s, jw, jb)], 6, 1)
    bounds = block_bounds(200, 6)
    shared = np.zeros(module.SUMS + 6)
    ctrl = np.zeros(module.CLAIMS + 6, dtype=np.int64)
    ctrl[module.BAD] = -1
    f, e = np.empty(30), np.empty(30)
    bad = module.seed_blocks(0, 2, X, Y, c, w, b, s, jw, jb, 0.5 / 200, 200 ** -0.5, True, f, e,
                             bounds, shared, ctrl)
    assert bad == -1 and ctrl[module.STEP] == 30 + 1
    for x, y in zip((f, e, c, w, b, s, jw, jb), [ref[0], ref[1], *ref[3:]], strict=True):
        assert np.array_equal(x, y.reshape(x.shape))
    # a late thread finds the chunk done and returns at once, changing nothing
    before = c.copy()
    assert module.seed_blocks(1, 2, X, Y, c, w, b, s, jw, jb, 0.5 / 200, 200 ** -0.5, True, f,
                              e, bounds, shared, ctrl) == -1
    assert np.array_equal(c, before)


@pytest.mark.timeout(60)
def test_a_thread_waiting_for_a_block_stops_when_another_aborts():
    module = kernel_module(activation("tanh"), "rtrl")
    X, Y, c, w, b, s, jw, jb = [a[0].copy() for a in kernel_arrays(1, 64, 5, 1)]
    bounds = block_bounds(64, 4)
    shared = np.zeros(module.SUMS + 4)
    ctrl = np.zeros(module.CLAIMS + 4, dtype=np.int64)
    ctrl[module.BAD] = -1
    ctrl[module.CLAIMS + 3] = 1  # block 3 of step 0: claimed by a thread that died
    ctrl[module.ABORT] = 1
    assert module.seed_blocks(0, 2, X, Y, c, w, b, s, jw, jb, 0.1, 0.125, True, np.empty(5),
                              np.empty(5), bounds, shared, ctrl) == -2


def test_an_exception_in_a_thread_is_raised_and_releases_the_others():
    class Module:
        SUMS, CLAIMS, BAD, ABORT, NAPS = 8, 40, 24, 16, 32

        @staticmethod
        def seed_blocks(t, n_threads, *args):
            ctrl = args[-1]
            if t == 1:
                raise FloatingPointError("thread 1 failed")
            while ctrl[Module.ABORT] == 0:  # thread 0 waits for thread 1, as the kernel does
                pass
            return -2

    with pytest.raises(FloatingPointError, match="thread 1 failed"):
        run_blocks(Module, 2, (), block_bounds(16, 2))


def test_a_busy_chunk_moves_the_next_chunks_to_one_thread():
    from limitsolver.simulation.simulate import _Threads

    policy = _Threads(4)
    policy.after(naps=20, steps=100)  # fewer naps than one per 4 steps: stay
    assert policy.now == 4
    policy.after(naps=12, steps=20)  # a short chunk: a few naps are the pool's start
    assert policy.now == 4
    policy.after(naps=26, steps=100)
    assert policy.now == 1
    for _ in range(_Threads.PROBE_CHUNKS - 1):
        policy.after(naps=0, steps=100)
        assert policy.now == 1
    policy.after(naps=0, steps=100)  # then all threads again
    assert policy.now == 4
    single = _Threads(1)
    single.after(naps=0, steps=1)
    assert single.now == 1


def test_changing_threads_between_chunks_does_not_change_a_bit(monkeypatch):
    import importlib

    simulate_module = importlib.import_module("limitsolver.simulation.simulate")
    problem = circle_problem(NET.replace(alpha=1.5), horizon=3.0)
    steady = simulate(problem, 400, 2, backend="numba", unit_blocks=6, chunk_steps=50)
    seen = []

    def alternate(self, naps, steps):
        seen.append(self.now)
        self.now = 1 if self.now > 1 else 3

    monkeypatch.setattr(simulate_module._Threads, "after", alternate)
    monkeypatch.setattr(simulate_module, "_block_threads", lambda n_blocks: 3)
    switched = simulate(problem, 400, 2, backend="numba", unit_blocks=6, chunk_steps=50)
    assert {1, 3} <= set(seen)
    assert same_bits(switched, steady)


def test_two_callers_at_once_get_their_own_numbers():
    problem = ar1_problem(horizon=4.0)
    expected = {seed: simulate(problem, 256, seed, backend="numba", unit_blocks=4)
                for seed in (0, 1)}
    got = {}

    def run(seed):
        got[seed] = simulate(problem, 256, seed, backend="numba", unit_blocks=4)

    workers = [threading.Thread(target=run, args=(seed,)) for seed in (0, 1)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert all(same_bits(got[seed], expected[seed]) for seed in (0, 1))


def test_divergence_is_found_at_the_serial_loops_step():
    problem = ar1_problem(NET.replace(alpha=400.0), horizon=50.0)
    with pytest.raises(DivergenceError) as serial:
        simulate(problem, 16, 0, backend="numba", unit_blocks=1)
    with pytest.raises(DivergenceError) as blocks:
        simulate(problem, 16, 0, backend="numba", unit_blocks=2)
    assert blocks.value.step == serial.value.step


def test_a_non_finite_output_stops_every_thread_at_its_step():
    arrays = kernel_arrays(1, 400, 20, 1)
    arrays[0][0, 11, 0] = np.nan  # X_11 = NaN: f_11 is NaN
    for threads in (1, 2):
        f, e, bad, *_ = run_kernel(arrays, 4, threads)
        assert bad[0] == 11 and np.isnan(f[0, 11]) and np.all(np.isfinite(f[0, :11]))


# -- the default and the argument ---------------------------------------------------------


def test_auto_is_the_serial_loop_below_its_threshold():
    problem = circle_problem(horizon=2.0)
    assert same_bits(simulate(problem, 64, 1, backend="numba"),
                     simulate(problem, 64, 1, backend="numba", unit_blocks=1))
    assert AUTO_BLOCKS_MIN_UNITS > 32768  # the headline study's widths keep the serial loop


def test_auto_splits_large_networks_into_fixed_blocks():
    N = AUTO_BLOCKS_MIN_UNITS
    problem = ar1_problem(NetworkSpec(memory_tol=1e-2), horizon=6 / N)
    auto = simulate(problem, N, 0, backend="numba")
    assert same_bits(auto, simulate(problem, N, 0, backend="numba",
                                    unit_blocks=N // AUTO_BLOCK_UNITS))
    serial = simulate(problem, N, 0, backend="numba", unit_blocks=1)
    np.testing.assert_allclose(auto.predictions, serial.predictions, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "fast", None])
def test_bad_unit_blocks_are_refused_by_name(bad):
    with pytest.raises(ConfigError, match="`unit_blocks` must be a positive integer or 'auto'"):
        simulate(ar1_problem(), 4, 0, unit_blocks=bad)


def test_unit_blocks_need_the_compiled_loop():
    with pytest.raises(ConfigError, match="`unit_blocks` = 2 needs the numba backend"):
        simulate(ar1_problem(), 4, 0, backend="numpy", unit_blocks=2)
    # "auto" on the numpy backend is its only loop
    res = simulate(ar1_problem(), 4, 0, backend="numpy", unit_blocks="auto")
    assert res.backend == "numpy"


# -- the benchmark's bookkeeping (no timing asserted) ---------------------------------------


def _bench():
    import importlib
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("benchmarks.bench_parallel"), importlib.import_module(
        "benchmarks.run")


def test_the_benchmark_says_from_which_width_blocks_pay():
    bench, _ = _bench()
    rows = [{"N": 1024, "speed_up": 0.5}, {"N": 4096, "speed_up": 1.3},
            {"N": 16384, "speed_up": 1.1}, {"N": 65536, "speed_up": 1.9},
            {"N": 262144, "speed_up": 2.0}]
    assert bench.pays_from(rows) == 65536  # 16384 does not pay, so 4096 does not count
    assert bench.pays_from(rows, threshold=1.0) == 4096
    assert bench.pays_from(rows[:1]) is None
    # the partition measured is that of "auto", or one block per thread below its threshold
    assert bench.partition(AUTO_BLOCKS_MIN_UNITS, 2) == AUTO_BLOCKS_MIN_UNITS // AUTO_BLOCK_UNITS
    assert bench.partition(1024, 2) == 2


def test_the_benchmark_writes_its_rows_and_the_suite_reads_them(tmp_path, monkeypatch):
    import json

    bench, run = _bench()
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "parallel.json")
    rows, summary = bench.main(["--sizes", "512", "1024", "--repeat", "1", "--work", "1e5"])
    saved = json.loads((tmp_path / "parallel.json").read_text())
    assert [r["N"] for r in saved["rows"]] == [512, 1024]
    for r in saved["rows"]:
        assert r["serial_s_per_step"] > 0 and r["blocks_s_per_step"] > 0
        assert r["speed_up"] == pytest.approx(r["serial_s_per_step"] / r["blocks_s_per_step"])
        assert r["max_rel_difference"] < 1e-12  # the same numbers to rounding
    assert saved["summary"]["targets_met"] is False  # the target sizes were not measured
    table = run._rows_parallel({"data": saved})
    assert [t["value"] for t in table] == [r["speed_up"] for r in saved["rows"]]


def test_the_parameter_bound_check_reads_max_abs_without_a_temporary():
    from limitsolver.simulation.simulate import _max_abs

    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 50, 2))
    a[1, 7, 1] = -np.inf
    a[2, 3, 0] = np.nan
    got = _max_abs(a)
    assert got[0] == np.abs(a[0]).max() and got[1] == np.inf and np.isnan(got[2])
    assert np.array_equal(_max_abs(np.zeros((2, 0))), [0.0, 0.0])


def test_the_block_count_is_recorded_and_saved(tmp_path):
    from limitsolver.simulation import SimulationResult

    problem = ar1_problem(NET, horizon=1.0)
    res = simulate(problem, 40, 1, backend="numba", unit_blocks=3)
    assert res.unit_blocks == 3
    assert simulate(problem, 40, 1, backend="numba").unit_blocks == 1   # auto, small N
    res.save(tmp_path / "run")
    assert SimulationResult.load(tmp_path / "run").unit_blocks == 3
