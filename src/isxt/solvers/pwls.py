"""Weighted least squares ``min Σ_i w_i (A x − y)_i²`` and Poisson weights."""

from __future__ import annotations

import numbers

import numpy as np

from .._array import array_module
from ..errors import InputError
from .cgls import cgls

__all__ = ["pwls", "poisson_weights"]


def pwls(
    A, y, weights, x0=None, iterations=50, nonneg=False, stop=None, callback=None, progress=False, precondition=None
):
    """Weighted least-squares reconstruction by CGLS on ``√W A x = √W y``.

    Parameters
    ----------
    A : Operator or StackedOperator
    y : ndarray or list of ndarray
        Data, one array per block.
    weights : scalar, ndarray, or list
        Weight per measurement, e.g. the inverse noise variance from
        :func:`poisson_weights`. For a stacked operator: a list with one entry
        (array, scalar or None = 1) per block, or one scalar for all blocks.
    x0, iterations, nonneg, stop, callback, progress, precondition
        As for :func:`isxt.solvers.cgls` (the sensitivity preconditioner is
        that of the weighted operator). The residual norm passed to ``stop``
        and ``callback`` is the weighted one, ``‖√W (A x − y)‖``.

    Returns
    -------
    x : ndarray, float32
    """
    from ..operators import scale, stack

    ops = getattr(A, "operators", None)
    if ops is None:
        if isinstance(weights, (list, tuple)):
            raise InputError("weights is a list but the operator is not stacked; pass one array or scalar")
        sqrt_w = _sqrt_weights(weights, "weights")
        return cgls(
            scale(A, sqrt_w), _times(y, sqrt_w), x0=x0, iterations=iterations, nonneg=nonneg,
            stop=stop, callback=callback, progress=progress, precondition=precondition,
        )
    if not isinstance(weights, (list, tuple)):
        if not _is_scalar(weights):
            raise InputError("for a stacked operator pass weights as a list with one entry per block")
        weights = [weights] * len(ops)
    if len(weights) != len(ops):
        raise InputError(f"got {len(weights)} weight blocks for a stack of {len(ops)} operators")
    if not isinstance(y, (list, tuple)) or len(y) != len(ops):
        raise InputError(f"a stack of {len(ops)} operators needs a list of {len(ops)} data arrays")
    sqrt_w = [None if w is None else _sqrt_weights(w, f"weights[{i}]") for i, w in enumerate(weights)]
    weighted = stack([op if s is None else scale(op, s) for op, s in zip(ops, sqrt_w)])
    data = [yi if s is None else _times(yi, s) for yi, s in zip(y, sqrt_w)]
    return cgls(
        weighted, data, x0=x0, iterations=iterations, nonneg=nonneg, stop=stop, callback=callback, progress=progress,
        precondition=precondition,
    )


def poisson_weights(y, photons):
    """Inverse variance of absorption data under Poisson noise: ``photons · exp(−y)``.

    For ``y = −ln(I/I0)`` with ``I ~ Poisson(I0 e^{−y})`` the variance of ``y``
    is ``1/(I0 e^{−y})`` to first order, so the weight is the expected count.

    Parameters
    ----------
    y : ndarray or list of ndarray
        Absorption data (per block for a stack).
    photons : float, ndarray, or list
        Incident photons per detector pixel ``I0`` (scalar or broadcastable
        array; a list gives one value per block).

    Returns
    -------
    ndarray or list of ndarray, float32
    """
    if isinstance(y, (list, tuple)):
        if isinstance(photons, (list, tuple)):
            if len(photons) != len(y):
                raise InputError(f"got {len(photons)} photon counts for {len(y)} data blocks")
            return [poisson_weights(yi, pi) for yi, pi in zip(y, photons)]
        return [poisson_weights(yi, photons) for yi in y]
    xp = array_module(y)
    photons = xp.asarray(photons, dtype=np.float32)
    if xp is np and (not np.all(np.isfinite(photons)) or np.any(photons <= 0)):
        raise InputError("photons (incident photons per pixel) must be positive and finite")
    return (photons * xp.exp(-xp.asarray(y, dtype=np.float32))).astype(np.float32)


def _is_scalar(w):
    return isinstance(w, numbers.Real) or (np.ndim(w) == 0 and not isinstance(w, (list, tuple)))


def _sqrt_weights(w, what):
    if _is_scalar(w):
        w = float(w)
        if not (np.isfinite(w) and w >= 0):
            raise InputError(f"{what} must be finite and non-negative, got {w!r}")
        return np.float32(np.sqrt(w))
    xp = array_module(w)
    w = xp.asarray(w, dtype=np.float32)
    if xp is np and (not np.all(np.isfinite(w)) or np.any(w < 0)):
        raise InputError(f"{what} must be finite and non-negative (inverse variances)")
    return xp.sqrt(w)


def _times(y, s):
    return (array_module(y).asarray(y, dtype=np.float32) * s).astype(np.float32)
