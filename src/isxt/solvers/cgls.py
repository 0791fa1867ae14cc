"""CGLS (CGNE): conjugate gradients on the normal equations ``AᵀA x = Aᵀy`` (Eq. 6).

The paper reconstructs everything with this method, stopping at the best
PSNR (see :class:`isxt.solvers.stopping.Oracle`).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._array import array_module, combine, norm2
from ..errors import InputError
from ._loop import IterationLoop, as_float32, initial_volume

__all__ = ["cgls"]


def cgls(A, y, x0=None, iterations=50, nonneg=False, nonneg_every=1, stop=None, callback=None, progress=False):
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
    """
    if isinstance(nonneg_every, bool) or not isinstance(nonneg_every, numbers.Integral) or nonneg_every < 1:
        raise InputError(f"nonneg_every must be a positive integer, got {nonneg_every!r}")
    y = as_float32(y)
    x = initial_volume(A, y, x0)
    xp = array_module(x)
    if nonneg:
        x = xp.maximum(x, 0)
    loop = IterationLoop(iterations, stop, callback, progress, desc="CGLS")

    def restart(x):
        r = combine(y, -1.0, A.forward(x))
        s = A.adjoint(r)
        return r, norm2(r), s, norm2(s)

    r, rr, p, gamma = restart(x)
    for k in loop:
        if not gamma > 0:  # zero gradient: x already solves the normal equations
            break
        q = A.forward(p)
        qq = norm2(q)
        if not qq > 0:
            break
        alpha = gamma / qq
        x = combine(x, alpha, p)
        r = combine(r, -alpha, q)
        rr_new = norm2(r)
        project = nonneg and k % nonneg_every == 0
        if project:
            x = xp.maximum(x, 0)
        if project or rr_new > rr:
            r, rr_new, p, gamma = restart(x)
        else:
            s = A.adjoint(r)
            gamma_new = norm2(s)
            p = combine(s, gamma_new / gamma, p)
            gamma = gamma_new
        rr = rr_new
        if loop.report(k, x, math.sqrt(rr)):
            break
    x = loop.result(x)
    if nonneg:  # iterates between projections may have negative voxels
        x = xp.maximum(x, 0)
    return x.astype(np.float32, copy=False)
