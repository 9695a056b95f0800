"""Every quadrature kind integrates the moments of mu_0 (THEORY.md §4.1) at sigma_w != 1.

Truths: E w = 0, E w^2 = sigma_w^2, E w^4 = 3 sigma_w^4, E w_1^2 w_2^2 = sigma_w^4 for
w ~ N(0, sigma_w^2 I); E b = 0, E b^2 = b_max^2 / 3, E b^4 = b_max^4 / 5 for
b ~ U(-b_max, b_max); products factorise. Tolerances come from each rule's exactness:

* Gauss-Hermite with n nodes is exact to degree 2n - 1, Gauss-Legendre in b likewise:
  rounding only;
* truncated Gauss-Legendre in w at 64 nodes: spectral error ~1e-12 on [-8 sigma, 8 sigma];
* the equispaced ("uniform") rule is the trapezoid rule, whose error in b follows from
  Euler-Maclaurin in closed form (h = 2 b_max / (n_b - 1)): E b^2 -> b_max^2/3 + h^2/6 and
  E b^4 -> b_max^4/5 + b_max^2 h^2/3 - h^4/30 exactly; in w it is spectrally accurate;
* scrambled Sobol points: one point per interval [i/n, (i+1)/n) in each coordinate
  (a scrambled (0, m, 1)-net), so |E_n F(b) - E F(b)| <= sup|dF/db| * 2 b_max / n; for the
  unbounded Gaussian moments, the mean over independent scrambles within 4 standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from limitsolver import Prior, parameter_grid

SIGMA_W = 2.3
B_MAX = 0.7
PRIOR = Prior(sigma_w=SIGMA_W, b_max=B_MAX)

GAUSS = {1: 0.0, 2: SIGMA_W**2, 3: 0.0, 4: 3 * SIGMA_W**4}
UNIF = {1: 0.0, 2: B_MAX**2 / 3, 3: 0.0, 4: B_MAX**4 / 5}


@pytest.mark.parametrize("kind, n_w, n_b, tol", [
    ("hermite", 3, 3, 1e-13),      # exact for degree <= 5 in each axis: rounding only
    ("legendre", 64, 3, 1e-11),    # truncated Legendre in w: spectral error ~1e-12
])
@pytest.mark.parametrize("dim", [1, 2])
def test_gauss_rules_integrate_the_moments_of_the_prior(kind, n_w, n_b, tol, dim):
    rule = parameter_grid(PRIOR, dim, n_w=n_w, n_b=n_b, kind=kind)
    w, b = rule.w, rule.b
    scale_w, scale_b = SIGMA_W**4, B_MAX**4
    for k in (1, 2, 3, 4):
        for j in range(dim):
            assert rule.integrate(w[:, j] ** k) == pytest.approx(GAUSS[k], abs=tol * scale_w)
        assert rule.integrate(b**k) == pytest.approx(UNIF[k], abs=tol * scale_b)
    assert rule.integrate(w[:, 0] ** 2 * b**2) == pytest.approx(GAUSS[2] * UNIF[2],
                                                               rel=tol * 10)
    if dim == 2:
        assert rule.integrate(w[:, 0] ** 2 * w[:, 1] ** 2) == pytest.approx(SIGMA_W**4,
                                                                           rel=tol * 10)
        assert rule.integrate(w[:, 0] * w[:, 1]) == pytest.approx(0.0, abs=tol * scale_w)


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("n_b", [5, 17])
def test_uniform_rule_is_the_trapezoid_rule_with_its_closed_form_error(dim, n_b):
    rule = parameter_grid(PRIOR, dim, n_w=65, n_b=n_b, kind="uniform")
    h = 2 * B_MAX / (n_b - 1)
    a = B_MAX
    eb2 = a**2 / 3 + h**2 / 6
    eb4 = a**4 / 5 + a**2 * h**2 / 3 - h**4 / 30
    b, w = rule.b, rule.w
    assert rule.integrate(b) == pytest.approx(0.0, abs=1e-15)
    assert rule.integrate(b**2) == pytest.approx(eb2, rel=1e-13)
    assert rule.integrate(b**4) == pytest.approx(eb4, rel=1e-13)
    # the trapezoid rule on the Gaussian density over +-8 sigma is spectrally accurate; what
    # is left is the truncated tail, E[w^4; |w| > 8 sigma] = 2 (8^3 + 3 * 8) phi(8) sigma^4,
    # about 1.7e-12 of E w^4
    for j in range(dim):
        assert rule.integrate(w[:, j] ** 2) == pytest.approx(SIGMA_W**2, rel=1e-12)
        assert rule.integrate(w[:, j] ** 4) == pytest.approx(3 * SIGMA_W**4, rel=1e-11)
    assert rule.integrate(w[:, 0] ** 2 * b**2) == pytest.approx(SIGMA_W**2 * eb2, rel=1e-12)


@pytest.mark.parametrize("dim", [1, 3])
def test_sobol_rule_maps_b_onto_the_whole_interval(dim):
    n = 256
    for seed in range(4):
        rule = parameter_grid(PRIOR, dim, n_w=n, kind="sobol", rng=seed)
        b = rule.b
        assert np.all(np.abs(b) < B_MAX)
        # one point in each of the n strata of (-b_max, b_max): a deterministic bound
        width = 2 * B_MAX / n
        assert np.array_equal(np.sort(np.floor((b + B_MAX) / width)), np.arange(n))
        for k, sup_dF in ((1, 1.0), (2, 2 * B_MAX), (4, 4 * B_MAX**3)):
            assert abs(rule.integrate(b**k) - UNIF[k]) <= sup_dF * width


@pytest.mark.parametrize("dim", [1, 2])
def test_sobol_rule_integrates_gaussian_moments_over_scrambles(dim):
    n, reps = 512, 24
    est = {k: [] for k in (2, 4)}
    cross = []
    for seed in range(reps):
        rule = parameter_grid(PRIOR, dim, n_w=n, kind="sobol", rng=seed)
        w = rule.w
        assert np.all(rule.weights == 1.0 / n)
        for k in est:
            est[k].append(rule.integrate(w[:, 0] ** k))
        cross.append(rule.integrate(w[:, -1] ** 2 * rule.b**2))
    # each scramble is an unbiased estimate: the mean over scrambles within 4 standard errors
    for k, values in est.items():
        values = np.asarray(values)
        se = values.std(ddof=1) / math.sqrt(reps)
        assert abs(values.mean() - GAUSS[k]) <= 4 * se + 1e-12 * GAUSS[k], (k, values.mean())
        # and the standard error is small enough that sigma_w = 1 would be far outside
        assert 4 * se < 0.05 * GAUSS[k]
    cross = np.asarray(cross)
    se = cross.std(ddof=1) / math.sqrt(reps)
    assert abs(cross.mean() - GAUSS[2] * UNIF[2]) <= 4 * se
