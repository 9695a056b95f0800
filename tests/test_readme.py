"""The README's Python example runs as written and its claims hold."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_example_runs(capsys):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has a Python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    sol = namespace["sol"]
    # rtrl: the loss of the limit never increases, and starts at ½‖g‖² (doubled: h_0 = 0)
    assert np.all(np.diff(sol.loss) <= 1e-12)
    g = sol.histories.values[:, :6, 0] @ 0.6 ** np.arange(6)      # Y_k = sum_j 0.6^j X_{k-j}
    np.testing.assert_allclose(sol.g, g, rtol=0, atol=1e-14)
    assert sol.loss[0] == pytest.approx(0.5 * (g**2) @ sol.weights, rel=1e-13)
    assert "quadrature_error" in sol.discretisation


def test_readme_has_exactly_two_setup_commands_on_its_first_screen():
    first_screen = "\n".join(README.read_text().splitlines()[:30])
    bash = re.findall(r"```bash\n(.*?)```", first_screen, flags=re.S)
    assert len(bash) == 1
    commands = [ln for ln in bash[0].splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2
    assert "limitsolver converge" in commands[0] and "pytest" in commands[1]
