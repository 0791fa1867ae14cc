"""Baseline reconstructions to compare the combined method with.

* :func:`interior_only` — the truncated interior scan alone (cupping bias).
* :func:`sparse_only` — the sparse full-field scan alone (unbiased, blurry).
* :func:`dense_full` — a dense full-field scan (the reference, more dose).
* :func:`combined` — the paper's joint reconstruction ``[A_roi; A_full] x = y`` (Eq. 7).
* :func:`sinogram_extension` — the scout-view method the paper contrasts
  itself with (its ref. [14]): reconstruct the sparse scan, re-project it in
  the interior geometry on a detector wide enough to see the whole object,
  put the measured interior data in the middle and reconstruct the extended
  data alone.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .geometry import ScanGeometry
from .reconstruct import Scan, build_operator, reconstruct

__all__ = [
    "interior_only",
    "sparse_only",
    "dense_full",
    "combined",
    "extended_geometry",
    "extend_sinogram",
    "sinogram_extension",
]


def _check_scan(scan, what):
    if not isinstance(scan, Scan):
        raise InputError(f"{what} must be an isxt.Scan (geometry + data), got {type(scan).__name__}")


def interior_only(interior, volume, **kwargs):
    """Reconstruct the interior scan alone; ``kwargs`` go to :func:`isxt.reconstruct.reconstruct`."""
    _check_scan(interior, "interior")
    return reconstruct([interior], volume, **kwargs)


def sparse_only(sparse, volume, **kwargs):
    """Reconstruct the sparse full-field scan alone."""
    _check_scan(sparse, "sparse")
    return reconstruct([sparse], volume, **kwargs)


def dense_full(dense, volume, **kwargs):
    """Reconstruct a dense full-field scan (the full-dose reference)."""
    _check_scan(dense, "dense")
    return reconstruct([dense], volume, **kwargs)


def combined(interior, sparse, volume, **kwargs):
    """The combined reconstruction of Eq. 7 from both scans jointly."""
    _check_scan(interior, "interior")
    _check_scan(sparse, "sparse")
    return reconstruct([interior, sparse], volume, **kwargs)


def extended_geometry(interior_geometry, volume, margin_px=2):
    """The interior geometry on a detector wide enough to see the whole volume.

    Same angles, pixel size, rows, centre and shifts; ``pad`` columns are
    added on each side so that the original columns sit at
    ``[pad, pad + cols)`` exactly (the centre does not move).

    Returns
    -------
    geometry : ScanGeometry
    pad : int
    """
    g = interior_geometry
    sx, sy, _ = volume.extent
    cx, cy, _ = volume.center_um
    corners = np.array([(cx + a * sx / 2, cy + b * sy / 2) for a in (-1, 1) for b in (-1, 1)])
    uc, _ = g.detector_center()
    cos, sin = np.cos(g.angles), np.sin(g.angles)
    u = corners[:, 0][None] * cos[:, None] + corners[:, 1][None] * sin[:, None] - uc[:, None]
    half_width = float(np.abs(u).max())
    pad = max(0, int(np.ceil(half_width / g.pixel_size_um - g.cols / 2)) + int(margin_px))
    wide = ScanGeometry(g.angles, (g.rows, g.cols + 2 * pad), g.pixel_size_um, g.center_um, g.shifts_um)
    return wide, pad


def extend_sinogram(measured, reprojected, pad, feather=0):
    """Put ``measured`` into the middle of ``reprojected`` (``pad`` columns each side).

    Parameters
    ----------
    measured : ndarray, (n_angles, rows, cols)
    reprojected : ndarray, (n_angles, rows, cols + 2 pad)
    pad : int
    feather : int
        Blend over this many columns inside each seam: the weight of the
        measured data rises linearly from the seam, which hides a step
        between the re-projected and measured values.

    Returns
    -------
    ndarray, float32
    """
    measured = np.asarray(measured, dtype=np.float32)
    out = np.array(reprojected, dtype=np.float32, copy=True)
    n, rows, cols = measured.shape
    if out.shape != (n, rows, cols + 2 * pad):
        raise InputError(f"re-projected data {out.shape} do not fit measured {measured.shape} with pad {pad}")
    feather = int(feather)
    if feather < 0 or 2 * feather > cols:
        raise InputError(f"feather must be between 0 and half the interior width ({cols // 2}), got {feather}")
    w = np.ones(cols, dtype=np.float32)
    if feather:
        ramp = (np.arange(feather, dtype=np.float32) + 0.5) / feather
        w[:feather] = ramp
        w[cols - feather:] = ramp[::-1]
    middle = out[:, :, pad:pad + cols]
    out[:, :, pad:pad + cols] = w * measured + (1 - w) * middle
    return out


def sinogram_extension(
    interior,
    sparse,
    volume,
    iterations=50,
    sparse_iterations=None,
    feather=0,
    method="cgls",
    stop=None,
    sparse_stop=None,
    backend="numba",
    progress=False,
    return_info=False,
):
    """The sinogram-extension (scout-view) baseline.

    1. reconstruct the sparse scan alone;
    2. re-project it in the interior geometry on a detector that covers the
       whole volume (:func:`extended_geometry`), through the interior scan's
       PSF model if it has one;
    3. replace the central columns by the measured interior data
       (:func:`extend_sinogram`, optionally feathered at the seams);
    4. reconstruct the extended scan alone.

    Parameters
    ----------
    interior, sparse : Scan
    volume : VolumeGeometry
    iterations : int
        Iterations of the final reconstruction.
    sparse_iterations : int, optional
        Iterations of the sparse reconstruction (default ``iterations``).
    feather : int
        Seam blending width in columns.
    method : str
        Solver of both reconstructions.
    stop, sparse_stop : stopping rule, optional
        For the final and the sparse reconstruction (e.g. an ``Oracle``).
    backend : str
    progress : bool
    return_info : bool
        Also return ``{'sparse': x_sparse, 'extended': Scan, 'pad': pad}``.

    Returns
    -------
    x : ndarray, float32
    info : dict (with ``return_info=True``)
    """
    _check_scan(interior, "interior")
    _check_scan(sparse, "sparse")
    x_sparse = reconstruct([sparse], volume, method=method,
                           iterations=iterations if sparse_iterations is None else sparse_iterations,
                           stop=sparse_stop, backend=backend, progress=progress)
    wide, pad = extended_geometry(interior.geometry, volume)
    model = build_operator(Scan(wide, np.zeros(wide.shape, np.float32), psf=interior.psf), volume, backend)
    data = extend_sinogram(interior.data, model.forward(x_sparse), pad, feather)
    extended = Scan(wide, data, name="extended", psf=interior.psf)
    x = reconstruct([extended], volume, method=method, iterations=iterations, stop=stop, backend=backend,
                    progress=progress)
    if return_info:
        return x, {"sparse": x_sparse, "extended": extended, "pad": pad}
    return x
