r"""The contraction constant of the memory recursion (:ref:`theory §2 <theory-network>`).

The memory :math:`s_{k+1} = \sigma(w\cdot X_k + b\,s_k)` is a contraction in
:math:`s`, uniformly over units with :math:`|b| \le b_{\max}`, when

.. math:: \gamma = b_{\max}\,\sup_u|\sigma'(u)| < 1;

then the memory forgets its start geometrically,
:math:`|S_L - S_\infty| \le \gamma^{L-1}\sup|\sigma|`. The prior, the teacher RNN
and the limit's truncation bound all take :math:`\gamma` from here.
"""

from __future__ import annotations

from .activations import Activation, activation

__all__ = ["contraction_factor"]


def contraction_factor(b_max: float, act: Activation | str) -> float:
    r"""The contraction constant :math:`\gamma = b_{\max}\sup_u|\sigma'(u)|`.

    Parameters
    ----------
    b_max : float
        Bound :math:`b_{\max} \ge 0` on the memory weights :math:`|b|`.
    act : Activation or str
        The activation :math:`\sigma` (anything :func:`~limitsolver.activations.activation`
        accepts).

    Returns
    -------
    float
        :math:`\gamma`; the memory recursion contracts when :math:`\gamma < 1`.
    """
    return float(b_max * activation(act).sup_dsigma)
