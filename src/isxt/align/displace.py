"""Misaligned data on demand: seeded drift, jitter, stage jumps and blank frames (in pixels).

Used by ``isxt simulate --drift PX --jitter PX --jumps N --blank N`` to make
stacks whose true shifts are known (written as ``truth_<scan>_shifts.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Displacement", "make_displacement"]


@dataclass
class Displacement:
    """True per-view shifts of a stack and the views blanked.

    Attributes
    ----------
    shifts_px : ndarray ``(n, 2)``
        ``(du, dv)`` in the scan's detector pixels, in the sense of
        :meth:`isxt.geometry.ScanGeometry.with_shifts`.
    jumps : list of int
        Views moved by a stage jump.
    blank : list of int
        Views whose image carries no sample (beam lost).
    flags : list of str
        ``ok``/``outlier``/``blank`` per view (the flags a correct alignment reports).
    """

    shifts_px: np.ndarray
    jumps: list = field(default_factory=list)
    blank: list = field(default_factory=list)
    flags: list = field(default_factory=list)


def make_displacement(n_views, drift_px=0.0, jitter_px=0.0, *, jumps=0, jump_px=10.0, blank=0, seed=0):
    """A seeded random walk, jitter, stage jumps and blank frames for ``n_views`` views.

    Parameters
    ----------
    n_views : int
    drift_px : float
        Largest excursion of the slow random walk (pixels): the walk is
        scaled so that its largest ``|du|, |dv|`` equals this.
    jitter_px : float
        Per-view jitter, uniform in ``±jitter_px`` on each axis.
    jumps : int
        Single views moved by ``jump_px`` in ``du`` (a stage that jumped and came back).
    blank : int
        Views whose image will carry no sample.
    seed : int

    Returns
    -------
    Displacement

    Examples
    --------
    >>> d = make_displacement(20, 2.0, 0.5, jumps=1, blank=1, seed=3)
    >>> d.shifts_px.shape, len(d.jumps), len(d.blank)
    ((20, 2), 1, 1)
    """
    n = int(n_views)
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=(n, 2)), axis=0)
    walk -= walk[0]
    peak = np.abs(walk).max(axis=0)
    walk = walk * np.where(peak > 0, float(drift_px) / np.maximum(peak, 1e-12), 0.0)
    shifts = walk + rng.uniform(-1.0, 1.0, size=(n, 2)) * float(jitter_px)
    # jumps and blanks on separate, non-adjacent interior views: each must be recognisable from its neighbours
    candidates = rng.permutation(np.arange(2, max(n - 2, 2), 3))
    chosen = candidates[: int(jumps) + int(blank)]
    jump_views = sorted(int(i) for i in chosen[: int(jumps)])
    blank_views = sorted(int(i) for i in chosen[int(jumps):])
    for i in jump_views:
        shifts[i, 0] += float(jump_px)
    flags = ["ok"] * n
    for i in jump_views:
        flags[i] = "outlier"
    for i in blank_views:
        flags[i] = "blank"
    return Displacement(shifts, jump_views, blank_views, flags)
