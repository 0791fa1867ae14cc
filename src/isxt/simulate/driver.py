"""The simulation driver: an LAC volume to the absorption data of one scan (:func:`simulate_projections`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .._deprecate import renamed_kwargs
from ..errors import InputError
from ..optics import ZonePlate
from ..projectors import projector
from ..projectors.depth_psf import DepthPSFProjector
from .noise import equalising_flat_field, noisy_absorption
from .physics import absorption_from_intensity, band_limit, beer_lambert, dual_energy_transmission

__all__ = ["SimulatedProjections", "simulate_projections"]


@dataclass
class SimulatedProjections:
    """Output of :func:`simulate_projections`.

    Attributes
    ----------
    absorption : ndarray, float32
        ``-ln(I/I0)``: what a reconstruction consumes.
    transmission : ndarray, float32
        ``I/I0`` (noisy if photons were given).
    photons : ndarray or None
        Incident photons per pixel used for the noise (flat field included),
        broadcastable to the projections; ``None`` when noiseless.
    ideal_absorption : ndarray, float32
        The plain projection ``A µ`` (no PSF, no noise).
    """

    absorption: np.ndarray
    transmission: np.ndarray
    photons: np.ndarray | None
    ideal_absorption: np.ndarray


@renamed_kwargs(focus="focus_um")
def simulate_projections(
    lac,
    volume,
    scan,
    *,
    psf=None,
    photons=None,
    seed=0,
    flat_field="equalise",
    dual_energy=None,
    focus_um=0.0,
    n_slabs=None,
    backend="numba",
    progress=None,
):
    """Simulate SXT projections of an LAC volume.

    Parameters
    ----------
    lac : ndarray, shape ``volume.shape``
        Linear absorption coefficients in 1/µm.
    volume, scan : VolumeGeometry, ScanGeometry
    psf : None, float, ndarray or ZonePlate
        ``None``: ideal projections. A number: Gaussian FWHM in µm applied to
        the intensity (:func:`band_limit`, the paper's band-limited study). A
        2D odd kernel: the same with that kernel. A :class:`ZonePlate`: the
        depth-dependent linearized model (:class:`DepthPSFProjector`).
    photons : float, optional
        Incident photons per pixel (see :func:`photons_per_pixel`); ``None``
        gives noiseless data.
    seed : int
        Seed for the Poisson noise.
    flat_field : {'equalise', 'flat'}
        ``'equalise'``: the paper's z-equalising illumination
        (:func:`equalising_flat_field` of the ideal projection), else uniform.
    dual_energy : dict, optional
        ``{'phi0': φ0, 'c': c}``: transmission by Eq. 16 instead of Beer–Lambert.
    focus_um, n_slabs : float, int
        Passed to :class:`DepthPSFProjector` (``focus=`` is the deprecated name).
    backend : str
        Projector backend.
    progress : bool, optional
        tqdm bars (default: on for large jobs).

    Returns
    -------
    SimulatedProjections
    """
    lac = np.asarray(lac, dtype=np.float32)
    if lac.shape != volume.shape:
        raise InputError(f"LAC volume has shape {lac.shape}, geometry says {volume.shape}")
    if progress is None:
        progress = lac.size * scan.n_angles > 5e8
    ideal = projector(volume, scan, backend=backend).forward(lac)
    if psf is None:
        y = ideal
    elif isinstance(psf, ZonePlate):
        y = DepthPSFProjector(volume, scan, psf, n_slabs=n_slabs, focus_um=focus_um, backend=backend, progress=progress).forward(lac)
    elif np.ndim(psf) == 0:
        y = band_limit(ideal, float(psf), scan.pixel_size_um)
    else:
        kernel = np.asarray(psf, dtype=np.float64)
        if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise InputError(f"psf kernel must be 2D with odd sides, got shape {kernel.shape}")
        y = -np.log(ndimage.convolve(np.exp(-ideal.astype(np.float64)), kernel[None] / kernel.sum(), mode="nearest"))
    if dual_energy is not None:
        try:
            transmission = dual_energy_transmission(y, dual_energy["phi0"], dual_energy["c"])
        except (KeyError, TypeError):
            raise InputError("dual_energy must be a dict with keys 'phi0' and 'c'") from None
    else:
        transmission = beer_lambert(y)
    if photons is None:
        return SimulatedProjections(
            absorption_from_intensity(transmission, clip=np.finfo(np.float32).tiny), transmission, None, ideal
        )
    if flat_field == "equalise":
        ff = equalising_flat_field(ideal)
    elif flat_field == "flat":
        ff = np.ones((1, 1, 1))
    else:
        raise InputError(f"flat_field must be 'equalise' or 'flat', got {flat_field!r}")
    n0 = float(photons) * ff
    absorption, noisy = noisy_absorption(transmission, n0, seed=seed, return_transmission=True)
    return SimulatedProjections(absorption, noisy, n0.astype(np.float32), ideal)
