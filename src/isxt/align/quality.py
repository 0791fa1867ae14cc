"""Frame quality flags and the alignment result shared by the full-field and interior steps."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._deprecate import renamed_fields

__all__ = ["AlignmentResult", "FLAGS", "classify_frames", "interpolate_flagged", "outlier_views"]

#: Flag texts written to the shifts CSV. ``blank``, ``saturated`` and
#: ``lowcorr`` views carry shifts interpolated from their neighbours;
#: ``outlier`` views keep their own (well-correlated) estimate.
FLAGS = ("ok", "blank", "saturated", "lowcorr", "outlier")


@renamed_fields(shifts="shifts_um", pixel_size="pixel_size_um")
@dataclass
class AlignmentResult:
    """Per-view shifts of one scan.

    Attributes
    ----------
    shifts_um : ndarray, ``(n_angles, 2)``
        ``(du, dv)`` in µm, to be put into the geometry:
        ``scan.with_shifts(result.shifts_um)`` then models the measured data.
    flags : list of str
        One of :data:`FLAGS` per view.
    angles : ndarray
        The views' angles (radians).
    pixel_size_um : float
        The scan's detector pixel (µm), for ``shifts_px``.
    info : dict
        Diagnostics (NCC scores, anchors, iterations...).

    The names ``shifts`` and ``pixel_size`` are deprecated and go in the next release.
    """

    shifts_um: np.ndarray
    flags: list
    angles: np.ndarray
    pixel_size_um: float
    info: dict = field(default_factory=dict)

    @property
    def shifts_px(self):
        """Shifts in detector pixels of this scan."""
        return np.asarray(self.shifts_um) / self.pixel_size_um

    @property
    def flagged(self):
        """Indices of views whose flag is not ``ok``."""
        return [i for i, f in enumerate(self.flags) if f != "ok"]

    def report(self):
        """One line per flagged view (empty when all are ok)."""
        return [
            f"view {i} ({np.degrees(self.angles[i]):.1f}°): {self.flags[i]}"
            for i in self.flagged
        ]


def classify_frames(data, blank_rel=0.05, saturated_fraction=0.05):
    """Flag views that carry no usable image.

    Parameters
    ----------
    data : ndarray ``(n_angles, rows, cols)``
        Absorption images.
    blank_rel : float
        A view whose standard deviation, or whose mean absorption, is below
        this fraction of a typical (75th percentile) view's is ``blank`` (no
        sample: shutter closed, beam lost). The mean catches a blank frame
        with photon noise, whose standard deviation is the noise's.
    saturated_fraction : float
        A view where more than this fraction of the pixels with contrast
        (above the view's minimum) sits exactly at its maximum — and ten
        times more than in the median view — is ``saturated`` (clipped;
        noise-free or z-invariant images tie some pixels in every view). A
        zero background is not a clip.

    Returns
    -------
    list of str
        ``'ok'``, ``'blank'`` or ``'saturated'`` per view.
    """
    data = np.asarray(data)
    flat_all = data.reshape(len(data), -1)
    std = flat_all.std(axis=1)
    ref_std = np.percentile(std, 75) if np.any(std > 0) else 1.0  # robust to a few bad views
    level = np.abs(flat_all.mean(axis=1))
    ref_level = np.percentile(level, 75)
    ref_peak = np.percentile(np.abs(flat_all).max(axis=1), 75) or 1.0
    tol = 1e-6 * ref_peak
    tied = np.array([
        np.sum(f >= f.max() - tol) / max(np.sum(f > f.min() + tol), 1) for f in flat_all
    ])
    # noise-free or z-invariant images tie pixels at their maximum too: a clip is an exception in the stack
    tied_limit = max(saturated_fraction, 10.0 * np.median(tied))
    flags = []
    for flat, s, t, m in zip(flat_all, std, tied, level):
        if t > tied_limit and flat.max() > blank_rel * ref_peak:  # a clip at a real absorption level
            flags.append("saturated")
        elif s <= blank_rel * ref_std or (ref_level > 0 and m <= blank_rel * ref_level):
            flags.append("blank")
        else:
            flags.append("ok")
    return flags


def interpolate_flagged(angles, shifts, bad):
    """Replace the shifts of views ``bad`` by linear interpolation in angle between good views."""
    shifts = np.array(shifts, dtype=np.float64)
    bad = np.zeros(len(angles), bool) if bad is None else np.asarray(bad, bool)
    good = ~bad
    if good.sum() == 0:
        return shifts
    order = np.argsort(angles)
    a = np.asarray(angles)[order]
    g = good[order]
    for k in range(2):
        col = shifts[order, k]
        col[~g] = np.interp(a[~g], a[g], col[g])
        shifts[order, k] = col
    return shifts


def outlier_views(angles, shifts, threshold):
    """Views whose shift departs from the median of their 4 nearest neighbours (in angle) by more than ``threshold``."""
    shifts = np.asarray(shifts, dtype=np.float64)
    n = len(shifts)
    order = np.argsort(angles)
    out = np.zeros(n, bool)
    for pos, i in enumerate(order):
        nb = [order[p] for p in range(max(0, pos - 2), min(n, pos + 3)) if p != pos]
        if len(nb) < 2:
            continue
        med = np.median(shifts[nb], axis=0)
        out[i] = np.hypot(*(shifts[i] - med)) > threshold
    return out
