"""Stopping rules for the iterative solvers.

A stopping rule is any object with

``check(iteration, x, residual_norm) -> bool``
    called after every iteration (1-based) with the current volume and
    ``‖A x − y‖`` (weighted for :func:`~isxt.solvers.pwls`); True stops the
    solver.
``result(x) -> x``
    the volume the solver returns (the last one, or e.g. the best one).

and optionally ``reset()``, which solvers call before the first iteration so
that one rule can be reused. The solver's ``iterations`` is always the
maximum number of iterations.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._array import array_module, like
from ..errors import InputError

__all__ = ["FixedIterations", "Oracle", "Discrepancy", "poisson_variance"]


class FixedIterations:
    """Stop after ``n`` iterations (or at the solver's maximum, if smaller)."""

    def __init__(self, n):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise InputError(f"FixedIterations needs a non-negative integer, got {n!r}")
        self.n = int(n)

    def check(self, iteration, x, residual_norm):
        return iteration >= self.n

    def result(self, x):
        return x


class Oracle:
    """Keep the iterate closest to a known truth (simulation studies).

    The paper stops its simulated reconstructions at the best PSNR against
    the phantom; this rule evaluates ``metric`` every ``every`` iterations,
    keeps a copy of the best volume and returns it.

    Parameters
    ----------
    truth : ndarray
        The phantom, same shape as the volume.
    metric : 'psnr' or callable
        ``'psnr'``: :func:`isxt.metrics.psnr` with the data range of the whole
        ``truth`` (its 99th percentile) even when ``mask`` is given, as in the
        paper. A callable ``metric(x, truth) -> float`` (higher is better)
        receives ``x[mask], truth[mask]`` when ``mask`` is given.
    mask : ndarray of bool, optional
        Where to compare, e.g. the interior ROI (``(nz, ny, nx)`` or a
        ``(ny, nx)`` in-slice mask).
    every : int
        Evaluate every ``every`` iterations.
    patience : int, optional
        Stop after this many evaluations without improvement.

    Attributes
    ----------
    best_value, best_iteration : float, int
        Best metric value and the iteration that reached it (0: none yet).
    history : list of float
        Metric value at each evaluation; ``history_iterations`` the iterations.
    """

    def __init__(self, truth, metric="psnr", mask=None, every=1, patience=None):
        from .. import metrics

        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise InputError(f"Oracle(every=...) must be a positive integer, got {every!r}")
        if patience is not None and (not isinstance(patience, numbers.Integral) or patience < 1):
            raise InputError(f"Oracle(patience=...) must be a positive integer or None, got {patience!r}")
        self.truth = truth
        self._device = None
        self.mask = None if mask is None else _full_mask(mask, truth.shape)
        self.every = int(every)
        self.patience = patience
        if metric == "psnr":
            dr = metrics.data_range(truth)
            self._metric = lambda x, t: metrics.psnr(x, t, data_range=dr)
        elif callable(metric):
            self._metric = metric
        else:
            raise InputError(f"Oracle metric must be 'psnr' or a callable(x, truth) -> float, got {metric!r}")
        self.reset()

    def reset(self):
        self.best_value = -np.inf
        self.best_iteration = 0
        self.best_x = None
        self.history = []
        self.history_iterations = []
        self._since_best = 0

    def evaluate(self, x):
        """The metric of ``x`` against the truth (over the mask)."""
        truth, mask = self._on_module_of(x)
        if mask is None:
            return float(self._metric(x, truth))
        return float(self._metric(x[mask], truth[mask]))

    def _on_module_of(self, x):
        # iterates on a GPU: compare there (one copy of the truth, not one of x per iteration)
        if array_module(x) is array_module(self.truth):
            return self.truth, self.mask
        if self._device is None:
            self._device = (like(self.truth, x), like(self.mask, x))
        return self._device

    def check(self, iteration, x, residual_norm):
        if iteration % self.every:
            return False
        value = self.evaluate(x)
        self.history.append(value)
        self.history_iterations.append(iteration)
        if value > self.best_value:
            self.best_value, self.best_iteration = value, iteration
            self.best_x = x.copy()
            self._since_best = 0
        else:
            self._since_best += 1
        return self.patience is not None and self._since_best >= self.patience

    def result(self, x):
        return x if self.best_x is None else self.best_x


class Discrepancy:
    """Morozov's discrepancy principle: stop once the fit reaches the noise level.

    Stops at the first iteration with ``‖A x − y‖² ≤ tau · Σ σ²``, i.e. when
    the residual is as small as the noise alone would make it; fitting further
    only fits noise.

    Parameters
    ----------
    noise_variance : float, ndarray or list of ndarray
        Total noise variance (a scalar), or the variance per measurement
        (array, or one per block; see :func:`poisson_variance`). For
        :func:`~isxt.solvers.pwls` with inverse-variance weights the weighted
        residual's expectation is the number of measurements instead.
    tau : float
        Safety factor (≥ 1 is customary).

    Attributes
    ----------
    threshold : float
        ``tau · Σ σ²``, compared with the squared residual norm.
    stopped_at : int or None
        The iteration at which the rule fired.
    residual_norm : float or None
        The residual norm at that iteration.
    """

    def __init__(self, noise_variance, tau=1.0):
        if not (np.isfinite(tau) and tau > 0):
            raise InputError(f"Discrepancy tau must be positive, got {tau!r}")
        self.total_variance = _total_variance(noise_variance)
        if not (np.isfinite(self.total_variance) and self.total_variance >= 0):
            raise InputError(f"noise variance must be finite and non-negative, total is {self.total_variance}")
        self.tau = float(tau)
        self.threshold = self.tau * self.total_variance
        self.reset()

    def reset(self):
        self.stopped_at = None
        self.residual_norm = None

    def check(self, iteration, x, residual_norm):
        if residual_norm**2 <= self.threshold:
            self.stopped_at, self.residual_norm = iteration, float(residual_norm)
            return True
        return False

    def result(self, x):
        return x


def poisson_variance(y, photons):
    """Variance of absorption data ``y = −ln(I/I0)`` under Poisson noise: ``1/(photons·e^{−y})``.

    ``photons`` is the incident count per pixel (scalar, array, or a list per
    block when ``y`` is a list).
    """
    from .pwls import poisson_weights

    w = poisson_weights(y, photons)
    if isinstance(w, list):
        return [(1.0 / b).astype(np.float32) for b in w]
    return (1.0 / w).astype(np.float32)


def _total_variance(v):
    if isinstance(v, (list, tuple)):
        return sum(_total_variance(b) for b in v)
    if np.ndim(v) == 0 and not hasattr(v, "__cuda_array_interface__"):
        return float(v)
    return float(v.sum(dtype=np.float64))


def _full_mask(mask, shape):
    xp = array_module(mask)
    mask = xp.asarray(mask, dtype=bool)
    if mask.shape == tuple(shape):
        return mask
    try:
        return xp.broadcast_to(mask, shape)
    except ValueError:
        raise InputError(f"mask of shape {mask.shape} does not fit the volume {tuple(shape)}") from None
