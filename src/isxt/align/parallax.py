"""The parallax between neighbouring interior views, predicted from the geometry.

An interior detector follows its ROI: its centre sits at
``u_c(θ) = cx cosθ + cy sinθ``. A point ``(x, y)`` of the sample lands at
``u = (x − cx) cosθ + (y − cy) sinθ`` on it, so between two views it moves by

    Δu = (x − cx)(cosθ_j − cosθ_i) + (y − cy)(sinθ_j − sinθ_i)

— its depth relative to the ROI centre times the angular step. Registering
view ``i`` onto view ``j`` finds the contrast-weighted mean of that motion
along the rays through the ROI, not the stage's shift. For an ROI off the
rotation axis it is systematic (0.5 px per step on average, 1.7 px at most,
for an ROI half a cell radius off the axis at Nyquist angular sampling, where
``Δθ = 2p/D`` makes it ``≈ 2·depth/D`` pixels at any scale), and chained over
the views between two anchors it drifts by pixels.

The rays through the ROI cross the whole sample; for a compact sample their
chords are centred on the line through its centre that is perpendicular to the
beam, so the mean depth is the depth of the sample's absorption centroid
``(X, Y)`` (:func:`sample_centroid`, from the aligned full-field views, where
the whole sample is in view). :func:`pair_parallax_px` is the motion of that
point; :func:`isxt.align.align_interior` subtracts it from every neighbour
pair. Measured on a 3D cell, ROI half a cell radius off the axis: neighbour
pairs biased by +0.49 px (mean, RMS 0.56 px) in ``u`` become unbiased
(+0.01 px, RMS 0.18 px), as good as a correction computed from the true
volume.
"""

from __future__ import annotations

import numpy as np

from .full_field import mass_centres

__all__ = ["sample_centroid", "pair_parallax_px"]


def sample_centroid(full_scan, full_data, good=None):
    """The sample's absorption centroid ``(X, Y)`` in µm, from full-field views.

    Every full-field view's column mass centre lies on
    ``u_com(θ) = X cosθ + Y sinθ − u_c(θ)`` once the stack is aligned
    (``full_scan`` carries its aligned shifts); a least-squares fit over the
    views gives ``(X, Y)``.

    Parameters
    ----------
    full_scan : ScanGeometry
        The full-field geometry with its aligned shifts.
    full_data : ndarray ``(n, rows, cols)``
    good : array of bool, optional
        Views to use (default: all with positive mass).

    Returns
    -------
    tuple of float
        ``(X, Y)`` µm; ``(nan, nan)`` with fewer than two usable views.

    Examples
    --------
    >>> import numpy as np
    >>> from isxt.geometry import ScanGeometry, VolumeGeometry
    >>> from isxt.projectors import projector
    >>> vol = VolumeGeometry((4, 32, 32), voxel_size_um=0.1)
    >>> x = np.zeros(vol.shape, np.float32); x[:, 20:24, 8:12] = 1.0   # a bar at x ≈ -0.6, y ≈ 0.6
    >>> scan = ScanGeometry.full_field(vol, 12, 0.1)
    >>> np.round(sample_centroid(scan, projector(vol, scan).forward(x)), 2)
    array([-0.6,  0.6])
    """
    com = mass_centres(full_scan.with_shifts(None), full_data)[:, 0]
    ucf, _ = full_scan.detector_center()
    ok = np.isfinite(com) if good is None else np.asarray(good, bool) & np.isfinite(com)
    if ok.sum() < 2:
        return (float("nan"), float("nan"))
    th = np.asarray(full_scan.angles)[ok]
    basis = np.column_stack([np.cos(th), np.sin(th)])
    (X, Y), *_ = np.linalg.lstsq(basis, com[ok] + np.asarray(ucf)[ok], rcond=None)
    return (float(X), float(Y))


def pair_parallax_px(interior_scan, i, j, centroid_um):
    """Column motion (interior pixels) of the sample centroid from view ``i`` to view ``j``.

    A neighbour registration ``d`` (the shift taking view ``i`` onto view
    ``j``, ``(rows, cols)`` px) estimates ``t_i − t_j + (0, parallax)``; the
    stage's relative shift is ``d − (0, parallax)``.

    Parameters
    ----------
    interior_scan : ScanGeometry
        Interior geometry (its centre is the ROI centre).
    i, j : int
        View indices.
    centroid_um : tuple of float
        ``(X, Y)`` from :func:`sample_centroid`; NaN gives 0 (no correction).

    Returns
    -------
    float
    """
    X, Y = centroid_um
    if not (np.isfinite(X) and np.isfinite(Y)):
        return 0.0
    cx, cy = interior_scan.center_um[:2]
    a, b = interior_scan.angles[i], interior_scan.angles[j]
    du = (X - cx) * (np.cos(b) - np.cos(a)) + (Y - cy) * (np.sin(b) - np.sin(a))
    return float(du / interior_scan.pixel_size_um)
