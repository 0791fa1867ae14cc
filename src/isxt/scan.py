"""A measured scan (geometry + absorption data) and its forward model.

:class:`Scan` is what every workflow hands to :func:`isxt.reconstruct`;
:func:`build_operator` turns one into its operator (projector, then the
detector PSF if any).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .geometry import ScanGeometry
from .operators import convolve_detector, crop_detector, extend_rows, gaussian_kernel
from .projectors import projector

__all__ = ["Scan", "build_operator"]


@dataclass(eq=False)  # a measurement, not a value: compared and hashed by identity
class Scan:
    """One measured scan: its geometry and its absorption data ``−ln(I/I0)``.

    Parameters
    ----------
    geometry : ScanGeometry
    data : ndarray
        ``(n_angles, rows, cols)`` absorption (dimensionless).
    name : str, optional
        A label for tables and provenance (e.g. ``"interior"``, ``"sparse"``).
    weights : float or ndarray, optional
        Least-squares weight of the scan (scalar) or of every measurement.
    psf : float or ndarray, optional
        Detector PSF for the reconstruction model (Eq. 11–12): a Gaussian FWHM
        in µm, or a 2D kernel in detector pixels with odd sides.
    photons : float or ndarray, optional
        Incident photons per pixel; gives Poisson weights for ``method="pwls"``
        and the noise level for the discrepancy stopping rule.
    """

    geometry: ScanGeometry
    data: np.ndarray
    name: str | None = None
    weights: object = None
    psf: object = None
    photons: object = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.geometry, ScanGeometry):
            raise InputError(f"scan {self.label}: geometry must be an isxt.ScanGeometry")
        data = np.asarray(self.data)
        if data.shape != self.geometry.shape:
            raise InputError(
                f"scan {self.label}: data shape {data.shape} does not match the geometry "
                f"{self.geometry.shape} (n_angles, rows, cols)"
            )
        if not np.all(np.isfinite(data)):
            raise InputError(f"scan {self.label}: data contain NaN or inf; clean or mask them first")
        self.data = data.astype(np.float32, copy=False)

    @property
    def label(self):
        return self.name or "(unnamed)"

    def kernel(self):
        """The PSF as a detector kernel, or None."""
        if self.psf is None:
            return None
        if np.isscalar(self.psf):
            return gaussian_kernel(float(self.psf), self.geometry.pixel_size_um)
        return np.asarray(self.psf, dtype=np.float32)


def build_operator(scan, volume, backend="numba"):
    """The forward model of one scan: projector, then the detector PSF if any.

    With a PSF the projection is computed on a detector wider by the kernel's
    half-width on every side, blurred, and cropped to the real detector: a
    truncated (interior) detector receives light blurred in from just outside
    its edges, which zero padding at the edge would model as missing. Rows
    above and below the volume repeat the nearest row that sees it
    (:func:`isxt.operators.extend_rows`): a slab of a sample that continues in
    z blurs in light from that sample, not from empty space.
    """
    kernel = scan.kernel()
    if kernel is None:
        return projector(volume, scan.geometry, backend=backend)
    g = scan.geometry
    margins = (kernel.shape[0] // 2, kernel.shape[1] // 2)
    wide = ScanGeometry(g.angles, (g.rows + 2 * margins[0], g.cols + 2 * margins[1]), g.pixel_size_um, g.center_um, g.shifts_um)
    op = projector(volume, wide, backend=backend)
    first, last = wide.rows_covering(volume)
    if margins[0] and np.all(first <= last) and (np.any(first > 0) or np.any(last < wide.rows - 1)):
        op = extend_rows(op, first, last)
    return crop_detector(convolve_detector(op, kernel), margins)
