"""Image formation: Beer–Lambert, band-limited and depth-dependent PSF projections, noise.

The models of the paper's simulations (§2.2, App. A, App. B.2), in three modules:

* :mod:`.physics`: Beer–Lambert, the band-limited projections, the dual-energy
  contamination of Eq. 16, and :func:`depth_psf_direct`, the thin-slab
  reference of the depth-dependent PSF model;
* :mod:`.noise`: Poisson noise with the paper's z-equalising flat field, and
  :func:`noisy_absorption`, the one step from noiseless transmission to noisy
  absorption;
* :mod:`.driver`: :func:`simulate_projections`, which chains them.

The depth-dependent PSF projector itself, :class:`DepthPSFProjector` (Ekman et
al 2018, the paper's "linearized incoherent model"), is an operator and lives
in :mod:`isxt.projectors.depth_psf`; it is re-exported here.
"""

from __future__ import annotations

from ..projectors.depth_psf import DepthPSFProjector, slab_depths
from .driver import SimulatedProjections, simulate_projections
from .noise import equalising_flat_field, noisy_absorption, photons_per_pixel, poisson_noise
from .physics import (
    absorption_from_intensity,
    affine_stray_light,
    band_limit,
    beer_lambert,
    depth_psf_direct,
    dual_energy_transmission,
)

__all__ = [
    "beer_lambert",
    "absorption_from_intensity",
    "band_limit",
    "DepthPSFProjector",
    "depth_psf_direct",
    "slab_depths",
    "poisson_noise",
    "noisy_absorption",
    "equalising_flat_field",
    "photons_per_pixel",
    "dual_energy_transmission",
    "affine_stray_light",
    "SimulatedProjections",
    "simulate_projections",
]
