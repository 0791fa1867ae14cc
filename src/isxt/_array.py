"""Array-library helpers so solvers work on numpy and on device arrays (cupy).

Data living in the range of a stacked operator is a ``list`` of arrays, one per
block; these helpers treat an array and a list of arrays alike.
"""

from __future__ import annotations

import numpy as np

__all__ = ["array_module", "ndimage_module", "add_at", "to_numpy", "like", "vdot", "norm2", "zeros_like", "combine", "apply"]


def array_module(x):
    """numpy, or cupy for a cupy array (without importing cupy otherwise)."""
    if isinstance(x, (list, tuple)):
        x = x[0]
    mod = type(x).__module__
    if mod.startswith("cupy"):
        import cupy

        return cupy
    return np


def ndimage_module(x):
    """scipy.ndimage, or cupyx.scipy.ndimage for cupy arrays."""
    if array_module(x) is np:
        import scipy.ndimage

        return scipy.ndimage
    import cupyx.scipy.ndimage

    return cupyx.scipy.ndimage


def add_at(target, index, values):
    """``target[index] += values`` with repeated indices accumulated (numpy's or cupy's ``add.at``)."""
    xp = array_module(target)
    scatter = getattr(xp.add, "at", None)  # cupy >= 13; cupyx.scatter_add before
    if scatter is None:
        from cupyx import scatter_add as scatter
    scatter(target, index, values)


def to_numpy(x):
    """A numpy array of ``x`` (copied from the device for cupy arrays)."""
    if array_module(x) is np:
        return np.asarray(x)
    return x.get()


def like(a, reference):
    """``a`` (array, list of arrays or scalar) on the array module of ``reference``."""
    if a is None or np.isscalar(a):
        return a
    if isinstance(a, (list, tuple)):
        return [like(b, reference) for b in a]
    xp = array_module(reference)
    if array_module(a) is xp:
        return a
    return xp.asarray(a) if xp is not np else to_numpy(a)


def apply(fn, *blocks):
    """Apply ``fn`` to arrays, or block-wise to lists of arrays."""
    if isinstance(blocks[0], (list, tuple)):
        return [fn(*parts) for parts in zip(*blocks)]
    return fn(*blocks)


def vdot(a, b):
    """Inner product accumulated in float64 (a Python float)."""
    if isinstance(a, (list, tuple)):
        return sum(vdot(x, y) for x, y in zip(a, b))
    return float((a * b).sum(dtype=np.float64))


def norm2(a):
    """Squared Euclidean norm, accumulated in float64."""
    return vdot(a, a)


def zeros_like(a):
    return apply(lambda x: array_module(x).zeros_like(x), a)


def combine(a, alpha, b):
    """``a + alpha * b`` for arrays or block lists (new arrays, dtype of ``a``)."""
    return apply(lambda x, y: (x + alpha * y).astype(x.dtype, copy=False), a, b)
