r"""The benchmark suite: one command, one table of ratios measured in the same run.

Usage, from the repository root::

    python -m benchmarks            # full suite (tens of minutes on 2 cores)
    python -m benchmarks --quick    # smaller sizes, about two minutes on 2 cores
    python benchmarks/run.py --quick --skip simulator limit

Options: ``--quick``; ``--skip NAME ...`` (``simulator``, ``parallel``, ``jax``, ``limit``,
``streaming``, ``scaling``, ``headline``, ``study``, ``fluctuations``, ``output``);
``--summary PATH`` (a ``limitsolver converge`` summary for the headline's accuracy context, default
``results/converge/summary.json``);
``--out DIR`` (default ``benchmarks/results``); ``--blas-threads K`` (default 1:
the simulator runs one seed on one core, and the limit's linear algebra gets one
core too, which also keeps the timings steady on a shared machine; 0 keeps the
environment's ``OMP_NUM_THREADS`` etc.).

The suite runs, in order:

``simulator``
    :mod:`benchmarks.bench_simulator` (as a subprocess, its JSON read back): the
    package's numpy and numba step loops, and PyTorch when importable, against a
    plain numpy reference loop of ``THEORY.md`` §2 (on one BLAS thread, as the
    package's loops run one seed on one core), in unit-steps per second.
``parallel``
    :mod:`benchmarks.bench_parallel` (subprocess, JSON read back): one seed's step loop
    in unit blocks on every core against the serial loop, seconds per step.
``jax``
    :mod:`benchmarks.bench_jax` (subprocess, JSON read back): the optional jax
    backend against numba and numpy at a few widths and seed counts, and its fitted
    per-step cost; one row noting the skip when jax is not installed.
``limit``
    :mod:`benchmarks.bench_limit` (subprocess, JSON read back): kernel assembly
    against a plain matrix product of the same shapes, and fitted exponents of the
    solve cost in :math:`M` and :math:`G`. Skipped with a note when the module is
    missing or fails.
``streaming``
    :mod:`benchmarks.bench_streaming` (subprocess, JSON read back): the limit solved in
    chunks of Monte Carlo histories, :math:`M = 10^4 \dots 10^6` at :math:`G = 256`
    (``--quick``: up to :math:`3\cdot 10^4`), its fitted exponent in :math:`M` (target at
    most 1.1), peak memory, and the in-memory solve at the same :math:`M` as reference.
``scaling``
    :mod:`benchmarks.bench_scaling`: the finite network's cost against :math:`N`
    with its fitted exponent (expected 2); and, only when ``limit`` gave no
    exponents, the limit solve's cost against :math:`M` and :math:`G`.
``headline``
    :mod:`benchmarks.bench_headline`: the limit solve of the default convergence
    study (with its error estimates) against one finite-network run at the study's
    largest width, with the accuracy at which they are compared.
``study``
    :mod:`benchmarks.bench_study`: the share of the headline study's wall time
    (``limitsolver converge`` in this process) spent outside its training runs
    (limit, depth check, metrics, fits, prediction, tables and files).
``fluctuations``
    :mod:`benchmarks.bench_fluctuations`: the fluctuation prediction of ``THEORY.md`` §8
    at the headline problem against one finite run at the study's largest width (target
    below 1), and the prediction's accuracy: measured :math:`N\,\mathbb E\|h^N_t -
    h_t\|^2` over seeds against :math:`K_t + D_t` at two widths (ratio at the horizon
    and pooled over times, with 95 % intervals) and the measured
    :math:`\mathbb E\sup_t\sqrt N\|h^N_t - h_t\|` against the predicted constant.
``output``
    :mod:`benchmarks.bench_output` (subprocess, JSON read back): evaluating
    :math:`h^N_t` on the headline's 1024 histories at its 6 times against the training
    run at :math:`N = 32768` (target at most 0.2), and where the evaluation's time goes.

Every number in the table is a ratio (or a fitted exponent) of times measured
in this run; no reference time is stored in the code. The run writes
``benchmarks/results/suite-<UTC timestamp>.json`` with the table, every
benchmark's full output, and the machine (platform, CPU count, load average,
BLAS thread settings, numpy/scipy/numba versions, git commit) so runs can be
compared over time. The machine's load matters: with more busy processes than
cores, times and exponents are noisy; the recorded load average says so.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import importlib.util
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):                 # ``python benchmarks/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# numpy (and its BLAS) is imported only inside functions, so that ``main`` can set the
# BLAS thread count before the first import.

__all__ = ["BENCHMARKS", "machine_info", "run_suite", "format_table", "main"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
#: Benchmarks of the suite, in running order.
BENCHMARKS = ("simulator", "parallel", "jax", "limit", "streaming", "scaling", "headline",
              "study", "fluctuations", "output")
_EXTERNAL = {"simulator": "bench_simulator", "parallel": "bench_parallel", "jax": "bench_jax",
             "limit": "bench_limit", "streaming": "bench_streaming", "output": "bench_output"}
_BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_THREAD_VARS = (*_BLAS_VARS, "NUMBA_NUM_THREADS")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def machine_info() -> dict:
    """Where and on what the suite ran: platform, CPUs, load, thread settings, versions, commit."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "platform": platform.platform(), "machine": platform.machine(),
        "processor": platform.processor(), "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "load_average": list(load) if load is not None else None,
        "thread_env": {k: os.environ.get(k) for k in _THREAD_VARS},
        "versions": {k: _version(k) for k in ("numpy", "scipy", "numba", "limitsolver",
                                              "torch", "jax")},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
    }


def _run_external(name: str, quick: bool) -> dict:
    """Run ``benchmarks/<module>.py`` as a subprocess and read the JSON it writes."""
    module = _EXTERNAL[name]
    if not (HERE / f"{module}.py").is_file():
        return {"skipped": f"benchmarks/{module}.py is not present"}
    expected = RESULTS / f"{module.removeprefix('bench_')}.json"
    from limitsolver.io import read_json

    start = time.time()
    cmd = [sys.executable, "-m", f"benchmarks.{module}"] + (["--quick"] if quick else [])
    print(f"$ {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    if proc.returncode != 0:
        return {"skipped": f"`python -m benchmarks.{module}` exited with status "
                           f"{proc.returncode}"}
    candidates = [expected] if expected.is_file() else sorted(RESULTS.glob("*.json"))
    fresh = [p for p in candidates
             if p.stat().st_mtime >= start - 1 and not p.name.startswith("suite-")]
    if not fresh:
        return {"skipped": f"`python -m benchmarks.{module}` wrote no JSON under {RESULTS}"}
    return {"source": str(fresh[0]), "data": read_json(fresh[0])}


def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _rows_simulator(res: dict) -> list[dict]:
    data = res["data"]
    rows = []
    for r in data.get("rows", []):
        ref = r.get("reference")
        if not _finite(ref) or ref <= 0:
            continue
        for backend in ("numpy", "numba", "torch"):
            if _finite(r.get(backend)):
                rows.append({"benchmark": "simulator",
                             "quantity": f"{backend} / numpy reference loop, N={r['N']}",
                             "value": r[backend] / ref, "unit": "x",
                             "note": "unit-steps/s ratio"})
    return rows


def _rows_jax(res: dict) -> list[dict]:
    data = res["data"]
    if data.get("skipped"):
        return [{"benchmark": "jax", "quantity": "jax backend", "value": None, "unit": "",
                 "note": f"skipped: {data['skipped']}"}]
    device = data.get("summary", {}).get("device", "?")
    rows = []
    for r in data.get("rows", []):
        for other in ("numba", "numpy"):
            if _finite(r.get("jax")) and _finite(r.get(other)) and r[other] > 0:
                rows.append({"benchmark": "jax",
                             "quantity": f"jax / {other}, N={r['N']}, seeds={r['seeds']}",
                             "value": r["jax"] / r[other], "unit": "x",
                             "note": f"unit-steps/s ratio, jax on {device}"})
    return rows


def _rows_parallel(res: dict) -> list[dict]:
    s = res["data"]["summary"]
    target = f"target {s['target_speed_up']}x at N={', '.join(map(str, s['target_sizes']))}"
    return [{"benchmark": "parallel",
             "quantity": f"one seed: serial / unit blocks on {r['threads']} threads, N={r['N']}",
             "value": r["speed_up"], "unit": "x",
             "note": f"{r['blocks']} blocks; {target}"
                     + (f"; load {r['load_before']:.1f}" if _finite(r["load_before"]) else "")}
            for r in res["data"]["rows"]]


def _rows_limit(res: dict) -> list[dict]:
    data = res["data"]
    rows = []
    ka = data.get("kernel_assembly") or {}
    shape = f"M={ka.get('M')}, G={ka.get('G')}"
    for key, label in (("rtrl_throughput_ratio", "rtrl"),
                       ("truncated_throughput_ratio", "truncated")):
        if _finite(ka.get(key)):
            rows.append({"benchmark": "limit",
                         "quantity": f"{label} kernel assembly / (M,3G)@(3G,M) matmul, {shape}",
                         "value": ka[key], "unit": "x", "note": "throughput ratio"})
    for key, var, exp in (("exponent_M", "M", "~1"), ("exponent_G", "G", "~2 thin, ~1 dense")):
        if _finite(data.get(key)):
            rows.append({"benchmark": "limit", "quantity": f"solve cost exponent in {var}",
                         "value": data[key], "unit": "", "note": f"expected {exp}"})
    return rows


def _rows_scaling(res: dict) -> list[dict]:
    rows = []
    labels = {"finite_network": "finite-network cost exponent in N (horizon T fixed)",
              "limit_M": "limit solve cost exponent in M (thin route)",
              "limit_G": "limit solve cost exponent in G (thin route)"}
    for key, label in labels.items():
        r = res.get(key)
        if r is None:
            continue
        se = r["exponent_se"]
        rows.append({"benchmark": "scaling", "quantity": label, "value": r["exponent"],
                     "unit": "", "note": f"expected ~{r['expected']:g}"
                     + (f", se {se:.2f}" if _finite(se) else "")})
        if _finite(r.get("local_exponent")):
            n = [x["N"] for x in r["rows"][-2:]]
            rows.append({"benchmark": "scaling",
                         "quantity": f"finite-network cost exponent, N={n[0]} to {n[1]}",
                         "value": r["local_exponent"], "unit": "",
                         "note": f"expected ~{r['expected']:g}"})
    return rows


def _rows_headline(res: dict) -> list[dict]:
    r, s, a = res["ratio"], res["seconds"], res["accuracy"]
    N = res["n_units"]
    rows = [{"benchmark": "headline",
             "quantity": f"one finite run at N={N} / limit solve with error estimates",
             "value": r["headline"], "unit": "x",
             "note": f"{s['finite_run']:.3g} s / {s['limit_with_error_estimates']:.3g} s"},
            {"benchmark": "headline",
             "quantity": f"one finite run at N={N} / limit curve only",
             "value": r["curve_only"], "unit": "x",
             "note": f"{s['finite_run']:.3g} s / {s['limit_curve']:.3g} s"}]
    st = a["study"]
    if st["available"]:
        rows.append({"benchmark": "headline",
                     "quantity": f"study sup_l2 error at N={N} / limit error estimate",
                     "value": st["finite_over_limit_error"], "unit": "x",
                     "note": f"{st['sup_l2_mean']:.2e} / {a['limit_error']:.2e}"
                     + ("" if st["same_problem"] else " (summary of another problem)")})
    else:
        rows.append({"benchmark": "headline", "quantity": "accuracy context",
                     "value": None, "unit": "",
                     "note": f"limit error estimate {a['limit_error']:.2e}; study error "
                             f"not available"})
    return rows


def _rows_streaming(res: dict) -> list[dict]:
    d = res["data"]
    big = d["streamed"][-1]
    rows = [{"benchmark": "streaming",
             "quantity": f"limit in chunks: time exponent in M over {d['streamed'][0]['M']}.."
                         f"{big['M']} (target <= 1.1)",
             "value": d["exponent_M"], "unit": "",
             "note": f"G={d['G']}, {d['n_times']} times; M={big['M']}: {big['wall_s']:.1f} s, "
                     f"peak {big['peak_rss_MiB'] / 1024:.2f} GiB"}]
    for r_mem, ratio in zip(d["in_memory"], d["ratio_in_memory_over_streamed"], strict=False):
        rows.append({"benchmark": "streaming",
                     "quantity": f"limit in memory / in chunks, M={r_mem['M']}",
                     "value": ratio, "unit": "x", "note": r_mem["route"]})
    return rows


def _rows_output(res: dict) -> list[dict]:
    d = res["data"]
    r, s = d["ratio"], d["seconds"]
    head = f"h^N_t on {d['counts']['windows']} histories x {d['n_times']} times"
    return [{"benchmark": "output",
             "quantity": f"{head} / training run, N={d['n_units']} (target <= 0.2)",
             "value": r["evaluation"], "unit": "",
             "note": f"{s['evaluation']:.3g} s / {s['training']:.3g} s, "
                     f"{d['numba_threads']} threads"},
            {"benchmark": "output", "quantity": f"{head} on one thread / training run",
             "value": r["evaluation_one_thread"], "unit": "",
             "note": f"without the sign symmetry: walk {r['walk_without_sign_symmetry']:.3f}"}]


def _rows_study(res: dict) -> list[dict]:
    return [{"benchmark": "study",
             "quantity": "headline command outside its runs / its wall time (target < 0.1)",
             "value": res["overhead"], "unit": "",
             "note": f"run_convergence alone {res['study_overhead']:.3f}; "
                     + ", ".join(f"{k} {v:.2f}" for k, v in res["fractions"].items())}]


def _rows_fluctuations(res: dict) -> list[dict]:
    c, a = res["cost"], res["accuracy"]
    s = c["seconds"]
    rows = [{"benchmark": "fluctuations",
             "quantity": f"prediction (M={c['M']}, G={c['G']}) / one finite run at "
                         f"N={c['n_units']} (target < 1)",
             "value": c["ratio"]["prediction"], "unit": "x",
             "note": f"{s['prediction_from_problem']:.3g} s / {s['finite_run']:.3g} s"}]
    for N, r in a["widths"].items():
        rows.append({"benchmark": "fluctuations",
                     "quantity": f"measured / predicted N E|e_t|^2 at t=T, N={N}",
                     "value": r["ratio"][-1], "unit": "",
                     "note": f"95% [{r['ratio_low'][-1]:.2f}, {r['ratio_high'][-1]:.2f}]; "
                             f"pooled over times {r['pooled_ratio']:.2f} "
                             f"[{r['pooled_ratio_low']:.2f}, {r['pooled_ratio_high']:.2f}]; "
                             f"{r['n_seeds']} seeds"})
        sup = r["sup_l2"]
        rows.append({"benchmark": "fluctuations",
                     "quantity": f"measured / predicted E sup_t sqrt(N)|e_t|, N={N}",
                     "value": sup["ratio"], "unit": "",
                     "note": f"95% [{sup['ratio_low']:.2f}, {sup['ratio_high']:.2f}]"})
    return rows


def format_table(rows: Sequence[dict], notes: dict | None = None) -> str:
    """The suite's table: benchmark | quantity | value | note, then skipped benchmarks."""
    width = max([len(r["quantity"]) for r in rows] + [8])
    lines = [f"{'benchmark':<10} {'quantity':<{width}} {'value':>10}  note",
             "-" * (width + 40)]
    for r in rows:
        v = r["value"]
        val = "n/a" if v is None else f"{v:.3g}{r['unit']}"
        lines.append(f"{r['benchmark']:<10} {r['quantity']:<{width}} {val:>10}  {r['note']}")
    for name, why in (notes or {}).items():
        lines.append(f"{name:<10} skipped: {why}")
    return "\n".join(lines)


def run_suite(*, quick: bool = True, skip: Sequence[str] = (),
              out_dir: str | Path = RESULTS,
              summary_path: str | Path | None = None,
              scaling_options: dict | None = None, headline_options: dict | None = None,
              study_options: dict | None = None,
              fluctuation_options: dict | None = None
              ) -> tuple[dict, Path]:
    """Run the suite, print the table and write ``suite-<UTC timestamp>.json``.

    Parameters
    ----------
    quick : bool
        Smaller sizes everywhere (about two minutes on 2 cores).
    skip : sequence of str
        Names from :data:`BENCHMARKS` not to run.
    out_dir : path
        Directory of the suite's JSON.
    summary_path : path, optional
        Converge summary for the headline's accuracy context (default
        :data:`benchmarks.bench_headline.DEFAULT_SUMMARY`).
    scaling_options, headline_options : dict, optional
        Keyword arguments passed on to :func:`benchmarks.bench_scaling.scaling`
        (e.g. ``sizes``, ``backend``) and :func:`benchmarks.bench_headline.headline`.
    study_options : dict, optional
        Keyword arguments of :func:`benchmarks.bench_study.study_overhead`.
    fluctuation_options : dict, optional
        ``cost`` and ``accuracy``: keyword arguments of
        :func:`benchmarks.bench_fluctuations.cost` and
        :func:`~benchmarks.bench_fluctuations.accuracy`.

    Returns
    -------
    record : dict
        ``timestamp``, ``quick``, ``machine`` (:func:`machine_info` before the run),
        ``load_average_after``, ``wall_time_s``, ``table`` (rows with
        ``benchmark``, ``quantity``, ``value``, ``unit``, ``note``), ``skipped``
        (name to reason) and ``benchmarks`` (each benchmark's full output).
    path : Path
        The JSON written.
    """
    unknown = set(skip) - set(BENCHMARKS)
    if unknown:
        raise ValueError(f"`skip` names unknown benchmarks {sorted(unknown)}; valid: "
                         f"{list(BENCHMARKS)}.")
    from benchmarks import bench_headline, bench_scaling
    from limitsolver.io import write_json

    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    record: dict = {"timestamp": stamp, "quick": bool(quick), "machine": machine_info(),
                    "benchmarks": {}, "skipped": {}, "wall_time_s": {}}
    rows: list[dict] = []
    t_start = time.perf_counter()
    limit_has_exponents = False
    for name in BENCHMARKS:
        if name in skip:
            record["skipped"][name] = "--skip"
            continue
        print(f"\n== {name} ==", flush=True)
        t0 = time.perf_counter()
        if name in _EXTERNAL:
            res = _run_external(name, quick)
            if "skipped" in res:
                record["skipped"][name] = res["skipped"]
                print(f"{name}: skipped: {res['skipped']}")
                continue
            new = {"simulator": _rows_simulator, "parallel": _rows_parallel, "jax": _rows_jax,
                   "limit": _rows_limit, "streaming": _rows_streaming,
                   "output": _rows_output}[name](res)
            if name == "limit":
                limit_has_exponents = any("exponent" in r["quantity"] for r in new)
        elif name == "scaling":
            opts = {"quick": quick, "limit": not limit_has_exponents}
            opts.update(scaling_options or {})
            res = bench_scaling.scaling(**opts)
            new = _rows_scaling(res)
        elif name == "study":
            from benchmarks import bench_study

            res = bench_study.study_overhead(quick=quick, **(study_options or {}))
            new = _rows_study(res)
        elif name == "fluctuations":
            from benchmarks import bench_fluctuations

            fo = fluctuation_options or {}
            acc = {"n_seeds": 16 if quick else 64, "show": False}
            acc.update(fo.get("accuracy", {}))
            res = {"cost": bench_fluctuations.cost(**fo.get("cost", {})),
                   "accuracy": bench_fluctuations.accuracy(**acc)}
            print(bench_fluctuations.format_accuracy(res["accuracy"]))
            new = _rows_fluctuations(res)
        else:
            opts = {"repeat": 1 if quick else 3,
                    "summary_path": bench_headline.DEFAULT_SUMMARY if summary_path is None
                    else summary_path}
            opts.update(headline_options or {})
            res = bench_headline.headline(**opts)
            new = _rows_headline(res)
        record["wall_time_s"][name] = time.perf_counter() - t0
        record["benchmarks"][name] = res
        rows.extend(new)
    record["wall_time_s"]["total"] = time.perf_counter() - t_start
    record["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    record["table"] = rows
    print("\n" + format_table(rows, record["skipped"]))
    load = record["machine"]["load_average"]
    if load and record["machine"]["cpu_count"] and load[0] > record["machine"]["cpu_count"]:
        print(f"note: load average {load[0]:.1f} exceeds {record['machine']['cpu_count']} "
              "CPUs at the start; times are noisy.")
    path = Path(out_dir) / f"suite-{stamp}.json"
    write_json(path, record)
    print(f"wrote {path} ({record['wall_time_s']['total']:.0f} s)")
    return record, path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the suite (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about 2 minutes")
    parser.add_argument("--skip", nargs="+", default=[], choices=BENCHMARKS, metavar="NAME",
                        help=f"benchmarks not to run, from {', '.join(BENCHMARKS)}")
    parser.add_argument("--summary", type=Path, default=None,
                        help="summary.json of `limitsolver converge` for the headline")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory of the suite JSON")
    parser.add_argument("--blas-threads", type=int, default=1, metavar="K",
                        help="BLAS threads (default 1, so both sides of every ratio run on "
                             "one core; 0 keeps the environment's setting)")
    args = parser.parse_args(argv)
    if args.blas_threads > 0:
        if "numpy" in sys.modules:
            print("note: numpy is already imported; --blas-threads applies to the "
                  "subprocesses only.")
        os.environ.update({k: str(args.blas_threads) for k in _BLAS_VARS})
    run_suite(quick=args.quick, skip=args.skip, out_dir=args.out, summary_path=args.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
