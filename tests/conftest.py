"""Shared test configuration: non-interactive plots, closed figures, seeded generators."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("default", deadline=None, max_examples=25)
settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("ci")


@pytest.fixture
def rng():
    """A freshly seeded generator, the same in every test."""
    return np.random.default_rng(20261121)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def pytest_configure(config):
    # without pytest-timeout installed (it is in the `test` extra) the per-test limits are
    # inert rather than an unknown-marker error
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): per-test time limit "
                                           "(pytest-timeout)")
