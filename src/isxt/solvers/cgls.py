"""CGLS (CGNE): conjugate gradients on the normal equations ``AᵀA x = Aᵀy`` (Eq. 6).

The paper reconstructs everything with this method, stopping at the best
PSNR (see :class:`isxt.solvers.stopping.Oracle`).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._array import apply, array_module, combine, norm2, zeros_like
from ..errors import InputError
from ..operators import adjoint_into, forward_into
from ._loop import IterationLoop, as_float32, initial_volume, ones_like_data

__all__ = ["cgls", "sensitivity_preconditioner"]


def cgls(
    A, y, x0=None, iterations=50, nonneg=False, nonneg_every=1, stop=None, callback=None, progress=False,
    precondition=None,
):
    """Least-squares reconstruction ``min ‖A x − y‖²`` by CGLS.

    Parameters
    ----------
    A : Operator
        Anything with ``forward`` and ``adjoint`` (a projector, a
        :class:`~isxt.operators.StackedOperator`, a scaled or convolved one...).
    y : ndarray or list of ndarray
        The data: one array, or one array per block of a stacked operator.
    x0 : ndarray, optional
        Start volume (default zeros). Starting from zeros, the iterates stay in
        ``range(Aᵀ)``, so CGLS converges to the minimum-norm solution.
    iterations : int
        Maximum number of iterations.
    nonneg : bool
        Project ``x`` onto ``x ≥ 0`` every ``nonneg_every`` iterations, then
        restart the conjugate directions (the projection breaks conjugacy).
        The returned volume is always projected.
    nonneg_every : int
        Projection period in iterations.
    stop : stopping rule, optional
        An object with ``check(iteration, x, residual_norm)`` and ``result(x)``
        (see :mod:`isxt.solvers.stopping`).
    callback : callable, optional
        ``callback(iteration, x, residual_norm)`` after every iteration
        (1-based); returning True stops the iteration.
    progress : bool
        Show a tqdm progress bar with the residual norm.
    precondition : None, True, 'sensitivity' or ndarray
        Right (voxel) preconditioning: CGLS runs on ``A D`` and returns
        ``x = D z``. ``True`` / ``'sensitivity'`` uses
        ``D = (Aᵀ1)^(-1/2)``, the square root of SIRT's voxel weights ``C``
        (see :func:`sensitivity_preconditioner`); an array gives ``D``
        directly. It matters for stacked scans that see parts of the volume
        very unequally (an interior scan and a few full views): without it
        the first iterations refine the well-sampled ROI, and with noisy data
        the best iterate comes before the sparsely sampled rest (and the low
        frequencies it fixes) has converged. With it, the iterates minimise
        the same least-squares objective, reaching its well-determined parts
        at a more even pace.

    Returns
    -------
    x : ndarray, float32
        The last iterate, or the one the stopping rule picked.

    Notes
    -----
    The residual ``r = y − A x`` is updated recursively. In exact arithmetic
    ``‖r‖`` decreases monotonically; when rounding makes it rise, the method
    restarts: it recomputes ``r`` from ``x`` and resets the search direction
    to the gradient ``Aᵀr``. It also stops early when the gradient vanishes
    (``x`` solves the normal equations). ``residual_norm`` passed to ``stop``
    and ``callback`` is ``‖A x − y‖``.

    The residual, the search direction and the operator's outputs live in
    buffers reused from iteration to iteration (through ``out=`` where the
    operator takes it); every iterate ``x`` is a new array, so a callback may
    keep it.
    """
    if isinstance(nonneg_every, bool) or not isinstance(nonneg_every, numbers.Integral) or nonneg_every < 1:
        raise InputError(f"nonneg_every must be a positive integer, got {nonneg_every!r}")
    y = as_float32(y)
    x = initial_volume(A, y, x0)
    xp = array_module(x)
    d = _right_preconditioner(A, y, precondition)
    if d is not None:
        # iterate on z with x = D z (D > 0, so x ≥ 0 exactly when z ≥ 0)
        A = _ColumnScaled(A, d)
        x = (x / d).astype(np.float32)
    if nonneg:
        x = xp.maximum(x, 0)
    loop = IterationLoop(iterations, stop, callback, progress, desc="CGLS")
    volume = (lambda z: z) if d is None else (lambda z: (d * z).astype(np.float32, copy=False))

    # buffers updated in place: the direction p, A p and Aᵀ r (the residual r is made by combine)
    p, s, q = zeros_like(x), zeros_like(x), zeros_like(y)

    def restart(x):
        r = combine(y, -1.0, A.forward(x))
        adjoint_into(A, r, p)
        return r, norm2(r), norm2(p)

    r, rr, gamma = restart(x)
    for k in loop:
        if not gamma > 0:  # zero gradient: x already solves the normal equations
            break
        forward_into(A, p, q)
        qq = norm2(q)
        if not qq > 0:
            break
        alpha = gamma / qq
        x = combine(x, alpha, p)
        apply(lambda ri, qi: ri.__iadd__(qi.__imul__(-alpha)), r, q)  # r ← r − α q (q is spent)
        rr_new = norm2(r)
        project = nonneg and k % nonneg_every == 0
        if project:
            x = xp.maximum(x, 0)
        if project or rr_new > rr:
            r, rr_new, gamma = restart(x)
        else:
            adjoint_into(A, r, s)
            gamma_new = norm2(s)
            beta = gamma_new / gamma
            apply(lambda pi, si: pi.__imul__(beta).__iadd__(si), p, s)  # p ← s + β p
            gamma = gamma_new
        rr = rr_new
        if loop.report(k, volume(x), math.sqrt(rr)):
            break
    x = loop.result(volume(x))
    if nonneg:  # iterates between projections may have negative voxels
        x = xp.maximum(x, 0)
    return x.astype(np.float32, copy=False)


def sensitivity_preconditioner(A, like):
    """``D = (Aᵀ1)^(-1/2)`` per voxel: the right preconditioner of ``cgls(..., precondition=True)``.

    ``Aᵀ1`` (summed over the blocks of a stacked operator) is each voxel's
    sensitivity: the total weight of the rays through it. Voxels no ray
    reaches get ``D = 1`` (their gradient is zero anyway). ``like`` is the data
    (an array or a list of block arrays), for the array module and shapes.
    """
    xp = array_module(like)
    sensitivity = A.adjoint(ones_like_data(like))
    seen = sensitivity > 0
    return xp.where(seen, 1.0 / xp.sqrt(xp.where(seen, sensitivity, 1.0)), 1.0).astype(np.float32)


def _right_preconditioner(A, y, precondition):
    if precondition is None or precondition is False:
        return None
    if precondition is True or (isinstance(precondition, str) and precondition == "sensitivity"):
        return sensitivity_preconditioner(A, y)
    if isinstance(precondition, str):
        raise InputError(f"unknown precondition {precondition!r}; use True, 'sensitivity' or a volume of scales")
    xp = array_module(y)
    d = xp.asarray(precondition, dtype=np.float32)
    if tuple(d.shape) != tuple(A.domain_shape):
        raise InputError(f"precondition has shape {tuple(d.shape)}, the volume is {tuple(A.domain_shape)}")
    if not bool(xp.all(d > 0)):
        raise InputError("a preconditioner volume must be positive everywhere")
    return d


class _ColumnScaled:
    """``A D`` for a positive volume ``D`` (right preconditioning)."""

    def __init__(self, op, d):
        self.op, self.d = op, d
        self.domain_shape, self.range_shape = op.domain_shape, op.range_shape

    def forward(self, z, out=None):
        return forward_into(self.op, (self.d * z).astype(np.float32, copy=False), out)

    def adjoint(self, y, out=None):
        if out is None:
            return (self.d * self.op.adjoint(y)).astype(np.float32, copy=False)
        out = adjoint_into(self.op, y, out)
        out *= self.d
        return out
