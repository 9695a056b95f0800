"""Convergence studies on a real local Dask cluster give the numbers of the local run."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from limitsolver.config import problem_from_config
from limitsolver.errors import StudyError
from limitsolver.headline import headline_table as problem_defaults
from limitsolver.studies import ConvergenceStudy, run_convergence
from limitsolver.studies.executors import execute

distributed = pytest.importorskip("distributed")

#: Each test that starts a local cluster (two worker processes) fails after this many
#: seconds instead of hanging: about ten times its duration on a loaded 2-core machine.
CLUSTER_SECONDS = 240


@pytest.fixture(scope="module")
def study():
    cfg = problem_defaults()
    cfg["network"]["memory_tol"] = 0.05
    cfg["horizon"] = 0.5
    return ConvergenceStudy(problem_from_config(cfg), n_units=(64, 128, 256, 512),
                            seeds=(0, 1, 2, 3), n_times=3, tracking_samples=16,
                            grid={"n_w": 16, "n_b": 4}, backend="numpy", depth_check=False)


@pytest.fixture(scope="module")
def reference(study):
    return run_convergence(study, jobs=1, progress=False)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _same_numbers(a, b):
    for metric in a.errors:
        np.testing.assert_array_equal(a.errors[metric], b.errors[metric])
    np.testing.assert_array_equal(a.finite_loss, b.finite_loss)


@pytest.mark.slow
@pytest.mark.timeout(CLUSTER_SECONDS)
def test_dask_study_gives_the_numbers_of_the_local_study(study, reference, client, tmp_path):
    result = run_convergence(study, executor=client, out=tmp_path, progress=False)
    _same_numbers(result, reference)
    assert len(list((tmp_path / "runs").glob("*.npz"))) == 16


@pytest.mark.slow
@pytest.mark.timeout(CLUSTER_SECONDS)
def test_killing_a_worker_mid_study_loses_nothing(study, reference, client, tmp_path):
    runs = tmp_path / "runs"
    killed = {}

    def kill_one_worker_after_the_first_run():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (runs.exists() and any(runs.glob("*.npz"))):
            time.sleep(0.01)
        pids = client.run(os.getpid)
        addr, pid = sorted(pids.items())[0]
        os.kill(pid, signal.SIGKILL)
        killed["pid"], killed["runs_done"] = pid, len(list(runs.glob("*.npz")))

    killer = threading.Thread(target=kill_one_worker_after_the_first_run, daemon=True)
    killer.start()
    result = run_convergence(study, executor=client, out=tmp_path, progress=False)
    killer.join(timeout=60)
    assert "pid" in killed and killed["runs_done"] < 16     # the kill happened mid-study
    _same_numbers(result, reference)
    assert len(list(runs.glob("*.npz"))) == 16
    client.wait_for_workers(2, timeout=60)                  # the nanny restarted the worker


def _flaky(shared, key):
    if key == (2, "b"):
        raise ValueError("planted failure")
    return shared + key[0]


def test_a_failing_run_is_reported_by_name_and_the_others_are_kept():
    got = {}
    keys = [(1, "a"), (2, "b"), (3, "c")]
    failures = execute(_flaky, keys, (10,), lambda k: (k,), got.__setitem__, jobs=1)
    assert set(failures) == {(2, "b")} and "planted" in str(failures[(2, "b")])
    assert got == {(1, "a"): 11, (3, "c"): 13}


@pytest.mark.timeout(120)
def test_study_error_names_the_failed_runs(study, tmp_path, monkeypatch):
    import limitsolver.studies.convergence as conv

    original = conv._finite_run

    def fail_for_seed_1(problem, times, values, n_track, backend, n, seed):
        if seed == 1:
            raise RuntimeError("worker lost")
        return original(problem, times, values, n_track, backend, n, seed)

    monkeypatch.setattr(conv, "_finite_run", fail_for_seed_1)
    with pytest.raises(StudyError, match=r"4 of 16 runs failed \(N=64, seed=1: .*worker lost"):
        run_convergence(study, jobs=1, out=tmp_path, progress=False)
    # the 12 runs that finished are on disk for a resumed study
    assert len(list((tmp_path / "runs").glob("*.npz"))) == 12


@pytest.mark.slow
@pytest.mark.timeout(CLUSTER_SECONDS)
def test_converge_command_runs_on_a_scheduler(client, tmp_path, capsys):
    from limitsolver.cli import main

    args = ["converge", "--out", str(tmp_path), "--quiet",
            "--scheduler", client.scheduler.address,
            "--set", "problem.network.memory_tol=0.05", "--set", "problem.horizon=0.5",
            "--set", "study.n_units=[32, 64]", "--set", "study.n_seeds=2",
            "--set", "study.n_times=3", "--set", "study.tracking_samples=8",
            "--set", 'study.grid={n_w = 16, n_b = 4, kind = "legendre"}']
    assert main(args) == 0
    assert (tmp_path / "summary.json").exists()
    assert len(list((tmp_path / "runs").glob("*.npz"))) == 4


@pytest.mark.timeout(60)
def test_unreachable_scheduler_is_a_one_line_error(tmp_path, capsys):
    from limitsolver.cli import main

    # nothing listens on port 9 (discard): give up after half a second, not the default 10
    code = main(["converge", "--out", str(tmp_path), "--quiet", "--scheduler",
                 "tcp://127.0.0.1:9", "--scheduler-timeout", "0.5",
                 "--set", "study.n_units=[32, 64]",
                 "--set", "problem.network.memory_tol=0.05"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler" in err
    assert "after 0.5 s" in err          # distributed names the limit it was given
