"""One entry point for the Poisson equation of any built-in chain or diffusion.

:func:`solve_poisson` dispatches on the type of the chain (:ref:`theory §5 <theory-poisson>`):

=============================  =================================================
chain                          solver
=============================  =================================================
``FiniteChain`` or a matrix P  :func:`~limitsolver.poisson.solve_poisson_finite`
``LiftedChain``                :meth:`~limitsolver.poisson.LiftedChain.solve_poisson`
``GaussianAR1`` (``d = 1``)    :func:`~limitsolver.poisson.solve_poisson_ar1`
``CircleWalk``                 :func:`~limitsolver.poisson.solve_poisson_circle_walk`
``OrnsteinUhlenbeck``          :func:`~limitsolver.poisson.solve_poisson_ou`
``CircleBrownianMotion``       :func:`~limitsolver.poisson.solve_poisson_circle_bm`
=============================  =================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ..chains import CircleWalk, FiniteChain, GaussianAR1
from ..errors import ConfigError, DimensionError
from .diffusion import (
    CircleBrownianMotion,
    OrnsteinUhlenbeck,
    solve_poisson_circle_bm,
    solve_poisson_ou,
)
from .finite import solve_poisson_finite
from .lifted import LiftedChain
from .nystrom import solve_poisson_ar1, solve_poisson_circle_walk
from .solution import PoissonSolution

__all__ = ["solve_poisson", "SUPPORTED_CHAINS"]

#: names of the chain types :func:`solve_poisson` accepts
SUPPORTED_CHAINS = (
    "FiniteChain",
    "numpy.ndarray or scipy.sparse matrix (a stochastic matrix)",
    "LiftedChain",
    "GaussianAR1",
    "CircleWalk",
    "OrnsteinUhlenbeck",
    "CircleBrownianMotion",
)


def solve_poisson(
    chain: FiniteChain | np.ndarray | LiftedChain | GaussianAR1 | CircleWalk | OrnsteinUhlenbeck
    | CircleBrownianMotion,
    F: ArrayLike | Callable,
    **options: Any,
) -> PoissonSolution:
    """Solve the Poisson equation of `chain` for ``F`` (``π(F)`` is subtracted).

    Discrete time: ``V - P V = F - π(F)``; continuous time (diffusions):
    ``L V = -(F - π(F))``; both with ``π(V) = 0``.

    Parameters
    ----------
    chain : FiniteChain, ndarray, LiftedChain, GaussianAR1, CircleWalk, OrnsteinUhlenbeck \
or CircleBrownianMotion
        The chain (see the module table for the solver used).
    F : array_like or callable
        For finite chains: values per state, or a callable on the state array
        ``(n, d)``; for a lifted chain: values per word or a callable on the
        histories ``(n_words, L, d)``; for AR(1) and OU: a callable of ``x``
        ``(m,)``; for the circle walk and circle Brownian motion: a callable of the
        angle ``φ`` ``(m,)``.
    **options
        Passed to the solver (``n``, ``acc``, ``half_width`` ...).

    Returns
    -------
    PoissonSolution

    Raises
    ------
    ConfigError
        If the chain type is not supported, or an option is not understood.
    NotErgodicError
        If a finite chain is not ergodic (:meth:`FiniteChain.check_ergodic`).
    DimensionError
        For an AR(1) chain of dimension ``d > 1`` or a badly shaped ``F``.
    """
    try:
        if isinstance(chain, FiniteChain):
            chain.check_ergodic()
            # validated and checked once by the chain: no second pass over P
            return solve_poisson_finite(
                chain.P, F, pi=chain.stationary, states=chain.states, check=False, **options
            )
        if isinstance(chain, np.ndarray) or sp.issparse(chain):
            return solve_poisson_finite(chain, F, **options)
        if isinstance(chain, LiftedChain):
            return chain.solve_poisson(F, **options)
        if isinstance(chain, GaussianAR1):
            if chain.dim != 1:
                raise DimensionError(
                    f"The AR(1) Nyström solver needs `dim` = 1, got {chain.dim}; for "
                    "coordinate-wise F, solve each coordinate with a 1-d chain."
                )
            return solve_poisson_ar1(chain.a, F, **options)
        if isinstance(chain, CircleWalk):
            return solve_poisson_circle_walk(chain.kappa, F, **options)
        if isinstance(chain, OrnsteinUhlenbeck):
            return solve_poisson_ou(chain.theta, F, **options)
        if isinstance(chain, CircleBrownianMotion):
            return solve_poisson_circle_bm(chain.D, F, **options)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise ConfigError(f"Unknown option for {type(chain).__name__}: {exc}.") from None
        raise
    raise ConfigError(
        f"`chain` of type {type(chain).__name__} is not supported; use one of "
        f"{', '.join(SUPPORTED_CHAINS)}."
    )
