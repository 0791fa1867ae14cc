"""Shared solver plumbing: the iteration loop (stopping rules, callbacks, progress bar),
data-block handling and safe element-wise division."""

from __future__ import annotations

import numbers

import numpy as np

from .._array import apply, array_module
from ..errors import InputError

__all__ = [
    "IterationLoop",
    "as_float32",
    "check_iterations",
    "domain_zeros",
    "initial_volume",
    "operator_blocks",
    "safe_reciprocal",
    "safe_divide",
    "total",
    "ones_like_data",
]


def check_iterations(iterations, name="iterations"):
    """Validate a maximum iteration count (a non-negative integer)."""
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
        raise InputError(f"{name} must be a non-negative integer, got {iterations!r}")
    return int(iterations)


def as_float32(y):
    """Data (array or list of block arrays) as float32 arrays of the same array module."""
    return apply(lambda a: array_module(a).asarray(a, dtype=np.float32), y)


def domain_zeros(A, like):
    """A float32 zero volume of ``A``'s domain, on the array module of ``like``."""
    xp = array_module(like)
    return xp.zeros(tuple(A.domain_shape), dtype=np.float32)


def initial_volume(A, y, x0):
    """``x0`` as a float32 copy (so solvers can update it in place), or zeros."""
    if x0 is None:
        return domain_zeros(A, y)
    xp = array_module(x0)
    x = xp.array(x0, dtype=np.float32, copy=True)
    shape = getattr(A, "domain_shape", None)
    if shape is not None and tuple(x.shape) != tuple(shape):
        raise InputError(
            f"x0 has shape {tuple(x.shape)} but the operator's volume is {tuple(shape)}; pass a matching start volume"
        )
    return x


class IterationLoop:
    """Run up to ``iterations`` steps and decide after each one whether to stop.

    After every iteration the solver calls :meth:`report` with the 1-based
    iteration number, the current volume and its residual norm. The loop asks
    the stopping rule (``stop.check``) and the user ``callback``; either one
    returning True ends the loop. :meth:`result` gives the volume to return
    (``stop.result(x)``, e.g. the best iterate of an oracle).
    """

    def __init__(self, iterations, stop=None, callback=None, progress=False, desc="solver"):
        self.iterations = check_iterations(iterations)
        self.stop = stop
        self.callback = callback
        self.residual_norms = []
        if stop is not None and hasattr(stop, "reset"):
            stop.reset()
        self._bar = None
        if progress:
            from .._progress import progress_bar

            self._bar = progress_bar(total=self.iterations, desc=desc, leave=False)

    def __iter__(self):
        return iter(range(1, self.iterations + 1))

    def report(self, iteration, x, residual_norm, **postfix):
        """Record one finished iteration; True means: stop now.

        ``postfix`` adds named numbers to the progress bar (e.g. ``gap=``).
        """
        residual_norm = float(residual_norm)
        self.residual_norms.append(residual_norm)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(residual=f"{residual_norm:.4g}", **{k: f"{v:.3g}" for k, v in postfix.items()})
        done = False
        if self.stop is not None:
            done = bool(self.stop.check(iteration, x, residual_norm))
        if self.callback is not None:
            done = bool(self.callback(iteration, x, residual_norm)) or done
        return done

    def result(self, x):
        """Close the progress bar and return the volume chosen by the stopping rule."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.stop is not None:
            return self.stop.result(x)
        return x


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
