"""Exact separable footprints of a cubic voxel in parallel-beam geometry.

In-plane, a square voxel of side ``s`` seen at angle θ projects to a trapezoid
(the convolution of boxes of widths ``s|cosθ|`` and ``s|sinθ|``) whose area is
``s²``. Integrating that trapezoid over a detector column gives the column's
weight exactly, for any ratio of pixel to voxel: there is no sampling of rays,
hence no aliasing. Along z, a slice maps to rows by the overlap of intervals.
The two parts multiply because the beam is parallel and perpendicular to z.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def trapezoid_cdf(t, hw, hf, height, ramp):
    """∫_{-∞}^{t} of a centred trapezoid (outer half-width ``hw``, flat half-width ``hf``).

    ``ramp`` is ``height / (2 (hw − hf))`` (0 for a box). Written without
    branches (clamps only) so that loops over voxels vectorise and never
    mispredict: the rising ramp, the flat top and the falling ramp each
    contribute the part of ``[-hw, t]`` that lies inside them. Computes in the
    precision of its arguments (float32 in the kernels: ``t`` is a small
    offset in pixels, so float32 keeps ~1e-7 relative accuracy).
    """
    zero = hw - hw  # 0 in the arguments' type, so float32 stays float32
    b = hw - hf
    rise = min(max(t + hw, zero), b)
    flat = min(max(t + hf, zero), hf + hf)
    fall = min(max(t - hf, zero), b)
    return ramp * (rise * rise - fall * fall) + height * (flat + fall)


@numba.njit(cache=True)
def trapezoid_params(cos_t, sin_t, voxel, pixel):
    """``(hw, hf, height, ramp, mass)`` of a voxel's column footprint, in pixel units.

    The profile is the chord length (µm) as a function of the detector
    coordinate in pixels; its area is ``voxel² / pixel``.
    """
    a = voxel * abs(cos_t) / pixel
    b = voxel * abs(sin_t) / pixel
    if b > a:
        a, b = b, a
    mass = voxel * voxel / pixel
    height = mass / a
    hw = 0.5 * (a + b)
    hf = 0.5 * (a - b)
    ramp = 0.0 if b < 1e-9 * a else height / (2.0 * b)
    if ramp == 0.0:
        hw = hf = 0.5 * a
    return hw, hf, height, ramp, mass


def axial_weights(volume, scan):
    """Banded slice-to-row weights per view.

    Returns
    -------
    first_row : ndarray (n_angles, nz) int32
        First detector row overlapped by each slice.
    weights : ndarray (n_angles, nz, band) float32
        Overlap of slice ``k`` with rows ``first_row + b``, as a fraction of the
        row height (the mean over the pixel's height of the indicator of the slice).
    """
    s, p = volume.voxel_size_um, scan.pixel_size_um
    _, vc = scan.detector_center()
    z = volume.coords("z")
    # slice interval in row units, per view
    lo = (z[None, :] - 0.5 * s - vc[:, None]) / p + scan.rows / 2.0
    hi = lo + s / p
    band = int(np.ceil(s / p)) + 1
    first = np.floor(lo).astype(np.int64)
    r = first[:, :, None] + np.arange(band)[None, None, :]
    overlap = np.clip(np.minimum(hi[:, :, None], r + 1) - np.maximum(lo[:, :, None], r), 0.0, None)
    overlap[(r < 0) | (r >= scan.rows)] = 0.0
    return first.astype(np.int32), overlap.astype(np.float32)
