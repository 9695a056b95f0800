"""Plateau detection and online SGD of linear RNNs (THEORY.md §6) against independent truths.

* The plateau criterion r(t) < theta max_s r(s) is relative: on a synthetic curve with
  stalls whose rates sit just below and just above theta max r, exactly the first is a
  plateau, and scaling the rate (a change of time unit) changes nothing.
* One step of online SGD is p - eta grad_p 1/2 (y_hat_k - y_k)^2, the gradient checked by
  central finite differences of the instantaneous loss written out here,
  y_hat_k - y_k = dt sum_j (sum_i b_i exp(-lam_i s_j) - rho(s_j)) x_{k-j}, in both
  parametrisations (b, lam) and (c, u, lam) with b = c u.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from limitsolver.linear_rnn import (
    AR1Input,
    ExponentialSum,
    FlowSpec,
    WhiteNoiseInput,
    detect_plateaus,
    online_sgd,
)


def _stall_curve(scale):
    """Loss on [0, 40] with prescribed relative rate r = -d log J / dt (times ``scale``).

    The fastest rate, 2, holds only on [0, 2); then r = 0.6 on [2, 5), 0.08 on [5, 15) (a
    stall at 4% of max r), 0.6 on [15, 20), 0.12 on [20, 30) (at 6%: not a stall for
    theta = 0.05), 0.6 on [30, 40]: J = exp(-int r). A threshold relative to a typical rate
    (mean, median) instead of the maximum would find no stall at theta = 0.05.
    """
    t = np.linspace(0.0, 40.0, 4001)
    r = np.select([t < 2, t < 5, t < 15, t < 20, t < 30], [2.0, 0.6, 0.08, 0.6, 0.12], 0.6)
    dt = np.diff(t)
    logJ = -np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * dt)])
    # time in units 1/scale: J(t') with t' = t / scale has rate scale * r
    return t / scale, np.exp(logJ), scale * r


@pytest.mark.parametrize("scale", [1.0, 1e-3, 250.0])
def test_plateau_threshold_is_relative_to_the_fastest_rate(scale):
    t, loss, rate = _stall_curve(scale)
    pl = detect_plateaus(t, loss, rate, rate_threshold=0.05, loss_factor=1.5)
    assert len(pl) == 1
    assert pl[0].start == pytest.approx(5.0 / scale, rel=2e-3)
    assert pl[0].end == pytest.approx(15.0 / scale, rel=2e-3)
    # with theta = 0.07 the second stall (6% of max r) is a plateau too
    pl2 = detect_plateaus(t, loss, rate, rate_threshold=0.07, loss_factor=1.5)
    assert len(pl2) == 2
    assert pl2[1].start == pytest.approx(20.0 / scale, rel=2e-3)
    assert pl2[1].end == pytest.approx(30.0 / scale, rel=2e-3)
    # with theta = 0.03 neither stall is slow enough
    assert detect_plateaus(t, loss, rate, rate_threshold=0.03, loss_factor=1.5) == []


def _instantaneous_loss(b, lam, window, dt, rho):
    s = dt * np.arange(window.size)
    rho_hat = np.array([sum(bi * math.exp(-li * sj) for bi, li in zip(b, lam, strict=True))
                        for sj in s])
    r = dt * np.sum((rho_hat - rho(s)) * window)
    return 0.5 * r * r


@pytest.mark.parametrize("factorised", [False, True])
@pytest.mark.parametrize("inputs", [WhiteNoiseInput(0.1), AR1Input(0.1, 0.6)])
def test_one_sgd_step_is_minus_eta_times_the_finite_difference_gradient(factorised, inputs):
    target = ExponentialSum((1.0, -0.4), (0.8, 2.5))
    m, eta, horizon, seed = 2, 0.01, 3.0, 4
    spec = FlowSpec(m=m, factorised=factorised)
    p0 = np.array([0.3, -0.5, 0.7, 0.2, 1.1, 2.0]) if factorised else np.array(
        [0.4, -0.3, 1.1, 2.0])
    out = online_sgd(target, inputs, spec, eta, [0.0, eta], p0, seed, horizon=horizon)
    np.testing.assert_array_equal(out.params[0], p0)
    L = math.ceil(horizon / inputs.dt)
    x = inputs.sample(1 + L, seed)            # the step reads x_0 ... x_{L-1}, newest last
    window = x[:L][::-1]                      # window_j = x_{k-j}

    def loss(p):
        if factorised:
            b, lam = p[:m] * p[m:2 * m], p[2 * m:]
        else:
            b, lam = p[:m], p[m:]
        return _instantaneous_loss(b, lam, window, inputs.dt, target.rho)

    h = 1e-6
    grad = np.empty(p0.size)
    for i in range(p0.size):
        e = np.zeros(p0.size)
        e[i] = h
        grad[i] = (loss(p0 + e) - loss(p0 - e)) / (2 * h)
    assert np.max(np.abs(grad)) > 1e-3      # a step that actually moves the parameters
    # central differences: truncation ~h^2 |d^3 loss|, rounding ~1e-16 / h
    np.testing.assert_allclose(out.params[1], p0 - eta * grad, rtol=0, atol=1e-11)
