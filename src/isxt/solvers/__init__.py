"""Iterative reconstruction: CGLS (the paper's CGNE), SIRT, MLEM/OSEM, weighted LS, TV (PDHG).

All solvers use only ``A.forward`` / ``A.adjoint`` and array arithmetic, so
they work for one projector (data: one array), for a
:class:`~isxt.operators.StackedOperator` (data: a list of arrays, Eq. 7) and
for device (cupy) arrays. Each takes ``iterations`` (the maximum), an optional
stopping rule (:mod:`isxt.solvers.stopping`), a ``callback(iteration, x,
residual_norm)`` that stops on True, and ``progress`` for a tqdm bar.
"""

from .cgls import cgls, sensitivity_preconditioner
from .em import make_subsets, mlem, osem
from .pwls import poisson_weights, pwls
from .sirt import sirt
from .stopping import Discrepancy, FixedIterations, Oracle, poisson_variance
from .gradient import Gradient
from .tv import check_bounds, operator_norm, tv_pdhg
from .tv_weight import discrepancy_tv_weight, lcurve_tv_weight

__all__ = [
    "cgls",
    "sensitivity_preconditioner",
    "sirt",
    "mlem",
    "osem",
    "make_subsets",
    "pwls",
    "poisson_weights",
    "FixedIterations",
    "Oracle",
    "Discrepancy",
    "poisson_variance",
    "Gradient",
    "tv_pdhg",
    "operator_norm",
    "check_bounds",
    "discrepancy_tv_weight",
    "lcurve_tv_weight",
]
