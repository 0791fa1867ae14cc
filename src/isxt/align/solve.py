"""Interior shifts from anchor and neighbour observations: weighted, robust least squares.

The anchor step (:func:`isxt.align.align_interior`) and the refinement
(:func:`isxt.align.refine.refine_interior`) observe

* ``t_i ≈ a_i`` — an interior view registered to its anchor (absolute, but
  limited by the full-field view's noise and resolution), or to a model's
  re-projection (``direct``);
* ``t_i − t_j ≈ d_ij − P_ij`` — two neighbouring views registered to each
  other, less the parallax ``P_ij`` of the sample centroid between them
  (:mod:`isxt.align.parallax`).

:func:`solve_shifts` weights each kind by the inverse of its variance,
estimated from its own residuals (variance components), down-weights wrong
peaks (Huber), and can fit a correction to the centroid: the parallax is
linear in ``(X, Y)``, and chained over the views it is a sinusoid in angle
that the anchors pin down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ShiftSolution", "solve_shifts", "parallax_coefficients"]


@dataclass
class ShiftSolution:
    """What :func:`solve_shifts` found.

    Attributes
    ----------
    shifts_px : ndarray ``(n, 2)``
        ``(rows, cols)`` px per view.
    huber : ndarray
        Final Huber weight per observation (anchors, direct, pairs).
    sigma_px : ndarray ``(3, 2)``
        Standard deviation of an anchor, a pair and a direct observation
        (rows, cols) — estimated, or the fixed weights' equivalent.
    centroid_shift_um : tuple of float
        Fitted correction ``(δX, δY)`` to the centroid the pairs were
        corrected with (zeros when not fitted).
    """

    shifts_px: np.ndarray
    huber: np.ndarray
    sigma_px: np.ndarray
    centroid_shift_um: tuple = (0.0, 0.0)


def parallax_coefficients(angles, pairs, pixel_size):
    """``∂P_ij/∂(X, Y)`` in px/µm for each pair: ``((cosθ_j − cosθ_i), (sinθ_j − sinθ_i)) / p``."""
    a = np.asarray(angles, dtype=np.float64)
    i = np.array([p[0] for p in pairs], dtype=int)
    j = np.array([p[1] for p in pairs], dtype=int)
    return np.column_stack([np.cos(a[j]) - np.cos(a[i]), np.sin(a[j]) - np.sin(a[i])]) / float(pixel_size)


def _design(n, anchor_obs, pair_obs, direct_obs):
    """Rows ``t_i ≈ a`` (anchors, then direct) and ``t_i − t_j ≈ d`` (pairs), and each row's class (0, 2, 1)."""
    rows_a = list(anchor_obs) + list(direct_obs)
    A = np.zeros((len(rows_a) + len(pair_obs), n))
    b = np.zeros((len(A), 2))
    for r, (i, a) in enumerate(rows_a):
        A[r, i] = 1.0
        b[r] = a
    for r, (i, j, d) in enumerate(pair_obs, start=len(rows_a)):
        A[r, i], A[r, j] = 1.0, -1.0
        b[r] = d
    cls = np.r_[np.zeros(len(anchor_obs), int), np.full(len(direct_obs), 2), np.ones(len(pair_obs), int)]
    return A, b, cls


def _variance_components(A, res, w, cls, var, floor):
    """One Helmert/Förstner update of classes 0 and 1's variance from their residuals and redundancy."""
    used = np.any(A != 0, axis=0)  # views with no observation (flagged) would fake leverage
    Aw = A[:, used] * np.sqrt(w)[:, None]
    q, _ = np.linalg.qr(Aw)
    leverage = np.sum(q**2, axis=1)
    out = var.copy()
    for c in (0, 1):
        rows = cls == c
        redundancy = float(np.sum(1.0 - leverage[rows]))
        if redundancy > 0.5:  # fewer redundant rows cannot tell: keep the previous value
            out[c] = max(float(np.sum(w[rows] * var[c] * res[rows] ** 2) / redundancy), floor**2)
    return out


def segment_ids(order, anchored, pairs):
    """For each pair, the anchor interval it lies in along the chain (-1 without two anchored views).

    ``order`` ranks the views along the chain (their angle); pairs before the
    first anchor join the first interval, pairs after the last the last one.
    """
    pos = np.asarray(order)
    marks = np.sort(pos[sorted(anchored)]) if anchored else np.array([])
    if len(marks) < 2:
        return np.full(len(pairs), -1)
    first = np.array([min(pos[i], pos[j]) for i, j in pairs])
    return np.clip(np.searchsorted(marks, first, side="right") - 1, 0, len(marks) - 2)


def solve_shifts(n, anchor_obs, pair_obs, *, direct_obs=(), anchor_weight=None, direct_weight=1.0,
                 parallax=None, variances=None, segments=None, huber_px=1.5, rounds=6, floor_px=0.02):
    """Least-squares shifts from anchor, direct and pair observations.

    Parameters
    ----------
    n : int
        Number of views.
    anchor_obs : list of ``(i, a)``
        ``t_i ≈ a`` (``a`` = ``(rows, cols)`` px).
    pair_obs : list of ``(i, j, d)``
        ``t_i − t_j ≈ d`` (parallax already removed).
    direct_obs : list of ``(i, a)``
        More ``t_i ≈ a`` rows (registrations to a model's re-projection),
        with ``direct_weight`` relative to a pair: the model partly holds the
        view's own error, so their variance is not estimated.
    anchor_weight : float, optional
        Fixed weight of an anchor relative to a pair. Default: both kinds'
        variances are estimated from their residuals, per axis
        (``σ² = Σ r² / Σ(1 − leverage)`` over the kind's rows, iterated).
    parallax : ndarray ``(len(pair_obs), 2)``, optional
        :func:`parallax_coefficients` of the pairs: fits a correction
        ``(δX, δY)`` to the centroid (needs anchors at four views or more).
    segments : array of int, optional
        :func:`segment_ids` of the pairs: fits one column offset per
        interval between anchors, ``d = t_i − t_j + β_s`` — the part of the
        parallax the centroid does not explain (the structure's depth along
        the rays through the ROI changes with the angle), which chained over
        an interval would otherwise bend the views between the anchors.
    huber_px : float
        Residuals beyond this are down-weighted (a wrong coarse peak).
    rounds : int
        Re-weighting rounds.
    floor_px : float
        Smallest standard deviation an estimated variance may reach.

    Returns
    -------
    ShiftSolution

    Examples
    --------
    Two views 1 px apart, each anchored, and their pair:

    >>> sol = solve_shifts(2, [(0, (0.0, 0.0)), (1, (0.0, -1.0))], [(0, 1, (0.0, 1.0))])
    >>> sol.shifts_px.round(6).tolist()
    [[0.0, 0.0], [0.0, -1.0]]
    """
    A, b, cls = _design(n, anchor_obs, pair_obs, direct_obs)
    m = len(b)
    fit_centroid = parallax is not None and len({i for i, _ in anchor_obs}) >= 4 and len(pair_obs) > 0
    # extra column unknowns, on the pair rows of the column axis only
    blocks = [np.zeros((m, 0))]
    if fit_centroid:
        # d − P(c0) = t_i − t_j + P(c) − P(c0) = t_i − t_j + (∂P/∂c)·δ
        block = np.zeros((m, 2))
        block[cls == 1] = np.asarray(parallax, dtype=np.float64)
        blocks.append(block)
    seg = np.full(len(pair_obs), -1) if segments is None else np.asarray(segments, dtype=int)
    if np.any(seg >= 0):
        block = np.zeros((m, int(seg.max()) + 1))
        rows = np.flatnonzero(cls == 1)
        block[rows[seg >= 0], seg[seg >= 0]] = 1.0
        blocks.append(block)
    extra = np.hstack(blocks)
    estimate = anchor_weight is None and variances is None
    base = np.array([1.0 if anchor_weight is None else 1.0 / float(anchor_weight), 1.0, 1.0 / float(direct_weight)])
    var = np.tile(base[:, None], (1, 2))
    row_var = var[cls]  # (m, 2)
    if variances is not None and anchor_weight is None:
        va, vp = (np.asarray(v, dtype=np.float64).reshape(-1, 2) for v in variances)
        row_var = np.empty((m, 2))
        row_var[cls == 0] = np.maximum(va, floor_px**2)
        row_var[cls == 1] = np.maximum(vp, floor_px**2)
        scale = float(np.median(vp)) if vp.size else 1.0
        row_var[cls == 2] = scale / float(direct_weight)
        row_var[~np.isfinite(row_var)] = 1e6
    huber = np.ones(m)
    t = np.zeros((n, 2))
    delta = np.zeros(2)
    for k in range(rounds):
        res_norm = np.zeros(m)
        for ax in range(2):
            # parallax is along the columns only (rotation about z moves nothing vertically)
            design = np.hstack([A, extra]) if (extra.shape[1] and ax == 1) else A
            w = huber / (var[cls, ax] if estimate else row_var[:, ax])
            sw = np.sqrt(w)[:, None]
            x = np.linalg.lstsq(design * sw, b[:, ax:ax + 1] * sw, rcond=None)[0][:, 0]
            t[:, ax] = x[:n]
            if design is not A and fit_centroid:
                delta = x[n:n + 2]
            res = design @ x - b[:, ax]
            res_norm += res**2
            if estimate:
                var[:2, ax] = _variance_components(design, res, w, cls, var[:, ax], floor_px)[:2]
                var[2, ax] = var[1, ax] / float(direct_weight)
            elif variances is not None and anchor_weight is None:
                var[:, ax] = [np.mean(row_var[cls == c, ax]) if np.any(cls == c) else np.nan for c in range(3)]
        res_norm = np.sqrt(res_norm)
        if k < rounds // 2:  # Huber first: a convex start that a wrong peak pulls only linearly
            huber = np.where(res_norm <= huber_px, 1.0, huber_px / np.maximum(res_norm, 1e-12))
        else:  # then Tukey's biweight: an observation off by more than 2·huber_px drops out
            c = 2.0 * huber_px
            huber = np.where(res_norm < c, (1.0 - (res_norm / c) ** 2) ** 2, 0.0)
    return ShiftSolution(t, huber, np.sqrt(var), (float(delta[0]), float(delta[1])))
