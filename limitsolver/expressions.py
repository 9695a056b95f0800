r"""Safe parsing of the formulas a user writes: activations, targets, Poisson functions.

A formula such as ``"1/(1 + exp(-u))"`` or ``"x1*x2 - cos(x3)"`` is read with
Python's own grammar (:func:`ast.parse` in ``"eval"`` mode) and the tree is
walked node by node; the sympy expression is built here, operator by operator.
Nothing the user writes is ever evaluated, imported or looked up: only

* numeric literals (integers become :class:`sympy.Integer`, decimals
  :class:`sympy.Float` of their written digits, as :func:`sympy.parse_expr` makes them);
* the variables the caller allows (e.g. ``u`` for an activation);
* the constants ``pi`` and ``E``;
* the functions of :data:`FUNCTIONS`, called with positional arguments only;
* the operators ``+ - * / **`` and unary ``+``/``-``

are accepted. Anything else (attribute access, subscripts, strings, lambdas,
comprehensions, keyword arguments, comparisons, unknown names, ``^``) is a
:class:`~limitsolver.errors.ConfigError` naming the offending name or
construct. A formula accepted here gives the same sympy expression as
:func:`sympy.parse_expr` gives for it, so numbers computed from it do not depend
on which of the two read it.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterable, Mapping

from .errors import ConfigError

__all__ = ["FUNCTIONS", "CONSTANTS", "parse_expression"]

#: Function names a formula may call, with the numbers of arguments they take;
#: each maps to the sympy function of the same name (``abs``, ``ln`` are aliases).
FUNCTIONS: Mapping[str, tuple[str, tuple[int, ...]]] = {
    name: (target, arity) for name, target, arity in (
        ("exp", "exp", (1,)), ("log", "log", (1, 2)), ("ln", "log", (1,)),
        ("sqrt", "sqrt", (1,)), ("cbrt", "cbrt", (1,)),
        ("sin", "sin", (1,)), ("cos", "cos", (1,)), ("tan", "tan", (1,)),
        ("asin", "asin", (1,)), ("acos", "acos", (1,)), ("atan", "atan", (1,)),
        ("atan2", "atan2", (2,)),
        ("sinh", "sinh", (1,)), ("cosh", "cosh", (1,)), ("tanh", "tanh", (1,)),
        ("asinh", "asinh", (1,)), ("acosh", "acosh", (1,)), ("atanh", "atanh", (1,)),
        ("erf", "erf", (1,)), ("erfc", "erfc", (1,)),
        ("Abs", "Abs", (1,)), ("abs", "Abs", (1,)), ("sign", "sign", (1,)),
        ("Heaviside", "Heaviside", (1, 2)), ("floor", "floor", (1,)),
        ("ceiling", "ceiling", (1,)),
        ("Max", "Max", tuple(range(1, 33))), ("Min", "Min", tuple(range(1, 33))),
    )
}

#: Constant names a formula may use, mapped to sympy's names.
CONSTANTS: Mapping[str, str] = {"pi": "pi", "E": "E"}

_BINARY: dict[type, Callable] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_OPERATOR_NAMES = {ast.BitXor: "'^' (write powers as '**')", ast.FloorDiv: "'//'",
                   ast.Mod: "'%'", ast.MatMult: "'@'", ast.BitAnd: "'&'", ast.BitOr: "'|'",
                   ast.LShift: "'<<'", ast.RShift: "'>>'", ast.Invert: "'~'", ast.Not: "'not'"}
_MAX_LENGTH = 10_000


def _construct(node: ast.AST) -> str:
    """A short human name for a syntax node that a formula may not contain."""
    names = {ast.Attribute: "attribute access", ast.Subscript: "subscript",
             ast.Lambda: "lambda", ast.IfExp: "conditional expression",
             ast.Compare: "comparison", ast.BoolOp: "boolean operator",
             ast.ListComp: "comprehension", ast.SetComp: "comprehension",
             ast.DictComp: "comprehension", ast.GeneratorExp: "comprehension",
             ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set",
             ast.Starred: "starred argument", ast.NamedExpr: "assignment expression",
             ast.JoinedStr: "f-string", ast.Await: "await", ast.Yield: "yield",
             ast.YieldFrom: "yield", ast.Slice: "slice"}
    return names.get(type(node), type(node).__name__)


def parse_expression(text: str, variables: Mapping[str, object] | Iterable[str], *,
                     argument: str = "expression",
                     accept: Callable[[str], bool] | None = None,
                     error: type[Exception] = ConfigError):
    r"""Parse a formula into a sympy expression without evaluating any of its text.

    Parameters
    ----------
    text : str
        The formula, in Python syntax (e.g. ``"tanh(u)/4 + u/8"``).
    variables : mapping of str to sympy.Symbol, or iterable of str
        The variable names the formula may use; names given without a symbol
        become real symbols (``sympy.Symbol(name, real=True)``).
    argument : str, default "expression"
        The name of the argument or configuration key that held ``text``,
        used in error messages.
    accept : callable, optional
        A further test on names: a name ``n`` with ``accept(n)`` true is also
        taken as a real symbol (e.g. coordinates ``x1, x2, ...`` whose number
        the caller checks afterwards).
    error : exception class, default ConfigError
        The class of the error raised for a formula that is not accepted.

    Returns
    -------
    sympy.Expr
        The expression, built from sympy objects with Python's operators, as
        :func:`sympy.parse_expr` would build it.

    Raises
    ------
    ConfigError
        (or ``error``) If ``text`` is not a string, is not valid syntax, or
        contains anything but numbers, the allowed variables, :data:`CONSTANTS`,
        calls of :data:`FUNCTIONS` and the operators ``+ - * / **``; the
        message names the offending name or construct.

    Examples
    --------
    >>> parse_expression("1/(1 + exp(-u))", ["u"])
    1/(1 + exp(-u))
    >>> parse_expression("__import__('os').getcwd()", ["u"])  # doctest: +SKIP
    ConfigError: `expression` "__import__('os').getcwd()" may not contain a call of the
    unknown function '__import__'; ...
    """
    import sympy as sp

    if not isinstance(text, str):
        raise error(f"`{argument}` must be a string formula, got {type(text).__name__}.")
    if len(text) > _MAX_LENGTH:
        raise error(f"`{argument}` is {len(text)} characters long; formulas are limited to "
                    f"{_MAX_LENGTH}.")
    if isinstance(variables, Mapping):
        symbols = dict(variables)
    else:
        symbols = {name: sp.Symbol(name, real=True) for name in variables}

    def refuse(what: str):
        allowed = ", ".join(sorted(symbols)) or "none"
        return error(
            f"`{argument}` {shown!r} may not contain {what}; a formula may use numbers, the "
            f"variables ({allowed}), the constants pi and E, the operators + - * / ** and the "
            f"functions {', '.join(sorted(FUNCTIONS))}.")

    shown = text if len(text) <= 80 else text[:77] + "..."
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise error(f"`{argument}` {shown!r} could not be parsed: {exc.msg} "
                    f"(at character {exc.offset}).") from None
    except (RecursionError, MemoryError):
        raise error(f"`{argument}` is nested too deeply to be parsed.") from None

    def build(node: ast.AST):
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise refuse(f"the literal {value!r}")
            if isinstance(value, int):
                return sp.Integer(value)
            digits = ast.get_source_segment(source, node)
            return sp.Float(digits if digits is not None else value)
        if isinstance(node, ast.Name):
            name = node.id
            if name in symbols:
                return symbols[name]
            if name in CONSTANTS:
                return getattr(sp, CONSTANTS[name])
            if accept is not None and accept(name) and not name.startswith("_"):
                symbols[name] = sp.Symbol(name, real=True)
                return symbols[name]
            if name in FUNCTIONS:
                raise refuse(f"the function {name!r} without a call")
            raise refuse(f"the unknown name {name!r}")
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise refuse(f"the operator {_OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)}")
            return op(build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                raise refuse(f"the operator {_OPERATOR_NAMES.get(type(node.op), type(node.op).__name__)}")
            return op(build(node.operand))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise refuse(f"a call of {_construct(node.func)}")
            name = node.func.id
            if name not in FUNCTIONS:
                raise refuse(f"a call of the unknown function {name!r}")
            if node.keywords:
                raise refuse(f"keyword arguments (in the call of {name!r})")
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise refuse(f"a starred argument (in the call of {name!r})")
            target, arity = FUNCTIONS[name]
            if len(node.args) not in arity:
                raise error(f"`{argument}` {shown!r}: {name} takes "
                            f"{' or '.join(map(str, arity[:2]))}{' or more' if len(arity) > 2 else ''} "
                            f"argument(s), got {len(node.args)}.")
            return getattr(sp, target)(*(build(a) for a in node.args))
        raise refuse(f"a {_construct(node)}")

    try:
        expr = build(tree.body)
    except RecursionError:
        raise error(f"`{argument}` is nested too deeply to be parsed.") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, ArithmeticError) as exc:
        if isinstance(exc, error):
            raise
        raise error(f"`{argument}` {shown!r} could not be built: {exc}") from None
    return expr


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_identifier(text: str) -> bool:
    """Whether ``text`` (stripped) is a bare name such as ``"tanh"`` or ``"relu"``."""
    return bool(_IDENT.match(text.strip()))
