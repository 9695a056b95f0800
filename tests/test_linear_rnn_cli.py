"""Tests of the `memory` command (limitsolver.cli.memory) and the study writers."""

from __future__ import annotations

import argparse
import copy
import json

import pytest

from limitsolver.cli import memory
from limitsolver.errors import ConfigError


def tiny_config():
    cfg = copy.deepcopy(memory.DEFAULTS)
    cfg["approximation"]["targets"] = [{"family": "power_law", "omega": 0.5},
                                       {"family": "exponential_sum", "coefficients": [1.0],
                                        "rates": [2.0]}]
    cfg["approximation"]["m_values"] = [1, 2, 3]
    cfg["approximation"]["n_starts"] = 0
    cfg["plateau"]["memory_values"] = [1.0, 2.0]
    cfg["plateau"]["t_max"] = 40.0
    return cfg


def ns(tmp_path, study=None):
    return argparse.Namespace(seed=0, jobs=1, out=tmp_path, quiet=True, study=study)


def test_run_writes_outputs(tmp_path, capsys):
    assert memory.run(tiny_config(), ns(tmp_path)) == 0
    for stem in ("approximation", "plateau"):
        summary = json.loads((tmp_path / f"{stem}.json").read_text())
        assert summary["study"] == stem
        assert (tmp_path / f"{stem}.csv").read_text().count("\n") >= 2
        assert (tmp_path / f"{stem}.txt").exists() and (tmp_path / f"{stem}.npz").exists()
    for png in ("approximation.png", "plateau_loss.png", "plateau_fit.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "E_m / ||rho||" in out and "plateau durations" in out
    # one exponential is represented exactly by one unit: E_1 below the Gram floor
    res = json.loads((tmp_path / "approximation.json").read_text())["results"][1]
    assert res["relative_errors"][0] < 1e-6


def test_add_arguments_and_study_choice(tmp_path):
    parser = argparse.ArgumentParser()
    memory.add_arguments(parser)
    assert parser.parse_args(["--study", "plateau"]).study == "plateau"
    assert memory.run(tiny_config(), ns(tmp_path, "plateau")) == 0
    assert (tmp_path / "plateau.json").exists()
    assert not (tmp_path / "approximation.json").exists()


@pytest.mark.parametrize("path,value,match", [
    (("study",), "all", "`study`"),
    (("approximation", "m_values"), [0, 1], "`approximation.m_values`"),
    (("approximation", "rate_bounds"), [1.0, 0.1], "`approximation.rate_bounds`"),
    (("approximation", "targets"), [{"family": "cauchy"}], r"`approximation.targets\[0\].family`"),
    (("approximation", "targets"), [{"family": "power_law", "omega": -1}],
     r"`approximation.targets\[0\]`"),
    (("approximation", "targets"), [{"family": "power_law", "beta": 1}],
     r"`approximation.targets\[0\]`.*unknown"),
    (("plateau", "family"), "exponential_sum", "`plateau.family`"),
    (("plateau", "memory_values"), [1.0], "`plateau.memory_values`"),
    (("plateau", "t_max"), -1.0, "`plateau.t_max`"),
    (("plateau", "m"), 1.5, "`plateau.m`"),
    (("plateau", "method"), "RK45", "`plateau.method`"),
    (("plateau", "rate_threshold"), 2.0, "`plateau.rate_threshold`"),
    (("plateau", "target_params"), {"s0": 1.0}, "`plateau.target_params`"),
])
def test_bad_config_names_the_key(tmp_path, path, value, match):
    cfg = tiny_config()
    d = cfg
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value
    with pytest.raises(ConfigError, match=match):
        memory.run(cfg, ns(tmp_path))


def test_loss_convention_in_every_output_and_the_theorem_setup(tmp_path):
    import numpy as np

    from limitsolver.linear_rnn import ERROR_CONVENTION, LOSS_CONVENTION

    cfg = tiny_config()
    cfg["plateau"].update(family="exponential_bump", target_params={"width": 0.5, "rate": 2.0},
                          m=1, factorised=False, initial_point={"a0": [0.01], "w0": [1.0]},
                          exit_delta=0.05, t_max=20.0)
    assert memory.run(cfg, ns(tmp_path)) == 0
    for stem, text in (("plateau", LOSS_CONVENTION), ("approximation", ERROR_CONVENTION)):
        assert text in (tmp_path / f"{stem}.txt").read_text()
        assert text in (tmp_path / f"{stem}.csv").read_text()
        summary = json.loads((tmp_path / f"{stem}.json").read_text())
        assert text in json.dumps(summary)
        with np.load(tmp_path / f"{stem}.npz") as z:
            key = "loss_convention" if stem == "plateau" else "error_convention"
            assert str(z[key]) == text
    summary = json.loads((tmp_path / "plateau.json").read_text())
    assert summary["config"]["initial_point"] == {"a0": [0.01], "w0": [1.0]}
    assert all(0 < t < 20.0 for t in summary["exit_times"][0])
    with np.load(tmp_path / "plateau.npz") as z:
        assert z["tau0"].shape == (1, 2)
    cfg["plateau"]["factorised"] = True
    with pytest.raises(ConfigError, match="factorised"):
        memory.run(cfg, ns(tmp_path))
