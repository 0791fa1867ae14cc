"""Image formation physics: Beer–Lambert, band-limited projections, stray light, the depth-PSF reference.

* **Beer–Lambert**: ``I = I0 exp(-y)`` with absorption ``y = ∫ µ dl``.
* **Band-limited projections** (the noiseless study of §2.1): the ideal
  intensity ``exp(-y)`` blurred by a Gaussian whose FWHM is the outer zone
  width, then ``-ln`` again (:func:`band_limit`).
* **Dual-energy** contamination (Eq. 16) and its affine stray-light
  alternative.
* :func:`depth_psf_direct`: the thin-slab reference of the depth-dependent PSF
  model, against which :class:`isxt.projectors.depth_psf.DepthPSFProjector`
  is checked.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from .._deprecate import renamed_kwargs
from ..errors import InputError
from ..operators import gaussian_kernel
from ..projectors import projector
from ..projectors.depth_psf import depth_map, max_depth

__all__ = [
    "beer_lambert",
    "absorption_from_intensity",
    "band_limit",
    "dual_energy_transmission",
    "affine_stray_light",
    "depth_psf_direct",
]


def beer_lambert(absorption, i0=1.0):
    """Intensities ``i0 · exp(-absorption)`` (float32).

    Parameters
    ----------
    absorption : array_like
        Line integrals ``y = ∫ µ dl`` (dimensionless).
    i0 : float or array_like
        Incident intensity (broadcast against ``absorption``).
    """
    y = np.asarray(absorption, dtype=np.float64)
    return (np.asarray(i0, dtype=np.float64) * np.exp(-y)).astype(np.float32)


def absorption_from_intensity(intensity, i0=1.0, clip=None):
    """Absorption ``-ln(I/i0)`` (float32), the inverse of :func:`beer_lambert`.

    Parameters
    ----------
    intensity : array_like
        Measured (or simulated) intensity.
    i0 : float or array_like
        Incident intensity (flat field).
    clip : float, optional
        Smallest transmission ``I/i0`` allowed before the logarithm, e.g. one
        photon count ``1/photons``; by default only non-positive values are
        an error.
    """
    t = np.asarray(intensity, dtype=np.float64) / np.asarray(i0, dtype=np.float64)
    if clip is not None:
        t = np.maximum(t, clip)
    elif np.any(t <= 0):
        raise InputError("intensity has zero or negative values; pass clip= (e.g. 1/photons) to take the logarithm")
    return (-np.log(t)).astype(np.float32)


def band_limit(projections, fwhm_um, pixel_size_um):
    """Band-limit absorption projections by a Gaussian blur of the intensity.

    ``-ln(G ⊛ exp(-y))`` per view, with ``G`` a pixel-integrated Gaussian of
    FWHM ``fwhm_um`` (the paper uses FWHM = OZW). The blur acts on intensity
    because the microscope images intensities; detector borders extend the
    edge intensity (``mode='nearest'``) so no false absorption appears there.

    Parameters
    ----------
    projections : ndarray, shape ``(n_angles, rows, cols)``
        Absorption ``y``.
    fwhm_um, pixel_size_um : float
        Gaussian FWHM and detector pixel size in µm.
    """
    y = np.asarray(projections, dtype=np.float64)
    if y.ndim != 3:
        raise InputError(f"projections must be (n_angles, rows, cols), got shape {y.shape}")
    kernel = gaussian_kernel(fwhm_um, pixel_size_um).astype(np.float64)
    blurred = ndimage.convolve(np.exp(-y), kernel[None], mode="nearest")
    return (-np.log(blurred)).astype(np.float32)



def dual_energy_transmission(absorption, phi0, c):
    """Eq. 16: ``Î_B = φ0 Î_A + (1 − φ0) Î_A^c`` with ``Î_A = exp(-absorption)``.

    A fraction ``1 − φ0`` of the beam is a second energy whose LAC is ``c``
    times the first (higher-order light from the monochromator).
    """
    phi0 = float(phi0)
    if not 0.0 <= phi0 <= 1.0:
        raise InputError(f"phi0 is an intensity fraction in [0, 1], got {phi0}")
    ia = np.exp(-np.asarray(absorption, dtype=np.float64))
    return (phi0 * ia + (1.0 - phi0) * ia ** float(c)).astype(np.float32)


def affine_stray_light(transmission, a, b):
    """The affine stray-light alternative to Eq. 16: ``a · T + b``."""
    return (float(a) * np.asarray(transmission, dtype=np.float64) + float(b)).astype(np.float32)



@renamed_kwargs(focus="focus_um", depth_step="depth_step_um")
def depth_psf_direct(
    x, volume, scan, zone_plate, focus_um=0.0, depth_step_um=None, backend="numba", kernel_size=None, polychromatic=True
):
    """Reference depth-dependent PSF projection with thin slabs at their own depth.

    Voxel columns are binned by depth in bins of ``depth_step_um`` (default a
    quarter voxel) on a grid shared by all views, and each bin is projected
    and blurred with the PSF at the bin's depth. With a quarter-voxel step the
    PSF depth of every voxel is exact to ±1/8 voxel, so this converges to the
    per-voxel model of Ekman et al (2018); it costs one projection per
    occupied bin and view.

    Returns
    -------
    ndarray, float32, shape ``scan.shape``
    """
    x = np.asarray(x, dtype=np.float32)
    if x.shape != volume.shape:
        raise InputError(f"volume has shape {x.shape}, geometry says {volume.shape}")
    step = volume.voxel_size_um / 4 if depth_step_um is None else float(depth_step_um)
    radius = max_depth(volume, scan)
    if kernel_size is None:
        poly = polychromatic and zone_plate.monochromaticity is not None
        kernel_size = 2 * zone_plate.kernel_half_width(radius + abs(focus_um), scan.pixel_size_um, polychromatic=poly) + 1
    cache = {}
    out = np.zeros(scan.shape, dtype=np.float32)
    for a in range(scan.n_angles):
        view = projector(volume, scan[[a]], backend=backend)
        bins = np.rint(depth_map(volume, scan, scan.angles[a]) / step).astype(np.int64)
        acc = np.zeros(scan.shape[1:])
        for b in np.unique(bins):
            if b not in cache:
                cache[b] = zone_plate.psf_2d(b * step - focus_um, scan.pixel_size_um, size=kernel_size,
                                             polychromatic=polychromatic)
            proj = view.forward(x * (bins == b)[None])[0]
            acc += fftconvolve(proj.astype(np.float64), cache[b].astype(np.float64), mode="same")
        out[a] = acc
    return out

