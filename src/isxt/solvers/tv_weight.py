"""Choosing the TV weight λ: the discrepancy principle with known noise, an L-curve corner without.

Both rules solve the TV problem (:func:`~isxt.solvers.tv.tv_pdhg`) for a few
λ, each solve warm-started from the previous solution, and return the chosen
λ with its solution.

*Scale.* λ is searched around ``λ₀ = rms(Aᵀn)``, the size per voxel of the
data-term gradient that noise ``n`` alone produces (one draw of the known
noise; without a noise level, the residual of the start volume instead). At
the optimum ``Aᵀ(Ax − y) = −λ ∇ᵀq`` with ``|q| ≤ 1``, so λ of that order is
where TV starts to outweigh the noise.

*Discrepancy principle* (noise variance known, e.g. Poisson counts): the
weighted residual norm grows with λ; λ is the one where
``‖A x_λ − y‖² = τ · Σ σ²`` (Morozov), found by stepping λ by factors of 4
until the target is bracketed, then bisecting ``log λ`` and interpolating.

*L-curve* (no noise level): 7 weights ``λ₀ · 4^k``, ``k = −3 … 3``; each
solution gives a point ``(log ‖A x − y‖, log TV(x))``. λ is the point of the
largest Menger curvature (the circle through it and its two neighbours) on
the convex side: the corner between the flat part where λ only smooths noise
and the steep part where it starts to erase structure (Hansen's L-curve).
"""

from __future__ import annotations

import math

import numpy as np

from .._array import apply, array_module, like, norm2
from ..errors import InputError
from .gradient import Gradient, tv_norm
from .tv import tv_pdhg

__all__ = ["noise_scale", "discrepancy_tv_weight", "lcurve_tv_weight", "menger_curvature"]


def noise_scale(A, noise_variance, like_data, seed=0):
    """``rms(Aᵀn)`` over the voxels for one Gaussian draw ``n`` of the given per-measurement variance."""
    rng = np.random.default_rng(seed)

    def draw(v):
        v = np.asarray(v.get() if hasattr(v, "get") else v, dtype=np.float64)
        return (rng.standard_normal(v.shape) * np.sqrt(np.maximum(v, 0))).astype(np.float32)

    n = like(apply(draw, noise_variance), like_data)
    g = A.adjoint(n)
    return math.sqrt(norm2(g) / g.size)


def _solve(A, y, lam, x, iterations, kwargs):
    x, info = tv_pdhg(A, y, lam, x0=x, iterations=iterations, return_info=True, **kwargs)
    r = apply(lambda a, b: a - b, A.forward(x), y)
    return x, norm2(r), info


def discrepancy_tv_weight(A, y, noise_variance, x0=None, iterations=100, tau=1.0, max_solves=10, seed=0,
                          progress=False, **kwargs):
    """λ by the discrepancy principle; returns ``(λ, x, info)``.

    Parameters
    ----------
    A, y
        Operator and data as for :func:`~isxt.solvers.tv.tv_pdhg` (weighted).
    noise_variance : ndarray or list of ndarray
        Variance of every (weighted) measurement, e.g. ``w · σ²``.
    x0 : ndarray, optional
        Start of the first solve (e.g. a few preconditioned CGLS iterations).
    iterations : int
        PDHG iterations per solve.
    tau : float
        Discrepancy safety factor: target ``‖r‖² = tau · Σ σ²``.
    max_solves : int
        Upper limit on TV solves.
    **kwargs
        Passed to :func:`~isxt.solvers.tv.tv_pdhg` (``bounds``, ``isotropic``, ``tol``...).

    Returns
    -------
    lam : float
    x : ndarray
        The solution for ``lam`` (the last solve).
    info : dict
        ``rule``, ``target`` (``tau · Σ σ²``), ``trials`` (list of ``(λ, ‖r‖²)``),
        ``lambda0``, ``bracketed`` (False: the target was not reached, λ is the
        nearest end tried).
    """
    variance_total = sum(float(v.sum(dtype=np.float64)) for v in (noise_variance if isinstance(
        noise_variance, (list, tuple)) else [noise_variance]))
    if not (math.isfinite(variance_total) and variance_total > 0):
        raise InputError(f"the discrepancy rule needs a positive total noise variance, got {variance_total}")
    target = tau * variance_total
    lam0 = noise_scale(A, noise_variance, y, seed=seed)
    trials = []
    x = x0

    def run(lam, x):
        x, rr, _ = _solve(A, y, lam, x, iterations, kwargs)
        trials.append((lam, rr))
        if progress:
            print(f"  TV weight {lam:.4g}: residual²/target = {rr / target:.3f}")
        return x, rr

    lam = lam0
    x, rr = run(lam, x)
    solutions = {lam: x}
    step = 4.0 if rr < target else 0.25
    lo = hi = None  # lo: residual below target; hi: above
    if rr < target:
        lo = (lam, rr)
    else:
        hi = (lam, rr)
    while (lo is None or hi is None) and len(trials) < max_solves:
        lam *= step
        x, rr = run(lam, x)
        solutions[lam] = x
        if rr < target:
            lo = (lam, rr)
        else:
            hi = (lam, rr)
    bracketed = lo is not None and hi is not None
    while bracketed and len(trials) < max_solves - 1 and hi[0] / lo[0] > 1.5:
        lam = math.sqrt(lo[0] * hi[0])
        x, rr = run(lam, solutions[lo[0]])
        solutions[lam] = x
        if rr < target:
            lo = (lam, rr)
        else:
            hi = (lam, rr)
    if bracketed:
        # interpolate log λ linearly in the residual between the bracket, then solve there
        t = (target - lo[1]) / max(hi[1] - lo[1], 1e-300)
        lam = math.exp(math.log(lo[0]) + min(max(t, 0.0), 1.0) * (math.log(hi[0]) - math.log(lo[0])))
        x, rr = run(lam, solutions[lo[0]])
    else:
        lam = (lo or hi)[0]
        x = solutions[lam]
    info = {"rule": "discrepancy", "target": target, "trials": trials, "lambda0": lam0, "bracketed": bracketed}
    return lam, x, info


def menger_curvature(points):
    """Signed curvature of the circle through each interior point and its two neighbours.

    ``points``: sequence of ``(u, v)``; returns one value per interior point
    (``len(points) − 2``), positive where the curve turns left (counter-clockwise).
    """
    out = []
    for (x1, y1), (x2, y2), (x3, y3) in zip(points[:-2], points[1:-1], points[2:]):
        cross = (x2 - x1) * (y3 - y1) - (y2 - y1) * (x3 - x1)
        d = math.dist((x1, y1), (x2, y2)) * math.dist((x2, y2), (x3, y3)) * math.dist((x1, y1), (x3, y3))
        out.append(2.0 * cross / d if d > 0 else 0.0)
    return out


def lcurve_tv_weight(A, y, x0=None, iterations=100, n_points=7, factor=4.0, progress=False, **kwargs):
    """λ at the corner of the L-curve ``(log ‖A x_λ − y‖, log TV(x_λ))``; returns ``(λ, x, info)``.

    The weights are ``λ₀ · factor^k`` for ``n_points`` values of ``k``
    centred on 0, ``λ₀ = rms(Aᵀ(A x0 − y))``; solved from the largest down,
    each warm-started from the previous solution. ``info`` has ``rule``,
    ``trials`` (``(λ, ‖r‖², TV)`` each), ``curvature`` and ``lambda0``.
    """
    if n_points < 3:
        raise InputError(f"the L-curve needs at least 3 points, got n_points={n_points}")
    isotropic = kwargs.get("isotropic", True)
    start = x0 if x0 is not None else array_module(y if not isinstance(y, list) else y[0]).zeros(
        tuple(A.domain_shape), dtype=np.float32)
    g = A.adjoint(apply(lambda a, b: a - b, A.forward(start), y))
    lam0 = math.sqrt(norm2(g) / g.size)
    if not lam0 > 0:
        raise InputError("the start volume fits the data exactly; there is no L-curve to choose λ from")
    ks = np.arange(n_points) - (n_points - 1) / 2
    lams = [lam0 * factor**k for k in ks[::-1]]
    grad = Gradient(A.domain_shape)
    trials, solutions = [], []
    x = x0
    for lam in lams:
        x, rr, _ = _solve(A, y, lam, x, iterations, kwargs)
        tv = tv_norm(grad.forward(x), isotropic)
        trials.append((lam, rr, tv))
        solutions.append(x)
        if progress:
            print(f"  TV weight {lam:.4g}: residual² {rr:.4g}, TV {tv:.4g}")
    pts = [(0.5 * math.log(max(rr, 1e-300)), math.log(max(tv, 1e-300))) for _, rr, tv in trials]
    # traversed from large λ (large residual, small TV) to small λ: the L's corner turns clockwise
    curv = [-c for c in menger_curvature(pts)]
    best = 1 + int(np.argmax(curv))
    info = {"rule": "lcurve", "trials": trials, "curvature": curv, "lambda0": lam0}
    return lams[best], solutions[best], info
