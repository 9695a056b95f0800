"""Truncated training converges to the kernel with the true gradient in its first slot.

THEORY.md §3: in truncated mode the kernel is
A(ξ, ξ') = E[φφ'] + E[c²] E[ψ_w·χ_w' + ψ_b χ_b'] — the first slot carries how
the output changes (ψ), the second how training moves (χ). Putting χ in both
slots gives another limit, which finite networks stop approaching at moderate N.
This test measures both distances on finite networks.
"""

import dataclasses

import numpy as np
import pytest

from limitsolver.config import problem_from_config
from limitsolver.headline import headline_table as problem_defaults
from limitsolver.limit import SymmetricFlow, solve_limit, tangent_kernel
from limitsolver.simulation import simulate


@pytest.mark.slow
def test_finite_truncated_networks_follow_the_psi_chi_kernel_not_chi_chi():
    cfg = problem_defaults()
    cfg["network"]["gradient"] = "truncated"
    cfg["network"]["memory_tol"] = 0.02
    problem = problem_from_config(cfg)
    times = np.linspace(0.0, problem.horizon, 5)
    sol = solve_limit(problem, times=times, error_estimate=False)
    f = sol.training_features  # truncated mode: psi and chi
    chi_both = dataclasses.replace(f, psi_w=f.chi_w, psi_b=f.chi_b)
    A_wrong = tangent_kernel(chi_both, chi_both, sol.grid, problem.network.prior.c_second_moment,
                             mode="truncated")
    h_wrong, _ = SymmetricFlow.from_kernel(A_wrong, sol.weights, problem.network.alpha).solve(
        sol.h0, sol.g, times)
    gap = np.sqrt(((h_wrong - sol.h) ** 2) @ sol.weights).max()

    def distance(h_ref, N, seeds):
        res = simulate(problem, N, seeds, snapshot_times=times, progress=False)
        out = np.stack([res.output(sol.histories.values, time=t) for t in times], axis=1)
        return np.sqrt(((out - h_ref[None]) ** 2) @ sol.weights).max(axis=1)   # per seed

    seeds = [0, 1, 2, 3]
    right = distance(sol.h, 8192, seeds)
    wrong = distance(h_wrong, 8192, seeds)
    # the two limits are far apart compared with the finite-N error at N = 8192 ...
    assert gap > 1.5 * right.mean()
    # ... and every seed is closer to the correct limit
    assert np.all(right < wrong)
