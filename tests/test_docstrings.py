"""Every public function, class and method documents its parameters and returns (numpydoc)."""

import importlib
import inspect

import pytest

validate = pytest.importorskip("numpydoc.validate").validate

MODULES = [
    "limitsolver", "limitsolver.chains", "limitsolver.targets", "limitsolver.histories",
    "limitsolver.limit", "limitsolver.simulation", "limitsolver.studies", "limitsolver.poisson",
    "limitsolver.linear_rnn", "limitsolver.activations", "limitsolver.prior",
    "limitsolver.network", "limitsolver.problem", "limitsolver.memory", "limitsolver.config",
    "limitsolver.io", "limitsolver.plotting", "limitsolver.studies.executors",
]
# undocumented or wrongly documented parameters, missing returns, missing docstrings
CHECKED = {"PR01", "PR02", "PR07", "RT01", "GL08", "SS01"}


def _public_names():
    seen = set()
    for m in MODULES:
        mod = importlib.import_module(m)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            full = f"{obj.__module__}.{obj.__qualname__}"
            if full in seen:
                continue
            seen.add(full)
            yield full
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if not attr.startswith("_") and (
                            inspect.isfunction(value)
                            or isinstance(value, (classmethod, staticmethod))):
                        yield f"{full}.{attr}"


def test_public_api_docstrings_are_complete():
    problems = []
    for name in _public_names():
        errors = [(code, msg) for code, msg in validate(name)["errors"] if code in CHECKED]
        problems += [f"{name}: {code} {msg}" for code, msg in errors]
    assert not problems, "\n".join(problems)


def test_shared_sections_land_where_numpydoc_expects_them():
    from limitsolver._docstrings import with_parameters, with_sections

    @with_parameters("x : float\n    A number.\n", " " * 8)  # a docstring nested in a test
    def f(x):
        """Twice ``x``.

        Returns
        -------
        float
            ``2 x``.
        """

    @with_sections("\nReturns\n-------\n{kind}\n    The value.\n", " " * 8, kind="int")
    def g():
        """One."""

    assert inspect.getdoc(f) == ("Twice ``x``.\n\nParameters\n----------\nx : float\n"
                                 "    A number.\n\nReturns\n-------\nfloat\n    ``2 x``.")
    assert inspect.getdoc(g) == "One.\n\nReturns\n-------\nint\n    The value."
