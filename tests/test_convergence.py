"""Convergence studies: metrics computed once and correctly, the depth check by lookup, the table."""

import numpy as np
import pytest

from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem
from limitsolver.errors import ConfigError
from limitsolver.limit import solve_limit
from limitsolver.studies import (
    METRICS,
    TABLE_COLUMNS,
    Column,
    ConvergenceStudy,
    Metric,
    depth_error,
    evaluate_pairs,
    run_convergence,
)
from limitsolver.studies.convergence import _solve


def _problem(doubled=True, memory_tol=0.05):
    return Problem(FiniteChain([[0.7, 0.3], [0.4, 0.6]], states=[-1.0, 1.0]),
                   LinearMemory.geometric(decay=0.6, n_terms=3),
                   NetworkSpec(activation="tanh", prior=Prior(b_max=0.5, doubled=doubled),
                               memory_tol=memory_tol), horizon=0.5)


def _study(problem=None, **kw):
    opts = dict(n_units=(32, 64, 128), seeds=(0, 1, 2), n_times=3, tracking_samples=16,
                grid={"n_w": 8, "n_b": 4}, backend="numpy", depth_check=False)
    opts.update(kw)
    return ConvergenceStudy(_problem() if problem is None else problem, **opts)


def _sup_l2_by_loops(run):
    # the same distance written out: one time at a time, one history at a time
    worst = 0.0
    for t in range(run.outputs.shape[0]):
        total = 0.0
        for m, w in enumerate(run.weights):
            total += w * (run.outputs[t, m] - run.limit.h[t, m]) ** 2
        worst = max(worst, total ** 0.5)
    return worst


@pytest.fixture(scope="module")
def result():
    return run_convergence(_study(metrics=("sup_l2", "tracking", "loss_gap",
                                           Metric("sup_l2_loops", _sup_l2_by_loops))),
                           progress=False)


def test_a_user_metric_is_computed_beside_the_built_in_ones(result):
    assert list(result.errors) == ["sup_l2", "tracking", "loss_gap", "sup_l2_loops"]
    np.testing.assert_allclose(result.errors["sup_l2_loops"], result.errors["sup_l2"],
                               rtol=1e-12)
    assert "metric: sup_l2_loops" in result.table("sup_l2_loops")


def test_the_loss_gap_is_the_sup_of_the_loss_curves_difference(result):
    gap = np.abs(result.finite_loss - result.limit_loss[None, None, :]).max(axis=2)
    np.testing.assert_allclose(result.errors["loss_gap"], gap, rtol=1e-12)


def test_unknown_metrics_and_bad_settings_are_refused_at_construction():
    with pytest.raises(ConfigError, match=r"unknown metric 'nope'.*loss_gap.*sup_l2.*tracking"):
        _study(metrics=("nope",))
    with pytest.raises(ConfigError, match="tracking_samples"):
        _study(tracking_samples=0)
    with pytest.raises(ConfigError, match="backend"):
        _study(backend="cuda")
    with pytest.raises(ConfigError, match="jobs"):
        run_convergence(_study(), jobs=0)
    assert set(METRICS) == {"sup_l2", "tracking", "loss_gap"}
    with pytest.raises(TypeError):
        METRICS["mine"] = METRICS["sup_l2"]          # the registry is read-only


def test_the_table_reports_means_and_standard_errors_over_seeds(result):
    e = result.errors["sup_l2"]
    lines = result.table("sup_l2").splitlines()
    for i, n in enumerate(result.study.n_units):
        cells = lines[2 + i].split()
        assert int(cells[0]) == n and int(cells[3]) == 3
        assert float(cells[1]) == pytest.approx(float(np.mean(e[i])), rel=1e-4)
        se = float(np.std(e[i], ddof=1)) / np.sqrt(3)
        assert float(cells[2]) == pytest.approx(se, rel=1e-2)


def test_the_table_takes_extra_columns(result):
    extra = Column("2x mean", lambda r, m: 2 * r.fits[m].mean_errors, ">11.4e")
    lines = result.table("sup_l2", columns=TABLE_COLUMNS + (extra,)).splitlines()
    assert lines[1].endswith("2x mean")
    first = lines[2].split()
    assert float(first[-1]) == pytest.approx(2 * float(first[1]), rel=1e-3)


@pytest.mark.parametrize("doubled", [True, False])
def test_pairs_are_the_diagonal_of_the_full_evaluation(doubled):
    problem = _problem(doubled=doubled)
    sol = solve_limit(problem, times=np.linspace(0, 0.5, 5), grid={"n_w": 8, "n_b": 4},
                      h0="zero")
    rng = np.random.default_rng(3)
    windows = problem.chain.states[rng.integers(0, 2, size=(7, sol.histories.depth))]
    times = np.sort(rng.uniform(0, 0.5, 7))
    h0 = rng.normal(size=7) if not doubled else None
    full = sol.evaluate(windows, times=times, h0_new=h0)
    np.testing.assert_allclose(evaluate_pairs(sol, windows, times, h0_new=h0), np.diagonal(full),
                               rtol=1e-12, atol=1e-15)


def test_the_depth_check_by_lookup_equals_the_nystrom_evaluation():
    study = _study(problem=_problem(memory_tol=0.1), depth_check=True)
    sol = _solve(study, False)
    by_lookup = depth_error(study, sol)
    # the same estimate through the Nyström extension on the deep windows
    net = study.problem.network
    deeper = study.problem.replace(network=net.replace(memory_tol=net.memory_tol * net.gamma))
    deep = _solve(study, False, deeper, error_estimate=False)
    assert deep.histories.depth == sol.histories.depth + 1
    shallow = sol.evaluate(deep.histories.values[:, :sol.histories.depth], times=study.times)
    by_nystrom = float(np.sqrt(((deep.h - shallow) ** 2 @ deep.histories.weights).max()))
    assert by_lookup > 0
    assert by_lookup == pytest.approx(by_nystrom, rel=1e-9)


# -- files that describe themselves ----------------------------------------------------------

@pytest.mark.slow
def test_a_result_loads_back_from_what_the_command_line_wrote(tmp_path, capsys):
    from limitsolver.cli import main
    from limitsolver.studies import ConvergenceResult

    tiny = ["--set", "problem.network.memory_tol=0.05", "--set", "problem.horizon=0.5",
            "--set", "study.n_units=[32, 64]", "--set", "study.n_seeds=2",
            "--set", "study.n_times=3", "--set", "study.tracking_samples=8",
            "--set", 'study.grid={n_w = 8, n_b = 4, kind = "legendre"}']
    assert main(["converge", "--out", str(tmp_path), "--quiet", "--jobs", "1", *tiny]) == 0
    printed = capsys.readouterr().out
    back = ConvergenceResult.load(tmp_path)
    # every printed number, rebuilt: the predicted columns from the saved prediction
    import json
    from types import SimpleNamespace

    from limitsolver.studies.prediction import prediction_columns

    saved = json.loads((tmp_path / "summary.json").read_text())["prediction"]
    pred = SimpleNamespace(constants=saved["constants"], constants_se=saved["constants_se"])
    assert back.table("sup_l2", prediction_columns(pred)) in printed
    assert back.table("tracking") in printed
    assert back.study.n_units == (32, 64) and back.study.seeds == (0, 1)
    # the rebuilt study is the one that ran: its runs are reused as they are
    again = run_convergence(back.study, out=tmp_path, progress=False)
    for m in back.errors:
        np.testing.assert_array_equal(again.errors[m], back.errors[m])
        assert again.fits[m].ci == back.fits[m].ci
    np.testing.assert_array_equal(again.finite_loss, back.finite_loss)


def test_every_file_records_versions_command_time_seeds_and_the_problem(tmp_path):
    import json

    from limitsolver.io import read_npz_meta

    study = _study()
    res = run_convergence(study, out=tmp_path, progress=False)
    res.save(tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    metas = [summary["provenance"], read_npz_meta(tmp_path / "errors.npz"),
             json.loads((tmp_path / "study.json").read_text())["provenance"]]
    metas += [read_npz_meta(f) for f in (tmp_path / "runs").glob("*.npz")]
    assert len(metas) == 3 + 9
    for meta in metas:
        assert meta["limitsolver"] and meta["dependencies"]["numpy"] == np.__version__
        assert meta["argv"] and meta["created_utc"].endswith("+00:00")
        assert meta["seeds"] == [0, 1, 2, 0]                  # the runs' seeds, the limit's
    P = summary["study"]["problem"]
    assert "0.7" in json.dumps(P) and "0.3" in json.dumps(P)  # the chain itself, not its repr


def test_the_result_as_a_data_frame_and_a_dataset(result):
    pd = pytest.importorskip("pandas")
    df = result.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 9
    row = df[(df.width == 64) & (df.seed == 2)].iloc[0]
    assert row["sup_l2"] == result.errors["sup_l2"][1, 2]
    xr = pytest.importorskip("xarray")
    ds = result.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds["finite_loss"].dims == ("width", "seed", "time")
    assert float(ds["tracking"].sel(width=128, seed=0)) == result.errors["tracking"][2, 0]
    np.testing.assert_array_equal(ds["time"].values, result.times)
    assert ds.attrs["sup_l2_rate"] == result.fits["sup_l2"].rate


def test_a_missing_optional_dependency_is_a_clear_error(result, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_xarray(name, *args, **kwargs):
        if name == "xarray":
            raise ImportError("No module named 'xarray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xarray)
    monkeypatch.delitem(__import__("sys").modules, "xarray", raising=False)
    with pytest.raises(ImportError, match=r"`to_xarray` needs xarray; install it"):
        result.to_xarray()


@pytest.mark.parametrize("doubled", [True, False])
def test_tracking_by_lookup_on_exact_histories_equals_the_nystrom_evaluation(doubled):
    from limitsolver.studies.convergence import RunData, _finite_run, _TrainingPairs

    study = _study(problem=_problem(doubled=doubled))
    sol = _solve(study, False)
    r = _finite_run(study.problem, study.times, sol.histories.values, 16, "numpy", 64, 1)
    own = not doubled
    limit = sol.propagate(r["outputs"][0]) if own else sol
    args = dict(n_units=64, seed=1, outputs=r["outputs"], limit=limit, steps=r["steps"],
                predictions=r["predictions"], windows=r["windows"], track_h0=r["track_h0"],
                own_start=own)
    by_lookup = RunData(**args, pairs=_TrainingPairs(sol.flow)).online_limit
    by_nystrom = RunData(**args).online_limit
    assert not np.array_equal(by_nystrom, np.zeros_like(by_nystrom))
    np.testing.assert_allclose(by_lookup, by_nystrom, rtol=1e-11, atol=1e-14)


def test_compilation_is_kept_out_of_the_run_timings(monkeypatch):
    import dataclasses
    import time

    import limitsolver.simulation as simulation

    original = simulation.simulate
    compiled = set()

    def slow_compile(problem, n, *args, **kwargs):
        res = original(problem, n, *args, **kwargs)
        if n not in compiled:                 # once per process, as the kernel cache does
            compiled.add(n)
            time.sleep(0.4)
            res = dataclasses.replace(res, compile_time=res.compile_time + 0.4)
        return res

    monkeypatch.setattr(simulation, "simulate", slow_compile)
    res = run_convergence(_study(n_units=(32, 64), seeds=(0, 1)), progress=False)
    assert np.all(res.wall_times < 0.4)
    # the first run at each width paid the compilation, once
    assert np.all(res.compile_times[:, 0] >= 0.4)
    assert np.all(res.compile_times[:, 1] < 0.4)
    assert res.compile_time == pytest.approx(np.sum(res.compile_times))
    assert 0 < res.overhead < 1 and res.timings["total_s"] >= res.timings["runs_s"]


def test_a_result_saved_from_python_loads_back_from_the_state_of_its_problem(tmp_path):
    from limitsolver.studies import ConvergenceResult

    study = _study(n_units=(32, 64), seeds=(0, 1))
    res = run_convergence(study, progress=False)
    res.save(tmp_path)
    back = ConvergenceResult.load(tmp_path)
    assert back.study.fingerprint() == study.fingerprint()     # the problem, to the last bit
    np.testing.assert_array_equal(back.study.problem.chain.P, study.problem.chain.P)
    for m in res.errors:
        np.testing.assert_array_equal(back.errors[m], res.errors[m])
        assert back.fits[m].ci == res.fits[m].ci
    assert back.table("tracking") == res.table("tracking")


def test_a_simulation_result_as_a_data_frame_and_a_dataset():
    from limitsolver import simulate

    res = simulate(_problem(), 8, [3, 5], snapshot_times=[0.0, 0.5], backend="numpy")
    pd = pytest.importorskip("pandas")
    df = res.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 2 * res.n_steps
    row = df[(df.seed == 5) & (df.step == 2)].iloc[0]
    assert row["prediction"] == res.predictions[1, 2] and row["time"] == 2 / 8
    np.testing.assert_array_equal(df["error"], df["target"] - df["prediction"])
    pytest.importorskip("xarray")
    ds = res.to_xarray()
    assert ds["w"].dims == ("seed", "time", "unit", "dim") and ds.attrs["n_units"] == 8
    np.testing.assert_array_equal(ds["c"].sel(seed=3, time=0.5).values, res.snapshots.c[0, 1])


@pytest.mark.slow
def test_two_worker_processes_give_the_numbers_of_one(result, tmp_path):
    study = result.study
    two = run_convergence(study, jobs=2, out=tmp_path, progress=False)
    for m in result.errors:
        np.testing.assert_array_equal(two.errors[m], result.errors[m])
    np.testing.assert_array_equal(two.finite_loss, result.finite_loss)
    # with workers the limit is solved while the first run trains: the same limit
    assert study.histories == "exact"
    assert "limit_during_runs_s" in two.timings and "limit_s" not in two.timings
    assert "limit_s" in result.timings
    np.testing.assert_array_equal(two.limit_h, result.limit_h)
    assert two.limit_discretisation == result.limit_discretisation
    # and a resumed study (every run read back from disk) gives them again
    again = run_convergence(study, jobs=1, out=tmp_path, progress=False)
    for m in result.errors:
        np.testing.assert_array_equal(again.errors[m], result.errors[m])
