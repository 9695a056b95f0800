"""What a convergence study computes once and reuses gives the numbers of computing it again."""

import numpy as np
import pytest

from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem
from limitsolver.studies import ConvergenceStudy, run_convergence
from limitsolver.studies.convergence import RunData, _finite_run, _solve, _TrainingPairs
from limitsolver.studies.prediction import predict_study

GRID = {"n_w": 16, "n_b": 4, "kind": "legendre"}


def _problem(doubled=True):
    return Problem(FiniteChain([[0.7, 0.3], [0.4, 0.6]], states=[-1.0, 1.0]),
                   LinearMemory.geometric(decay=0.6, n_terms=3),
                   NetworkSpec(activation="tanh", prior=Prior(b_max=0.5, doubled=doubled),
                               memory_tol=0.05), horizon=0.5)


def _study(doubled=True, **kw):
    opts = dict(n_units=(32, 64), seeds=(0, 1, 2), n_times=3, tracking_samples=16, grid=GRID,
                backend="numpy", depth_check=False)
    opts.update(kw)
    return ConvergenceStudy(_problem(doubled), **opts)


class _Counting:
    """A flow whose ``coefficients`` counts its calls (everything else delegated)."""

    def __init__(self, flow):
        self._flow, self.calls = flow, 0

    def coefficients(self, r0, times):
        self.calls += 1
        return self._flow.coefficients(r0, times)

    def __getattr__(self, name):
        return getattr(self._flow, name)


def test_tracking_coefficients_are_reused_only_for_the_same_residual_and_times():
    sol = _solve(_study(), False)
    flow = _Counting(sol.flow)
    pairs = _TrainingPairs(flow)
    r0 = sol.g - sol.h0
    t1, t2 = np.linspace(0.0, 0.5, 7), np.linspace(0.0, 0.4, 7)
    first = pairs.coefficients(r0, t1)
    again = pairs.coefficients(r0.copy(), t1.copy())
    assert flow.calls == 1 and again is first
    np.testing.assert_array_equal(first, sol.flow.coefficients(r0, t1))
    # other times, another residual: computed afresh, equal to the flow's own
    np.testing.assert_array_equal(pairs.coefficients(r0, t2), sol.flow.coefficients(r0, t2))
    other = r0 + 0.25
    np.testing.assert_array_equal(pairs.coefficients(other, t2),
                                  sol.flow.coefficients(other, t2))
    assert flow.calls == 3
    assert not np.array_equal(pairs.coefficients(r0, t2), pairs.coefficients(other, t2))


@pytest.mark.parametrize("doubled", [True, False])
def test_tracking_of_seeds_sharing_their_steps_equals_one_fresh_evaluation_each(doubled):
    # two seeds at one width sample the same steps: the second reuses the coefficients and
    # still gets exactly what a pairs object of its own gives
    study = _study(doubled)
    sol = _solve(study, False)
    shared = _TrainingPairs(sol.flow)
    for seed in (1, 2):
        r = _finite_run(study.problem, study.times, sol.histories.values, 16, "numpy", 64, seed)
        limit = sol if doubled else sol.propagate(r["outputs"][0])
        args = dict(n_units=64, seed=seed, outputs=r["outputs"], limit=limit, steps=r["steps"],
                    predictions=r["predictions"], windows=r["windows"],
                    track_h0=r["track_h0"], own_start=not doubled)
        reused = RunData(**args, pairs=shared).online_limit
        fresh = RunData(**args, pairs=_TrainingPairs(sol.flow)).online_limit
        np.testing.assert_array_equal(reused, fresh)
        nystrom = RunData(**args).online_limit
        np.testing.assert_allclose(reused, nystrom, rtol=1e-11, atol=1e-14)


def test_the_prediction_reuses_the_study_limit_and_equals_a_fresh_solve(monkeypatch):
    study = _study()
    result = run_convergence(study, progress=False)
    assert result.limit is not None and result.limit.histories.M == result.history_weights.size
    fresh = predict_study(study, None, n_samples=16, seed=3)      # solves the limit itself

    import limitsolver.limit.solver as solver

    def no_solve(*args, **kwargs):
        raise AssertionError("the prediction solved the limit again")

    monkeypatch.setattr(solver, "solve_limit", no_solve)
    reused = predict_study(study, result, n_samples=16, seed=3)
    for name in ("kernel", "data", "total", "per_history"):
        np.testing.assert_array_equal(getattr(reused, name), getattr(fresh, name))
    assert reused.constants == fresh.constants and reused.constants_se == fresh.constants_se
    # the result of another study (another grid) is not reused
    other = _study(grid={"n_w": 8, "n_b": 4, "kind": "legendre"})
    with pytest.raises(AssertionError, match="solved the limit again"):
        predict_study(other, result, n_samples=16, seed=3)
