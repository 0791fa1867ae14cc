"""A second, independent TV solver: FISTA with the TV-plus-bounds prox computed on its dual (FGP).

Solves the same problem as :func:`~isxt.solvers.tv.tv_pdhg`,
``min ½‖A x − y‖² + λ TV(x)`` s.t. ``lo ≤ x ≤ hi``, by a different method
(Beck & Teboulle 2009: accelerated proximal gradient on the data term, each
prox ``min ½‖x − z‖² + μ TV(x)`` over the box by their fast gradient
projection on its dual). It serves as the peer for tests and benchmarks
where ODL is not installed; it is slower per iteration (an inner loop of
gradient pairs), not meant for production.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ._loop import as_float32, initial_volume
from .gradient import GRADIENT_NORM_BOUND, Gradient, project_tv_ball
from .tv import check_bounds, clip_to_bounds, operator_norm

__all__ = ["tv_fista", "tv_prox"]


def tv_prox(z, mu, bounds=(None, None), isotropic=True, iterations=50, q0=None):
    """``argmin_x ½‖x − z‖² + μ TV(x)`` over the box, by FGP on the dual; returns ``(x, q)``.

    ``q`` (``|q| ≤ 1`` per voxel) is the dual solution, to warm-start the next call.
    """
    lo, hi = check_bounds(bounds)
    grad = Gradient(z.shape)
    q = grad.forward(np.zeros_like(z)) if q0 is None else q0.copy()
    if mu <= 0:
        return clip_to_bounds(z.astype(np.float32, copy=True), lo, hi), q
    r, t = q.copy(), 1.0
    step = np.float32(1.0 / (GRADIENT_NORM_BOUND * mu))
    for _ in range(int(iterations)):
        x = clip_to_bounds((z - np.float32(mu) * grad.adjoint(r)).astype(np.float32), lo, hi)
        q_new = project_tv_ball((r + step * grad.forward(x)).astype(np.float32), 1.0, isotropic)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        r = (q_new + np.float32((t - 1) / t_new) * (q_new - q)).astype(np.float32)
        q, t = q_new, t_new
    x = clip_to_bounds((z - np.float32(mu) * grad.adjoint(q)).astype(np.float32), lo, hi)
    return x, q


def tv_fista(A, y, tv_weight, bounds=(0.0, None), x0=None, iterations=200, inner_iterations=30, isotropic=True):
    """TV-regularised least squares with bounds by FISTA (see the module docstring); returns the volume."""
    if not (math.isfinite(tv_weight) and tv_weight >= 0):
        raise InputError(f"tv_weight must be a finite non-negative number, got {tv_weight!r}")
    lo, hi = check_bounds(bounds)
    y = as_float32(y)
    x = clip_to_bounds(initial_volume(A, y, x0), lo, hi)
    lipschitz = operator_norm(A, y) ** 2
    mu = tv_weight / lipschitz
    v, t, q = x.copy(), 1.0, None
    for _ in range(int(iterations)):
        r = A.forward(v)
        r = [a - b for a, b in zip(r, y)] if isinstance(r, list) else r - y
        z = (v - np.float32(1.0 / lipschitz) * A.adjoint(r)).astype(np.float32)
        x_new, q = tv_prox(z, mu, (lo, hi), isotropic, inner_iterations, q)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        v = (x_new + np.float32((t - 1) / t_new) * (x_new - x)).astype(np.float32)
        x, t = x_new, t_new
    return x
