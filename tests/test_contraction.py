"""The contraction constant of the memory recursion, computed in one place."""

import numpy as np
import pytest

from limitsolver.activations import activation
from limitsolver.contraction import contraction_factor
from limitsolver.limit.hidden_layer import truncation_bound
from limitsolver.prior import Prior
from limitsolver.targets import TeacherRNN


@pytest.mark.parametrize("act, sup_dsigma", [("tanh", 1.0), ("sigmoid", 0.25)])
def test_known_suprema_of_the_derivative(act, sup_dsigma):
    # tanh' = 1 - tanh^2 <= 1 at 0; sigmoid' = s (1 - s) <= 1/4 at 0
    assert contraction_factor(0.5, act) == pytest.approx(0.5 * sup_dsigma, rel=1e-12)


def test_every_user_of_gamma_agrees():
    act = activation("tanh")
    g = contraction_factor(0.4, act)
    assert Prior(b_max=0.4).contraction_factor(act) == g
    teacher = TeacherRNN(c=np.array([1.0, -1.0]), w=np.ones((2, 1)), b=np.array([0.4, -0.1]),
                         activation="tanh")
    assert teacher.gamma == g
    assert truncation_bound(act, 0.4, 3) == pytest.approx(g**2 * act.sup_sigma, rel=1e-15)
