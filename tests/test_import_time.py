"""``import limitsolver`` and ``limitsolver --help`` load no heavy library.

Checked in a fresh interpreter through :data:`sys.modules` (timings would depend on
the machine; the modules loaded do not). ``python -X importtime -c "import
limitsolver"`` shows what remains.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("sympy", "matplotlib", "numba", "scipy.integrate", "findiff")

#: each test starts fresh interpreters: one that hangs fails after this many seconds
pytestmark = pytest.mark.timeout(300)


def _loaded_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_limitsolver_loads_no_heavy_library():
    assert _loaded_after("import limitsolver") == set()


def test_public_names_are_still_there_on_first_use():
    import limitsolver

    for name in limitsolver.__all__:
        assert getattr(limitsolver, name) is not None, name
    assert set(limitsolver.__all__) <= set(dir(limitsolver))
    assert limitsolver.limit.solve_limit is limitsolver.solve_limit  # a submodule by its name
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        limitsolver.no_such_name  # noqa: B018


def test_heavy_libraries_load_on_first_use():
    assert {"sympy"} <= _loaded_after("import limitsolver\nlimitsolver.activation('u/(1+u**2)').sigma(0.5)")


def test_command_line_help_loads_no_heavy_library():
    code = ("import contextlib, io\nfrom limitsolver.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass")
    assert _loaded_after(code) == set()
