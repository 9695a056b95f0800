"""The main scientific claim of THEORY.md §3, measured on small studies.

* beta = 1/2 (doubled initialisation, the default problem: two-state chain
  P = [[0.7, 0.3], [0.4, 0.6]] on {-1, 1}, target sum_{j<6} 0.6^j X_{k-j}, tanh): the
  sup-L2(pi) distance of h^N_t to the limit h_t decays as N^(-1/2). The bootstrap interval
  of the fitted rate must contain 1/2, and the error at the largest width must sit at least
  5 times above the limit's own discretisation error (quadrature refinement estimate plus
  memory-depth estimate), so that what is measured is the finite-width error and not the
  solver's.
* beta = 3/4 without doubling: the initial output N^(1/2 - beta) x (Gaussian process)
  dominates and the rate drops to beta - 1/2 = 1/4; the interval must contain 1/4 and
  exclude 1/2. The L2(pi) norm of that Gaussian process varies much from seed to seed (a
  relative spread of about 0.7: one direction dominates its covariance), hence 48 seeds; a
  short horizon T = 0.1 keeps the runs cheap and the sup over t at t = 0, where the
  initial output is the whole error (at small N training adds an error that decays faster
  and would steepen the fit).

The widths, seeds and horizons are small enough for seconds on an idle 2-core machine
and large enough for these statements to be sharp; what is checked are the theory's
numbers, not the package's output (the full headline study of ``limitsolver converge``
reaches N = 32768).
"""

from __future__ import annotations

import numpy as np
import pytest

from limitsolver import FiniteChain, LinearMemory, NetworkSpec, Prior, Problem
from limitsolver.studies import ConvergenceStudy, run_convergence


def default_problem(beta=0.5, doubled=True, memory_tol=0.02, horizon=1.0):
    """The headline problem with a shorter memory window (L = 7, 128 exact histories)."""
    chain = FiniteChain([[0.7, 0.3], [0.4, 0.6]], states=[-1.0, 1.0])
    net = NetworkSpec(beta=beta, memory_tol=memory_tol, prior=Prior(doubled=doubled))
    return Problem(chain, LinearMemory.geometric(0.6, 6), net, horizon=horizon)


GRID = {"n_w": 64, "n_b": 16, "kind": "legendre"}


@pytest.mark.timeout(600)
def test_finite_networks_converge_to_the_limit_at_rate_one_half():
    study = ConvergenceStudy(default_problem(), n_units=(128, 256, 512, 1024, 2048, 4096),
                             seeds=tuple(range(8)), n_times=11, grid=dict(GRID))
    result = run_convergence(study, jobs=1, progress=False)
    fit = result.fits["sup_l2"]
    assert fit.contains(0.5), fit
    largest = np.mean(result.errors["sup_l2"][-1])
    # the limit's error: quadrature refinement estimate + one more level of memory depth
    assert result.limit_discretisation["depth_error"] > 0
    assert result.limit_error > 0 and largest >= 5 * result.limit_error, (
        largest, result.limit_error)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_without_doubling_at_beta_three_quarters_the_rate_drops_to_one_quarter():
    study = ConvergenceStudy(default_problem(beta=0.75, doubled=False, horizon=0.1),
                             n_units=(64, 128, 256, 512, 1024, 2048, 4096),
                             seeds=tuple(range(48)), n_times=11, grid=dict(GRID),
                             depth_check=False)
    result = run_convergence(study, jobs=1, progress=False)
    fit = result.fits["sup_l2"]
    assert fit.contains(0.25) and not fit.contains(0.5), fit
