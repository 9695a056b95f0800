r"""Ergodic Markov chains that produce the data (:ref:`theory §1 <theory-data>`).

A chain :math:`X_0, X_1, \dots` on :math:`\mathcal X \subset \mathbb R^d` has a
transition kernel :math:`P(x, dx') = \mathbb P(X_{k+1} \in dx' \mid X_k = x)` and
an invariant (stationary) law :math:`\pi_X`, :math:`\pi_X P = \pi_X`. Paths are
arrays of shape ``(n_paths, n_steps, d)`` with index 0 the state :math:`X_0`.

Classes
-------
:class:`ChainProtocol`
    The protocol (``dim``, ``sample``, ``sample_stationary``) any user chain
    implements; :func:`check_chain` validates one, :func:`as_chain` also accepts a
    ``quantecon.MarkovChain``.
:class:`MarkovChain`
    ``MarkovChain(P, state_values)`` builds a :class:`FiniteChain`, as in QuantEcon.
:class:`FiniteChain`
    A stochastic matrix :math:`P \in \mathbb R^{n \times n}` and one vector of
    :math:`\mathbb R^d` per state: :math:`\mathbb P(X_{k+1} = y \mid X_k = x) = P_{xy}`.
:class:`GaussianAR1`
    :math:`X_{k+1} = a X_k + \sqrt{1-a^2}\,\xi_k`, :math:`\xi_k \sim N(0, I_d)`,
    :math:`|a| < 1`; :math:`\pi_X = N(0, I_d)`.
:class:`CircleWalk`
    :math:`\varphi_{k+1} = \varphi_k + \kappa\xi_k \pmod{2\pi}`,
    :math:`X_k = (\cos\varphi_k, \sin\varphi_k)`; :math:`\pi_X` uniform on the circle.

Definitions
-----------
* *Irreducible*: every state leads to every other, i.e. for all :math:`x, y`
  there is :math:`t \ge 0` with :math:`(P^t)_{xy} > 0` (for general kernels:
  :math:`\psi`-irreducibility).
* *Period* of an irreducible chain: :math:`\gcd\{t \ge 1 : (P^t)_{xx} > 0\}`;
  *aperiodic* if it is 1.
* *Stationary*: a probability :math:`\pi` with :math:`\pi P = \pi`; unique
  when the chain is irreducible (finite case).
* *Spectral gap* (absolute): :math:`1 - |\lambda_2|`, with :math:`|\lambda_2|`
  the largest modulus of the spectrum of :math:`P` off the eigenvalue 1 of the
  constants (for finite chains: the second largest eigenvalue modulus counted
  with multiplicity).
* *Mixing time*: :math:`t_{\rm mix}(\varepsilon) = \min\{t :
  \max_x \|P^t(x,\cdot) - \pi\|_{\rm TV} \le \varepsilon\}`, with
  :math:`\|\mu - \nu\|_{\rm TV} = \sup_A |\mu(A) - \nu(A)|`.
* *Ergodic* (as required by the package): irreducible, aperiodic and
  geometrically mixing, so that ergodic averages converge to :math:`\pi_X`-means.

Closed forms used in the tests: two-state chain
:math:`\pi = (q, p)/(p+q)`, eigenvalues :math:`1, 1-p-q`; AR(1)
autocovariance :math:`a^{|\ell|}` and gap :math:`1-|a|`; circle walk Fourier
multipliers :math:`e^{-\kappa^2 m^2/2}` and gap :math:`1 - e^{-\kappa^2/2}`.
"""

from .ar1 import GaussianAR1
from .base import ChainProtocol, check_chain
from .circle import CircleWalk
from .finite import FiniteChain
from .registry import CHAIN_CLASSES, MarkovChain, as_chain, chain_from_config

__all__ = ["ChainProtocol", "MarkovChain", "as_chain", "check_chain", "chain_from_config",
           "CHAIN_CLASSES", "FiniteChain", "GaussianAR1", "CircleWalk"]
