"""Smoke tests of the benchmark suite runner and of its scaling and headline benchmarks.

No timing is asserted (times depend on the machine); the tests check that the
smallest configurations run, that the suite's JSON has its keys, and that every
recorded time, ratio and exponent is a positive (or, for exponents, finite) number.
The exponent fit itself is checked against exact power laws.
"""

import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

run = importlib.import_module("benchmarks.run")
bench_scaling = importlib.import_module("benchmarks.bench_scaling")
bench_headline = importlib.import_module("benchmarks.bench_headline")
bench_fluct = importlib.import_module("benchmarks.bench_fluctuations")

TINY_SCALING = {"n_units": (16, 32, 64), "M": (64, 128, 256), "M_grid": {"n_w": 4, "n_b": 2},
                "n_w": (2, 4, 8), "n_b": 2, "G_M": 128, "repeat": 1}
TINY_GRID = {"n_w": 4, "n_b": 2, "kind": "legendre"}


def _tiny_fluctuation_options():
    """The fluctuation benchmark on a depth-5 check problem (M = 32), 8 nodes, numpy."""
    from limitsolver.headline import headline_study

    problem = bench_fluct.check_problem(memory_tol=0.1, n_terms=3, horizon=1.0)
    study = headline_study(0, problem=problem, grid=TINY_GRID, n_times=3)
    return {"cost": {"study": study, "n_units": 64, "n_samples": 8, "backend": "numpy"},
            "accuracy": {"problem": problem, "widths": (32, 64), "n_seeds": 4,
                         "grid": TINY_GRID, "times": [0.0, 0.5, 1.0], "n_samples": 8,
                         "backend": "numpy"}}


@settings(max_examples=20, deadline=None)
@given(p=st.floats(-3.0, 3.0), c=st.floats(1e-3, 1e3),
       n=st.lists(st.integers(1, 10**6), min_size=2, max_size=8, unique=True))
def test_fit_exponent_recovers_an_exact_power_law(p, c, n):
    # t = c n^p exactly: the log-log least-squares slope is p up to rounding of the logs
    # (relative 1e-12 of log t, amplified by the conditioning 1 / spread of log n)
    n = np.asarray(n, dtype=float)
    fit = bench_scaling.fit_exponent(n, c * n**p)
    spread = np.ptp(np.log(n))
    tol = 1e-11 * (1 + abs(np.log(c)) + abs(p) * np.log(n.max())) / spread
    assert fit["exponent"] == pytest.approx(p, abs=tol)
    assert fit["constant"] == pytest.approx(c, rel=1e-9)
    if n.size > 2:
        assert fit["exponent_se"] < 1e-6 + tol


def test_fit_exponent_standard_error_matches_the_textbook_formula():
    # slope of y = 2 x + noise with known residuals: se^2 = s^2 / sum (x - xbar)^2
    x = np.log([1.0, 2.0, 4.0, 8.0])
    noise = np.array([0.1, -0.2, 0.15, -0.05])
    fit = bench_scaling.fit_exponent(np.exp(x), np.exp(2 * x + noise))
    slope, icpt = np.polyfit(x, 2 * x + noise, 1)
    res = 2 * x + noise - (slope * x + icpt)
    se = math.sqrt(res @ res / 2 / np.sum((x - x.mean()) ** 2))
    assert fit["exponent"] == pytest.approx(slope, rel=1e-12)
    assert fit["exponent_se"] == pytest.approx(se, rel=1e-10)


def test_fit_exponent_refuses_bad_input():
    with pytest.raises(ValueError, match="positive"):
        bench_scaling.fit_exponent([1, 2], [1.0, -1.0])
    with pytest.raises(ValueError, match="not all be equal"):
        bench_scaling.fit_exponent([3, 3], [1.0, 2.0])


def test_suite_refuses_unknown_benchmark(tmp_path):
    with pytest.raises(ValueError, match="unknown benchmarks"):
        run.run_suite(skip=("nonsense",), out_dir=tmp_path)


def test_study_accuracy_reads_a_converge_summary(tmp_path):
    from limitsolver.headline import headline_table as problem_defaults
    from limitsolver.io import write_json

    path = tmp_path / "summary.json"
    write_json(path, {"n_units": [128, 256], "metrics": {"sup_l2": {
        "mean": [0.2, 0.1], "stderr": [0.02, 0.01]}}, "limit_error": 1e-4,
        "limit_time_s": 3.0, "wall_time_s": [[1.0, 3.0], [2.0, 4.0]],
        "config": {"problem": problem_defaults()}})
    acc = bench_headline.study_accuracy(path, 256)
    assert acc["available"] and acc["same_problem"]
    assert (acc["sup_l2_mean"], acc["sup_l2_stderr"], acc["wall_time_s_mean"]) == (0.1, 0.01, 3.0)
    assert not bench_headline.study_accuracy(path, 512)["available"]
    missing = bench_headline.study_accuracy(tmp_path / "none.json", 256)
    assert not missing["available"] and "limitsolver converge" in missing["reason"]


def _walk_numbers(obj, key=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_numbers(v, f"{key}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_numbers(v, f"{key}[{i}]")
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        yield key, obj


@pytest.mark.slow
def test_suite_smallest_configuration_writes_its_json(tmp_path):
    summary = tmp_path / "summary.json"      # a converge summary at the tiny width
    from limitsolver.io import write_json
    write_json(summary, {"n_units": [32, 64], "metrics": {"sup_l2": {
        "mean": [0.2, 0.1], "stderr": [0.02, 0.01]}}, "limit_error": 1e-4,
        "wall_time_s": [[1.0], [2.0]], "config": {"problem": {}}})
    record, path = run.run_suite(
        quick=True, skip=("simulator", "parallel", "jax", "limit", "streaming", "output"),
        out_dir=tmp_path,
        summary_path=summary,
        # the numpy backend keeps numba's compilation out of this smoke test
        scaling_options={"sizes": TINY_SCALING, "backend": "numpy"},
        headline_options={"n_units": 64, "grid": TINY_GRID, "repeat": 1, "backend": "numpy"},
        study_options={"study_options": {"n_units": [32, 64], "n_seeds": 2, "n_times": 3,
                                         "tracking_samples": 8, "grid": TINY_GRID},
                       "network_options": {"memory_tol": 0.05}},
        fluctuation_options=_tiny_fluctuation_options())
    assert path.parent == tmp_path and path.name.startswith("suite-")
    saved = json.loads(path.read_text())
    for key in ("timestamp", "quick", "machine", "benchmarks", "skipped", "table",
                "wall_time_s", "load_average_after"):
        assert key in saved
    for key in ("platform", "cpu_count", "versions", "git_commit"):
        assert key in saved["machine"]
    assert {"numpy", "scipy", "numba"} <= set(saved["machine"]["versions"])
    assert set(saved["skipped"]) == {"simulator", "parallel", "jax", "limit", "streaming",
                                     "output"}
    assert set(saved["benchmarks"]) == {"scaling", "headline", "study", "fluctuations"}
    st = saved["benchmarks"]["study"]
    assert 0 < st["overhead"] < 1 and sum(st["fractions"].values()) <= 1 + 1e-9

    sc = saved["benchmarks"]["scaling"]
    for name in ("finite_network", "limit_M", "limit_G"):
        assert math.isfinite(sc[name]["exponent"]) and sc[name]["constant"] > 0
        assert all(r["seconds"] > 0 for r in sc[name]["rows"])
    hl = saved["benchmarks"]["headline"]
    assert hl["n_units"] == 64 and hl["G"] == 8
    for k, v in list(hl["seconds"].items()) + list(hl["ratio"].items()):
        assert v > 0 and math.isfinite(v), k
    assert hl["accuracy"]["study"]["available"]
    assert hl["accuracy"]["study"]["same_problem"] is False
    # the headline ratio is the quotient of the two times recorded beside it
    s = hl["seconds"]
    assert hl["ratio"]["headline"] == pytest.approx(
        s["finite_run"] / (s["limit_with_quadrature_estimate"] + s["depth_estimate"]), rel=1e-12)

    fl = saved["benchmarks"]["fluctuations"]
    cs = fl["cost"]["seconds"]
    assert fl["cost"]["M"] == 32 and fl["cost"]["G"] == 8 and fl["cost"]["n_units"] == 64
    assert fl["cost"]["ratio"]["prediction"] == pytest.approx(
        cs["prediction_from_problem"] / cs["finite_run"], rel=1e-12)
    acc = fl["accuracy"]
    assert set(acc["widths"]) == {"32", "64"}
    for r in acc["widths"].values():
        assert r["n_seeds"] == 4 and len(r["ratio"]) == 3
        assert r["ratio_low"][-1] < r["ratio"][-1] < r["ratio_high"][-1]
    # the fluctuation rows: the cost ratio, then per width the horizon ratio and the sup ratio
    assert sum(row["benchmark"] == "fluctuations" for row in saved["table"]) == 5

    # every table row carries a finite value (or None with a note), and all times are positive
    assert len(saved["table"]) >= 5
    for row in saved["table"]:
        assert row["value"] is None or math.isfinite(row["value"])
    for key, v in _walk_numbers(saved["benchmarks"]):
        assert math.isfinite(v), key
        if key.endswith(("seconds", "unit_steps_per_s")) or ".seconds." in key:
            assert v > 0, key


def test_external_results_become_ratio_rows(monkeypatch):
    sim = {"data": {"rows": [{"N": 64, "reference": 2e6, "numpy": 1e6, "numba": 8e6}]}}
    rows = {r["quantity"]: r["value"] for r in run._rows_simulator(sim)}
    assert rows == {"numpy / numpy reference loop, N=64": 0.5,
                    "numba / numpy reference loop, N=64": 4.0}
    lim = {"data": {"kernel_assembly": {"M": 8, "G": 4, "rtrl_throughput_ratio": 0.5},
                    "exponent_M": 1.1, "exponent_G": float("nan")}}
    rows = {r["quantity"]: r["value"] for r in run._rows_limit(lim)}
    assert rows == {"rtrl kernel assembly / (M,3G)@(3G,M) matmul, M=8, G=4": 0.5,
                    "solve cost exponent in M": 1.1}
    # a benchmark module that is not there is skipped with a note, not an error
    monkeypatch.setitem(run._EXTERNAL, "limit", "bench_not_there")
    assert "not present" in run._run_external("limit", quick=True)["skipped"]


class _Prediction:
    """The three fields of a FluctuationPrediction the comparison reads."""

    def __init__(self, total, C, sC):
        self.total, self.constants, self.constants_se = total, {"sup_l2": C}, {"sup_l2": sC}


def test_fluctuation_comparison_against_a_direct_computation():
    # per-seed N|e_t|^2 at 3 times (t = 0 has a zero prediction and no ratio)
    sq = np.array([[0.0, 1.0, 4.0], [0.0, 3.0, 2.0], [0.0, 2.0, 9.0], [0.0, 2.0, 1.0]])
    total = np.array([0.0, 2.5, 4.0])
    out = bench_fluct._compare(sq, _Prediction(total, C=2.0, sC=0.1))
    assert np.isnan(out["ratio"][0])
    # t = 0.5: mean 2, sample sd sqrt(2/3), so se = sqrt(2/3)/2
    se = math.sqrt(2 / 3) / 2
    assert out["ratio"][1] == pytest.approx(2.0 / 2.5)
    assert out["ratio_high"][1] - out["ratio"][1] == pytest.approx(1.959964 * se / 2.5, rel=1e-6)
    # t = 1: mean 4 = the prediction
    assert out["ratio"][2] == pytest.approx(1.0)
    # pooled: per seed (sum over times) / 6.5 -> 5/6.5, 5/6.5, 11/6.5, 3/6.5
    pooled = np.array([5.0, 5.0, 11.0, 3.0]) / 6.5
    assert out["pooled_ratio"] == pytest.approx(pooled.mean())
    half = 1.959964 * pooled.std(ddof=1) / 2
    assert out["pooled_ratio_high"] - out["pooled_ratio"] == pytest.approx(half, rel=1e-6)
    # sup over times of sqrt: 2, sqrt 3, 3, sqrt 2; predicted 2 +- 0.1 (delta method)
    sup = np.array([2.0, math.sqrt(3), 3.0, math.sqrt(2)])
    s = out["sup_l2"]
    assert s["measured"] == pytest.approx(sup.mean()) and s["ratio"] == pytest.approx(
        sup.mean() / 2.0)
    rel = math.hypot(sup.std(ddof=1) / 2 / sup.mean(), 0.1 / 2.0)
    assert s["ratio_high"] == pytest.approx(s["ratio"] * (1 + 1.959964 * rel), rel=1e-6)


def test_output_benchmark_smallest_configuration():
    bench_output = importlib.import_module("benchmarks.bench_output")
    res = bench_output.output_cost(n_units=64, repeat=1)
    s, r, n = res["seconds"], res["ratio"], res["counts"]
    assert all(v > 0 and math.isfinite(v) for v in s.values())
    for k, v in r.items():      # every ratio is the quotient of the times recorded beside it
        assert v == pytest.approx(s[k] / s["training"], rel=1e-12), k
    # the headline histories: 2^10 windows of +-1, half of them evaluated (tanh is odd),
    # the t = 0 network of the doubled start skipped
    assert n["windows"] == 1024 and n["windows_evaluated"] == 512
    assert n["tree_nodes"] == 512 and n["tree_nodes_without_sign_symmetry"] == 1023
    assert n["networks"] == 6 and n["networks_evaluated"] == 5
    rows = run._rows_output({"data": res})
    assert [row["value"] for row in rows] == [r["evaluation"], r["evaluation_one_thread"]]
    assert "evaluation / training" in bench_output.format_output(res)


def test_the_reference_loop_runs_on_one_blas_thread(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    bench_sim = importlib.import_module("benchmarks.bench_simulator")
    seen = []
    dot = np.dot

    def recording_dot(a, b):
        seen.append(max(p["num_threads"] for p in threadpool_info()))
        return dot(a, b)

    monkeypatch.setattr(bench_sim.np, "dot", recording_dot)
    X = np.random.default_rng(0).standard_normal(5)
    with threadpool_limits(2):                        # whatever the caller's setting
        before = max(p["num_threads"] for p in threadpool_info())
        assert bench_sim.reference_loop(X, np.sin(X), 64) > 0
        after = max(p["num_threads"] for p in threadpool_info())
    assert seen == [1] * 5
    assert after == before                            # and the caller's setting is restored


def test_the_study_overhead_partitions_the_command_wall_time():
    bench_study = importlib.import_module("benchmarks.bench_study")
    res = bench_study.study_overhead(
        quick=True, jobs=1, network_options={"memory_tol": 0.05},
        study_options={"n_units": [32, 64], "n_seeds": 2, "n_times": 3,
                       "tracking_samples": 8, "grid": TINY_GRID})
    f, s = res["fractions"], res["seconds"]
    assert set(f) == {"limit", "depth_check", "resume", "runs", "metrics", "other",
                      "prediction", "output"}
    assert sum(f.values()) == pytest.approx(1.0, rel=1e-12)
    assert all(v >= 0 for v in s.values()) and s["prediction"] > 0 and s["runs"] > 0
    assert s["other"] < 0.1 * res["timings_s"]["total_s"]
    assert res["overhead"] == pytest.approx(1.0 - f["runs"], rel=1e-12)
    assert res["study_overhead"] == pytest.approx(
        1.0 - s["runs"] / res["timings_s"]["total_s"], rel=1e-12)
    assert res["study_overhead"] < res["overhead"] < 1
    text = bench_study.format_overhead(res)
    assert f"{100 * res['overhead']:.1f} %" in text and "prediction" in text


def test_streaming_rows_report_the_fitted_exponent_and_same_run_ratios():
    data = {"G": 256, "n_times": 201, "exponent_M": 0.93,
            "streamed": [{"M": 10_000, "wall_s": 1.0, "peak_rss_MiB": 400.0},
                         {"M": 30_000, "wall_s": 2.5, "peak_rss_MiB": 600.0}],
            "in_memory": [{"M": 10_000, "wall_s": 4.0, "route": "thin SVD of W^1/2 F"}],
            "ratio_in_memory_over_streamed": [4.0]}
    rows = run._rows_streaming({"data": data})
    assert [r["value"] for r in rows] == [0.93, 4.0]
    assert "10000..30000" in rows[0]["quantity"] and "2.5 s" in rows[0]["note"]
