"""The fluctuation prediction in convergence studies, on the command line and in figures."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem  # noqa: E402
from limitsolver.cli import main  # noqa: E402
from limitsolver.limit import predict_fluctuations, solve_limit  # noqa: E402
from limitsolver.plotting import plot_fluctuations, plot_predicted_errors  # noqa: E402
from limitsolver.studies import ConvergenceStudy, run_convergence  # noqa: E402
from limitsolver.studies.prediction import (  # noqa: E402
    PREDICTION_Z,
    compare_with_prediction,
    predict_study,
    prediction_applies,
    prediction_columns,
)

GRID = {"n_w": 64, "n_b": 8, "kind": "legendre"}


def _problem(doubled=True, beta=0.5):
    chain = FiniteChain([[0.8, 0.2], [0.3, 0.7]], states=[-1.0, 1.0])
    prior = Prior(sigma_w=1.0, b_max=0.5, doubled=doubled)
    net = NetworkSpec(activation="tanh", prior=prior, memory_tol=0.1, beta=beta)
    return Problem(chain, LinearMemory.geometric(decay=0.5, n_terms=3), net, horizon=1.0)


def test_ratio_and_its_interval_by_hand():
    fit = SimpleNamespace(mean_errors=np.array([0.08, 0.04]),
                          standard_errors=np.array([0.008, 0.002]))
    result = SimpleNamespace(fits={"sup_l2": fit},
                             study=SimpleNamespace(n_units=(100, 400)))
    pred = SimpleNamespace(constants={"sup_l2": 0.5}, constants_se={"sup_l2": 0.01})
    c = compare_with_prediction(result, pred, "sup_l2")
    np.testing.assert_allclose(c.scaled, [0.8, 0.8], rtol=1e-15)
    np.testing.assert_allclose(c.scaled_se, [0.08, 0.04], rtol=1e-15)
    np.testing.assert_allclose(c.ratio, [1.6, 1.6], rtol=1e-15)
    rel = np.hypot([0.1, 0.05], 0.02)
    np.testing.assert_allclose(c.ratio_low, 1.6 * (1 - PREDICTION_Z * rel), rtol=1e-14)
    np.testing.assert_allclose(c.ratio_high, 1.6 * (1 + PREDICTION_Z * rel), rtol=1e-14)
    assert PREDICTION_Z == pytest.approx(1.959963984540054, rel=1e-15)
    with pytest.raises(Exception, match="`metric`"):
        compare_with_prediction(result, pred, "tracking")


@pytest.fixture(scope="module")
def study_result():
    study = ConvergenceStudy(problem=_problem(doubled=False), n_units=(64, 256), seeds=(0, 1, 2),
                             n_times=3, grid=GRID, depth_check=False, backend="numpy")
    return study, run_convergence(study, progress=False)


def test_study_prediction_starts_from_the_seeds_initial_outputs(study_result):
    study, result = study_result
    pred = predict_study(study, result, n_samples=32, seed=0)
    assert pred is not None and pred.draws_ratio == 1.0
    # the same as predicting directly from the seeds' h^N_0 at the largest width
    sol = solve_limit(study.problem, histories="exact", times=study.times, grid=GRID,
                      h0="zero", error_estimate=False, progress=False)
    h0 = result.finite_h[-1, :, 0, :]
    direct = predict_fluctuations(sol, h0=h0, n_samples=32, seed=0)
    np.testing.assert_array_equal(pred.kernel, direct.kernel)
    np.testing.assert_array_equal(pred.data, direct.data)
    # and the mean of the predictions from each initial output
    each = [predict_fluctuations(sol.propagate(h), n_samples=32, seed=0) for h in h0]
    np.testing.assert_allclose(pred.total, np.mean([p.total for p in each], axis=0),
                               rtol=1e-12)
    table = result.table("sup_l2", prediction_columns(pred))
    assert "ratio [95% CI]" in table and "predicted" in table
    c = compare_with_prediction(result, pred, "sup_l2")
    assert f"{c.ratio[-1]:.2f} [{c.ratio_low[-1]:.2f}, {c.ratio_high[-1]:.2f}]" in table


def test_prediction_does_not_apply_where_the_theory_does_not():
    beta = ConvergenceStudy(problem=_problem(beta=0.75), n_units=(64, 128), seeds=(0, 1))
    assert "beta = 1/2" in prediction_applies(beta) and predict_study(beta) is None
    sampled = ConvergenceStudy(problem=_problem(), n_units=(64, 128), seeds=(0, 1),
                               histories=256)
    assert "exact histories" in prediction_applies(sampled) and predict_study(sampled) is None
    assert prediction_applies(ConvergenceStudy(problem=_problem(), n_units=(64, 128),
                                               seeds=(0, 1))) == ""


SMALL = ["--set", "problem.network.memory_tol=0.1", "--set", "fluctuations.grid.n_w=32",
         "--set", "fluctuations.grid.n_b=8", "--set", "fluctuations.n_samples=16"]


def test_fluctuations_command_writes_its_files(tmp_path, capsys):
    assert main(["fluctuations", "--out", str(tmp_path), *SMALL]) == 0
    out = capsys.readouterr().out
    assert "K_t" in out and "D_t" in out and "N for sup_l2" in out
    for name in ("summary.json", "fluctuations.npz", "fluctuations.png"):
        assert (tmp_path / name).is_file()
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["problem_state"]["network"]["beta"] == 0.5
    widths = summary["width_for"]["sup_l2"]
    eps = summary["epsilon"]
    C = summary["constants"]["sup_l2"]
    for n, e in zip(widths, eps, strict=True):
        assert C / np.sqrt(n) <= e


@pytest.mark.parametrize("setting, key", [
    ("problem.network.beta=0.75", "problem.network.beta"),
    ("fluctuations.substeps=0", "fluctuations.substeps"),
    ("fluctuations.epsilon=[0.1, -1.0]", "fluctuations.epsilon"),
    ("fluctuations.n_samples=1", "fluctuations.n_samples"),
])
def test_fluctuations_command_refuses_in_one_line(tmp_path, capsys, setting, key):
    assert main(["fluctuations", "--out", str(tmp_path), *SMALL, "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and key in err


def test_figures_draw_on_the_given_axes(study_result):
    study, result = study_result
    pred = predict_study(study, result, n_samples=16, seed=0)
    fig, axes = plt.subplots(1, 2)
    assert plot_fluctuations(pred, axes=axes) is fig
    fig2, ax = plt.subplots()
    c = compare_with_prediction(result, pred, "sup_l2")
    assert plot_predicted_errors(c, ax=ax) is fig2
    # the predicted constant is drawn as the horizontal line
    ys = [line.get_ydata()[0] for line in ax.get_lines() if len(set(line.get_ydata())) == 1]
    assert c.constant in ys
    plt.close("all")


def test_a_problem_without_doubling_is_predicted_from_gaussian_initial_outputs():
    from limitsolver._random import spawn_generators
    from limitsolver.limit import covariance_kernel
    from limitsolver.limit.fluctuations import N_INITIAL_DRAWS, gaussian_initial_outputs

    problem = _problem(doubled=False)
    sol = solve_limit(problem, histories="exact", times=np.linspace(0, 1, 3), grid=GRID,
                      h0="zero", error_estimate=False, progress=False)
    # the draws have covariance Sigma = E[c^2] Phi Q Phi^T (computed by the kernel module)
    draws = gaussian_initial_outputs(sol, 20000, np.random.default_rng(0))
    sigma = covariance_kernel(sol.training_features, sol.training_features, sol.grid, 1.0)
    emp = draws.T @ draws / draws.shape[0]
    se = np.sqrt((np.diag(sigma)[:, None] * np.diag(sigma)[None, :] + sigma**2) / 20000)
    np.testing.assert_array_less(np.abs(emp - sigma), 5 * se + 1e-12)
    # a problem without doubling is predicted from such draws, not from h_0 = 0
    pred = predict_fluctuations(problem, times=np.linspace(0, 1, 3), grid=GRID, n_samples=8,
                                seed=4)
    h0 = gaussian_initial_outputs(sol, N_INITIAL_DRAWS, spawn_generators(4, 3)[2])
    direct = predict_fluctuations(sol, h0=h0, n_samples=8, seed=4)
    np.testing.assert_allclose(pred.total, direct.total, rtol=1e-12)
    zero = predict_fluctuations(sol, n_samples=8, seed=4)
    assert not np.allclose(pred.total, zero.total, rtol=1e-3)
