r"""The step loop of the finite network (:ref:`theory §2 <theory-network>`) as one compiled JAX scan.

``simulate(..., backend="jax")`` runs the same arithmetic as the numpy backend
(:func:`limitsolver.simulation.simulate.numpy_chunk`): for each seed and step
:math:`k`,

.. math::

    u^i_k = w^i\cdot X_k + b^i s^i_k,\qquad s^i_{k+1} = \sigma(u^i_k),\qquad
    J_{k+1} = \sigma'(u^i_k)\,(z + \kappa\, b^i J_k),

    f^N_k = N^{-\beta}\sum_i c^i s^i_{k+1},\qquad e_k = Y_k - f^N_k,\qquad
    g_k = \alpha N^{2\beta-2}\, e_k N^{-\beta},

    c^i \mathrel{+}= g_k s^i_{k+1},\quad w^i \mathrel{+}= g_k c^i J^{w,i}_{k+1},\quad
    b^i \mathrel{+}= g_k c^i J^{b,i}_{k+1}

(:math:`c^i` before its update, :math:`\kappa = 1` rtrl, 0 truncated, :math:`z =
X^j_k` for :math:`J^{w_j}` and :math:`s^i_k` for :math:`J^b`). One step of one seed is
a function of ``(c, w, b, s, jw, jb)`` and ``(X_k, Y_k)``; :func:`jax.lax.scan` runs
it over the steps of a chunk and :func:`jax.vmap` over the seeds, and the whole is
compiled by :func:`jax.jit` (by XLA) for the device JAX chooses: a GPU when
``jaxlib`` has one, the CPU otherwise (``jax.devices()`` tells which).

**Same draws.** The parameters and the paths are drawn by ``simulate`` with numpy
generators as for every backend (:func:`~limitsolver.simulation.simulate.seed_streams`)
and handed to the device as arrays, so a seed means the same network on every
backend; only the arithmetic runs in JAX, in float64 (the numbers agree with the
numpy backend to rounding: summation order and a few ulp of :math:`\sigma`).

**Float64 without global state.** Every call runs inside JAX's ``enable_x64``
context manager, which sets the option for the calling thread and restores it on
exit: a user's own JAX code keeps its default (float32) dtypes.

**Compiled once per shape.** A scan has a static length, so a chunk of :math:`n`
steps runs as scans whose lengths are the powers of two in the binary expansion of
:math:`n` (the state stays on the device between them): at most
:math:`\lfloor\log_2 n_{\max}\rfloor + 1` lengths are compiled for a given number
of seeds, units and :math:`d`, each once per process, and no step is padded.

Activations: those of :data:`JAX_ACTIVATIONS` (tanh, sigmoid, erf, softplus,
linear), in the same stable forms as their numpy entries in
:data:`limitsolver.activations.ACTIVATIONS`; formulas are refused (use the numpy
or numba backend).
"""

from __future__ import annotations

import functools
import importlib.util
import math

import numpy as np

from ..activations import Activation
from ..errors import ConfigError
from ..memory import carries

__all__ = ["JAX_ACTIVATIONS", "INSTALL", "jax_available", "jax_kernel", "scan_lengths",
           "default_device"]

#: Activations with a JAX form in this backend.
JAX_ACTIVATIONS = ("tanh", "sigmoid", "erf", "softplus", "linear")

#: How to install the optional dependency (from a checkout, or JAX alone).
INSTALL = 'pip install ".[jax]" (from a checkout of limitsolver) or pip install jax'


@functools.lru_cache(maxsize=1)
def jax_available() -> bool:
    """Whether JAX is installed (found without importing it).

    Returns
    -------
    bool
    """
    return importlib.util.find_spec("jax") is not None


def _import_jax():
    """``jax``, or a :class:`ConfigError` naming the extra and the install command."""
    try:
        import jax
    except ImportError as exc:
        raise ConfigError(
            f"`backend` 'jax' requested but jax cannot be imported ({exc}); install the "
            f"optional `jax` extra: {INSTALL} (for an NVIDIA GPU: pip install \"jax[cuda12]\")."
        ) from exc
    return jax


def _x64(jax):
    """Context manager enabling float64 in JAX for this thread only, restored on exit."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX

    return enable_x64()


def default_device() -> str:
    """The device JAX runs the step loop on (e.g. ``"cpu:0"``, ``"cuda:0"``).

    Returns
    -------
    str
        ``"<platform>:<id>"`` of ``jax.devices()[0]``.

    Raises
    ------
    ConfigError
        If JAX is not installed.
    """
    jax = _import_jax()
    dev = jax.devices()[0]
    return f"{dev.platform}:{dev.id}"


def scan_lengths(n: int) -> list[int]:
    """The scan lengths of a chunk of ``n`` steps: the powers of two of ``n``'s binary expansion.

    Parameters
    ----------
    n : int
        Steps of the chunk, ``n >= 0``.

    Returns
    -------
    list of int
        Decreasing powers of two summing to ``n`` (empty for ``n = 0``).
    """
    return [1 << j for j in range(int(n).bit_length() - 1, -1, -1) if n >> j & 1]


def _sigma_dsigma(name: str):
    """``u -> (sigma(u), sigma'(u))`` in jax.numpy, the stable forms of the numpy registry."""
    import jax.numpy as jnp
    from jax.scipy.special import erf

    def sigmoid(u):
        return 0.5 * (1.0 + jnp.tanh(0.5 * u))

    def tanh_sd(u):
        t = jnp.tanh(u)
        return t, 1.0 - t**2

    def sigmoid_sd(u):
        t = sigmoid(u)
        return t, t * (1.0 - t)

    def erf_sd(u):
        return erf(u), (2.0 / math.sqrt(math.pi)) * jnp.exp(-jnp.square(u))

    def softplus_sd(u):
        return jnp.logaddexp(0.0, u), sigmoid(u)

    def linear_sd(u):
        return u * 1.0, jnp.ones_like(u)

    return {"tanh": tanh_sd, "sigmoid": sigmoid_sd, "erf": erf_sd, "softplus": softplus_sd,
            "linear": linear_sd}[name]


@functools.lru_cache(maxsize=32)
def _compiled_scan(name: str, rtrl: bool, train: bool):
    """The jitted ``(carry, X, Y, lr, scale) -> (carry, f, e)`` over seeds (vmap) and steps (scan).

    ``carry = (c, w, b, s, jw, jb)`` with shapes (S, N), (S, N, d), (S, N), (S, N),
    (S, N, d), (S, N); ``X`` (S, L, d), ``Y`` (S, L); ``f, e`` (S, L). XLA compiles it
    once per shape.
    """
    jax = _import_jax()
    sd = _sigma_dsigma(name)

    def step(lr, scale, carry, inp):
        c, w, b, s, jw, jb = carry
        x, y = inp
        d = w.shape[-1]
        # w . x summed over coordinates in order, as the numpy backend does
        wx = w[:, 0] * x[0]
        for j in range(1, d):
            wx = wx + w[:, j] * x[j]
        s_new, du = sd(wx + b * s)
        if rtrl:
            jw = du[:, None] * (x[None, :] + b[:, None] * jw)
            jb = du * (s + b * jb)
        else:
            jw = du[:, None] * x[None, :]
            jb = du * s
        f = scale * jax.numpy.sum(c * s_new)
        e = y - f
        if train:
            g = lr * e * scale
            gc = g * c
            c = c + g * s_new
            w = w + gc[:, None] * jw
            b = b + gc * jb
        return (c, w, b, s_new, jw, jb), (f, e)

    def one_seed(carry, X, Y, lr, scale):
        carry, (f, e) = jax.lax.scan(functools.partial(step, lr, scale), carry, (X, Y))
        return carry, f, e

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, 0, None, None)))


class JaxKernel:
    """The chunk kernel of the jax backend, with the signature of the numba kernel.

    ``kernel(X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad,
    n_blocks=1)`` advances the numpy arrays ``c, w, b, s, jw, jb`` in place by the
    steps of ``X`` (S, K, d), ``Y`` (S, K), writes ``f_out, e_out`` (S, K) and sets
    ``bad[q]`` to the first step of seed ``q`` whose prediction or error is not
    finite (else leaves it). ``n_blocks`` is ignored (the units of a step are
    vectorised).

    Parameters
    ----------
    act : Activation
        One of :data:`JAX_ACTIVATIONS`.
    """

    def __init__(self, act: Activation):
        self.name = act.name

    def __call__(self, X, Y, c, w, b, s, jw, jb, lr, scale, rtrl, train, f_out, e_out, bad,
                 n_blocks=1, n_threads=1):
        jax = _import_jax()
        n = X.shape[1]
        with _x64(jax):
            carry = tuple(jax.device_put(np.asarray(a, dtype=np.float64))
                          for a in (c, w, b, s, jw, jb))
            f_parts, e_parts = [], []
            k = 0
            for length in scan_lengths(n):
                fn = _compiled_scan(self.name, bool(rtrl), bool(train))
                carry, f, e = fn(carry, jax.device_put(X[:, k:k + length]),
                                 jax.device_put(Y[:, k:k + length]), float(lr), float(scale))
                f_parts.append(f)
                e_parts.append(e)
                k += length
            for out, new in zip((c, w, b, s, jw, jb), carry, strict=True):
                out[...] = np.asarray(new)
            if n:
                f_out[...] = np.concatenate([np.asarray(f) for f in f_parts], axis=1)
                e_out[...] = np.concatenate([np.asarray(e) for e in e_parts], axis=1)
        finite = np.isfinite(f_out) & np.isfinite(e_out)
        for q in np.flatnonzero(~finite.all(axis=1)):
            bad[q] = int(np.argmin(finite[q]))
        return 0


def jax_kernel(act: Activation, mode: str) -> JaxKernel:
    """The jax backend's chunk kernel for ``act`` (``mode`` is passed at each call as ``rtrl``).

    Parameters
    ----------
    act : Activation
        The network's activation.
    mode : {"rtrl", "truncated"}
        Gradient mode (validated here).

    Returns
    -------
    JaxKernel

    Raises
    ------
    ConfigError
        If JAX is not installed (naming the extra and the install command), or
        the activation has no JAX form here (a formula, or a name not in
        :data:`JAX_ACTIVATIONS`).
    """
    carries(mode)
    _import_jax()
    if act.name not in JAX_ACTIVATIONS:
        raise ConfigError(
            f"`backend` 'jax' supports the activations {', '.join(JAX_ACTIVATIONS)}; the "
            f"network's activation {act.expression!r} has no JAX form here: use "
            f"backend='numba' or 'numpy'.")
    return JaxKernel(act)
