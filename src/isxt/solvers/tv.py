"""Total-variation regularised least squares with bounds, by the primal-dual method (Chambolle–Pock).

Solves ::

    min_x  ½‖A x − y‖² + λ TV(x)   subject to  lo ≤ x ≤ hi

for any operator with ``forward``/``adjoint`` (a stacked combined operator
with its PSF models; scan weights ``W`` enter as ``W^{1/2}`` folded into
``A`` and ``y``, as :func:`isxt.operators.stack` and
:meth:`~isxt.operators.StackedOperator.weigh` do). ``TV`` is the isotropic
(or anisotropic) 3D total variation of :class:`~isxt.solvers.gradient.Gradient`.
Convergence is monitored by the primal-dual gap.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._array import array_module, combine, like, norm2, vdot
from ..errors import InputError
from ._loop import IterationLoop, as_float32, initial_volume
from .gradient import GRADIENT_NORM_BOUND, Gradient, project_tv_ball, tv_norm

__all__ = ["tv_pdhg", "operator_norm", "check_bounds", "clip_to_bounds", "primal_objective"]


def operator_norm(A, like_data, iterations=20, seed=0):
    """``‖A‖`` (largest singular value) by power iteration on ``AᵀA``, on the array module of ``like_data``.

    Returns the estimate times 1.02: power iteration approaches the norm from
    below, and step sizes built on an underestimate can diverge.
    """
    rng = np.random.default_rng(seed)
    x = like(rng.standard_normal(tuple(A.domain_shape)).astype(np.float32), like_data)
    x /= np.float32(math.sqrt(norm2(x)))
    lam = 0.0
    for _ in range(int(iterations)):
        z = A.adjoint(A.forward(x))
        lam = math.sqrt(norm2(z))
        if lam == 0:
            return 0.0
        x = (z / np.float32(lam)).astype(np.float32)
    return 1.02 * math.sqrt(lam)


def check_bounds(bounds):
    """``(lo, hi)`` as floats or None; raises :class:`InputError` on anything else."""
    if bounds is None:
        return None, None
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise InputError(f"bounds must be a pair (lo, hi) with None for no bound, got {bounds!r}")
    out = []
    for name, b in zip(("lo", "hi"), bounds):
        if b is None:
            out.append(None)
            continue
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or not math.isfinite(b):
            raise InputError(f"bounds {name} must be a finite number or None, got {b!r}")
        out.append(float(b))
    if out[0] is not None and out[1] is not None and out[0] >= out[1]:
        raise InputError(f"bounds need lo < hi, got lo = {out[0]}, hi = {out[1]}")
    return tuple(out)


def clip_to_bounds(x, lo, hi):
    """``x`` clipped to ``[lo, hi]`` in place (None: no bound on that side)."""
    xp = array_module(x)
    if lo is not None:
        xp.maximum(x, np.float32(lo), out=x)
    if hi is not None:
        xp.minimum(x, np.float32(hi), out=x)
    return x


def primal_objective(residual, grad, tv_weight, isotropic=True):
    """``½‖r‖² + λ TV`` from the residual ``A x − y`` and the gradient ``∇x``."""
    return 0.5 * norm2(residual) + tv_weight * tv_norm(grad, isotropic)


def _box_support(v, lo, hi, x):
    """``sup_{lo ≤ z ≤ hi} <v, z>``; an open side is closed at a box around ``x`` (the restricted gap)."""
    xp = array_module(v)
    x_lo, x_hi = float(x.min()), float(x.max())
    reach = max(abs(x_lo), abs(x_hi), 1e-12)
    lo_b = lo if lo is not None else x_lo - reach
    hi_b = hi if hi is not None else x_hi + reach
    return float(xp.maximum(lo_b * v, hi_b * v).sum(dtype=np.float64))


def _dual_init(grad, tv_weight, isotropic):
    # q* lies in the subdifferential of λ|·| at ∇x*: start from the direction of ∇x0
    xp = array_module(grad)
    if isotropic:
        mag = xp.sqrt((grad**2).sum(axis=0))
        return (tv_weight * grad / xp.maximum(mag, 1e-12)[None]).astype(np.float32)
    return (tv_weight * xp.sign(grad)).astype(np.float32)


def tv_pdhg(
    A, y, tv_weight, bounds=(0.0, None), x0=None, iterations=200, tol=1e-5, isotropic=True, balance=0.1,
    operator_norm_estimate=None, stop=None, callback=None, progress=False, return_info=False,
):
    """TV-regularised least squares with bounds by Chambolle–Pock's primal-dual algorithm.

    Parameters
    ----------
    A : Operator
        ``forward``/``adjoint`` (one projector or a stacked operator, weights
        folded in).
    y : ndarray or list of ndarray
        Data (weighted like ``A``).
    tv_weight : float
        ``λ ≥ 0``.
    bounds : (lo, hi)
        Box constraint per voxel; None for an open side. Default ``x ≥ 0``.
    x0 : ndarray, optional
        Start volume (e.g. a few preconditioned CGLS iterations); projected
        onto the bounds. The dual start is the residual ``A x0 − y`` and the
        direction of ``∇x0``, where the solution's dual lies if ``x0`` is close.
    iterations : int
        Maximum number of iterations.
    tol : float
        Stop when the relative primal-dual gap (the gap over ``½‖y‖²``, the
        objective at ``x = 0``) is below it (0: never).
    isotropic : bool
        Isotropic TV (Euclidean norm of the 3D gradient per voxel) or
        anisotropic (sum of absolute differences).
    balance : float
        The data block's dual step ``σ_A`` (dimensionless: ``p`` moves by
        that fraction towards the residual per iteration); the primal step
        follows from convergence. The default 0.1 converged fastest over
        operators, units and weights tried (see docs/benchmarks.md).
    operator_norm_estimate : float, optional
        ``‖A‖``; by default estimated by :func:`operator_norm` (20 power
        iterations, i.e. 40 operator applications).
    stop, callback, progress
        As for :func:`isxt.solvers.cgls`; the residual norm is ``‖A x − y‖``.
        The progress bar shows the relative gap.
    return_info : bool
        Also return a dict: ``gap`` (relative gaps per iteration),
        ``primal``, ``dual``, ``step_primal``, ``step_dual``,
        ``operator_norm``, ``iterations``, ``converged``.

    Returns
    -------
    x : ndarray, float32
        The last iterate (or the stopping rule's choice); always within bounds.

    Notes
    -----
    The dual blocks have their own steps ``σ_A`` (data) and ``σ_∇`` (TV):
    with ``L = ‖A‖`` (power method) and ``‖∇‖² ≤ 12``, ``σ_∇ = σ_A L² / 12``
    and ``τ = 0.98 / (2 σ_A L²)``, which satisfies
    ``τ (σ_A L² + 12 σ_∇) < 1`` (Pock & Chambolle 2011): PDHG on
    ``[A; (L/√12) ∇]``, whose blocks have equal norms. The steps do not
    depend on the units of ``x`` or of ``A``. Each iteration costs one
    ``forward``, one ``adjoint`` and one gradient pair: ``A x̄`` is
    ``2 A x_k − A x_{k−1}`` from the ``A x_k`` that the gap needs anyway.

    The gap is ``P(x) − D(p, q)`` with ``P = ½‖Ax − y‖² + λ TV(x)`` and
    ``D = −½‖p‖² − <p, y> − sup_{lo≤z≤hi} <−Aᵀp − ∇ᵀq, z>``; it bounds
    ``P(x) − P(x*)`` from above. Where a bound is open the supremum is taken
    over a box reaching as far again as the current iterate (a restricted
    gap, Chambolle & Pock 2011, valid while the solution lies inside it).
    """
    lo, hi = check_bounds(bounds)
    if not (isinstance(tv_weight, numbers.Real) and math.isfinite(tv_weight) and tv_weight >= 0):
        raise InputError(f"tv_weight must be a finite non-negative number, got {tv_weight!r}")
    if not (math.isfinite(balance) and balance > 0):
        raise InputError(f"balance must be a positive number, got {balance!r}")
    tv_weight = float(tv_weight)
    y = as_float32(y)
    x = clip_to_bounds(initial_volume(A, y, x0), lo, hi)
    grad = Gradient(A.domain_shape)
    norm_a = operator_norm(A, y) if operator_norm_estimate is None else float(operator_norm_estimate)
    if not norm_a > 0:
        raise InputError("the operator is zero (no ray meets the volume); nothing to reconstruct")
    sigma_a = float(balance)
    sigma_g = sigma_a * norm_a**2 / GRADIENT_NORM_BOUND
    tau = 0.98 / (2.0 * sigma_a * norm_a**2)
    scale = max(0.5 * norm2(y), 1e-30)  # the objective at x = 0: makes the gap relative

    ax, gx = A.forward(x), grad.forward(x)
    ax_old, gx_old = ax, gx
    p = combine(ax, -1.0, y)
    q = _dual_init(gx, tv_weight, isotropic)
    loop = IterationLoop(iterations, stop, callback, progress, desc="TV (PDHG)")
    gaps, primals, duals = [], [], []
    converged = False
    for k in loop:
        # dual step on x̄ = 2 x_k − x_{k−1}, using A x̄ = 2 A x_k − A x_{k−1}
        p = _dual_data_step(p, ax, ax_old, y, sigma_a)
        q = project_tv_ball((q + sigma_g * (2 * gx - gx_old)).astype(np.float32), tv_weight, isotropic)
        ktq = A.adjoint(p) + grad.adjoint(q)
        x = clip_to_bounds((x - np.float32(tau) * ktq).astype(np.float32), lo, hi)
        ax_old, gx_old = ax, gx
        ax, gx = A.forward(x), grad.forward(x)
        residual = combine(ax, -1.0, y)
        primal = primal_objective(residual, gx, tv_weight, isotropic)
        dual = -0.5 * norm2(p) - vdot(p, y) - _box_support(-ktq, lo, hi, x)
        rel_gap = (primal - dual) / scale
        gaps.append(rel_gap)
        primals.append(primal)
        duals.append(dual)
        done = loop.report(k, x, math.sqrt(norm2(residual)), gap=rel_gap)
        if tol > 0 and rel_gap <= tol:
            converged = True
            break
        if done:
            break
    x = clip_to_bounds(loop.result(x).astype(np.float32, copy=False), lo, hi)
    if not return_info:
        return x
    info = {
        "gap": gaps, "primal": primals, "dual": duals, "step_primal": tau, "step_dual": (sigma_a, sigma_g),
        "operator_norm": norm_a, "iterations": len(gaps), "converged": converged, "tv_weight": tv_weight,
    }
    return x, info


def _dual_data_step(p, ax, ax_old, y, sigma):
    """``p ← (p + σ (A x̄ − y)) / (1 + σ)``: the prox of ``σ f*`` for ``f = ½‖· − y‖²``."""
    s = np.float32(sigma)
    scale = np.float32(1.0 / (1.0 + sigma))

    def step(pi, a, a_old, yi):
        return ((pi + s * (2 * a - a_old - yi)) * scale).astype(np.float32)

    if isinstance(p, (list, tuple)):
        return [step(*parts) for parts in zip(p, ax, ax_old, y)]
    return step(p, ax, ax_old, y)
