"""The run store: fingerprints to the last bit, no stale or corrupt run reused, a lock, atomic writes."""

import os
import warnings

import numpy as np
import pytest

from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem
from limitsolver.errors import ConfigError, StudyError
from limitsolver.io import write_json, write_npz
from limitsolver.store import (
    RunStore,
    StaleRunWarning,
    fingerprint,
    problem_fingerprint,
    problem_state,
    provenance,
)
from limitsolver.studies import ConvergenceStudy, run_convergence


def _problem(P=((0.7, 0.3), (0.4, 0.6)), horizon=0.5, decay=0.6):
    return Problem(FiniteChain(np.array(P), states=[-1.0, 1.0]),
                   LinearMemory.geometric(decay=decay, n_terms=3),
                   NetworkSpec(activation="tanh", prior=Prior(b_max=0.5, doubled=True),
                               memory_tol=0.05), horizon=horizon)


# -- fingerprints ------------------------------------------------------------------------------

def test_the_fingerprint_sees_every_bit_of_the_transition_matrix():
    a = problem_fingerprint(_problem())
    assert a == problem_fingerprint(_problem())                # rebuilt: same state
    assert a != problem_fingerprint(_problem(P=((0.69, 0.31), (0.4, 0.6))))
    nudged = np.nextafter(0.7, 1.0)                            # one ulp
    assert a != problem_fingerprint(_problem(P=((nudged, 1 - nudged), (0.4, 0.6))))
    assert a != problem_fingerprint(_problem(horizon=0.25))
    assert a != problem_fingerprint(_problem(decay=0.5))


def test_the_state_keeps_the_matrix_exactly():
    state = problem_state(_problem(P=((0.69, 0.31), (0.4, 0.6))))
    text = repr(state)
    assert "0.69" in text and "0.31" in text


def test_fingerprint_is_canonical():
    assert fingerprint({"a": 1, "b": [1.5, 2]}) == fingerprint({"b": [1.5, 2], "a": 1})
    assert fingerprint({"a": 0.1}) != fingerprint({"a": 0.1 + 2**-56})


def test_provenance_records_versions_command_time_and_seeds():
    meta = provenance(problem=_problem(), seeds=[3, 4], argv=["limitsolver", "converge"])
    assert meta["limitsolver"] and meta["dependencies"]["numpy"] == np.__version__
    assert meta["argv"] == ["limitsolver", "converge"] and meta["seeds"] == [3, 4]
    assert meta["created_utc"].endswith("+00:00")
    assert "P" in repr(meta["problem"])


# -- the store on its own ----------------------------------------------------------------------

FP = fingerprint({"study": 1})
RUN = {"outputs": np.linspace(0.0, 1.0, 6).reshape(2, 3), "steps": np.arange(4)}


def _saved(tmp_path):
    with RunStore(tmp_path, FP) as store:
        f = store.save((64, 0), RUN)
    return f


def _reload(tmp_path, key=(64, 0), fp=FP):
    with warnings.catch_warnings(record=True) as caught, RunStore(tmp_path, fp) as store:
        warnings.simplefilter("always")
        got = store.load(key)
    return got, [str(w.message) for w in caught if issubclass(w.category, StaleRunWarning)]


def test_a_saved_run_loads_back_exactly(tmp_path):
    f = _saved(tmp_path)
    assert f.name == "N64_seed0.npz"
    got, warned = _reload(tmp_path)
    assert not warned
    assert set(got) == set(RUN)
    for k in RUN:
        np.testing.assert_array_equal(got[k], RUN[k])


def _plant_truncated(f):
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def _plant_garbage(f):
    f.write_bytes(b"\x80\x04not a zip nor an npy file at all" * 10)


def _plant_nan(f):
    with np.load(f) as z:
        data = {k: z[k] for k in z.files}
    data["outputs"] = np.full_like(data["outputs"], np.nan)
    write_npz(f, **data)


def _plant_rescaled(f):
    with np.load(f) as z:
        data = {k: z[k] for k in z.files}
    data["outputs"] = 2.0 * data["outputs"]
    write_npz(f, **data)


def _plant_unfingerprinted(f):
    write_npz(f, **RUN)


@pytest.mark.parametrize("plant, reason", [
    (_plant_truncated, "cannot be read"),
    (_plant_garbage, "cannot be read"),
    (_plant_nan, "NaN"),
    (_plant_rescaled, "checksum"),
    (_plant_unfingerprinted, "no fingerprint"),
])
def test_a_damaged_run_file_is_not_reused_and_the_warning_names_it(tmp_path, plant, reason):
    f = _saved(tmp_path)
    plant(f)
    got, warned = _reload(tmp_path)
    assert got is None
    assert len(warned) == 1 and str(f) in warned[0] and reason in warned[0]


def test_a_run_file_of_another_study_or_another_run_is_not_reused(tmp_path):
    f = _saved(tmp_path)
    (tmp_path / "study.json").unlink()                   # nothing left but the run files
    got, warned = _reload(tmp_path, fp=fingerprint({"study": 2}))
    assert got is None and "another study" in warned[0] and str(f) in warned[0]
    # a copy of the run (64, 0) under the name of (64, 1)
    (tmp_path / "study.json").unlink()
    _saved(tmp_path)
    copy = f.with_name("N64_seed1.npz")
    copy.write_bytes(f.read_bytes())
    got, warned = _reload(tmp_path, key=(64, 1))
    assert got is None and "(N, seed) = (64, 0)" in warned[0] and str(copy) in warned[0]


def test_a_directory_of_another_study_is_refused(tmp_path):
    _saved(tmp_path)
    with pytest.raises(ConfigError, match="different study"):
        RunStore(tmp_path, fingerprint({"study": 2})).__enter__()


def test_a_file_as_out_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        RunStore(f, FP).__enter__()


def test_a_second_writer_of_one_directory_is_refused_while_the_first_holds_it(tmp_path):
    with RunStore(tmp_path, FP):
        with pytest.raises(StudyError, match="another process"):
            RunStore(tmp_path, FP).__enter__()
    with RunStore(tmp_path, FP) as store:                # released on exit
        store.save((1, 1), RUN)


def test_a_temporary_file_left_by_a_killed_writer_is_removed(tmp_path):
    _saved(tmp_path)
    left = tmp_path / "runs" / ".N64_seed1.npz.abc.tmp"
    left.write_bytes(b"half")
    with RunStore(tmp_path, FP):
        assert not left.exists()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_an_interrupted_atomic_write_leaves_no_temporary_file(tmp_path, exc, monkeypatch):
    def interrupted(fh, **arrays):
        fh.write(b"partial")
        raise exc()

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(exc):
        write_npz(tmp_path / "a.npz", x=np.zeros(3))
    with pytest.raises(exc):
        write_json(tmp_path / "b.json", {"x": ExplodingRepr(exc)})
    assert os.listdir(tmp_path) == []


class ExplodingRepr:
    def __init__(self, exc):
        self.exc = exc

    def __repr__(self):
        raise self.exc()


# -- a convergence study resumes only from runs it can trust ---------------------------------

@pytest.fixture(scope="module")
def tiny():
    return ConvergenceStudy(_problem(), n_units=(32, 64), seeds=(0, 1), n_times=3,
                            tracking_samples=8, grid={"n_w": 8, "n_b": 4}, backend="numpy",
                            depth_check=False)


@pytest.fixture(scope="module")
def tiny_reference(tiny):
    return run_convergence(tiny, progress=False)


def test_a_resumed_study_recomputes_every_planted_file_and_gives_the_same_numbers(
        tiny, tiny_reference, tmp_path):
    run_convergence(tiny, out=tmp_path, progress=False)
    runs = tmp_path / "runs"
    _plant_truncated(runs / "N64_seed0.npz")
    _plant_nan(runs / "N64_seed1.npz")
    (runs / "N32_seed1.npz").write_bytes((runs / "N32_seed0.npz").read_bytes())  # copied
    _plant_rescaled(runs / "N32_seed0.npz")
    with pytest.warns(StaleRunWarning) as record:
        again = run_convergence(tiny, out=tmp_path, progress=False)
    named = {m for w in record for m in ("N64_seed0", "N64_seed1", "N32_seed0", "N32_seed1")
             if m in str(w.message)}
    assert named == {"N64_seed0", "N64_seed1", "N32_seed0", "N32_seed1"}
    for m in tiny_reference.errors:
        np.testing.assert_array_equal(again.errors[m], tiny_reference.errors[m])
    with warnings.catch_warnings():                    # the replaced files are trusted again
        warnings.simplefilter("error", StaleRunWarning)
        run_convergence(tiny, out=tmp_path, progress=False)


def test_runs_of_another_horizon_are_not_reused_when_study_json_is_deleted(tiny, tmp_path):
    run_convergence(tiny, out=tmp_path, progress=False)
    (tmp_path / "study.json").unlink()
    other = ConvergenceStudy(_problem(horizon=0.25), n_units=tiny.n_units, seeds=tiny.seeds,
                             n_times=3, tracking_samples=8, grid=tiny.grid, backend="numpy",
                             depth_check=False)
    with pytest.warns(StaleRunWarning, match="another study"):
        got = run_convergence(other, out=tmp_path, progress=False)
    expected = run_convergence(other, progress=False)
    for m in expected.errors:
        np.testing.assert_array_equal(got.errors[m], expected.errors[m])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes everywhere")
def test_an_unwritable_out_is_a_config_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot be written"):
            RunStore(ro / "conv", FP).__enter__()
    finally:
        ro.chmod(0o700)


def test_out_under_a_file_is_a_config_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="cannot be written"):
        RunStore(f / "conv", FP).__enter__()


def test_a_target_wrapping_a_python_function_is_fingerprinted_by_its_code():
    from limitsolver.targets import StateFunction

    def problem(f):
        return _problem().replace(target=StateFunction(f, dim=1))

    a = problem_fingerprint(problem(lambda x: np.sin(x[..., 0])))
    assert a == problem_fingerprint(problem(lambda x: np.sin(x[..., 0])))
    assert a != problem_fingerprint(problem(lambda x: np.cos(x[..., 0])))
    assert a != problem_fingerprint(problem(lambda x: np.sin(2.0 * x[..., 0])))


def test_a_closure_over_a_module_and_a_value_is_fingerprinted_quickly():
    from limitsolver.targets import StateFunction

    def problem(k):
        lib = np
        return _problem().replace(target=StateFunction(lambda x: lib.sin(k * x[..., 0]), dim=1))

    assert problem_fingerprint(problem(1.0)) != problem_fingerprint(problem(2.0))
    assert problem_fingerprint(problem(1.0)) == problem_fingerprint(problem(1.0))


@pytest.mark.parametrize("command, files", [
    (["solve", "--set", "problem.network.memory_tol=0.05", "--set", "problem.horizon=0.5",
      "--set", 'solve.grid={n_w = 8, n_b = 4, kind = "legendre"}'],
     ("summary.json", "solution.npz")),
    (["poisson"], ("summary.json", "poisson.npz")),
])
def test_the_files_of_other_commands_record_their_provenance(tmp_path, command, files, capsys):
    import json

    from limitsolver.cli import main
    from limitsolver.io import read_npz_meta

    assert main([command[0], "--out", str(tmp_path), "--quiet", "--seed", "7",
                 *command[1:]]) in (0, 1)
    js = json.loads((tmp_path / files[0]).read_text())["provenance"]
    npz = read_npz_meta(tmp_path / files[1])
    for meta in (js, npz):
        assert meta["seeds"] == [7] and meta["created_utc"].endswith("+00:00")
        assert meta["dependencies"]["numpy"] == np.__version__ and meta["argv"]
