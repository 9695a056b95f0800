"""Stopping a study: Ctrl-C stops it and keeps what finished; killed parents leave no orphans."""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem
from limitsolver.studies import ConvergenceStudy, run_convergence

#: Every test here starts processes (a CLI subprocess, a worker pool): one that hangs fails
#: after this many seconds (the waits inside each test are shorter).
pytestmark = pytest.mark.timeout(420)

STUDY = [
    "--set", "problem.network.memory_tol=0.05", "--set", "problem.horizon=2.0",
    "--set", "study.n_units=[32, 16384]", "--set", "study.n_seeds=2",
    "--set", "study.n_times=3", "--set", "study.tracking_samples=8",
    "--set", 'study.grid={n_w = 8, n_b = 4, kind = "legendre"}',
]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get(
        "PYTHONPATH", "")
    return env


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _default_sigint():
    """In the child: Ctrl-C as in a terminal, whatever the test runner inherited.

    A runner started in the background by a non-interactive shell (``cmd &``, ``nohup``)
    ignores SIGINT, its children inherit the ignored disposition, and Python then does not
    install its KeyboardInterrupt handler: the signal sent below would be lost.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _converge(out, *extra, jobs=1, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "limitsolver", "converge", "--out", str(out), "--quiet",
         "--jobs", str(jobs), *STUDY, *extra],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_the_study_keeps_finished_runs_exits_130_and_a_rerun_resumes(tmp_path, jobs):
    out = tmp_path / "conv"
    runs = out / "runs"
    # with workers, Ctrl-C in a terminal reaches the whole process group
    proc = _converge(out, jobs=jobs, start_new_session=jobs > 1)
    try:
        _wait_for(lambda: runs.exists() and any(runs.glob("*.npz")) or proc.poll() is not None,
                  240, "the first finished run")
        assert proc.poll() is None, proc.communicate()
        if jobs > 1:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    kept = sorted(p.name for p in runs.glob("*.npz"))
    assert 1 <= len(kept) < 4 if jobs == 1 else 1 <= len(kept) <= 4  # it did not go on
    assert not list(runs.glob(".*.tmp"))               # no half-written file
    assert not (out / "summary.json").exists()
    again = _converge(out, jobs=jobs)
    _, err = again.communicate(timeout=240)
    assert again.returncode == 0, err
    assert "not reused" not in err                     # the kept runs were trusted
    assert len(list(runs.glob("*.npz"))) == 4


def test_an_interrupted_run_stops_the_study_instead_of_counting_as_failed(monkeypatch, tmp_path):
    import limitsolver.simulation as simulation

    problem = Problem(FiniteChain([[0.7, 0.3], [0.4, 0.6]], states=[-1.0, 1.0]),
                      LinearMemory.geometric(decay=0.6, n_terms=3),
                      NetworkSpec(prior=Prior(b_max=0.5, doubled=True), memory_tol=0.05),
                      horizon=0.5)
    study = ConvergenceStudy(problem, n_units=(16, 32), seeds=(0, 1), n_times=3,
                             tracking_samples=4, grid={"n_w": 8, "n_b": 4}, backend="numpy",
                             depth_check=False)
    original = simulation.simulate
    calls = []

    def interrupted_after_two(*args, **kwargs):
        calls.append(args[1:3])
        res = original(*args, **kwargs)
        if len(calls) == 3:        # what simulate returns when Ctrl-C arrives in its loop
            res = dataclasses.replace(res, status="interrupted", message="interrupted at step 1")
        return res

    monkeypatch.setattr(simulation, "simulate", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_convergence(study, out=tmp_path, progress=False)
    assert len(calls) == 3                                  # the study stopped there
    assert len(list((tmp_path / "runs").glob("*.npz"))) == 2


def _children(pid):
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


KILLED_PARENT = textwrap.dedent("""
    from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem
    from limitsolver.studies import ConvergenceStudy, run_convergence

    problem = Problem(FiniteChain([[0.7, 0.3], [0.4, 0.6]], states=[-1.0, 1.0]),
                      LinearMemory.geometric(decay=0.6, n_terms=3),
                      NetworkSpec(prior=Prior(b_max=0.5, doubled=True), memory_tol=0.05),
                      horizon=5000.0)  # runs of minutes: they cannot end by themselves
    study = ConvergenceStudy(problem, n_units=(512, 1024), seeds=(0, 1, 2, 3), n_times=3,
                             tracking_samples=4, grid={"n_w": 8, "n_b": 4}, backend="numpy",
                             depth_check=False)
    if __name__ == "__main__":
        run_convergence(study, jobs=2, progress=False)
""")


def _threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def _settled(pids, since, wait=30.0):
    # workers are ready once initialised (a second thread, the parent watch); a pool without
    # the watch never gets there, and after `wait` seconds the test goes on to fail below
    workers = [p for p in pids if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
    return len(workers) >= 2 and all(_threads(p) >= 2 for p in workers) or \
        time.monotonic() - since > wait


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_kill_9_of_the_parent_leaves_no_worker_or_resource_tracker_alive(tmp_path):
    script = tmp_path / "study.py"
    script.write_text(KILLED_PARENT)
    proc = subprocess.Popen([sys.executable, str(script)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids = []
    try:
        # two workers and the resource tracker
        _wait_for(lambda: len(_children(proc.pid)) >= 3 or proc.poll() is not None, 120,
                  "the worker processes")
        assert proc.poll() is None
        since = time.monotonic()
        _wait_for(lambda: _settled(_children(proc.pid), since), 60, "the workers to start")
        kids = _children(proc.pid)
        assert len(kids) >= 3
        proc.kill()
        proc.wait(timeout=10)
        _wait_for(lambda: not any(_alive(k) for k in kids), 5, "the orphans to end")
    finally:
        if proc.poll() is None:
            proc.kill()
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)
    assert not any(_alive(k) for k in kids)


def test_pool_workers_are_told_to_end_with_their_parent():
    # the fallback of the test above: the initializer exits a worker whose parent is gone
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from limitsolver.studies.executors import _worker_init
        _worker_init(os.getppid() + 10**7)   # not our parent: we are an orphan already
        print("survived")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1 and "survived" not in res.stdout


def _write_interrupted(fh, payload=b"x" * 4096):
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives in the middle of the write
    fh.write(payload)


def test_ctrl_c_during_an_atomic_write_is_raised_once_the_file_is_complete(tmp_path):
    from limitsolver.io import _atomic

    path = tmp_path / "f.bin"
    with pytest.raises(KeyboardInterrupt):
        _atomic(path, _write_interrupted)
    assert path.read_bytes() == b"x" * 4096            # completed, then the interrupt
    assert not list(tmp_path.glob(".*.tmp"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_an_atomic_write_goes_to_the_callers_own_handler(tmp_path):
    from limitsolver.io import _atomic

    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        _atomic(tmp_path / "f.bin", _write_interrupted)  # no KeyboardInterrupt
        assert seen == [signal.SIGINT]
        _atomic(tmp_path / "g.bin", lambda fh: fh.write(b"y"))
        assert seen == [signal.SIGINT]                   # nothing caught: nothing passed on
    finally:
        signal.signal(signal.SIGINT, previous)


def _sigint_disposition():
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_idle_workers_of_the_default_pool_ignore_ctrl_c():
    """The parent stops the study on Ctrl-C; a worker must not die with a traceback."""
    import concurrent.futures as cf
    import multiprocessing

    from limitsolver.studies.executors import _worker_init

    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_worker_init, initargs=(os.getpid(), 1)) as pool:
        assert pool.submit(_sigint_disposition).result(timeout=120)


def test_an_error_of_the_overlapped_work_stops_the_runs_at_once():
    """execute(meanwhile=...) raising must not wait for the run already started (30 s here)."""
    from limitsolver.studies.executors import execute

    def fail():
        raise ValueError("the limit failed")

    t0 = time.monotonic()
    with pytest.raises(ValueError, match="the limit failed"):
        execute(time.sleep, [0, 1, 2], (), lambda key: (30,), lambda key, value: None, jobs=2,
                meanwhile=fail)
    assert time.monotonic() - t0 < 20


def test_the_overlapped_work_runs_once_with_workers_without_them_and_with_nothing_to_run():
    from limitsolver.studies.executors import execute

    for jobs, keys in ((2, [1, 2, 3]), (1, [1, 2, 3]), (2, [])):
        calls, got = [], {}
        execute(abs, keys, (), lambda key: (-key,), got.__setitem__, jobs=jobs,
                meanwhile=lambda calls=calls, got=got: calls.append(len(got)))
        assert calls == [0] and got == {k: k for k in keys}


def test_a_closed_stdout_ends_the_command_quietly(monkeypatch, capsys):
    """``limitsolver ... | head -1``: the reader went away; exit 141 without a traceback."""
    from limitsolver.cli import main

    read, write = os.pipe()
    os.close(read)                                   # nobody reads: every write fails (EPIPE)
    saved = os.dup(1)
    stdout = open(write, "w", buffering=1)            # line-buffered: the first line fails
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(["simulate", "--print-config"]) == 141
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    assert "Traceback" not in capsys.readouterr().err


def test_the_simulate_table_passes_unit_blocks(tmp_path, capsys):
    from limitsolver.cli import main

    out = tmp_path / "s"
    assert main(["simulate", "--out", str(out), "--quiet", "--set", "simulate.n_units=64",
                 "--set", "simulate.n_seeds=1", "--set", "simulate.unit_blocks=2"]) == 0
    assert '"unit_blocks": 2' in (out / "summary.json").read_text()
