"""Specs save and rebuild themselves: to_state / from_state round trips and fingerprints."""

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
)
from limitsolver.config import (
    SPEC_CLASSES,
    canonical_json,
    fingerprint,
    problem_from_config,
    spec_from_state,
)
from limitsolver.errors import ConfigError

FAST = settings(max_examples=30, deadline=None)


def through_json(spec):
    """The state as a file would hold it: written as JSON text and read back."""
    return json.loads(json.dumps(spec.to_state(), allow_nan=False))


def same_bits(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


# -- strategies -------------------------------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def stochastic_matrices(draw):
    n = draw(st.integers(1, 5))
    rows = draw(st.lists(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n),
                         min_size=n, max_size=n))
    P = np.array(rows) + 1e-3
    return P / P.sum(axis=1, keepdims=True)


@st.composite
def finite_chains(draw):
    P = draw(stochastic_matrices())
    d = draw(st.integers(1, 3))
    states = np.array(draw(st.lists(finite, min_size=P.shape[0] * d, max_size=P.shape[0] * d)))
    return FiniteChain(P, states.reshape(P.shape[0], d))


priors = st.builds(
    Prior,
    sigma_w=st.floats(1e-3, 1e3),
    b_max=st.floats(0.0, 0.99),
    c_law=st.sampled_from(["rademacher", "gaussian"]),
    sigma_c=st.floats(1e-3, 1e3),
    doubled=st.booleans(),
)


# -- chains -----------------------------------------------------------------------------------


@FAST
@given(finite_chains())
def test_finite_chain_round_trip_is_bit_exact(chain):
    back = spec_from_state(through_json(chain))
    assert isinstance(back, FiniteChain)
    assert same_bits(back.P, chain.P) and same_bits(back.states, chain.states)
    assert back == chain and fingerprint(back) == fingerprint(chain)
    # the same seed gives the same path from the rebuilt chain
    np.testing.assert_array_equal(back.sample(20, 3, n_paths=2), chain.sample(20, 3, n_paths=2))


@FAST
@given(st.floats(-0.999, 0.999), st.integers(1, 4), st.floats(1e-3, 10.0))
def test_ar1_and_circle_round_trip(a, dim, kappa):
    for chain in (GaussianAR1(a, dim), CircleWalk(kappa)):
        back = spec_from_state(through_json(chain))
        assert type(back) is type(chain) and back == chain
        assert same_bits(back.sample(5, 1), chain.sample(5, 1))


def test_fingerprint_tells_close_matrices_apart():
    a = FiniteChain([[0.69, 0.31], [0.4, 0.6]])
    b = FiniteChain([[0.7, 0.3], [0.4, 0.6]])
    assert fingerprint(a) != fingerprint(b)
    # one ulp in one entry (the row still sums to one within atol)
    P = np.array([[0.7, 0.3], [0.4, 0.6]])
    P[0, 0] = np.nextafter(0.7, 1.0)
    assert fingerprint(FiniteChain(P)) != fingerprint(b)
    # the sign of a zero state is a bit of the state
    assert fingerprint(FiniteChain([[1.0]], [0.0])) != fingerprint(FiniteChain([[1.0]], [-0.0]))
    # equal specs built independently share it
    assert fingerprint(FiniteChain([[0.7, 0.3], [0.4, 0.6]])) == fingerprint(b)


def test_fingerprint_is_sha256_of_canonical_json_written_by_hand():
    prior = Prior(sigma_w=0.5, b_max=0.25, c_law="gaussian", sigma_c=2.0, doubled=True)
    # sorted keys, no spaces, floats as float.hex(): written out independently of the code
    text = ('{"b_max":{"float":"0x1.0000000000000p-2"},"c_law":"gaussian","doubled":true,'
            '"kind":"prior","sigma_c":{"float":"0x1.0000000000000p+1"},'
            '"sigma_w":{"float":"0x1.0000000000000p-1"}}')
    assert canonical_json(prior) == text
    assert fingerprint(prior) == hashlib.sha256(text.encode()).hexdigest()
    assert fingerprint(prior.to_state()) == fingerprint(prior)


def test_fingerprint_refuses_objects_that_are_not_data():
    with pytest.raises(ConfigError, match="tables, lists"):
        fingerprint({"f": object()})


# -- prior, network -----------------------------------------------------------------------------


@FAST
@given(priors)
def test_prior_round_trip(prior):
    back = spec_from_state(through_json(prior))
    assert back == prior
    assert all(same_bits(getattr(back, k), getattr(prior, k)) for k in ("sigma_w", "b_max", "sigma_c"))


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "erf", "u/sqrt(1 + u**2)"])
def test_network_round_trip(act):
    net = NetworkSpec(activation=act, prior=Prior(b_max=0.3), beta=0.75, alpha=0.3,
                      gradient="truncated", memory_tol=1e-5)
    back = spec_from_state(through_json(net))
    assert back == net and back.depth == net.depth


# -- targets ----------------------------------------------------------------------------------


@FAST
@given(st.integers(1, 6), st.integers(1, 3), st.integers(0, 2**31))
def test_linear_memory_and_teacher_round_trip(J, d, seed):
    rng = np.random.default_rng(seed)
    lm = LinearMemory(rng.standard_normal((J, d)))
    teacher = TeacherRNN.from_prior(5, Prior(b_max=0.4), "tanh", d, seed)
    path = rng.standard_normal((2, 12, d))
    for target in (lm, teacher):
        back = spec_from_state(through_json(target))
        assert type(back) is type(target) and back.window == target.window
        for name in ("rho",) if target is lm else ("c", "w", "b"):
            assert same_bits(getattr(back, name), getattr(target, name))
        np.testing.assert_array_equal(back.along_path(path), target.along_path(path))


def test_state_function_round_trip_and_callables_refused():
    f = StateFunction("x1*x2 + sin(x1)", dim=2)
    back = spec_from_state(through_json(f))
    h = np.random.default_rng(0).standard_normal((7, 1, 2))
    np.testing.assert_array_equal(back(h), f(h))
    with pytest.raises(ConfigError, match="`f` of this StateFunction is a Python callable"):
        StateFunction(np.sin).to_state()
    with pytest.raises(ConfigError, match="`f` of a WindowFunction is a Python callable"):
        WindowFunction(lambda w: w[:, 0, 0], 2).to_state()


# -- problem ----------------------------------------------------------------------------------


def tiny_problem(**changes):
    table = {
        "chain": {"kind": "finite", "P": [[0.69, 0.31], [0.4, 0.6]], "states": [-1.0, 1.0]},
        "target": {"kind": "linear_memory", "decay": 0.6, "n_terms": 3},
        "network": {"memory_tol": 0.05, "prior": {"doubled": True}},
        "horizon": 0.5,
    }
    table.update(changes)
    return problem_from_config(table)


def test_problem_round_trip_gives_identical_solver_output():
    from limitsolver.limit import solve_limit

    problem = tiny_problem()
    state = through_json(problem)
    back = spec_from_state(state)
    assert isinstance(back, Problem) and back.to_state() == problem.to_state()
    assert fingerprint(back) == fingerprint(problem)
    kw = dict(times=np.linspace(0, 0.5, 3), grid={"n_w": 8, "n_b": 4}, progress=False)
    a, b = solve_limit(problem, **kw), solve_limit(back, **kw)
    assert same_bits(a.h, b.h) and same_bits(a.loss, b.loss)
    # a problem with a teacher target draws the same teacher from its saved weights
    teach = tiny_problem(target={"kind": "teacher", "n_units": 4, "seed": 3})
    back = spec_from_state(through_json(teach))
    assert same_bits(back.target.w, teach.target.w)


def test_problem_state_is_a_configuration_table():
    problem = tiny_problem()
    assert problem_from_config(problem.to_state()).to_state() == problem.to_state()


def test_problem_with_a_user_chain_cannot_be_saved():
    class Walk:
        dim = 1

        def sample(self, n_steps, rng, *, n_paths=1, start=None):
            return np.zeros((n_paths, n_steps, 1))

        def sample_stationary(self, n, rng):
            return np.zeros((n, 1))

    problem = Problem(Walk(), LinearMemory([1.0]))
    with pytest.raises(ConfigError, match="`chain` of type Walk cannot be saved"):
        problem.to_state()


def test_every_registered_kind_rebuilds_itself():
    assert sorted(SPEC_CLASSES) == sorted(
        ["finite", "ar1", "circle", "state", "linear_memory", "teacher", "prior", "network",
         "problem"])
    for kind, cls in SPEC_CLASSES.items():
        assert cls.kind == kind and callable(cls.from_state)


@pytest.mark.parametrize("state, match", [
    ({"kind": "ridge"}, r"`state.kind` must be one of .*finite.*problem"),
    (3, "`state` must be a saved state"),
    ({"kind": "finite"}, "`state.P` is required"),
    ({"kind": "finite", "P": [[1.0]], "Q": 1}, "unknown key `state.Q`"),
    ({"kind": "prior", "doubled": "no"}, "`state.doubled` must be true or false"),
    ({"kind": "problem", "chain": 3, "target": "x"}, "`state.chain` must be a table"),
])
def test_bad_states_are_refused(state, match):
    with pytest.raises(ConfigError, match=match):
        spec_from_state(state)


# -- type checks of table values ---------------------------------------------------------------

scalars = st.one_of(st.booleans(), st.integers(-10**6, 10**6), finite, st.text(max_size=5),
                    st.none(), st.lists(st.integers(0, 3), max_size=3))


@settings(max_examples=200, deadline=None)
@given(scalars)
def test_type_checks_accept_exactly_their_type(value):
    from limitsolver._schema import check_value

    def accepted(hint):
        try:
            return check_value(value, hint, "key")
        except ConfigError as exc:
            assert "`key` must be" in str(exc) and "\n" not in str(exc)
            return ConfigError

    is_bool = isinstance(value, bool)
    is_int = isinstance(value, int) and not is_bool
    is_real = isinstance(value, (int, float)) and not is_bool
    assert (accepted(bool) is not ConfigError) == is_bool
    assert (accepted(float) is not ConfigError) == is_real
    assert (accepted(str) is not ConfigError) == isinstance(value, str)
    integral = is_int or (isinstance(value, float) and value.is_integer())
    assert (accepted(int) is not ConfigError) == integral
    if is_real:
        assert accepted(float) == float(value) and type(accepted(float)) is float


@settings(max_examples=100, deadline=None)
@given(st.recursive(
    st.dictionaries(st.text("abc_ -.", min_size=1, max_size=4),
                    st.one_of(st.booleans(), st.integers(), finite, st.text(max_size=6),
                              st.lists(finite, max_size=3)), max_size=4),
    lambda children: st.dictionaries(st.text("xyz", min_size=1, max_size=3), children,
                                     max_size=3),
    max_leaves=12))
def test_toml_writer_round_trips(config):
    import tomllib

    from limitsolver.cli._config import to_toml

    assert tomllib.loads(to_toml(config)) == config
