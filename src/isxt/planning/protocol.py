"""The analytic steps of a plan: pixels, interior views, sparse angles and anchors.

* Pixels default to Nyquist sampling of each lens: ``p = 1 / (2 f_c)`` with
  ``f_c`` the OTF cut-off of :func:`isxt.sampling.otf_cutoff`.
* ``N_interior`` is the band-limited sampling of the ROI (App. B.3): the
  ROI's outermost pixel lies ``R = (cols − 1)/2`` pixels from the rotation
  axis, and ``N = ⌈2π R f_cut⌉`` views over 180° capture the fraction
  ``power`` of the interior lens's OTF power (:func:`isxt.sampling.angles_for_power`).
  The Nyquist bound ``⌊π R⌋`` samples every frequency the pixel grid holds.
* Sparse full-field angles are taken on the interior grid, so every sparse
  view (or its mirror, for a 360° scan) is an alignment anchor (App. B.1, Fig. 9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._deprecate import renamed_kwargs
from ..errors import InputError
from ..geometry import ScanGeometry, VolumeGeometry, angles_180
from ..optics import ZonePlate
from ..sampling import angles_for_power, otf_cutoff, subset_indices

__all__ = [
    "CONVENTIONS",
    "MIN_ANCHORS",
    "InteriorSampling",
    "nyquist_pixel",
    "interior_sampling",
    "sparse_indices",
    "count_anchors",
    "planned_scans",
]

#: ``paper``: 98 % of the OTF power with the authors' cut-off 1.22/OZW (656 views for the 60 nm lens);
#: ``ideal``: the same with the zone plate's own cut-off 1/OZW; ``nyquist``: πR, every frequency the
#: pixel grid holds (the paper's 1256 for the 35 nm lens).
CONVENTIONS = ("paper", "ideal", "nyquist")
#: Fig. 9: the interior alignment error stays flat down to about ten anchors.
MIN_ANCHORS = 10


@dataclass(frozen=True)
class InteriorSampling:
    """Result of :func:`interior_sampling` (all frequencies in cycles/µm)."""

    n_interior: int
    n_power: int
    n_nyquist: int
    radius_px: float
    f_cut_per_um: float
    f_otf_cutoff_per_um: float
    convention: str
    power: float

    def describe(self):
        """The convention in words, for reports."""
        if self.convention == "nyquist":
            return (f"Nyquist: ⌊πR⌋ = {self.n_nyquist} views for R = {self.radius_px:g} px "
                    f"(every frequency the pixel grid holds)")
        cut = "1.22/OZW (the paper's)" if self.convention == "paper" else "1/OZW (ideal zone plate)"
        return (f"{self.power:.0%} of the OTF power, cut-off {cut}: f_cut = {self.f_cut_per_um:.2f} cycles/µm, "
                f"N = ⌈2πR f_cut⌉ = {self.n_power} views for R = {self.radius_px:g} px")


def _check_convention(convention):
    if convention not in CONVENTIONS:
        raise InputError(f"unknown sampling convention {convention!r}; use one of {', '.join(CONVENTIONS)}")
    return convention


def nyquist_pixel(zone_plate, convention="paper"):
    """Pixel (µm) that samples the lens's OTF cut-off at Nyquist: ``1 / (2 f_c)``.

    ``'nyquist'`` uses the paper's cut-off. The 60 nm lens gets 24.6 nm
    (paper) or 30 nm (ideal).

    Examples
    --------
    >>> round(nyquist_pixel(ZonePlate(0.06), "ideal") * 1000, 1)
    30.0
    """
    conv = "ideal" if _check_convention(convention) == "ideal" else "paper"
    return 1.0 / (2.0 * otf_cutoff(zone_plate, conv))


@renamed_kwargs(roi_diameter="roi_diameter_um", pixel_size="pixel_size_um")
def interior_sampling(zone_plate, roi_diameter_um, pixel_size_um, convention="paper", power=0.98):
    """Views over 180° for the ROI (App. B.3), with the Nyquist bound beside them.

    Parameters
    ----------
    zone_plate : ZonePlate
        The interior lens.
    roi_diameter_um, pixel_size_um : float
        µm; the ROI detector has ``cols = round(roi_diameter_um / pixel_size_um)``
        pixels and its outermost pixel centre lies ``R = (cols − 1)/2`` pixels
        from the axis (400 px for the paper's 801-px field).
    convention : {'paper', 'ideal', 'nyquist'}
    power : float
        OTF power fraction (the paper: 0.98).

    ``roi_diameter`` and ``pixel_size`` are the deprecated names.

    Examples
    --------
    >>> interior_sampling(ZonePlate(0.06), 801 * 0.02, 0.02).n_interior
    656
    """
    _check_convention(convention)
    cols = int(round(roi_diameter_um / pixel_size_um))
    if cols < 3:
        raise InputError(f"the ROI ({roi_diameter_um:g} µm) spans fewer than 3 pixels of {pixel_size_um:g} µm; "
                         "use a smaller --interior-pixel or a larger --roi-diameter")
    radius = (cols - 1) / 2.0
    conv = "ideal" if convention == "ideal" else "paper"
    f_cut, n_power = angles_for_power(zone_plate, radius, pixel_size_um, power, conv)
    n_nyquist = int(np.floor(np.pi * radius + 1e-9))
    n = n_nyquist if convention == "nyquist" else min(n_power, n_nyquist)
    return InteriorSampling(int(n), int(n_power), n_nyquist, radius, float(f_cut),
                            float(otf_cutoff(zone_plate, conv)), convention, float(power))


def sparse_indices(n_full, n_interior):
    """Indices on the interior grid of ``n_full`` sparse views spread evenly over 180°.

    Examples
    --------
    >>> sparse_indices(4, 100).tolist()
    [0, 25, 50, 75]
    """
    return subset_indices(n_full, n_interior)


def count_anchors(sparse_angles, interior_angles, tolerance=1e-6):
    """Sparse views whose angle, or its mirror ``θ + π``, is an interior angle (radians)."""
    interior = np.mod(np.asarray(interior_angles, dtype=np.float64), np.pi)
    n = 0
    for a in np.mod(np.asarray(sparse_angles, dtype=np.float64), np.pi):
        d = np.abs(interior - a)
        n += bool(np.min(np.minimum(d, np.pi - d)) < tolerance)
    return n


@renamed_kwargs(interior_pixel="interior_pixel_um", full_pixel="full_pixel_um", roi_diameter="roi_diameter_um",
                roi_center="roi_center_um")
def planned_scans(volume, n_interior, n_full, interior_pixel_um, full_pixel_um, roi_diameter_um, roi_center_um):
    """``(interior, sparse)`` ScanGeometry of a protocol on ``volume``.

    The interior scan follows the ROI centre (µm, absolute); the sparse scan
    covers the volume and takes its ``n_full`` angles from the interior grid.
    The names without ``_um`` are deprecated and go in the next release.
    """
    if not isinstance(volume, VolumeGeometry):
        raise InputError(f"volume must be a VolumeGeometry, got {type(volume).__name__}")
    interior = ScanGeometry.interior(volume, n_interior, interior_pixel_um, roi_diameter_um, roi_center_um)
    grid = angles_180(n_interior)
    full = ScanGeometry.full_field(volume, n_full, full_pixel_um)
    sparse = ScanGeometry(grid[sparse_indices(n_full, n_interior)], full.det_shape, full_pixel_um, full.center_um)
    return interior, sparse


def lens(ozw_nm, energy_ev):
    """The zone plate of outer zone width ``ozw_nm``: the XM-2 objective for 35 and 60 nm, else a generic one."""
    ozw = float(ozw_nm)
    if not np.isfinite(ozw) or not 5.0 <= ozw <= 500.0:
        raise InputError(f"a lens resolution (outermost zone width) must be 5-500 nm, got {ozw_nm!r}")
    if ozw in (35.0, 60.0):
        return ZonePlate.xm2(ozw, energy_ev=float(energy_ev))
    return ZonePlate(ozw / 1000.0, energy_ev=float(energy_ev))
