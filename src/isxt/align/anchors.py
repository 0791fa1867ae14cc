"""Anchors: aligned full-field views resampled onto the interior detector window (App. B.1, Fig. 8).

An anchor is an absolute reference for the interior image at its angle: a
full-field view (or its mirror at ``θ + π``, flipped in ``u``) cut to the
interior window and put on the interior pixel grid. The pairs ``C_a`` of
Eq. 14 join each interior image to the anchors closer in angle than half its
nearest-neighbour spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

__all__ = ["Anchor", "make_anchors", "anchor_pairs"]


def _wrap(a):
    """Angle difference wrapped to ``(-π, π]``."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


@dataclass
class Anchor:
    """A full-field view resampled onto an interior detector window.

    Attributes
    ----------
    image : ndarray ``(rows + 2·margin, cols + 2·margin)``
        Interior-pixel image; pixel ``(r + margin, c + margin)`` is where the
        unshifted interior detector pixel ``(r, c)`` would be.
    angle : float
        The angle (radians) at which it is an interior view: the full-field
        angle, or that angle − π for a mirror view.
    full_index : int
        The full-field view it comes from.
    mirrored : bool
        Made from the view at ``angle + π`` (flipped in ``u``).
    margin : int
        Extra pixels on each side.
    """

    image: np.ndarray
    angle: float
    full_index: int
    mirrored: bool
    margin: int


def _anchor_image(full_scan, full_image, k, interior_scan, mirrored, margin):
    """Resample full-field view ``k`` onto the (margin-padded) interior window at its angle."""
    theta_f = full_scan.angles[k]
    theta_t = theta_f - np.pi if mirrored else theta_f
    sign = -1.0 if mirrored else 1.0
    pi, pf = interior_scan.pixel_size_um, full_scan.pixel_size_um
    cxi, cyi, czi = interior_scan.center_um
    cols = np.arange(interior_scan.cols + 2 * margin) - margin
    rows = np.arange(interior_scan.rows + 2 * margin) - margin
    u_i = (cols + 0.5 - interior_scan.cols / 2.0) * pi
    v_i = (rows + 0.5 - interior_scan.rows / 2.0) * pi
    # x cosθ_t + y sinθ_t of the ray through each interior column, and z of each row
    s = u_i + cxi * np.cos(theta_t) + cyi * np.sin(theta_t)
    z = v_i + czi
    ucf, vcf = full_scan.detector_center()
    u_f = sign * s - ucf[k]  # a mirror view sees x cosθ + y sinθ with the opposite sign
    v_f = z - vcf[k]
    col_f = u_f / pf + full_scan.cols / 2.0 - 0.5
    row_f = v_f / pf + full_scan.rows / 2.0 - 0.5
    rr, cc = np.meshgrid(row_f, col_f, indexing="ij")
    img = map_coordinates(np.asarray(full_image, dtype=np.float64), [rr, cc], order=3, mode="constant", cval=0.0)
    return img


def make_anchors(full_scan, full_data, interior_scan, *, views=None, use_mirrors=True, margin=0):
    """Anchors from aligned full-field views.

    Parameters
    ----------
    full_scan : ScanGeometry
        The full-field geometry *with its aligned shifts*.
    full_data : ndarray ``(n_full, rows, cols)``
    interior_scan : ScanGeometry
        The nominal interior geometry (pixel size, window, ROI centre).
    views : sequence of int, optional
        Full-field views to use (default: all).
    use_mirrors : bool
        Also make, from every view, the mirrored anchor at ``θ − π``.
    margin : int
        Extra interior pixels on each side of the window.

    Returns
    -------
    list of Anchor
    """
    views = range(full_scan.n_angles) if views is None else views
    anchors = []
    for k in views:
        k = int(k)
        for mirrored in (False, True) if use_mirrors else (False,):
            img = _anchor_image(full_scan, full_data[k], k, interior_scan, mirrored, margin)
            angle = float(full_scan.angles[k] - np.pi) if mirrored else float(full_scan.angles[k])
            anchors.append(Anchor(img, angle, k, mirrored, margin))
    return anchors


def _neighbour_spacing(angles, good):
    """Per view: the angular distance to its nearest good neighbour (inf for a lone view)."""
    a = np.asarray(angles)
    out = np.full(len(a), np.inf)
    gi = np.flatnonzero(good)
    for i in range(len(a)):
        others = gi[gi != i]
        if others.size:
            out[i] = np.min(np.abs(_wrap(a[others] - a[i])))
    return out


def anchor_pairs(interior_angles, anchors, good=None):
    """The pairs ``C_a``: ``(image, anchor)`` closer in angle than half the image's neighbour spacing."""
    good = np.ones(len(interior_angles), bool) if good is None else np.asarray(good, bool)
    spacing = _neighbour_spacing(interior_angles, good)
    pairs = []
    for i in np.flatnonzero(good):
        for j, anc in enumerate(anchors):
            if abs(_wrap(interior_angles[i] - anc.angle)) < 0.5 * spacing[i]:
                pairs.append((int(i), j))
    return pairs
