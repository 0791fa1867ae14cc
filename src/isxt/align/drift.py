"""Simulated stage drift: a random walk plus per-view jitter (µm)."""

from __future__ import annotations

import numpy as np

__all__ = ["simulate_drift"]


def simulate_drift(n_views, step_um=0.02, jitter_um=0.02, *, vertical_scale=1.0, seed=0):
    """Per-view ``(du, dv)`` shifts in µm of a drifting, jittering stage.

    Parameters
    ----------
    n_views : int
        Number of views, in acquisition order.
    step_um : float
        Standard deviation of the random-walk step between successive views
        (slow drift: it accumulates along the scan).
    jitter_um : float
        Standard deviation of the independent per-view jitter.
    vertical_scale : float
        Factor on both for ``dv`` (stages often drift less along the axis).
    seed : int
        Seed of ``np.random.default_rng``.

    Returns
    -------
    ndarray ``(n_views, 2)``
        ``(du, dv)`` in µm; the walk starts at zero.

    Examples
    --------
    >>> simulate_drift(5, seed=1).shape
    (5, 2)
    """
    rng = np.random.default_rng(seed)
    n = int(n_views)
    scale = np.array([1.0, float(vertical_scale)])
    steps = rng.normal(0.0, step_um, size=(n, 2)) * scale
    steps[0] = 0.0
    walk = np.cumsum(steps, axis=0)
    jitter = rng.normal(0.0, jitter_um, size=(n, 2)) * scale
    return walk + jitter
