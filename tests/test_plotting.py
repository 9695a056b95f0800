"""Figures: every function draws on the caller's axes and returns their figure, and draws what it claims."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem
from limitsolver.errors import ConfigError
from limitsolver.plotting import (
    discretisation_floor,
    plot_convergence,
    plot_error_curves,
    plot_error_in_time,
    plot_limit,
    plot_loss_curves,
    plot_poisson,
    plot_rate,
    plot_rescaled_errors,
    plot_running_loss,
    plot_trajectories,
    positive_spectrum,
)
from limitsolver.studies import ConvergenceResult, ConvergenceStudy
from limitsolver.studies.fit import fit_power_law

N_UNITS = (64, 128, 256, 512)
N_SEEDS, N_TIMES, M = 6, 5, 4


def _problem():
    chain = FiniteChain([[0.7, 0.3], [0.4, 0.6]], states=[-1.0, 1.0])
    network = NetworkSpec(activation="tanh", prior=Prior(b_max=0.5, doubled=True), memory_tol=0.05)
    return Problem(chain, LinearMemory.geometric(decay=0.6, n_terms=3), network, horizon=1.0)


@pytest.fixture(scope="module")
def result():
    """A synthetic study: errors c N^{-1/2} with lognormal noise, outputs around a limit."""
    gen = np.random.default_rng(11)
    study = ConvergenceStudy(_problem(), n_units=N_UNITS, seeds=tuple(range(N_SEEDS)),
                             n_times=N_TIMES)
    n = np.asarray(N_UNITS, dtype=float)
    t = study.times
    limit_h = np.outer(t, [1.0, -0.5, 0.3, 0.8])                       # (T, M)
    noise = gen.standard_normal((n.size, N_SEEDS, N_TIMES, M)) / np.sqrt(n)[:, None, None, None]
    finite_h = limit_h + noise * t[None, None, :, None]
    omega = np.array([0.4, 0.3, 0.2, 0.1])
    curves = np.sqrt(((finite_h - limit_h) ** 2) @ omega)
    g = np.array([1.0, -1.0, 0.5, 1.0])
    limit_loss = 0.5 * ((g - limit_h) ** 2) @ omega
    finite_loss = 0.5 * ((g - finite_h) ** 2) @ omega
    errors = {"sup_l2": curves.max(axis=2), "loss_gap": np.abs(finite_loss - limit_loss).max(2),
              "tracking": 0.8 * curves.max(axis=2)}
    fits = {m: fit_power_law(n, e, rng=0) for m, e in errors.items()}
    return ConvergenceResult(
        study=study, errors=errors, fits=fits, wall_times=np.ones((n.size, N_SEEDS)),
        limit_error=2e-3, limit_time=0.1, times=t, limit_loss=limit_loss,
        finite_loss=finite_loss, limit_discretisation={}, error_curves=curves,
        finite_h=finite_h, limit_h=limit_h, history_weights=omega)


@pytest.mark.parametrize("draw, shape", [
    (plot_trajectories, (1, 3)), (plot_error_curves, (1, 2)), (plot_rate, (2, 1)),
    (plot_convergence, (2, 3)), (plot_loss_curves, (1, 2)),
])
def test_convergence_figures_draw_on_given_axes(result, draw, shape):
    fig, axes = plt.subplots(*shape, squeeze=False)
    assert draw(result, axes=axes) is fig
    assert isinstance(draw(result), Figure)


@pytest.mark.parametrize("draw", [plot_error_in_time, plot_rescaled_errors])
def test_single_panel_figures_draw_on_given_ax(result, draw):
    fig, ax = plt.subplots()
    assert draw(result, ax=ax) is fig
    assert ax.get_legend() is not None


def test_wrong_number_of_axes_is_refused(result):
    from limitsolver.errors import DimensionError

    fig, axes = plt.subplots(1, 2)
    with pytest.raises(DimensionError, match="`axes`"):
        plot_rate(result, axes=axes[:1])


def _lines(ax, start):
    return [ln for ln in ax.get_lines() if str(ln.get_label()).startswith(start)]


def test_rate_figure_band_reference_floor_and_orders(result):
    fig = plot_rate(result, "sup_l2")
    top, bottom = fig.axes[:2]
    fit = result.fits["sup_l2"]
    # the band is the pointwise 95% band of the bootstrap fits' lines, not two lines
    (band,) = [c for c in top.collections if "bootstrap band" in str(c.get_label())]
    verts = band.get_paths()[0].vertices
    x = np.unique(verts[:, 0])
    inside = []
    for xi in x[1:-1]:
        ys = verts[np.isclose(verts[:, 0], xi), 1]
        lo, hi = ys.min(), ys.max()
        lines = fit.boot_constants * xi ** -fit.boot_rates
        inside.append(np.mean((lines >= lo * (1 - 1e-9)) & (lines <= hi * (1 + 1e-9))))
    assert np.all(np.abs(np.array(inside) - 0.95) <= 3.0 / fit.n_boot), inside
    # the reference has slope -1/2 on the log-log axes
    (ref,) = _lines(top, "reference")
    xs, ys = ref.get_data()
    slope = np.diff(np.log(ys)) / np.diff(np.log(xs))
    np.testing.assert_allclose(slope, -0.5, rtol=1e-12)
    # the floor is drawn at the limit's discretisation error
    (floor,) = _lines(top, "discretisation floor")
    assert np.all(np.asarray(floor.get_ydata()) == discretisation_floor(result, "sup_l2")) and \
        discretisation_floor(result, "sup_l2") == result.limit_error
    # local orders between successive widths, from the means over seeds
    (orders,) = _lines(bottom, "local order")
    e = fit.mean_errors
    n = np.asarray(N_UNITS, dtype=float)
    np.testing.assert_allclose(orders.get_ydata(), -np.log(e[1:] / e[:-1]) / np.log(n[1:] / n[:-1]))
    np.testing.assert_allclose(orders.get_xdata(), np.sqrt(n[1:] * n[:-1]))


def test_trajectories_show_finite_networks_and_the_limit(result):
    fig = plot_trajectories(result, n_histories=2, widths=(64, 512), seed_index=1)
    ax = fig.axes[0]
    # panel 0 is the history of largest weight, index 0
    (limit,) = _lines(ax, "limit")
    np.testing.assert_array_equal(limit.get_ydata(), result.limit_h[:, 0])
    for k, n in ((0, 64), (3, 512)):
        (line,) = _lines(ax, f"$h^N_t(\\xi)$, N = {n}")
        np.testing.assert_array_equal(line.get_ydata(), result.finite_h[k, 1, :, 0])
    assert ax.get_legend() is not None
    with pytest.raises(ConfigError, match="`widths`"):
        plot_trajectories(result, widths=(100,))


def test_rescaled_errors_are_root_n_times_the_errors(result):
    fig = plot_rescaled_errors(result)
    ax = fig.axes[0]
    for i, n in enumerate(N_UNITS):
        (line,) = _lines(ax, f"N = {n}")
        np.testing.assert_allclose(line.get_ydata(), np.sqrt(n) * result.error_curves[i].mean(0),
                                   rtol=1e-14)
    floors = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":" and ln.get_label()[0] == "_"]
    np.testing.assert_allclose(sorted(f.get_ydata()[0] for f in floors),
                               np.sqrt(N_UNITS) * result.limit_error)


def test_loss_curves_name_the_finite_losses_and_keep_the_widest_visible(result):
    fig = plot_loss_curves(result)
    left, right = fig.axes[:2]
    (limit,) = _lines(left, "limit")
    assert limit.get_linewidth() <= 1.0 and limit.get_zorder() > max(
        ln.get_zorder() for ln in _lines(left, "$L^N_t$"))
    assert len(_lines(left, "$L^N_t$")) == len(N_UNITS)
    (gap,) = _lines(right, f"N = {N_UNITS[-1]}")
    np.testing.assert_allclose(gap.get_ydata(),
                               (result.finite_loss[-1] - result.limit_loss).mean(0), atol=1e-15)


def test_loss_gap_floor_bounds_the_loss_error():
    """|L(h + d) - L(h)| <= ||g - h|| ||d|| + ||d||^2 / 2 with ||g - h|| = sqrt(2 L)."""
    r = SimpleNamespace(limit_error=0.01, limit_loss=np.array([2.0, 0.5]))
    assert discretisation_floor(r, "loss_gap") == pytest.approx(0.01 * 2.0 + 0.5e-4)


def test_results_without_outputs_per_run_are_refused(result):
    import dataclasses

    bare = dataclasses.replace(result, finite_h=None, error_curves=None)
    with pytest.raises(ConfigError, match="`finite_h`"):
        plot_error_in_time(bare)


def test_limit_figure_spectrum_above_the_rounding_floor():
    spectrum = np.concatenate([10.0 ** -np.arange(0, 12, 2.0), np.zeros(5), [-3e-17, 1e-300]])
    sol = SimpleNamespace(times=np.linspace(0, 1, 5), loss=np.linspace(1, 0.5, 5),
                          h=np.zeros((5, 3)), g=np.array([1.0, -1.0, 0.5]),
                          weights=np.array([0.5, 0.3, 0.2]), spectrum=spectrum)
    values, floor, n_zero = positive_spectrum(spectrum)
    assert n_zero == 7 and floor == pytest.approx(spectrum.size * np.finfo(float).eps)
    np.testing.assert_array_equal(values, 10.0 ** -np.arange(0, 12, 2.0))
    fig, axes = plt.subplots(1, 3)
    assert plot_limit(sol, axes=axes) is fig
    lo, hi = axes[2].get_ylim()
    assert lo >= floor > 0 and hi > 1.0
    assert "7 of 13" in axes[2].texts[0].get_text()
    assert axes[1].get_legend() is not None


def test_poisson_markers_for_finite_chains_lines_otherwise():
    from limitsolver.chains import GaussianAR1
    from limitsolver.poisson import solve_poisson

    sol = solve_poisson(FiniteChain.two_state(0.3, 0.4), np.array([0.0, 1.0]))
    fig, ax = plt.subplots()
    assert plot_poisson(sol, ax=ax) is fig
    assert all(ln.get_linestyle() == "None" and ln.get_marker() not in ("", "None")
               for ln in ax.get_lines() if not ln.get_label().startswith("_"))
    ar1 = solve_poisson(GaussianAR1(0.5), lambda x: x)
    fig = plot_poisson(ar1)
    assert all(ln.get_linestyle() != "None" for ln in fig.axes[0].get_lines())


def test_running_loss_figure():
    res = SimpleNamespace(step_times=np.linspace(0, 1, 4), seeds=[3, 4], n_units=8,
                          running_loss=np.array([[1.0, 0.5, 0.4, 0.3], [1.0, 0.6, 0.5, 0.2]]))
    fig, ax = plt.subplots()
    assert plot_running_loss(res, ax=ax) is fig
    assert [ln.get_label() for ln in ax.get_lines()] == ["seed 3", "seed 4"]


def test_a_real_study_records_what_the_figures_need():
    from limitsolver.studies import run_convergence

    study = ConvergenceStudy(_problem(), n_units=(16, 32), seeds=(0, 1), n_times=3,
                             tracking_samples=8, grid={"n_w": 8, "n_b": 4, "kind": "legendre"},
                             depth_check=False, backend="numpy")
    r = run_convergence(study, progress=False)
    assert r.finite_h.shape == (2, 2, 3, r.history_weights.size)
    np.testing.assert_array_equal(r.error_curves.max(axis=2), r.errors["sup_l2"])
    d = r.finite_h - r.limit_h
    np.testing.assert_allclose(np.sqrt((d**2) @ r.history_weights), r.error_curves, rtol=1e-14)
    plot_trajectories(r)
    plot_error_curves(r)


@pytest.mark.slow
def test_memory_figures_draw_on_given_axes():
    from limitsolver.linear_rnn import (
        ApproximationConfig,
        ExponentialSum,
        FlowSpec,
        PlateauConfig,
        PowerLaw,
        approximation_study,
        plateau_study,
    )
    from limitsolver.plotting import plot_approximation, plot_flow_losses, plot_plateau_fit

    approx = approximation_study(ApproximationConfig(
        targets=(PowerLaw(omega=0.5), ExponentialSum((1.0,), (2.0,))), m_values=(1, 2, 3),
        n_starts=0))
    plateaus = plateau_study(PlateauConfig(memory_values=(1.0, 2.0),
                                           flow=FlowSpec(m=1, t_max=20.0)))
    for draw, res in ((plot_approximation, approx), (plot_flow_losses, plateaus),
                      (plot_plateau_fit, plateaus)):
        fig, ax = plt.subplots()
        assert draw(res, ax=ax) is fig
        assert ax.get_legend() is not None
    # the loss axis states its convention, with the factor 1/2
    fig = plot_flow_losses(plateaus)
    assert r"\frac{1}{2}" in fig.axes[0].get_ylabel()


@pytest.mark.slow
def test_core_modules_do_not_import_matplotlib():
    import subprocess
    import sys

    code = ("import sys, limitsolver, limitsolver.linear_rnn, limitsolver.poisson, "
            "limitsolver.studies, limitsolver.plotting, limitsolver.cli; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
