"""Expectation maximisation for Poisson-distributed data: MLEM and OSEM.

``x ← x / Aᵀ1 · Aᵀ(y / A x)``. The update is multiplicative, so a positive
start stays non-negative.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._array import apply, array_module, norm2
from ..errors import InputError
from ._loop import IterationLoop, as_float32, ones_like_data, safe_divide, safe_reciprocal, total

__all__ = ["mlem", "osem", "make_subsets"]


def _em_data(y):
    # EM models counts-like non-negative data; negative noise samples would flip the update's sign.
    return apply(lambda a: array_module(a).maximum(a, 0), as_float32(y))


def _volume_shape(A, x0):
    shape = getattr(A, "domain_shape", None)
    if shape is None:
        if x0 is None:
            raise InputError("the operator has no domain_shape; pass a start volume x0")
        shape = x0.shape
    return tuple(shape)


def _em_start(ops_and_data, x0, shape):
    """``x0`` clipped to ≥ 0, or the constant ``c`` with ``Σ A(c·1) = Σ y``."""
    if x0 is not None:
        xp = array_module(x0)
        x = xp.maximum(xp.asarray(x0, dtype=np.float32), 0).astype(np.float32)
        if tuple(x.shape) != tuple(shape):
            raise InputError(f"x0 has shape {tuple(x.shape)} but the operator's volume is {tuple(shape)}")
        return x
    xp = array_module(ops_and_data[0][1])
    ones = xp.ones(shape, dtype=np.float32)
    data_sum = sum(total(y) for _, y in ops_and_data)
    model_sum = sum(total(op.forward(ones)) for op, _ in ops_and_data)
    c = data_sum / model_sum if model_sum > 0 else 0.0
    if not (np.isfinite(c) and c > 0):
        c = 1.0  # no signal to scale to: any positive start works
    return ones * np.float32(c)


def mlem(A, y, x0=None, iterations=50, stop=None, callback=None, progress=False):
    """Maximum-likelihood EM reconstruction (Shepp–Vardi).

    Parameters
    ----------
    A : Operator
        Single or stacked operator with non-negative entries (a projector).
    y : ndarray or list of ndarray
        Data; negative values are clipped to 0.
    x0 : ndarray, optional
        Non-negative start (clipped to ≥ 0). Default: the constant volume whose
        projections have the same total as ``y``.
    iterations : int
        Maximum number of iterations.
    stop, callback, progress
        As for :func:`isxt.solvers.cgls`; the residual norm is ``‖A x − y‖``
        of the current iterate against the clipped data.

    Returns
    -------
    x : ndarray, float32, non-negative.

    Notes
    -----
    Voxels with ``Aᵀ1 = 0`` and rays with ``A x = 0`` are left out of the
    update instead of dividing by zero. Each iteration increases the Poisson
    log-likelihood ``Σ y log(A x) − A x``.
    """
    y = _em_data(y)
    shape = _volume_shape(A, x0)
    x = _em_start([(A, y)], x0, shape)
    inv_sensitivity = safe_reciprocal(A.adjoint(ones_like_data(y)))
    loop = IterationLoop(iterations, stop, callback, progress, desc="MLEM")
    ax = A.forward(x)
    for k in loop:
        x = (x * inv_sensitivity * A.adjoint(apply(safe_divide, y, ax))).astype(np.float32, copy=False)
        ax = A.forward(x)
        residual = math.sqrt(norm2(apply(lambda a, b: a - b, ax, y)))
        if loop.report(k, x, residual):
            break
    return loop.result(x)


def osem(subsets, x0=None, iterations=10, stop=None, callback=None, progress=False):
    """Ordered-subsets EM: one MLEM update per subset of the data.

    Parameters
    ----------
    subsets : list of (Operator, data)
        ``(A_s, y_s)`` pairs, e.g. from :func:`make_subsets`.
    x0 : ndarray, optional
        As for :func:`mlem` (the default start uses all subsets).
    iterations : int
        Maximum number of full passes over all subsets.
    stop, callback, progress
        As for :func:`isxt.solvers.cgls`, called once per pass.

    Returns
    -------
    x : ndarray, float32, non-negative.

    Notes
    -----
    The residual norm reported after a pass is ``√Σ_s ‖A_s x − y_s‖²`` with
    each subset's term taken when that subset was visited (before its update),
    which costs no extra projection; it lags the returned volume slightly.
    With one subset OSEM is exactly :func:`mlem`.
    """
    subsets = [(A_s, _em_data(y_s)) for A_s, y_s in subsets]
    if not subsets:
        raise InputError("osem() needs at least one (operator, data) subset; see make_subsets()")
    shape = _volume_shape(subsets[0][0], x0)
    x = _em_start(subsets, x0, shape)
    inv_sensitivities = [safe_reciprocal(A_s.adjoint(ones_like_data(y_s))) for A_s, y_s in subsets]
    loop = IterationLoop(iterations, stop, callback, progress, desc="OSEM")
    for k in loop:
        rr = 0.0
        for (A_s, y_s), inv_s in zip(subsets, inv_sensitivities):
            ax = A_s.forward(x)
            rr += norm2(apply(lambda a, b: a - b, ax, y_s))
            x = (x * inv_s * A_s.adjoint(apply(safe_divide, y_s, ax))).astype(np.float32, copy=False)
        if loop.report(k, x, math.sqrt(rr)):
            break
    return loop.result(x)


def make_subsets(A, y, n_subsets):
    """Split a projector, or a stack of projectors, into interleaved view subsets.

    Subset ``s`` holds views ``s, s + n, s + 2n, ...`` (``n = n_subsets``) of
    every block, so each subset spans the whole angular range.

    Parameters
    ----------
    A : Projector or StackedOperator
        Something with ``.subset(view_indices)``, or a stack of such blocks.
        Blocks made by ``stack(..., weights=...)`` (scaled projectors) are
        split too, with their weights.
    y : ndarray or list of ndarray
        The data, ``(n_angles, rows, cols)`` per block.
    n_subsets : int
        Number of subsets.

    Returns
    -------
    list of (Operator, data)
        Subsets with no views in any block are dropped.
    """
    from ..operators import StackedOperator

    if isinstance(n_subsets, bool) or not isinstance(n_subsets, numbers.Integral) or n_subsets < 1:
        raise InputError(f"n_subsets must be a positive integer, got {n_subsets!r}")
    ops = getattr(A, "operators", None)
    if ops is None:
        if isinstance(y, (list, tuple)):
            raise InputError("got a list of data blocks for a single projector; pass one array")
        return [
            (_subset_block(A, idx), y[idx])
            for idx in (np.arange(s, y.shape[0], n_subsets) for s in range(n_subsets))
            if idx.size
        ]
    if not isinstance(y, (list, tuple)) or len(y) != len(ops):
        raise InputError(f"a stack of {len(ops)} projectors needs a list of {len(ops)} data arrays")
    out = []
    for s in range(n_subsets):
        parts = [(op, yb, np.arange(s, yb.shape[0], n_subsets)) for op, yb in zip(ops, y)]
        parts = [(_subset_block(op, idx), yb[idx]) for op, yb, idx in parts if idx.size]
        if parts:
            out.append((StackedOperator([p for p, _ in parts]), [d for _, d in parts]))
    return out


def _subset_block(op, idx):
    try:
        return op.subset(idx)
    except AttributeError as exc:
        # Only a missing .subset (on op or an operator it wraps) means "cannot
        # split"; any other AttributeError inside a subset() is a bug to surface.
        if exc.name != "subset":
            raise
        raise InputError(
            f"cannot split {type(op).__name__} into view subsets: {type(exc.obj).__name__} has no .subset(); "
            "build subsets of the projectors yourself and pass (operator, data) pairs to osem()"
        ) from exc
