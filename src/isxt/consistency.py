"""Consistency report of a reconstruction: does every scan agree with the others?

The user cannot see the truth of their sample, but the data can show that a
result is not to be trusted. After a reconstruction, per scan ``s``:

* ``fit_first`` and ``fit_final``: the relative data residual
  ``‖A_s x − y_s‖ / ‖y_s‖`` at the first and the final iterate;
* ``noise``: the residual expected from photon noise alone,
  ``√(Σ e^{y}/N) / ‖y_s‖`` (the variance of ``y = −ln(I/I0)`` is ``1/(N I/I0)``),
  where the scan's incident photons ``N`` are known, else NaN;
* ``cross``: a reconstruction from scan ``s`` alone (a few CGLS iterations)
  predicts every other scan's data, on the detector pixels whose rays stay
  inside the region ``s`` sees in all its views; the relative residual of that
  prediction. A full-field scan sees the whole volume, so it predicts the
  interior scan's data; a truncated scan predicts no ray of a full-field one
  (NaN, with the reason).

A data-layout mistake (swapped files, a reversed angle file, x/y swapped in a
centre, an angle offset, a wrong pixel size) makes the scans describe different
objects, and the cross-scan prediction fails while each scan alone can still
be fitted. When a check fails, candidate mistakes of the predicted scan's
geometry are tried on the same single-scan reconstruction (and of the
predicting scan's, re-reconstructed), and the one that lowers the residual most
is named as the likely cause.

The thresholds (:data:`THRESHOLDS`) were chosen from measured distributions of
correct and broken acquisitions across seeds and noise levels; the
measurements are in ``docs/consistency.md``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import ndimage

from ._array import to_numpy

__all__ = ["THRESHOLDS", "ConsistencyReport", "check_consistency", "cross_residuals", "seen_mask", "matched_views",
           "ConsistencyWarning"]

#: A check fails above these values (see docs/consistency.md for the measurements).
THRESHOLDS = {
    # cross-scan prediction residual ‖A_t x_s − y_t‖/‖y_t‖ on the pixels both see,
    # less (in quadrature) the part the target's photon noise explains
    "cross": 0.1,
    # final fit over the fit expected from photon noise (scans with photons)
    "fit_over_noise": 2.5,
    # final fit over the first iterate's fit: the joint problem could not be fitted
    "fit_ratio": 0.5,
}
#: Compare only angle-matched views when at least this many match (else all views).
MIN_MATCHED_VIEWS = 3
#: Views match in angle (mod 180°) within this many degrees.
ANGLE_TOLERANCE_DEG = 0.1
#: CGLS iterations of the single-scan reconstructions behind the cross check.
CROSS_ITERATIONS = 15


DEFINITIONS = {
    "fit": "||A_s x - y_s|| / ||y_s|| at the first and the final iterate",
    "noise": "sqrt(sum exp(y) / photons) / ||y||: the fit expected from photon noise alone",
    "cross": "||A_t x_s - y_t|| / ||y_t|| on pixels of t whose rays stay inside the region s sees (only the views "
             "at angles s also has, when at least 3 match), x_s reconstructed from s alone; the part the target's "
             "photon noise explains removed in quadrature ('raw' keeps it)",
}


class ConsistencyWarning(UserWarning):
    """A reconstruction's scans disagree with each other (see :mod:`isxt.consistency`)."""


@dataclasses.dataclass
class ConsistencyReport:
    """Per-scan residuals, the cross-scan prediction residuals and the warnings.

    Attributes
    ----------
    scans : list of dict
        ``{'name', 'fit_first', 'fit_final', 'noise'}`` per scan.
    cross : list of dict
        ``{'source', 'target', 'residual', 'noise', 'pixels', 'reason', 'cause'}``
        per ordered pair; ``residual`` NaN with a ``reason`` when not computable.
    warnings : list of str
        One line per failed check, naming the scan and the likely cause.
    """

    scans: list
    cross: list
    warnings: list
    thresholds: dict = dataclasses.field(default_factory=lambda: dict(THRESHOLDS))
    converged: bool = True
    definitions: dict = dataclasses.field(default_factory=lambda: dict(DEFINITIONS), repr=False)

    @property
    def ok(self):
        return not self.warnings

    def table(self):
        """A short plain-text table of the report."""
        lines = [f"{'scan':<14}{'fit first':>10}{'fit final':>10}{'noise':>8}"]
        for r in self.scans:
            lines.append(f"{r['name']:<14}{_fmt(r['fit_first']):>10}{_fmt(r['fit_final']):>10}{_fmt(r['noise']):>8}")
        for c in self.cross:
            what = _fmt(c["residual"]) if np.isfinite(c["residual"]) else f"n/a ({c['reason']})"
            if np.isfinite(c["residual"]):
                what += f" (raw {_fmt(c['raw'])}, noise {_fmt(c['noise'])}, {c['pixels']} pixels)"
            lines.append(f"cross {c['source']!r} predicts {c['target']!r}: {what}")
        if not self.converged:
            lines.append("fit checks skipped: the residual was still falling at the last iteration")
        return "\n".join(lines)

    def to_dict(self):
        return {"scans": self.scans, "cross": self.cross, "warnings": self.warnings, "thresholds": self.thresholds,
                "converged": self.converged, "definitions": self.definitions}


def _fmt(v):
    return "nan" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _rel(r, y):
    ny = float(np.linalg.norm(y))
    return float(np.linalg.norm(r) / ny) if ny > 0 else math.nan


def _noise(scan, y, mask=None):
    """Relative residual expected from photon noise alone (NaN without photons)."""
    if scan.photons is None:
        return math.nan
    photons = np.broadcast_to(np.asarray(scan.photons, dtype=np.float64), y.shape)
    var = np.exp(np.asarray(y, dtype=np.float64)) / photons
    yy = y
    if mask is not None:
        var, yy = var[mask], y[mask]
    ny = float(np.linalg.norm(yy))
    return float(np.sqrt(var.sum()) / ny) if ny > 0 else math.nan


def seen_mask(geometry, volume):
    """Voxels ``(nz, ny, nx)`` whose whole footprint falls on the detector in every view of ``geometry``.

    Examples
    --------
    >>> import isxt
    >>> vol = isxt.VolumeGeometry((4, 32, 32), 0.1)
    >>> bool(seen_mask(isxt.ScanGeometry.full_field(vol, 6, 0.1), vol).all())
    True
    >>> roi = isxt.ScanGeometry.interior(vol, 6, 0.1, roi_diameter_um=1.2)
    >>> bool(0 < seen_mask(roi, vol).mean() < 0.5)
    True
    """
    s = volume.voxel_size_um
    x = volume.coords("x")[None, :]
    y = volume.coords("y")[:, None]
    z = volume.coords("z")
    uc, vc = geometry.detector_center()
    half_w = geometry.cols * geometry.pixel_size_um / 2
    half_h = geometry.rows * geometry.pixel_size_um / 2
    inplane = np.ones((volume.ny, volume.nx), dtype=bool)
    rows = np.ones(volume.nz, dtype=bool)
    tol = 1e-6 * s
    for c, sn, u0, v0 in zip(np.cos(geometry.angles), np.sin(geometry.angles), uc, vc):
        reach = s * (abs(c) + abs(sn)) / 2  # half the voxel's projected width
        inplane &= np.abs(x * c + y * sn - u0) + reach <= half_w + tol
        rows &= np.abs(z - v0) + s / 2 <= half_h + tol
    return rows[:, None, None] & inplane[None]


def matched_views(target_angles, source_angles, tolerance_deg=ANGLE_TOLERANCE_DEG):
    """Boolean ``(n_target,)``: target views with a source view at the same angle or its mirror (mod 180°).

    >>> matched_views(np.radians([0, 10, 185, 91]), np.radians([5, 90])).tolist()
    [False, False, True, False]
    """
    t = np.asarray(target_angles)[:, None]
    d = np.angle(np.exp(2j * (t - np.asarray(source_angles)[None, :]))) / 2  # distance mod π
    return np.abs(d).min(axis=1) <= np.radians(tolerance_deg)


def _cross_pixels(op_t, mask_s, views=None):
    """Pixels of the target whose rays cross the volume only inside ``mask_s`` (in ``views`` only)."""
    through = to_numpy(op_t.forward(np.ones(mask_s.shape, np.float32)))
    outside = to_numpy(op_t.forward((~mask_s).astype(np.float32)))
    keep = (through > 1e-3 * through.max()) & (outside <= 1e-4 * through.max())
    if views is not None and views.sum() >= MIN_MATCHED_VIEWS:
        keep &= views[:, None, None]
    return keep


def _single(scan, volume, backend, iterations):
    from .reconstruct import build_operator
    from .solvers import cgls

    return to_numpy(cgls(build_operator(scan, volume, backend), scan.data, iterations=iterations))


def _candidates(scan):
    """``(cause, Scan)`` for the layout mistakes the diagnosis tries on one scan."""
    g = scan.geometry
    cx, cy, cz = g.center_um
    out = [
        ("its angle file reversed", dataclasses.replace(g, angles=g.angles[::-1].copy())),
        ("x and y swapped in its center_um", dataclasses.replace(g, center_um=(cy, cx, cz))),
        ("its angles offset by 90°", dataclasses.replace(g, angles=g.angles + np.pi / 2)),
        ("its angles offset by -90°", dataclasses.replace(g, angles=g.angles - np.pi / 2)),
        ("its pixel_size_um 2x too small", dataclasses.replace(g, pixel_size_um=g.pixel_size_um * 2)),
        ("its pixel_size_um 2x too large", dataclasses.replace(g, pixel_size_um=g.pixel_size_um / 2)),
    ]
    return [(cause, dataclasses.replace(scan, geometry=geom)) for cause, geom in out]


def _prediction(x_s, source, target, mask_s, volume, backend):
    """The cross residual (noise removed in quadrature), the raw residual, its noise and the pixels used."""
    from .reconstruct import build_operator

    op_t = build_operator(target, volume, backend)
    # Where the scans share angles, compare only those views: there a sparse
    # scan's own reconstruction reproduces its data, so the prediction does not
    # depend on how well it interpolates between its few angles.
    keep = _cross_pixels(op_t, mask_s, matched_views(target.geometry.angles, source.geometry.angles))
    if not keep.any():
        return math.nan, math.nan, math.nan, keep
    pred = to_numpy(op_t.forward(x_s))
    data = target.data
    noise = _noise(target, data, keep)
    # A coarser source cannot predict detail finer than its pixels: compare both
    # at the source's resolution (a Gaussian of half its pixel, in target pixels),
    # so that a sharp sample does not look inconsistent (the noise shrinks alike).
    ratio = source.geometry.pixel_size_um / target.geometry.pixel_size_um
    if ratio > 1.01:
        sigma = (0.0, ratio / 2, ratio / 2)
        pred = ndimage.gaussian_filter(pred, sigma, mode="nearest")
        data = ndimage.gaussian_filter(data, sigma, mode="nearest")
        delta = np.zeros((1, 9 * int(np.ceil(ratio)) + 1, 9 * int(np.ceil(ratio)) + 1))
        delta[0, delta.shape[1] // 2, delta.shape[2] // 2] = 1.0
        noise *= float(np.sqrt(np.sum(ndimage.gaussian_filter(delta, sigma) ** 2)))
    raw = _rel((pred - data)[keep], data[keep])
    excess = math.sqrt(max(raw**2 - noise**2, 0.0)) if np.isfinite(noise) else raw
    return excess, raw, noise, keep


def plateaued(history, fraction=0.25, drop=0.1):
    """True when the residual fell by less than ``drop`` (relative) over the last ``fraction`` of the iterations.

    The fit checks judge only a converged fit: after a few iterations any scan
    still fits its data poorly.

    >>> plateaued([10, 5, 3, 2.9, 2.88, 2.87, 2.87, 2.86])
    True
    >>> plateaued([10, 5, 3])
    False
    """
    h = np.asarray(history, dtype=np.float64)
    k = max(3, int(np.ceil(fraction * h.size)))
    if h.size < k + 1 or not np.all(np.isfinite(h)):
        return False
    return bool(h[-k - 1] - h[-1] <= drop * h[-k - 1])


def _fit_problem(row, limits):
    """Why a scan's fit fails, or an empty string."""
    first, final, noise = row["fit_first"], row["fit_final"], row["noise"]
    if np.isfinite(noise) and final > limits["fit_over_noise"] * noise:
        return (f"its final relative residual {final:.3f} is {final / noise:.1f}× what its photon noise explains "
                f"({noise:.3f}; consistent scans: < {limits['fit_over_noise']:g}×)")
    if np.isfinite(first) and final > limits["fit_ratio"] * first:
        return (f"its relative residual fell only from {first:.3f} to {final:.3f} "
                f"(consistent scans: below {limits['fit_ratio']:g}× the first)")
    return ""


def _pair_for(j, cross, scans):
    """A cross-check pair that involves scan ``j`` (to diagnose a fit failure), or None."""
    for c in cross:
        if np.isfinite(c["residual"]) and scans[j].label in (c["source"], c["target"]):
            return ([s.label for s in scans].index(c["source"]), [s.label for s in scans].index(c["target"]))
    return None


def _pair_residual(pair, cross, scans):
    src, tgt = scans[pair[0]].label, scans[pair[1]].label
    return next(c["residual"] for c in cross if (c["source"], c["target"]) == (src, tgt))


def _diagnose(scans, i, j, volume, backend, iterations, residual):
    """The layout mistake that best explains a failed ``scans[i]`` → ``scans[j]`` prediction, or None."""
    source, target = scans[i], scans[j]
    x_s = _single(source, volume, backend, iterations)
    mask_s = seen_mask(source.geometry, volume)
    best = (residual, None)
    for cause, cand in _candidates(target):
        r = _prediction(x_s, source, cand, mask_s, volume, backend)[0]
        if np.isfinite(r) and r < best[0]:
            best = (r, f"scan {target.label!r}: {cause}")
    for cause, cand in _candidates(source):
        x_c = _single(cand, volume, backend, iterations)
        r = _prediction(x_c, cand, target, seen_mask(cand.geometry, volume), volume, backend)[0]
        if np.isfinite(r) and r < best[0]:
            best = (r, f"scan {source.label!r}: {cause}")
    # Only a clear improvement names a cause; otherwise the files may be swapped.
    if best[1] is not None and best[0] < 0.6 * residual:
        return best[1], best[0]
    return None, math.inf


def cross_residuals(source, targets, volume, backend="numba", iterations=CROSS_ITERATIONS):
    """Raw cross residuals of several versions of one target scan, predicted from ``source`` alone.

    Used to decide whether a correction of the target's data (e.g. the
    absorption calibration) makes the scans agree better. NaN when the source
    sees no ray of the target whole.
    """
    mask = seen_mask(source.geometry, volume)
    x_s = None
    out = []
    for target in targets:
        if x_s is None:
            x_s = _single(source, volume, backend, iterations)
        out.append(_prediction(x_s, source, target, mask, volume, backend)[1])
    return out


def check_consistency(scans, volume, x, x_first=None, *, history=None, backend="numba",
                      iterations=CROSS_ITERATIONS, diagnose=True, thresholds=None):
    """The consistency report of a reconstruction ``x`` from ``scans``.

    Parameters
    ----------
    scans : sequence of Scan
    volume : VolumeGeometry
    x : ndarray
        The final reconstruction.
    x_first : ndarray, optional
        The first iterate (``fit_first`` is NaN without it).
    history : sequence of float, optional
        The solver's residual norm per iteration. The fit checks run only when
        it has levelled off (:func:`plateaued`); without it they always run.
    backend : str
        Projector backend for the checks.
    iterations : int
        CGLS iterations of each single-scan reconstruction.
    diagnose : bool
        When a check fails, try the candidate layout mistakes to name the
        likely cause (costs a few more single-scan reconstructions).
    thresholds : dict, optional
        Overrides :data:`THRESHOLDS`.

    Returns
    -------
    ConsistencyReport

    Examples
    --------
    >>> import numpy as np, isxt
    >>> vol = isxt.VolumeGeometry((2, 24, 24), 0.1)
    >>> truth = np.zeros(vol.shape, np.float32); truth[:, 8:16, 6:14] = 0.5
    >>> g = isxt.ScanGeometry.full_field(vol, 16, 0.1)
    >>> y = isxt.projector(vol, g).forward(truth)
    >>> scan = isxt.Scan(g, y, name="full")
    >>> rep = check_consistency([scan], vol, truth)
    >>> rep.ok, round(rep.scans[0]["fit_final"], 3)
    (True, 0.0)
    """
    from .reconstruct import build_operator

    limits = {**THRESHOLDS, **(thresholds or {})}
    x = to_numpy(x)
    rows = []
    for s in scans:
        op = build_operator(s, volume, backend)
        fit_final = _rel(to_numpy(op.forward(x)) - s.data, s.data)
        fit_first = _rel(to_numpy(op.forward(to_numpy(x_first))) - s.data, s.data) if x_first is not None else math.nan
        rows.append({"name": s.label, "fit_first": fit_first, "fit_final": fit_final, "noise": _noise(s, s.data)})

    cross, failed = [], []
    masks = [seen_mask(s.geometry, volume) for s in scans] if len(scans) > 1 else []
    singles = {}
    for i, source in enumerate(scans):
        for j, target in enumerate(scans):
            if i == j:
                continue
            entry = {"source": source.label, "target": target.label, "residual": math.nan, "raw": math.nan,
                     "noise": math.nan, "pixels": 0, "reason": "", "cause": None}
            cross.append(entry)
            reach = _cross_pixels(build_operator(target, volume, backend), masks[i]) if masks[i].any() else None
            if reach is None or not reach.any():
                entry["reason"] = f"no ray of {target.label!r} stays inside the region {source.label!r} sees"
                continue
            if i not in singles:
                singles[i] = _single(source, volume, backend, iterations)
            excess, raw, noise, keep = _prediction(singles[i], source, target, masks[i], volume, backend)
            entry.update(residual=excess, raw=raw, noise=noise, pixels=int(keep.sum()))
            if excess > limits["cross"]:
                failed.append((i, j, excess, f"scan {target.label!r} disagrees with scan {source.label!r}: a "
                               f"reconstruction from {source.label!r} alone predicts its data with relative residual "
                               f"{excess:.3f} (consistent scans: < {limits['cross']:g})"))
    converged = history is None or plateaued(history)
    for i, r in enumerate(rows):
        why = _fit_problem(r, limits) if converged else ""
        if why:
            failed.append((None, i, math.nan, f"scan {r['name']!r} does not fit the joint reconstruction: {why}"))

    # One diagnosis for the whole report: every failed pair proposes the
    # mistake that best explains it; the one that explains its pair best
    # (lowest residual after the fix, relative to before) names the cause.
    cause = None
    if diagnose and failed:
        pairs = {(i, j) for i, j, _, _ in failed if i is not None}
        pairs |= {p for i, j, _, _ in failed if i is None for p in [_pair_for(j, cross, scans)] if p is not None}
        best = math.inf
        for pair in sorted(pairs):
            before = _pair_residual(pair, cross, scans)
            found, after = _diagnose(scans, *pair, volume, backend, iterations, before)
            if found is not None and after / before < best:
                cause, best = found, after / before
    for c in cross:
        if any(i is not None and (scans[i].label, scans[j].label) == (c["source"], c["target"]) for i, j, _, _ in failed):
            c["cause"] = cause
    likely = (f"likely cause: {cause}" if cause else
              "likely cause: the files of two scans swapped, a wrong pixel_size_um, center_um or angle file, "
              "or stacks that need aligning (isxt align)")
    warnings = [f"{text}; {likely}" for _, _, _, text in failed]
    return ConsistencyReport(rows, cross, warnings, limits, converged=converged)
