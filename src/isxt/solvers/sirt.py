"""SIRT over the blocks of a stacked operator (paper §2).

``x ← x + C ⊙ Σ_i A_iᵀ(R_i ⊙ (y_i − A_i x))`` with ``C = 1/Σ_i A_iᵀ(1)`` and
``R_i = 1/A_i(1)``.
"""

from __future__ import annotations

import math

import numpy as np

from .._array import array_module, norm2
from ..operators import adjoint_into, forward_into
from ._loop import IterationLoop, as_float32, initial_volume, operator_blocks, safe_reciprocal

__all__ = ["sirt"]


def sirt(A, y, x0=None, iterations=100, nonneg=False, stop=None, callback=None, progress=False):
    """Simultaneous iterative reconstruction (SIRT) in the paper's block form.

    Parameters
    ----------
    A : Operator or StackedOperator
        For a stacked operator (anything with ``.operators``) the ray weights
        ``R_i = 1/A_i(1)`` are computed per block and the volume weights
        ``C = 1/Σ_i A_iᵀ(1)`` over all blocks; otherwise ``A`` is one block.
    y : ndarray or list of ndarray
        Data, one array per block.
    x0 : ndarray, optional
        Start volume (default zeros).
    iterations : int
        Maximum number of iterations.
    nonneg : bool
        Clip ``x`` to ``x ≥ 0`` after every update.
    stop, callback, progress
        As for :func:`isxt.solvers.cgls`.

    Returns
    -------
    x : ndarray, float32

    Notes
    -----
    Rays with ``A_i(1) = 0`` and voxels with ``Σ A_iᵀ(1) = 0`` get weight 0
    (no update) instead of a division by zero. The residual norm reported
    after iteration k is ``‖A x_k − y‖`` of the updated volume; computing it
    costs nothing extra because ``A x_k`` is needed for the next update.
    """
    y = as_float32(y)
    blocks, ys = operator_blocks(A, y)
    x = initial_volume(A, ys[0], x0)
    xp = array_module(x)
    ones = xp.ones(x.shape, dtype=np.float32)
    ray_weights = [safe_reciprocal(op.forward(ones)) for op in blocks]
    volume_weights = safe_reciprocal(sum(op.adjoint(xp.ones_like(yi)) for op, yi in zip(blocks, ys)))
    del ones
    if nonneg:
        x = xp.maximum(x, 0)
    loop = IterationLoop(iterations, stop, callback, progress, desc="SIRT")
    # A x per block and the summed back-projection live in buffers reused every iteration
    ax = [forward_into(op, x, xp.empty_like(yi)) for op, yi in zip(blocks, ys)]
    update = xp.empty_like(x)
    for k in loop:
        for i, (op, yi, ri, axi) in enumerate(zip(blocks, ys, ray_weights, ax)):
            xp.subtract(yi, axi, out=axi)  # A x is spent: it holds R (y − A x) now
            axi *= ri
            if i == 0:
                adjoint_into(op, axi, update)
            else:
                update += op.adjoint(axi)
        x = (x + volume_weights * update).astype(np.float32, copy=False)
        if nonneg:
            x = xp.maximum(x, 0)
        ax = [forward_into(op, x, axi) for op, axi in zip(blocks, ax)]
        residual = math.sqrt(sum(norm2(axi - yi) for axi, yi in zip(ax, ys)))
        if loop.report(k, x, residual):
            break
    return loop.result(x)
