"""Every bad input is answered by a clear error naming the argument (issue: reliability).

Command-line cases run ``limitsolver.cli.main`` in process and check exit status 2,
exactly one line on standard error and the key in it; they add ``--print-config``
so that a case that were wrongly accepted would print instead of running a study
(the configuration is fully checked before anything is printed or computed).
API cases check the exception class and that the message names the argument.
"""

import math

import numpy as np
import pytest

from limitsolver import (
    CircleWalk,
    FiniteChain,
    GaussianAR1,
    LinearMemory,
    NetworkSpec,
    Prior,
    Problem,
    StateFunction,
    TeacherRNN,
    WindowFunction,
    make_target,
)
from limitsolver.chains import as_chain, check_chain
from limitsolver.cli import main
from limitsolver.config import fingerprint, spec_from_state
from limitsolver.errors import (
    ActivationError,
    ConfigError,
    ContractionError,
    DimensionError,
    NotErgodicError,
    NotStochasticError,
)
from limitsolver.headline import headline_study
from limitsolver.poisson import (
    batch_means_check,
    batch_means_power,
    solve_poisson,
    solve_poisson_finite,
)

# -- the command line ----------------------------------------------------------------------

S = "--set"
CLI_CASES = [
    # solve: the [solve] table
    (["solve", S, "solve.n_times=ten"], "`solve.n_times`"),
    (["solve", S, "solve.n_times=1"], "`solve.n_times`"),
    (["solve", S, "solve.n_times=2.5"], "`solve.n_times`"),
    (["solve", S, "solve.error_estimate=no"], "`solve.error_estimate`"),
    (["solve", S, "solve.error_estimate=1"], "`solve.error_estimate`"),
    (["solve", S, "solve.histories=-3"], "`solve.histories`"),
    (["solve", S, "solve.histories=0"], "`solve.histories`"),
    (["solve", S, "solve.histories=foo"], "`solve.histories`"),
    (["solve", S, "solve.method=foo"], "`solve.method`"),
    (["solve", S, "solve.h0=foo"], "`solve.h0`"),
    (["solve", S, "solve.grid=3"], "`solve.grid`"),
    (["solve", S, "solve.grid.foo=1"], "`solve.grid.foo`"),
    (["solve", S, "solve.grid.n_w=0"], "`solve.grid.n_w`"),
    (["solve", S, "solve.grid.n_b=ten"], "`solve.grid.n_b`"),
    (["solve", S, "solve.grid.kind=gauss"], "`solve.grid.kind`"),
    (["solve", S, "solve.bogus=1"], "`solve.bogus`"),
    (["solve", S, "solve=3"], "`solve`"),
    (["solve", S, "solve.n_times={a = 1}"], "`solve.n_times`"),
    # the problem tables, through solve
    (["solve", S, "problem=3"], "`problem`"),
    (["solve", S, "problem.bogus=1"], "`problem.bogus`"),
    (["solve", S, "problem.network=3"], "`problem.network`"),
    (["solve", S, "problem.network.prior=3"], "`problem.network.prior`"),
    (["solve", S, "problem.network.beta=1.5"], "beta`"),
    (["solve", S, "problem.network.beta=x"], "`problem.network.beta`"),
    (["solve", S, "problem.network.alpha=0"], "alpha`"),
    (["solve", S, "problem.network.alpha=-1"], "alpha`"),
    (["solve", S, "problem.network.memory_tol=0"], "memory_tol`"),
    (["solve", S, "problem.network.memory_tol=2"], "memory_tol`"),
    (["solve", S, "problem.network.gradient=bptt"], "gradient`"),
    (["solve", S, "problem.network.activation=3"], "`problem.network.activation`"),
    (["solve", S, 'problem.network.activation="tanh(u"'], "`problem.network.activation`"),
    (["solve", S, "problem.network.foo=1"], "`problem.network.foo`"),
    (["solve", S, "problem.network.prior.doubled=no"], "`problem.network.prior.doubled`"),
    (["solve", S, "problem.network.prior.doubled=1"], "`problem.network.prior.doubled`"),
    (["solve", S, 'problem.network.prior.sigma_w="1"'], "`problem.network.prior.sigma_w`"),
    (["solve", S, "problem.network.prior.sigma_w=0"], "sigma_w`"),
    (["solve", S, "problem.network.prior.b_max=-1"], "b_max`"),
    (["solve", S, "problem.network.prior.b_max=1.5"], "b_max`"),
    (["solve", S, "problem.network.prior.c_law=cauchy"], "c_law`"),
    (["solve", S, "problem.network.prior.sigma_c=1e155"], "sigma_c`"),
    (["solve", S, "problem.network.prior.foo=1"], "`problem.network.prior.foo`"),
    (["solve", S, "problem.horizon=0"], "`problem.horizon`"),
    (["solve", S, "problem.horizon=inf"], "`problem.horizon`"),
    (["solve", S, "problem.horizon=soon"], "`problem.horizon`"),
    (["solve", S, "problem.chain=3"], "`problem.chain`"),
    (["solve", S, "problem.chain.kind=markov"], "`problem.chain.kind`"),
    (["solve", S, "problem.chain.P=[[0.5, 0.6], [0.5, 0.5]]"], "P`"),
    (["solve", S, "problem.chain.P=[[0.0, 1.0], [1.0, 0.0]]"], "P`"),
    (["solve", S, "problem.chain.P=[[1.0, 0.0], [0.0, 1.0]]"], "P`"),
    (["solve", S, "problem.chain.P=[[0.5, 0.5]]"], "P`"),
    (["solve", S, 'problem.chain.P="x"'], "`problem.chain.P`"),
    (["solve", S, "problem.chain.states=[1.0, 2.0, 3.0]"], "states`"),
    (["solve", S, "problem.chain.foo=1"], "`problem.chain.foo`"),
    (["solve", S, 'problem.chain={kind = "ar1", a = 1.5}'], "a`"),
    (["solve", S, 'problem.chain={kind = "ar1", a = "x"}'], "`problem.chain.a`"),
    (["solve", S, 'problem.chain={kind = "ar1", dim = 0}'], "dim`"),
    (["solve", S, 'problem.chain={kind = "circle", kappa = 0.0}'], "kappa`"),
    (["solve", S, "problem.target=3"], "`problem.target`"),
    (["solve", S, "problem.target.kind=nonsense"], "`problem.target.kind`"),
    (["solve", S, "problem.target.decay=half"], "`problem.target.decay`"),
    (["solve", S, "problem.target.n_terms=0"], "n_terms`"),
    (["solve", S, "problem.target.n_terms=ten"], "`problem.target.n_terms`"),
    (["solve", S, "problem.target.decai=0.5"], "`problem.target.decai`"),
    (["solve", S, "problem.target.tol=-1.0"], "tol`"),
    (["solve", S, "problem.target.rho=[[1.0, 2.0]]"], "`problem.target.rho`"),
    (["solve", S, 'problem.target.rho="x"'], "`problem.target.rho`"),
    (["solve", S, 'problem.target={kind = "state"}'], "`problem.target.expression`"),
    (["solve", S, 'problem.target={kind = "state", expression = 3}'],
     "`problem.target.expression`"),
    (["solve", S, 'problem.target={kind = "state", expression = "y"}'],
     "`problem.target.expression`"),
    (["solve", S, 'problem.target={kind = "teacher", n_units = 0}'], "`problem.target.n_units`"),
    (["solve", S, 'problem.target={kind = "teacher", seed = -1}'], "`problem.target.seed`"),
    (["solve", S, 'problem.target={kind = "teacher", b_max = 1.5}'], "b`"),
    (["solve", S, 'problem.target={kind = "teacher", n_units = 4, c = [1.0]}'],
     "`problem.target.n_units`"),
    (["solve", S, "network.beta=0.6"], "`network`"),
    (["solve", S, "study.n_seeds=4"], "limitsolver converge"),
    (["solve", S, "foo"], "`--set foo`"),
    (["solve", S, "a..b=1"], "`--set a..b=1`"),
    (["solve", "--seed", "-5"], "--seed"),
    (["solve", "--seed", "x"], "--seed"),
    (["solve", "--jobs", "2"], "--jobs"),
    # simulate
    (["simulate", S, "simulate.n_units=0"], "`simulate.n_units`"),
    (["simulate", S, "simulate.n_units=1025"], "`simulate.n_units`"),
    (["simulate", S, "simulate.n_units=ten"], "`simulate.n_units`"),
    (["simulate", S, "simulate.n_seeds=0"], "`simulate.n_seeds`"),
    (["simulate", S, "simulate.n_snapshots=1"], "`simulate.n_snapshots`"),
    (["simulate", S, "simulate.backend=cuda"], "`simulate.backend`"),
    (["simulate", S, "simulate=[1]"], "`simulate`"),
    # converge
    (["converge", S, "study.n_seeds=eight"], "`study.n_seeds`"),
    (["converge", S, "study.n_seeds=1"], "`study.n_seeds`"),
    (["converge", S, "study.n_units=[128]"], "n_units`"),
    (["converge", S, "study.n_units=[1, 2]"], "`study.n_units`"),
    (["converge", S, 'study.n_units="x"'], "`study.n_units`"),
    (["converge", S, "study.n_units=[127, 256]"], "n_units`"),
    (["converge", S, "study.n_times=1"], "`study.n_times`"),
    (["converge", S, "study.tracking_samples=0"], "`study.tracking_samples`"),
    (["converge", S, "study.histories=exact2"], "`study.histories`"),
    (["converge", S, "study.grid.foo=1"], "`study.grid.foo`"),
    (["converge", S, "study.grid=3"], "`study.grid`"),
    (["simulate", S, "simulate.unit_blocks=0"], "`simulate.unit_blocks`"),
    (["simulate", S, "simulate.unit_blocks=two"], "`simulate.unit_blocks`"),
    (["simulate", S, "simulate.backend=cuda"], "`simulate.backend`"),
    (["converge", "--seed", "-5"], "--seed"),
    (["converge", "--jobs", "0"], "--jobs"),
    (["converge", "--jobs", "x"], "--jobs"),
    (["converge", "--metric", "foo"], "--metric"),
    # poisson
    (["poisson", S, "F=3"], "`F`"),
    (["poisson", S, "check.n_batches=1"], "`check.n_batches`"),
    (["poisson", S, "check.n_steps=100"], "`check.n_steps`"),
    (["poisson", S, "check.n_steps=ten"], "`check.n_steps`"),
    (["poisson", S, "chain.kind=foo"], "`chain.kind`"),
    (["poisson", S, "chain.P=[[0.5, 0.6], [0.5, 0.5]]"], "P`"),
    (["poisson", S, "chain.kappa=0.8"], "`chain.kappa`"),
    # memory
    (["memory", S, "memory.study=all"], "`memory.study`"),
    (["memory", S, "plateau.m=1.5"], "`plateau.m`"),
    (["memory", S, "plateau.m=ten"], "`plateau.m`"),
    (["memory", S, "plateau.t_max=-1.0"], "`plateau.t_max`"),
    (["memory", S, "plateau.method=RK45"], "`plateau.method`"),
    (["memory", S, "plateau=3"], "`plateau`"),
    (["memory", S, "approximation.m_values=[0, 1]"], "`approximation.m_values`"),
    (["memory", S, "approximation.n_starts=-1"], "`approximation.n_starts`"),
    (["memory", "--study", "foo"], "--study"),
]


@pytest.mark.parametrize("argv, key", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_bad_input_exits_2_with_one_line_naming_the_key(argv, key, capsys, tmp_path):
    code = main([*argv, "--out", str(tmp_path / "out"), "--print-config"])
    captured = capsys.readouterr()
    assert code == 2, captured.out[:200]
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert key in lines[0]
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_file_valued_out_before_any_work(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    for out in (target, target / "sub"):
        assert main(["poisson", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "`--out`" in err[0]


@pytest.mark.parametrize("text, key", [
    ("problem = 3\n", "`problem`"),
    ("[problem]\nhorizon = \"soon\"\n", "`problem.horizon`"),
    ("[solve]\nn_times = \"ten\"\n", "`solve.n_times`"),
    ("[solve.grid]\nn_w = 8\ntruncation = 2.0\n", "`solve.grid.truncation`"),
    ("this is not toml", "not valid TOML"),
])
def test_cli_bad_toml_files(text, key, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert main(["solve", str(cfg), "--out", str(tmp_path / "o"), "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0]


def test_cli_missing_file(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.toml"), "--print-config"]) == 2
    assert "does not exist" in capsys.readouterr().err


# -- the Python API ------------------------------------------------------------------------

P2 = [[0.7, 0.3], [0.4, 0.6]]


def chain2():
    return FiniteChain(P2, [-1.0, 1.0])


def lm():
    return LinearMemory.geometric(0.5, 3)


#: two 2-state blocks coupled by 1e-14 (irreducible, far too weakly for double precision)
NEARLY_REDUCIBLE = np.array([[0.5, 0.5 - 1e-14, 1e-14, 0.0], [0.5, 0.5, 0.0, 0.0],
                             [0.0, 0.0, 0.5, 0.5], [1e-14, 0.0, 0.5, 0.5 - 1e-14]])
PI_NR = np.full(4, 0.25)  # invariant to rounding, so only the conditioning is refused

API_CASES = [
    # the prior
    (lambda: Prior(doubled="no"), ConfigError, "`doubled`"),
    (lambda: Prior(doubled=1), ConfigError, "`doubled`"),
    (lambda: Prior(sigma_w="1"), ConfigError, "`sigma_w`"),
    (lambda: Prior(sigma_w=0.0), ConfigError, "`sigma_w`"),
    (lambda: Prior(sigma_w=math.nan), ConfigError, "`sigma_w`"),
    (lambda: Prior(b_max=-1.0), ConfigError, "`b_max`"),
    (lambda: Prior(b_max=math.inf), ConfigError, "`b_max`"),
    (lambda: Prior(c_law="cauchy"), ConfigError, "`c_law`"),
    (lambda: Prior(sigma_c=0.0), ConfigError, "`sigma_c`"),
    (lambda: Prior(sigma_c=1e155), ConfigError, "`sigma_c`"),
    (lambda: Prior(sigma_c=True), ConfigError, "`sigma_c`"),
    (lambda: Prior().sample(0, 1, 0), ConfigError, "`n_units`"),
    (lambda: Prior(doubled=True).sample(3, 1, 0), ConfigError, "`n_units`"),
    (lambda: Prior().sample(4, 0, 0), DimensionError, "`dim`"),
    (lambda: Prior().sample(4, 1, -1), ConfigError, "`seed`"),
    (lambda: Prior().sample(4, 1, "seed"), ConfigError, "`seed`"),
    (lambda: Prior().memory_depth("tanh", 0.0), ConfigError, "`tol`"),
    (lambda: Prior(b_max=1.5).check_contraction("tanh"), ContractionError, "`b_max`"),
    # the network
    (lambda: NetworkSpec(memory_tol=0), ConfigError, "`memory_tol`"),
    (lambda: NetworkSpec(memory_tol=1.0), ConfigError, "`memory_tol`"),
    (lambda: NetworkSpec(memory_tol="1e-3"), ConfigError, "`memory_tol`"),
    (lambda: NetworkSpec(beta=0.4), ConfigError, "`beta`"),
    (lambda: NetworkSpec(beta=1.0), ConfigError, "`beta`"),
    (lambda: NetworkSpec(beta="0.5"), ConfigError, "`beta`"),
    (lambda: NetworkSpec(alpha=0.0), ConfigError, "`alpha`"),
    (lambda: NetworkSpec(alpha=math.inf), ConfigError, "`alpha`"),
    (lambda: NetworkSpec(gradient="bptt"), ConfigError, "`gradient`"),
    (lambda: NetworkSpec(prior={}), ConfigError, "`prior`"),
    (lambda: NetworkSpec(activation=3), ConfigError, "`activation`"),
    (lambda: NetworkSpec(prior=Prior(b_max=2.0)), ContractionError, "`b_max`"),
    (lambda: NetworkSpec.n_steps(10, -1.0), ConfigError, "`horizon`"),
    # the problem
    (lambda: Problem(chain2(), lm(), "tanh"), ConfigError, "`network`"),
    (lambda: Problem(FiniteChain([[0.0, 1.0], [1.0, 0.0]]), lm()), NotErgodicError, "`P`"),
    (lambda: Problem(FiniteChain(np.eye(2)), lm()), NotErgodicError, "`P`"),
    (lambda: Problem(chain2(), lm(), horizon=0.0), ConfigError, "`horizon`"),
    (lambda: Problem(chain2(), lm(), horizon="1"), ConfigError, "`horizon`"),
    (lambda: Problem(object(), lm()), ConfigError, "`chain`"),
    (lambda: Problem(chain2(), LinearMemory(np.ones((2, 2)))), DimensionError, "`target`"),
    (lambda: Problem(chain2(), WindowFunction(lambda w: w[:, 0, 0], 2)).to_state(),
     ConfigError, "`f`"),
    # chains
    (lambda: FiniteChain([[0.5, 0.6], [0.5, 0.5]]), NotStochasticError, "`P`"),
    (lambda: FiniteChain([[-0.1, 1.1], [0.5, 0.5]]), NotStochasticError, "`P`"),
    (lambda: FiniteChain([[math.nan, 1.0], [0.5, 0.5]]), NotStochasticError, "`P`"),
    (lambda: FiniteChain([[1.0, 0.0]]), DimensionError, "`P`"),
    (lambda: FiniteChain("P"), DimensionError, "`P`"),
    (lambda: FiniteChain(P2, states=[1.0, 2.0, 3.0]), DimensionError, "`states`"),
    (lambda: GaussianAR1(1.0), NotErgodicError, "`a`"),
    (lambda: GaussianAR1(0.5, dim=0), DimensionError, "`dim`"),
    (lambda: CircleWalk(0.0), NotErgodicError, "`kappa`"),
    (lambda: CircleWalk("x"), NotErgodicError, "`kappa`"),
    (lambda: chain2().sample(0, 0), DimensionError, "`n_steps`"),
    (lambda: chain2().sample(3, 0, n_paths=0), DimensionError, "`n_paths`"),
    (lambda: chain2().sample(3, -1), ConfigError, "`seed`"),
    (lambda: chain2().sample(3, 0, start=5), DimensionError, "`start`"),
    (lambda: chain2().mixing_time(2.0), ConfigError, "`eps`"),
    (lambda: as_chain(object()), ConfigError, "`chain`"),
    (lambda: check_chain(object()), ConfigError, "`chain`"),
    # targets
    (lambda: make_target({"kind": "ridge"}, 1), ConfigError, "`target.kind`"),
    (lambda: make_target(3, 1), ConfigError, "`target`"),
    (lambda: make_target({"kind": "linear_memory", "decai": 1}, 1), ConfigError, "`target.decai`"),
    (lambda: LinearMemory.geometric(0.5, 0), ConfigError, "`n_terms`"),
    (lambda: LinearMemory.from_tolerance(1.5, 1e-3), ConfigError, "`decay`"),
    (lambda: LinearMemory.from_tolerance(0.5, 0.0), ConfigError, "`tol`"),
    (lambda: LinearMemory([math.nan]), ConfigError, "`rho`"),
    (lambda: LinearMemory(np.ones((1, 1, 1))), DimensionError, "`rho`"),
    (lambda: TeacherRNN([1.0], [[1.0]], [2.0]), ContractionError, "`b`"),
    (lambda: TeacherRNN([1.0], [[1.0]], [0.1], memory_tol=0.0), ConfigError, "`memory_tol`"),
    (lambda: TeacherRNN([1.0, 2.0], [[1.0]], [0.1]), DimensionError, "`c`"),
    (lambda: StateFunction(3), ConfigError, "`f`"),
    (lambda: StateFunction("y"), ConfigError, "`f`"),
    (lambda: StateFunction("x1 + x2", dim=1), DimensionError, "`f`"),
    (lambda: StateFunction(np.sin).to_state(), ConfigError, "`f`"),
    (lambda: WindowFunction(lambda w: w[:, 0, 0], 0), ConfigError, "`window`"),
    (lambda: WindowFunction(3, 1), ConfigError, "`f`"),
    (lambda: lm()(np.zeros((2, 1, 1))), DimensionError, "`histories`"),
    (lambda: lm().along_path(np.zeros((2, 3))), DimensionError, "`path`"),
    # states, fingerprints, the headline study
    (lambda: spec_from_state({"kind": "ridge"}), ConfigError, "`state.kind`"),
    (lambda: spec_from_state(3), ConfigError, "`state`"),
    (lambda: spec_from_state({"kind": "prior", "doubled": "no"}), ConfigError,
     "`state.doubled`"),
    (lambda: spec_from_state({"kind": "network", "activation": "tanh(u"}), ActivationError,
     "`state.activation`"),
    (lambda: spec_from_state({"kind": "finite", "P": [[1.0]], "extra": 1}), ConfigError,
     "`state.extra`"),
    (lambda: fingerprint({"f": object()}), ConfigError, "tables, lists"),
    (lambda: headline_study(n_seed=3), ConfigError, "`n_seed`"),
    # the Poisson equation: a wrong pi, F outside L²(π), nearly reducible P, the check's test
    (lambda: solve_poisson_finite(P2, [0.0, 1.0], pi=np.array([0.5, 0.5])), ConfigError,
     "`pi`"),
    (lambda: solve_poisson_finite(P2, [0.0, 1.0], pi=np.array([1.5, -0.5])), ConfigError,
     "`pi`"),
    (lambda: solve_poisson_finite(P2, [0.0, 1.0], pi=np.array([0.2, 0.2])), ConfigError,
     "`pi`"),
    (lambda: solve_poisson_finite(P2, [0.0, 1.0], pi=np.array([math.nan, 1.0])), ConfigError,
     "`pi`"),
    (lambda: solve_poisson(GaussianAR1(0.5), lambda x: np.exp(x**2)), ConfigError, "`F`"),
    (lambda: solve_poisson(GaussianAR1(0.5), lambda x: np.exp(x**2 / 4)), ConfigError, "`F`"),
    (lambda: solve_poisson(FiniteChain([[1 - 1e-14, 1e-14], [1e-14, 1 - 1e-14]]), [0.0, 1.0]),
     NotErgodicError, "`P`"),
    (lambda: FiniteChain([[1.0, 1e-300], [1e-300, 1.0]]).stationary, NotErgodicError, "`P`"),
    (lambda: solve_poisson_finite(NEARLY_REDUCIBLE, [1.0, 0.0, 0.0, 1.0], pi=PI_NR),
     NotErgodicError, "`P`"),
    (lambda: batch_means_check(chain2(), [0.0, 1.0], 1000, 10, 0, alpha=1.0), ConfigError,
     "`alpha`"),
    (lambda: batch_means_power(0.0), ConfigError, "`ratio`"),
    (lambda: batch_means_power(1.0, 1), DimensionError, "`n_batches`"),
]


@pytest.mark.parametrize("call, exc, name", API_CASES, ids=[c[2] + f"-{i}" for i, c in
                                                         enumerate(API_CASES)])
def test_api_bad_input_raises_the_class_of_its_kind_naming_the_argument(call, exc, name):
    with pytest.raises(exc) as info:
        call()
    assert name in str(info.value)
    assert "\n" not in str(info.value)


def test_there_are_at_least_120_cases():
    assert len(CLI_CASES) + len(API_CASES) >= 120


def test_cli_refuses_an_unwritable_out_before_any_work(tmp_path, capsys, monkeypatch):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    # as root, permissions do not bind: make the writability probe fail instead
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked)
                        else real_access(p, mode))
    for out in (locked, locked / "sub" / "dir"):
        assert main(["poisson", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "`--out`" in err[0] and "writable" in err[0]
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("toml, key", [
    ('F = "exp(x**2)"\n\n[chain]\nkind = "ar1"\na = 0.5\n', "`F`"),
    ('[chain]\nkind = "finite"\nP = [[0.99999999999999, 1e-14], [1e-14, 0.99999999999999]]\n'
     'states = [-1.0, 1.0]\n', "`P`"),
], ids=["F-not-in-L2", "nearly-reducible-P"])
def test_cli_poisson_refuses_what_the_solver_cannot_answer(toml, key, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    assert main(["poisson", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], lines
