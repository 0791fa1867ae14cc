"""Small helpers on data blocks and safe element-wise division."""

from __future__ import annotations

import numpy as np

from .._array import array_module
from ..errors import InputError

__all__ = ["operator_blocks", "safe_reciprocal", "safe_divide", "total", "ones_like_data"]


def operator_blocks(A, y):
    """``(blocks, data)``: a stacked operator's blocks and data list, or ``([A], [y])``."""
    ops = getattr(A, "operators", None)
    if ops is None:
        if isinstance(y, (list, tuple)):
            if len(y) != 1:
                raise InputError(f"got {len(y)} data blocks for a single (unstacked) operator; pass one array")
            y = y[0]
        return [A], [y]
    if not isinstance(y, (list, tuple)) or len(y) != len(ops):
        n = len(y) if isinstance(y, (list, tuple)) else "an array, not a list"
        raise InputError(f"a stacked operator of {len(ops)} blocks needs a list of {len(ops)} data arrays, got {n}")
    return list(ops), list(y)


def safe_reciprocal(d):
    """``1/d`` with 0 where ``d`` is 0 (rays or voxels that see nothing get no update)."""
    xp = array_module(d)
    nonzero = d != 0
    return xp.where(nonzero, 1.0 / xp.where(nonzero, d, 1), 0).astype(np.float32)


def safe_divide(a, b):
    """``a/b`` with 0 where ``b ≤ 0`` (used by EM, where ``b = A x ≥ 0``)."""
    xp = array_module(b)
    positive = b > 0
    return xp.where(positive, a / xp.where(positive, b, 1), 0).astype(np.float32)


def total(y):
    """Sum of all entries of an array or block list, in float64."""
    if isinstance(y, (list, tuple)):
        return sum(total(b) for b in y)
    return float(y.sum(dtype=np.float64))


def ones_like_data(y):
    if isinstance(y, (list, tuple)):
        return [ones_like_data(b) for b in y]
    return array_module(y).ones_like(y, dtype=np.float32)
