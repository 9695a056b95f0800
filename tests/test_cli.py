"""End-to-end tests of the command line on tiny settings."""

import importlib
import json
import tomllib

import numpy as np
import pytest

from limitsolver.cli import converge, main
from limitsolver.cli._config import load_config, merge, parse_assignment, to_toml
from limitsolver.errors import ConfigError

TINY_PROBLEM = [
    "--set", "problem.network.memory_tol=0.05",
    "--set", "problem.horizon=0.5",
]
TINY_STUDY = TINY_PROBLEM + [
    "--set", "study.n_units=[32, 64, 128]",
    "--set", "study.n_seeds=2",
    "--set", "study.n_times=3",
    "--set", "study.tracking_samples=16",
    "--set", 'study.grid={n_w = 16, n_b = 4, kind = "legendre"}',
]


@pytest.mark.slow
def test_converge_writes_parsable_outputs_and_resumes(tmp_path, capsys):
    out = tmp_path / "conv"
    assert main(["converge", "--out", str(out), "--jobs", "1", "--quiet", *TINY_STUDY]) == 0
    printed = capsys.readouterr().out
    assert "fit:" in printed and "limit discretisation error" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_units"] == [32, 64, 128]
    with np.load(out / "errors.npz") as z:
        assert z["error_sup_l2"].shape == (3, 2)
        first = z["error_sup_l2"].copy()
        raw = {metric: z[f"error_{metric}"].copy() for metric in ("sup_l2", "tracking",
                                                                 "loss_gap")}
    # the summary is the raw per-seed errors digested: means, standard errors over the two
    # seeds and the least-squares slope of log(mean) on log(N), recomputed here
    for metric, e in raw.items():
        m = summary["metrics"][metric]
        np.testing.assert_allclose(m["mean"], e.mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(m["stderr"], e.std(axis=1, ddof=1) / np.sqrt(2), rtol=1e-12)
        slope = np.polyfit(np.log([32, 64, 128]), np.log(e.mean(axis=1)), 1)[0]
        assert m["rate"] == pytest.approx(-slope, rel=1e-9)
    for png in ("convergence.png", "loss_curves.png", "trajectories.png", "errors_in_time.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((out / "runs").glob("*.npz"))) == 6
    # a second call finds every run on disk and reproduces the numbers exactly
    assert main(["converge", "--out", str(out), "--jobs", "1", "--quiet", *TINY_STUDY]) == 0
    with np.load(out / "errors.npz") as z:
        np.testing.assert_array_equal(z["error_sup_l2"], first)


@pytest.mark.slow
def test_converge_refuses_an_out_directory_of_another_study(tmp_path, capsys):
    out = tmp_path / "conv"
    assert main(["converge", "--out", str(out), "--quiet", "--jobs", "1", *TINY_STUDY]) == 0
    for change in ("problem.horizon=0.25", "problem.chain.P=[[0.6, 0.4], [0.4, 0.6]]",
                   "problem.target.decay=0.5"):
        code = main(["converge", "--out", str(out), "--quiet", "--jobs", "1", *TINY_STUDY,
                     "--set", change])
        assert code == 2
        assert "different study" in capsys.readouterr().err


@pytest.mark.parametrize("args, reason", [
    (["--set", "problem.network.beta=1.5"], "beta"),
    (["--set", "problem.network.prior.b_max=1.5"], "contract"),
    (["--set", "problem.chain.P=[[0.5, 0.6], [0.5, 0.5]]"], "sum"),
    (["--set", "problem.bogus=1"], "bogus"),
    (["--set", "study.n_seeds=1"], "n_seeds"),
    (["--set", "problem.target.kind=\"nonsense\""], "nonsense"),
])
def test_bad_configuration_exits_2_with_one_line_reason(tmp_path, capsys, args, reason):
    code = main(["converge", "--out", str(tmp_path), "--quiet", *TINY_STUDY, *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and reason in err


def test_missing_config_file(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.toml"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_toml_file_is_read(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[problem]\nhorizon = 0.25\n[problem.network]\nmemory_tol = 0.05\n'
                   '[solve]\nn_times = 5\n[solve.grid]\nn_w = 16\nn_b = 4\n')
    assert main(["solve", str(cfg), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["times"] == pytest.approx([0, 0.0625, 0.125, 0.1875, 0.25])
    loss = np.asarray(summary["loss"])
    assert np.all(np.diff(loss) <= 1e-12)          # rtrl: the loss never increases
    assert (tmp_path / "s" / "limit.png").exists()


def test_simulate_and_poisson_commands(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "sim"), "--quiet", *TINY_PROBLEM,
                 "--set", "simulate.n_units=64", "--set", "simulate.n_seeds=2"]) == 0
    assert (tmp_path / "sim" / "simulation.npz").exists()
    assert main(["poisson", "--out", str(tmp_path / "p"), "--quiet",
                 "--set", "check.n_steps=20000"]) == 0
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    # two-state chain P = [[0.7, 0.3], [0.4, 0.6]], F = x on states -1, 1: closed form
    # sigma^2 = Var_pi(F) (1 + lam) / (1 - lam) with lam = 1 - p - q = 0.3
    pi1 = 0.3 / 0.7
    var = 4 * pi1 * (1 - pi1)
    assert summary["asymptotic_variance"] == pytest.approx(var * 1.3 / 0.7, rel=1e-12)


def test_set_can_switch_the_chain_kind(tmp_path, capsys):
    out = tmp_path / "ar1"
    # exit 0: the batch-means check of the solution passes (exit 1 would mean it failed)
    assert main(["poisson", "--out", str(out), "--quiet", "--set", 'chain.kind="ar1"',
                 "--set", "chain.a=0.8", "--set", "check.n_steps=20000"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # AR(1) with F = x: sigma^2 = (1 + a) / (1 - a)
    assert summary["asymptotic_variance"] == pytest.approx(1.8 / 0.2, rel=1e-8)
    assert main(["poisson", "--out", str(out), "--quiet", "--set", 'chain.kind="ar1"',
                 "--set", "chain.kappa=0.8"]) == 2
    assert "kappa" in capsys.readouterr().err


def test_print_config_shows_defaults_as_toml(capsys):
    assert main(["converge", "--print-config"]) == 0
    cfg = tomllib.loads(capsys.readouterr().out)
    assert cfg == converge.DEFAULTS
    assert cfg["study"]["n_units"][-1] == 32768 and cfg["problem"]["network"]["beta"] == 0.5


@pytest.mark.parametrize("name", ["converge", "solve", "simulate", "poisson", "memory"])
def test_print_config_round_trips(name, capsys):
    mod = importlib.import_module(f"limitsolver.cli.{name}")
    assert main([name, "--print-config"]) == 0
    text = capsys.readouterr().out
    assert tomllib.loads(text) == mod.DEFAULTS
    assert tomllib.loads(to_toml(tomllib.loads(text))) == mod.DEFAULTS


def test_printed_config_can_be_edited_and_run(tmp_path, capsys):
    assert main(["solve", "--print-config", *TINY_PROBLEM, "--set", "solve.n_times=4",
                 "--set", "solve.grid.n_w=8", "--set", "solve.grid.n_b=4"]) == 0
    text = capsys.readouterr().out
    cfg = tmp_path / "solve.toml"
    cfg.write_text(text.replace("n_times = 4", "n_times = 3"))
    assert main(["solve", str(cfg), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["times"] == [0.0, 0.25, 0.5]


def test_config_merging():
    defaults = {"a": {"kind": "x", "p": 1}, "b": 2, "c": {"p": 1}}
    assert merge(defaults, {"a": {"p": 3}})["a"] == {"kind": "x", "p": 3}
    assert merge(defaults, {"a": {"kind": "y", "q": 1}})["a"] == {"kind": "y", "q": 1}
    with pytest.raises(ConfigError, match="unknown configuration key `c.r`"):
        merge(defaults, {"c": {"r": 1}})
    with pytest.raises(ConfigError, match="unknown configuration key `d`"):
        merge(defaults, {"d": 1})
    assert parse_assignment("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    # switching a table's kind and then setting that kind's own key
    switched = load_config(defaults, None, ['a.kind="y"', "a.q=2"])
    assert switched["a"] == {"kind": "y", "q": 2}
    assert load_config(defaults, None, ["b=5"])["b"] == 5


def test_one_toml_file_serves_several_subcommands(tmp_path, capsys):
    cfg = tmp_path / "all.toml"
    cfg.write_text(
        'F = "x**2"\n[problem]\nhorizon = 0.25\n[problem.network]\nmemory_tol = 0.05\n'
        '[solve]\nn_times = 3\n[solve.grid]\nn_w = 8\nn_b = 4\n'
        '[study]\nn_units = [32, 64]\nn_seeds = 2\nn_times = 3\n'
        '[simulate]\nn_units = 32\nn_seeds = 1\n'
        '[memory]\nstudy = "plateau"\n'
        '[check]\nn_steps = 2000\nn_batches = 10\n')
    for name in ("solve", "converge", "simulate", "poisson", "memory"):
        assert main([name, str(cfg), "--print-config"]) == 0, capsys.readouterr().err
        printed = tomllib.loads(capsys.readouterr().out)
        if name != "poisson" and name != "memory":
            assert printed["problem"]["horizon"] == 0.25
    assert main(["solve", str(cfg), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["times"] == [0, 0.125, 0.25]
    # but a --set of another subcommand's table is a mistake
    assert main(["solve", str(cfg), "--set", "study.n_seeds=3", "--print-config"]) == 2
    assert "belongs to `limitsolver converge`" in capsys.readouterr().err


@pytest.mark.parametrize("change, window", [
    # tail sum_{j >= J} 0.6^j = 0.6^J / 0.4 <= 1e-3 first at J = 16 (brute force below)
    ("problem.target.tol=1e-3", next(J for J in range(1, 100) if 0.6**J / 0.4 <= 1e-3)),
    ("problem.target.rho=[1.0, -0.5]", 2),
    ("problem.target.n_terms=4", 4),
])
def test_documented_target_keys_replace_the_default_n_terms(change, window, tmp_path, capsys):
    from limitsolver.config import problem_from_config

    assert main(["solve", "--set", change, "--print-config"]) == 0
    cfg = tomllib.loads(capsys.readouterr().out)
    assert problem_from_config(cfg["problem"]).target.window == window


def test_progress_bars_are_not_forced_into_redirected_output(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "sim"), *TINY_PROBLEM,
                 "--set", "simulate.n_units=32", "--set", "simulate.n_seeds=1"]) == 0
    err = capsys.readouterr().err
    assert "it/s" not in err and "%|" not in err


def test_jobs_is_an_option_of_converge_only(capsys):
    assert main(["converge", "--jobs", "1", "--print-config"]) == 0
    capsys.readouterr()
    for name in ("solve", "simulate", "poisson", "memory"):
        assert main([name, "--jobs", "1", "--print-config"]) == 2
        assert "--jobs" in capsys.readouterr().err


def test_old_memory_study_key_still_works_with_a_warning(tmp_path, capsys):
    cfg = tmp_path / "m.toml"
    cfg.write_text('study = "plateau"\n')
    with pytest.warns(DeprecationWarning, match="memory.study"):
        assert main(["memory", str(cfg), "--print-config"]) == 0
    assert tomllib.loads(capsys.readouterr().out)["memory"]["study"] == "plateau"


def test_summaries_record_the_seed_and_the_full_problem(tmp_path, capsys):
    from limitsolver.config import spec_from_state

    assert main(["solve", "--out", str(tmp_path / "s"), "--quiet", "--seed", "3", *TINY_PROBLEM,
                 "--set", "problem.chain.P=[[0.69, 0.31], [0.4, 0.6]]", "--set", "solve.n_times=2",
                 "--set", "solve.grid.n_w=8", "--set", "solve.grid.n_b=4"]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["seed"] == 3
    problem = spec_from_state(summary["problem_state"])
    np.testing.assert_array_equal(problem.chain.P, [[0.69, 0.31], [0.4, 0.6]])


def test_toml_writer_round_trips_awkward_values():
    cfg = {"a": {"b c": 1, "s": 'q"uote\\', "f": [1e-300, -0.0, 1.5], "t": True,
                 "deep": {"x": [[1, 2], [3]], "tables": [{"k": 1}, {"k": "v"}]}},
           "top": 3, "empty": {}}
    assert tomllib.loads(to_toml(cfg)) == cfg
