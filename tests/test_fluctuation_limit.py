"""The fluctuation limit of the finite-width error (theory §8), piece by piece.

Each term is checked against a computation that shares none of its algebra:

* the time kernel against numerical quadrature;
* the lifted chain against :class:`~limitsolver.poisson.LiftedChain`;
* the asymptotic-variance form against sums of autocovariances and against batch means
  along a long path;
* the kernel term against exact solutions of the limit ODE with the random kernels of
  sampled units (Monte Carlo over θ, no linearisation);
* the data-noise term against the linear online recursion with the limit kernel driven by
  simulated chain paths, and its Lyapunov equation against ``solve_ivp``;
* the whole prediction against finite networks (slow).

Statistical checks use fixed seeds and bands of four standard errors.
"""

import numpy as np
import pytest
import scipy.integrate

from limitsolver import (
    ConfigError,
    FiniteChain,
    LinearMemory,
    NetworkSpec,
    Prior,
    Problem,
    simulate,
    solve_limit,
)
from limitsolver.limit import QuadratureRule, features, tangent_kernel
from limitsolver.limit.fluctuations import (
    asymptotic_covariance_form,
    divided_exponential,
    lifted_transition,
    predict_fluctuations,
)
from limitsolver.poisson import LiftedChain

TIMES = np.linspace(0.0, 1.0, 5)
CHAIN = FiniteChain([[0.8, 0.2], [0.3, 0.7]], states=[-1.0, 1.0])
# 64 Legendre nodes in w: the rule's own error (~5e-4 in A) is below the Monte Carlo bands
GRID = {"n_w": 64, "n_b": 12, "kind": "legendre"}


def _problem(doubled=True, c_law="rademacher", sigma_c=1.0, **net):
    prior = Prior(sigma_w=1.0, b_max=0.5, doubled=doubled, c_law=c_law, sigma_c=sigma_c)
    network = NetworkSpec(activation="tanh", prior=prior, memory_tol=0.1, **net)
    return Problem(CHAIN, LinearMemory.geometric(decay=0.5, n_terms=3), network, horizon=1.0)


@pytest.fixture(scope="module")
def small():
    problem = _problem()
    sol = solve_limit(problem, histories="exact", times=TIMES,
                      grid=GRID, error_estimate=False, progress=False)
    A = tangent_kernel(sol.training_features, sol.training_features, sol.grid, 1.0)
    return problem, sol, A


def _exact_residuals(A, weights, r0, times, alpha=1.0):
    """r_t = exp(-alpha t A W) r_0 from numpy's eigendecompositions (eigh when A is symmetric)."""
    if np.array_equal(A, A.T):
        sw = np.sqrt(weights)
        lam, V = np.linalg.eigh(sw[:, None] * A * sw[None, :])
        c = V.T @ (sw * r0)
        return (np.exp(-alpha * np.outer(times, lam)) * c) @ V.T / sw
    mu, R = np.linalg.eig(A * weights[None, :])
    c = np.linalg.solve(R, r0)
    return np.real((np.exp(-alpha * np.outer(times, mu)) * c) @ R.T)


# -- building blocks ----------------------------------------------------------------------


@pytest.mark.parametrize("lam_m, lam_k, t", [
    (0.7, 0.7, 1.3), (2.0, 2.0 + 1e-12, 0.5), (0.0, 3.0, 2.0), (5.0, 0.1, 1.0),
    (40.0, 0.0, 1.0), (0.0, 0.0, 0.7),
])
def test_divided_exponential_against_quadrature(lam_m, lam_k, t):
    alpha = 1.7
    got = divided_exponential(np.array([lam_m]), np.array([lam_k]), t, alpha)[0, 0]
    want, _ = scipy.integrate.quad(
        lambda s: np.exp(-alpha * lam_m * (t - s) - alpha * lam_k * s), 0.0, t,
        epsabs=0, epsrel=1e-13)
    assert got == pytest.approx(want, rel=1e-11, abs=1e-300)


def test_lifted_transition_is_the_lifted_chain(small):
    problem, sol, _ = small
    hist = sol.histories
    P = lifted_transition(hist, CHAIN).toarray()
    ref = LiftedChain.from_chain(CHAIN, hist.depth)
    pos = ref.index(hist.indices)                    # our history -> reference word
    np.testing.assert_array_equal(P, ref.P.toarray()[np.ix_(pos, pos)])
    np.testing.assert_allclose(hist.weights @ P, hist.weights, atol=1e-16)


def _random_chain(rng, n):
    P = rng.random((n, n)) + 0.05
    P /= P.sum(axis=1, keepdims=True)
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    return P, pi / pi.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_asymptotic_covariance_form_is_the_sum_of_autocovariances(seed):
    rng = np.random.default_rng(seed)
    P, pi = _random_chain(rng, 6)
    H = asymptotic_covariance_form(P, pi)
    F = rng.standard_normal((6, 3))                  # a vector function, 3 components
    Fc = F - pi @ F
    # brute force: Gamma = sum_{j in Z} Cov(F(X_0), F(X_j)), lag j >= 0 is Fc^T W P^j Fc
    gamma = Fc.T @ (pi[:, None] * Fc)
    Pj = np.eye(6)
    for _ in range(400):
        Pj = Pj @ P
        lag = Fc.T @ (pi[:, None] * (Pj @ Fc))
        gamma += lag + lag.T
    np.testing.assert_allclose(F.T @ H @ F, gamma, rtol=1e-10, atol=1e-12)
    assert np.linalg.eigvalsh(H).min() > -1e-12


def test_gamma_of_the_drift_against_batch_means(small):
    """tr(W Γ_0) of F(ξ') = A(·, ξ') g(ξ') from H, against batch means along a long path."""
    _, sol, A = small
    hist = sol.histories
    om = hist.weights
    Fm = (A * sol.g[None, :]).T                      # rows: training history xi'
    H = asymptotic_covariance_form(lifted_transition(hist, CHAIN), om)
    want = float(np.trace((om[:, None] * Fm.T) @ H @ Fm))   # sum_i omega_i Gamma_ii
    rng = np.random.default_rng(11)
    L, n = hist.depth, 200_000
    path = CHAIN.sample_indices(n + L - 1, rng)[0]
    windows = np.stack([path[L - 1 - j: L - 1 - j + n] for j in range(L)], axis=1)
    radix = 2 ** np.arange(L - 1, -1, -1)
    lookup = np.full(2**L, -1)
    lookup[hist.indices @ radix] = np.arange(hist.M)
    idx = lookup[windows @ radix]
    assert np.all(idx >= 0)
    X = Fm[idx]                                      # (n, M): F along the path
    n_batch, size = 100, n // 100
    means = X[: n_batch * size].reshape(n_batch, size, -1).mean(axis=1)
    est = size * ((means - means.mean(axis=0)) ** 2).sum(axis=0) / (n_batch - 1)
    per_batch = size * (means - means.mean(axis=0)) ** 2 @ om
    se = per_batch.std(ddof=1) / np.sqrt(n_batch)
    assert abs(est @ om - want) < 4 * se


# -- the two sources against brute force ----------------------------------------------------


def _unit_kernels(sol, prior, n_units, n_kernels, rng):
    """Kernels of ``n_kernels`` networks of n sampled units (doubled: n/2 pairs)."""
    hist, act = sol.histories, sol.problem.network.activation
    n_draw = n_units // 2 if prior.doubled else n_units
    total = n_draw * n_kernels
    w = rng.standard_normal((total, 1)) * prior.sigma_w
    b = rng.uniform(-prior.b_max, prior.b_max, total)
    if prior.c_law == "gaussian":
        c2 = (prior.sigma_c * rng.standard_normal(total)) ** 2
    else:
        c2 = np.full(total, prior.sigma_c**2)
    rule = QuadratureRule(w=w, b=b, weights=np.full(total, 1.0 / total), kind="sobol",
                          prior=prior)
    f = features(hist, rule, act)
    M = hist.M
    truncated = sol.problem.network.gradient == "truncated"
    # the second slot carries the one-step truncated gradient chi in truncated mode
    slots = [(f.psi_w[:, :, 0], f.chi_w[:, :, 0] if truncated else f.psi_w[:, :, 0]),
             (f.psi_b, f.chi_b if truncated else f.psi_b)]

    def by_kernel(a):
        return np.ascontiguousarray(a.reshape(M, n_kernels, n_draw).transpose(1, 0, 2))

    phi = by_kernel(f.phi)
    c2 = c2.reshape(n_kernels, n_draw)[:, None, :]
    out = phi @ phi.transpose(0, 2, 1)
    for first, second in slots:
        out += (by_kernel(first) * c2) @ by_kernel(second).transpose(0, 2, 1)
    return out / n_draw


@pytest.mark.parametrize("doubled, c_law, sigma_c, gradient", [
    (True, "rademacher", 1.0, "rtrl"),
    (True, "rademacher", 1.0, "truncated"),                           # psi . chi, stepped
    pytest.param(False, "gaussian", 1.3, "rtrl", marks=pytest.mark.slow),  # Var(c^2), n_ind = N
])
def test_kernel_term_against_random_kernels_of_sampled_units(doubled, c_law, sigma_c, gradient):
    problem = _problem(doubled=doubled, c_law=c_law, sigma_c=sigma_c, gradient=gradient)
    sol = solve_limit(problem, histories="exact", times=TIMES, h0="zero",
                      grid=GRID, error_estimate=False, progress=False, seed=0)
    pred = predict_fluctuations(sol, terms=("kernel",), n_samples=4000, substeps=8, seed=3)
    om = sol.histories.weights
    c2 = problem.network.prior.c_second_moment
    A = tangent_kernel(sol.training_features, sol.training_features, sol.grid, c2,
                       mode=gradient)
    r_lim = _exact_residuals(A, om, sol.g, TIMES)
    rng = np.random.default_rng(5)
    N, n_draws = 1000, 400
    kernels = _unit_kernels(sol, problem.network.prior, N, n_draws, rng)
    sq = np.stack([N * ((_exact_residuals(An, om, sol.g, TIMES) - r_lim) ** 2) @ om
                   for An in kernels])
    mean, se = sq.mean(axis=0), sq.std(axis=0, ddof=1) / np.sqrt(n_draws)
    assert pred.kernel[0] == 0.0 and np.all(pred.data == 0.0)
    np.testing.assert_array_less(np.abs(mean[1:] - pred.kernel[1:]), 4 * se[1:])
    # the sup constant: E sup_t sqrt(N) |h^N_t - h_t| over the grid
    sup = np.sqrt(sq).max(axis=1)
    band = 4 * np.hypot(sup.std(ddof=1) / np.sqrt(n_draws), pred.constants_se["sup_l2"])
    assert abs(sup.mean() - pred.constants["sup_l2"]) < band


@pytest.mark.parametrize("gradient", ["rtrl", pytest.param("truncated", marks=pytest.mark.slow)])
def test_data_term_against_linear_online_recursion(small, gradient):
    """h_{k+1} = h_k + (α/N) A(·, ξ_k)(g(ξ_k) - h_k(ξ_k)) along simulated paths."""
    problem, sol, A = small
    if gradient == "truncated":
        problem = _problem(gradient="truncated")
        sol = solve_limit(problem, histories="exact", times=TIMES, grid=GRID,
                          error_estimate=False, progress=False)
        A = tangent_kernel(sol.training_features, sol.training_features, sol.grid, 1.0,
                           mode="truncated")
    pred = predict_fluctuations(sol, terms=("data",), n_samples=4000, substeps=16, seed=4)
    hist = sol.histories
    om, g, L, M = hist.weights, sol.g, hist.depth, hist.M
    N, n_paths = 1000, 3000
    rng = np.random.default_rng(8)
    paths = CHAIN.sample_indices(N + L - 1, rng, n_paths=n_paths)
    radix = 2 ** np.arange(L - 1, -1, -1)
    lookup = np.full(2**L, -1)
    lookup[hist.indices @ radix] = np.arange(M)
    h = np.zeros((n_paths, M))
    r_lim = _exact_residuals(A, om, g, TIMES)
    steps = np.rint(TIMES * N).astype(int)
    sq = np.zeros((n_paths, TIMES.size))
    rows = np.arange(n_paths)
    for k in range(N + 1):
        if k in steps:
            j = int(np.flatnonzero(steps == k)[0])
            sq[:, j] = N * ((g - h - r_lim[j]) ** 2) @ om
        if k == N:
            break
        win = np.stack([paths[:, k + L - 1 - m] for m in range(L)], axis=1)
        idx = lookup[win @ radix]
        e = g[idx] - h[rows, idx]
        h += (1.0 / N) * A[:, idx].T * e[:, None]
    mean, se = sq.mean(axis=0), sq.std(axis=0, ddof=1) / np.sqrt(n_paths)
    np.testing.assert_array_less(np.abs(mean[1:] - pred.data[1:]), 4 * se[1:])
    sup = np.sqrt(sq).max(axis=1)
    band = 4 * np.hypot(sup.std(ddof=1) / np.sqrt(n_paths), pred.constants_se["sup_l2"])
    assert abs(sup.mean() - pred.constants["sup_l2"]) < band


def test_lyapunov_integration_against_solve_ivp_and_its_order(small):
    _, sol, A = small
    hist = sol.histories
    om, g = hist.weights, sol.g
    H = asymptotic_covariance_form(lifted_transition(hist, CHAIN), om)
    AW = A * om[None, :]
    M = om.size

    def rhs(t, y):
        C = y[: M * M].reshape(M, M)
        r = y[M * M:]
        Fm = A.T * r[:, None]                       # F(xi')_i = A(xi_i, xi') r(xi')
        gamma = Fm.T @ H @ Fm
        dC = -AW @ C - C @ AW.T + gamma
        return np.concatenate([dC.ravel(), -AW @ r])

    y0 = np.concatenate([np.zeros(M * M), g])
    ivp = scipy.integrate.solve_ivp(rhs, (0.0, 1.0), y0, t_eval=TIMES, rtol=1e-11,
                                    atol=1e-13, method="DOP853")
    want = np.array([np.trace(om[:, None] * ivp.y[: M * M, i].reshape(M, M))
                     for i in range(TIMES.size)])
    errors = []
    for sub in (2, 4, 8):
        pred = predict_fluctuations(sol, terms=("data",), n_samples=2, substeps=sub, seed=0)
        errors.append(np.max(np.abs(pred.data - want)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.8), orders
    fine = predict_fluctuations(sol, terms=("data",), n_samples=2, substeps=64, seed=0)
    np.testing.assert_allclose(fine.data, want, rtol=2e-4, atol=1e-12)


# -- the result -------------------------------------------------------------------------------


def test_sampled_paths_reproduce_the_second_moments(small):
    _, sol, _ = small
    pred = predict_fluctuations(sol, n_samples=3000, seed=9)
    sample_mean = pred.per_history @ pred.weights         # mean over paths of |G_t|^2
    band = 4 * np.sqrt(2.0 / 3000) * pred.total
    np.testing.assert_array_less(np.abs(sample_mean - pred.total)[1:], band[1:])
    assert pred.kernel[0] == pred.data[0] == 0.0
    assert pred.draws_ratio == 2.0


def test_same_seed_same_numbers_and_width_for(small):
    _, sol, _ = small
    a = predict_fluctuations(sol, n_samples=64, seed=123)
    b = predict_fluctuations(sol, n_samples=64, seed=123)
    for name in ("kernel", "data", "per_history"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.constants == b.constants
    C = a.constants["sup_l2"]
    for eps in (0.1, 0.01, 1e-3):
        n = a.width_for(eps)
        assert n % 2 == 0                                  # doubled: pairs
        assert C / np.sqrt(n) <= eps < C / np.sqrt(n - 2)
        assert a.error(n) == pytest.approx(C / np.sqrt(n), rel=1e-15)
    assert a.width_for(0.05, metric="rms") >= 1
    with pytest.raises(ConfigError, match="`epsilon`"):
        a.width_for(-1.0)
    with pytest.raises(ConfigError, match="`metric`"):
        a.width_for(0.1, metric="tracking")


def test_unsupported_settings_are_refused_by_name(small):
    problem, sol, _ = small
    with pytest.raises(ConfigError, match="beta = 1/2"):
        predict_fluctuations(problem.replace(network=problem.network.replace(beta=0.75)))
    with pytest.raises(ConfigError, match="truncated"):
        predict_fluctuations(problem.replace(
            network=problem.network.replace(gradient="truncated")), method="spectral")
    with pytest.raises(ConfigError, match="`method`"):
        predict_fluctuations(sol, method="eigen")
    with pytest.raises(ConfigError, match="`terms`"):
        predict_fluctuations(sol, terms=("noise",))
    with pytest.raises(ConfigError, match="`n_samples`"):
        predict_fluctuations(sol, n_samples=1)
    with pytest.raises(ConfigError, match="`times`"):
        predict_fluctuations(sol, times=[0.5, 1.0])
    sampled = solve_limit(problem, histories=64, times=TIMES, seed=1, error_estimate=False,
                          progress=False)
    with pytest.raises(ConfigError, match="exact histories"):
        predict_fluctuations(sampled)
    only_k = predict_fluctuations(sampled, terms=("kernel",), n_samples=16)
    assert np.all(only_k.data == 0) and only_k.kernel[-1] > 0


@pytest.mark.slow
def test_prediction_against_finite_networks():
    """N E|h^N_t - h_t|^2 over seeds at two widths against K_t + D_t."""
    problem = _problem()
    sol = solve_limit(problem, histories="exact", times=TIMES,
                      grid={"n_w": 48, "n_b": 12, "kind": "legendre"}, error_estimate=False,
                      progress=False)
    pred = predict_fluctuations(sol, n_samples=1000, seed=2)
    hist = sol.histories
    for N in (1024, 4096):
        seeds = list(range(64))
        res = simulate(problem, N, seeds, snapshot_times=TIMES, progress=False)
        sq = np.stack([N * ((res.output(hist.values, time=float(t)) - sol.h[i]) ** 2)
                       @ hist.weights for i, t in enumerate(TIMES)], axis=1)
        mean, se = sq.mean(axis=0), sq.std(axis=0, ddof=1) / np.sqrt(len(seeds))
        np.testing.assert_array_less(np.abs(mean[1:] - pred.total[1:]), 4 * se[1:] +
                                     0.1 * pred.total[1:])


@pytest.mark.slow
def test_stepping_route_agrees_with_the_spectral_route(small):
    """Two routes, two discretisations of the same equations: they agree as sub-steps shrink."""
    _, sol, _ = small
    spec = predict_fluctuations(sol, n_samples=8, substeps=16, seed=0)
    step = predict_fluctuations(sol, method="stepping", n_samples=8, substeps=16, seed=0)
    assert step.diagnostics["method"] == "stepping" and spec.diagnostics["method"] == "spectral"
    np.testing.assert_allclose(step.kernel, spec.kernel, rtol=2e-3, atol=1e-12)
    np.testing.assert_allclose(step.data, spec.data, rtol=2e-3, atol=1e-12)
