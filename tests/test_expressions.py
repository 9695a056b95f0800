"""Tests of limitsolver.expressions: formulas are parsed, never run.

Truths used: the file system (a payload that would create a file leaves none),
sympy's own ``parse_expr`` on trusted text (the expressions accepted before must
build the same sympy tree, literal by literal), and a small recursive-descent
evaluator written here in exact rational arithmetic (no ``eval``, no ``ast``).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from limitsolver.activations import activation
from limitsolver.cli import main
from limitsolver.cli.poisson import _function
from limitsolver.errors import ActivationError, ConfigError
from limitsolver.expressions import FUNCTIONS, parse_expression
from limitsolver.targets import StateFunction

X = sp.Symbol("x", real=True)
U = sp.Symbol("u", real=True)


# -- code is never run -------------------------------------------------------------------------


def payloads(path) -> list[str]:
    """Formulas that create ``path`` if evaluated by Python (or by sympy's parse_expr)."""
    p = str(path)
    return [
        f"__import__('os').system('touch {p}') + x",
        f"__import__('pathlib').Path('{p}').touch() or x",
        f"open('{p}', 'w').close() or x",
        f"exec(\"open('{p}', 'w')\") or x",
        f"eval(\"open('{p}', 'w')\") or x",
        f"(lambda: open('{p}', 'w'))() or x",
        f"[open('{p}', 'w') for _ in (1,)][0] or x",
        f"x.__class__.__base__.__subclasses__() and open('{p}', 'w') or x",
        f"x + Symbol('y').__class__.__init__.__globals__['__builtins__']['open']('{p}', 'w')",
    ]


def test_sympy_parse_expr_would_run_the_payload(tmp_path):
    # the hazard is real: this is why the package has its own parser (the file is in tmp_path)
    target = tmp_path / "ran"
    sp.parse_expr(f"__import__('pathlib').Path('{target}').touch() or x", local_dict={"x": X})
    assert target.exists()


@pytest.mark.parametrize("index", range(9))
def test_payloads_are_refused_by_every_entry_point_without_side_effects(tmp_path, index):
    target = tmp_path / "ran"
    text = payloads(target)[index]
    with pytest.raises(ConfigError, match="`F`"):
        _function(text)
    with pytest.raises(ConfigError, match="`f`"):
        StateFunction(text)
    with pytest.raises(ConfigError):
        parse_expression(text, ["x"])
    with pytest.raises(ActivationError, match="`expression`"):
        activation(text.replace("x", "u"))
    assert not target.exists()


def test_cli_refuses_a_payload_in_a_configuration_file(tmp_path, capsys):
    target = tmp_path / "ran"
    cfg = tmp_path / "evil.toml"
    cfg.write_text(f'F = "__import__(\'os\').system(\'touch {target}\') + x"\n')
    code = main(["poisson", str(cfg), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "__import__" in err[0] and "Traceback" not in err[0]
    assert not target.exists()


@pytest.mark.parametrize("text, named", [
    ("x.real", "attribute access"),
    ("x.__class__", "attribute access"),
    ("__class__", "unknown name '__class__'"),
    ("__builtins__", "unknown name '__builtins__'"),
    ("lambda: 1", "lambda"),
    ("eval('1')", "unknown function 'eval'"),
    ("getattr(x, 'real')", "unknown function 'getattr'"),
    ("'x'", "the literal 'x'"),
    ("b'x'", "the literal b'x'"),
    ("x[0]", "subscript"),
    ("[x for x in (1, 2)]", "comprehension"),
    ("x if x else 1", "conditional expression"),
    ("x < 1", "comparison"),
    ("x and 1", "boolean operator"),
    ("exp(x=1)", "keyword arguments"),
    ("exp(*x)", "starred argument"),
    ("x ^ 2", r"'\^' \(write powers as '\*\*'\)"),
    ("x // 2", "'//'"),
    ("True + x", "the literal True"),
    ("1j * x", "the literal 1j"),
    ("y + x", "unknown name 'y'"),
    ("exp", "the function 'exp' without a call"),
    ("(x, 1)", "tuple"),
    ("(y := 2)", "assignment expression"),
    ("f'{x}'", "f-string"),
])
def test_refused_constructs_are_named(text, named):
    with pytest.raises(ConfigError, match=named):
        parse_expression(text, ["x"], argument="F")


def test_bad_syntax_arity_and_types():
    with pytest.raises(ConfigError, match=r"`F` 'sin\(x' could not be parsed"):
        parse_expression("sin(x", ["x"], argument="F")
    with pytest.raises(ConfigError, match="exp takes 1 argument"):
        parse_expression("exp(x, 2)", ["x"])
    with pytest.raises(ConfigError, match="must be a string"):
        parse_expression(3.0, ["x"])
    with pytest.raises(ConfigError, match="limited to"):
        parse_expression("x+" * 6000 + "x", ["x"])
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_expression("-" * 3000 + "x", ["x"])
    with pytest.raises(ActivationError, match="unknown name 'v'"):
        parse_expression("u + v", ["u"], error=ActivationError)


# -- the same sympy expressions as before ------------------------------------------------------

ACCEPTED_X = [
    "x", "x**2", "sin(2*x)", "tanh(x)", "log(x)", "2", "1000 + 0*x", "sin(2*x) + exp(-x**2)/3",
    "x**2 - 1/3", "0.5*x + 1e-3", "1.1283791670955126*exp(-x*x)", "-x**-2", "2**-x",
    "-2**2*x", "x**3**2", "abs(x) + Abs(x - 1)", "Max(0, x) + Min(x, 1, 2)", "sqrt(1 + x**2)",
    "atan2(x, 1) + atan(x)", "log(x, 2) + ln(x)", "pi*x + E", "cos(pi*x)/(1 + x**2)",
    "erf(x) + erfc(x)", "sign(x)*Heaviside(x)", "floor(x) + ceiling(x)", "1_000*x",
    "+x - (-x)", "x/3/4", "(x+1)*(x-1)/(x**2+1)", "3.0*x", "1.5e3", ".5*x", "2.*x",
    "asinh(x) + acosh(1 + x**2) + atanh(x/2)", "sinh(x) + cosh(x) + tan(x)",
    "asin(x/2) + acos(x/2)", "cbrt(x)",
]
ACCEPTED_U = ["tanh(u)", "1/(1 + exp(-u))", "erf(u)", "log(1 + exp(u))", "u",
              "u/sqrt(1+u**2)", "sin(u)", "atan(u)", "tanh(u)/4 + u/8", "u/2", "u**2",
              "exp(u)", "Abs(u)", "Max(0,u)"]


@pytest.mark.parametrize("text", ACCEPTED_X)
def test_previously_accepted_state_functions_build_the_same_sympy_tree(text):
    # srepr compares the trees exactly, including each Float's digits and precision
    assert sp.srepr(parse_expression(text, {"x": X})) == sp.srepr(
        sp.parse_expr(text, local_dict={"x": X}))


@pytest.mark.parametrize("text", ACCEPTED_U)
def test_previously_accepted_activations_build_the_same_sympy_tree(text):
    assert sp.srepr(parse_expression(text, {"u": U})) == sp.srepr(
        sp.parse_expr(text, local_dict={"u": U}))


def test_coordinates_are_accepted_through_the_callers_test():
    x1, x2, x3 = (sp.Symbol(f"x{j}", real=True) for j in (1, 2, 3))
    got = parse_expression("x1*x2 - cos(x3)", ["x"], accept=lambda n: n[1:].isdigit())
    assert got == x1 * x2 - sp.cos(x3)
    with pytest.raises(ConfigError, match="unknown name 'y1'"):
        parse_expression("y1", ["x"], accept=lambda n: n.startswith("x"))


def test_every_whitelisted_function_is_a_sympy_function():
    for name, (target, arity) in FUNCTIONS.items():
        args = ", ".join(["x"] * arity[0])
        got = parse_expression(f"{name}({args})", {"x": X})
        assert got == getattr(sp, target)(*([X] * arity[0])), name


# -- an independent evaluator in exact arithmetic ----------------------------------------------


class _Evaluator:
    """Recursive descent over Python's precedence for + - * / ** and unary signs, in Fractions.

    expr := term (('+'|'-') term)*;  term := factor (('*'|'/') factor)*;
    factor := ('+'|'-') factor | power;  power := atom ['**' factor];
    atom := integer | 'x' | '(' expr ')'.
    """

    def __init__(self, text: str, x: Fraction):
        self.tokens = self._tokenize(text)
        self.i = 0
        self.x = x

    @staticmethod
    def _tokenize(text: str) -> list[str]:
        out, i = [], 0
        while i < len(text):
            ch = text[i]
            if ch == " ":
                i += 1
            elif ch.isdigit():
                j = i
                while j < len(text) and text[j].isdigit():
                    j += 1
                out.append(text[i:j])
                i = j
            elif text.startswith("**", i):
                out.append("**")
                i += 2
            else:
                out.append(ch)
                i += 1
        return out

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self):
        self.i += 1
        return self.tokens[self.i - 1]

    def run(self) -> Fraction:
        v = self.expr()
        assert self.peek() is None
        return v

    def expr(self):
        v = self.term()
        while self.peek() in ("+", "-"):
            v = v + self.term() if self.take() == "+" else v - self.term()
        return v

    def term(self):
        v = self.factor()
        while self.peek() in ("*", "/"):
            v = v * self.factor() if self.take() == "*" else v / self.factor()
        return v

    def factor(self):
        if self.peek() in ("+", "-"):
            return self.factor() if self.take() == "+" else -self.factor()
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek() == "**":
            self.take()
            exponent = self.factor()
            assert exponent.denominator == 1
            return base ** int(exponent)
        return base

    def atom(self):
        tok = self.take()
        if tok == "(":
            v = self.expr()
            assert self.take() == ")"
            return v
        if tok == "x":
            return self.x
        return Fraction(int(tok))


def _formulas():
    leaf = st.one_of(st.integers(0, 12).map(str), st.just("x"))

    def grow(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from([" + ", " - ", " * ", " / ", "+", "*"]), inner)
            .map("".join),
            inner.map(lambda a: "-" + a),
            inner.map(lambda a: "+" + a),
            inner.map(lambda a: f"({a})"),
            st.tuples(inner, st.sampled_from(["2", "3", "-1", "-2", "0", "(-1)"]))
            .map(lambda p: f"({p[0]}) ** {p[1]}"),
        )

    return st.recursive(leaf, grow, max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(text=_formulas(), x=st.fractions(-7, 7, max_denominator=9))
@example(text="-2 ** 2", x=Fraction(1))
@example(text="(x) ** -1 * x", x=Fraction(3))
@example(text="(2) ** 3 - -x / 2 * 3", x=Fraction(1, 3))
def test_parser_evaluates_like_python_arithmetic(text, x):
    try:
        truth = _Evaluator(text, x).run()
    except ZeroDivisionError:
        return  # no value to compare with (sympy gives zoo or nan there)
    got = parse_expression(text, {"x": X}).subs(X, sp.Rational(x.numerator, x.denominator))
    assert got == sp.Rational(truth.numerator, truth.denominator), (text, x)


@settings(max_examples=100, deadline=None)
@given(text=st.recursive(
    st.one_of(st.sampled_from(["x", "pi", "E", "0.5", "2.25e-3", "1.1283791670955126", "7"])),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
            lambda p: f"({p[0]}){p[1]}({p[2]})"),
        st.tuples(st.sampled_from(["exp", "sin", "tanh", "log", "erf", "sqrt", "Abs"]), inner)
        .map(lambda p: f"{p[0]}({p[1]})"),
        inner.map(lambda a: f"-{a}")),
    max_leaves=8))
def test_parser_builds_sympys_tree_for_random_formulas_with_functions(text):
    assert sp.srepr(parse_expression(text, {"x": X})) == sp.srepr(
        sp.parse_expr(text, local_dict={"x": X}))


def test_evaluator_is_not_the_parser():
    # the evaluator itself follows Python's precedence (checked here on fixed cases)
    for text, value in (("-2 ** 2", -4), ("2 ** 3 ** 0", 2), ("7 - 2 - 1", 4),
                        ("(2) ** -1 * 4", 2), ("+-+3", -3)):
        assert _Evaluator(text, Fraction(0)).run() == value


def test_poisson_function_is_vectorised():
    import numpy as np

    f = _function("x**2 + 1")
    np.testing.assert_array_equal(f(np.array([0.0, 2.0])), [1.0, 5.0])
