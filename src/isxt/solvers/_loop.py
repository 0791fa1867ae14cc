"""The iteration loop shared by all solvers: stopping rules, callbacks, progress bar."""

from __future__ import annotations

import numbers

import numpy as np

from .._array import apply, array_module
from ..errors import InputError

__all__ = ["IterationLoop", "as_float32", "check_iterations", "domain_zeros"]


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
        raise InputError(f"x0 has shape {tuple(x.shape)} but the operator's volume is {tuple(shape)}; pass a matching start volume")
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
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.iterations, desc=desc, leave=False)

    def __iter__(self):
        return iter(range(1, self.iterations + 1))

    def report(self, iteration, x, residual_norm):
        """Record one finished iteration; True means: stop now."""
        residual_norm = float(residual_norm)
        self.residual_norms.append(residual_norm)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(residual=f"{residual_norm:.4g}")
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
