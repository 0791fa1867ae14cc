"""Zone-plate optics from first principles: an ideal circular lens and its 3D PSF.

The objective of a soft X-ray microscope is a Fresnel zone plate. Treated as an
aberration-free circular lens with a uniform pupil (Born & Wolf §8.8), its
intensity point spread function in the optical coordinates

    u = (2π/λ) NA² z,      v = (2π/λ) NA r

(z: defocus along the beam, r: lateral distance) is

    I(u, v) = |2 ∫₀¹ J₀(vρ) exp(-i u ρ²/2) ρ dρ|²,

normalised to ``I(0, 0) = 1``. :func:`lommel_intensity` evaluates it with
Lommel functions (the closed form), :func:`psf_direct` by Gauss–Legendre
quadrature of the pupil integral; the two are independent and are checked
against each other in the tests (both live in :mod:`isxt.lens_psf`).

A zone plate with outer zone width ``Δr`` (OZW) and diameter ``D`` has
``NA = λ/(2Δr)`` and focal length ``f = DΔr/λ``. Because ``f ∝ 1/λ``, a finite
bandwidth ``Δλ`` (XM-2: a linear monochromator — condenser zone plate plus
pinhole — with ``λ/Δλ ≈ 300``) smears the focus along the beam by
``Δz ≈ f Δλ/λ`` (Weiss et al. 2000). :meth:`ZonePlate.psf_2d` therefore averages
the PSF over a Gaussian spectrum with each wavelength's focal shift, which
gives the elongated effective PSF of the paper (App. A).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import constants
from scipy.interpolate import CubicSpline

from ._deprecate import renamed_kwargs
from .errors import InputError
from .lens_psf import ideal_otf, lommel_intensity, psf_direct

__all__ = [
    "ZonePlate",
    "XM2_35NM",
    "XM2_60NM",
    "OZW_HIGH_RES_UM",
    "OZW_LOW_RES_UM",
    "wavelength_um",
    "energy_ev_from_wavelength",
    "HC_EV_UM",
    "lommel_intensity",
    "psf_direct",
    "ideal_otf",
    "FWHM_FACTOR",
    "RAYLEIGH_FACTOR",
]

#: FWHM of the in-focus Airy pattern in units of λ/NA (2·1.6163/(2π)).
FWHM_FACTOR = 2 * 1.616339948 / (2 * np.pi)
#: First dark ring of the Airy pattern in units of λ/NA (3.8317/(2π) ≈ 0.61).
RAYLEIGH_FACTOR = 3.831705970 / (2 * np.pi)

#: Planck constant times the speed of light in eV·µm (CODATA, exact since 2019): 1.239842 eV·µm.
HC_EV_UM = constants.h * constants.c / constants.e * 1e6
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def wavelength_um(energy_ev):
    """Photon wavelength in µm, λ = hc/E (517 eV → 0.0023982 µm)."""
    energy_ev = np.asarray(energy_ev, dtype=np.float64)
    if np.any(energy_ev <= 0):
        raise InputError(f"photon energy must be positive eV, got {energy_ev}")
    return HC_EV_UM / energy_ev


@renamed_kwargs(wavelength="wavelength_um")
def energy_ev_from_wavelength(wavelength_um):
    """Photon energy in eV for a wavelength in µm, ``E = hc/λ`` (the inverse of :func:`wavelength_um`)."""
    wavelength_um = np.asarray(wavelength_um, dtype=np.float64)
    if np.any(wavelength_um <= 0):
        raise InputError(f"wavelength must be positive µm, got {wavelength_um}")
    return HC_EV_UM / wavelength_um


# --------------------------------------------------------------------------
# Zone plate
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ZonePlate:
    """A Fresnel zone plate objective treated as an ideal circular lens.

    Parameters
    ----------
    ozw_um : float
        Outer zone width Δr in µm (0.035 for the XM-2 high-resolution lens).
    diameter_um : float, optional
        Lens diameter ``D`` in µm; sets the focal length ``f = DΔr/λ`` and so
        the chromatic focal shift. Needed only for polychromatic PSFs.
    n_zones : int, optional
        Number of zones ``N``; alternative to ``diameter_um`` (``D = 4NΔr``).
    energy_ev : float
        Photon energy (517 eV: λ = 2.398 nm, the water window).
    monochromaticity : float or None
        ``λ/Δλ`` with ``Δλ`` the FWHM of a Gaussian spectrum (XM-2: 300).
        ``None`` means monochromatic.

    Notes
    -----
    ``NA = λ/(2Δr)``, so the Rayleigh resolution ``0.61 λ/NA = 1.22 Δr`` and
    the incoherent cut-off ``2NA/λ = 1/Δr`` do not depend on the energy, while
    the depth of field ``λ/NA² = 4Δr²/λ`` does.

    Examples
    --------
    >>> zp = ZonePlate.xm2(35)
    >>> round(zp.resolution * 1000, 1), round(zp.depth_of_field, 2)
    (42.7, 2.04)
    """

    ozw_um: float
    diameter_um: float | None = None
    n_zones: int | None = None
    energy_ev: float = 517.0
    monochromaticity: float | None = 300.0

    def __post_init__(self):
        ozw = float(self.ozw_um)
        if not np.isfinite(ozw) or ozw <= 0 or ozw > 1.0:
            raise InputError(f"zone plate outer zone width must be in (0, 1] µm (e.g. 0.035), got {self.ozw_um!r}")
        object.__setattr__(self, "ozw_um", ozw)
        energy = float(self.energy_ev)
        if not np.isfinite(energy) or energy <= 0:
            raise InputError(f"zone plate energy must be positive eV (e.g. 517), got {self.energy_ev!r}")
        object.__setattr__(self, "energy_ev", energy)
        if self.monochromaticity is not None:
            mono = float(self.monochromaticity)
            if not np.isfinite(mono) or mono <= 1:
                raise InputError(f"monochromaticity λ/Δλ must be > 1 (e.g. 300) or None, got {self.monochromaticity!r}")
            object.__setattr__(self, "monochromaticity", mono)
        diameter = self.diameter_um
        if self.n_zones is not None:
            nz = int(self.n_zones)
            if nz < 1:
                raise InputError(f"n_zones must be a positive integer, got {self.n_zones!r}")
            object.__setattr__(self, "n_zones", nz)
            from_zones = 4.0 * nz * ozw
            if diameter is not None and abs(float(diameter) - from_zones) > 0.01 * from_zones:
                raise InputError(
                    f"diameter_um={diameter} disagrees with n_zones={nz} (D = 4 N OZW = {from_zones:.2f} µm); give one of them"
                )
            diameter = from_zones if diameter is None else diameter
        if diameter is not None:
            diameter = float(diameter)
            if not np.isfinite(diameter) or diameter <= 0:
                raise InputError(f"zone plate diameter must be positive µm, got {self.diameter_um!r}")
        object.__setattr__(self, "diameter_um", diameter)

    # -- factories -------------------------------------------------------------
    @classmethod
    def xm2(cls, ozw_nm, energy_ev=517.0, monochromaticity=300.0):
        """The XM-2 objectives (BESSY II): ``ozw_nm`` ∈ {35, 60}.

        Diameters follow from the focal lengths used by the paper's authors
        (931 µm and 1916 µm at 550 eV, ``D = fλ/Δr``): 60 µm for the 35 nm
        lens (429 zones) and 72 µm for the 60 nm lens (300 zones).
        """
        diameters = {35: 60.0, 60: 72.0}
        key = int(round(float(ozw_nm)))
        if key not in diameters or abs(float(ozw_nm) - key) > 1e-9:
            raise InputError(f"XM-2 objectives have OZW 35 or 60 nm, got {ozw_nm!r}; build a ZonePlate(ozw_um, diameter_um) instead")
        return cls(key / 1000.0, diameter_um=diameters[key], energy_ev=energy_ev, monochromaticity=monochromaticity)

    def monochromatic(self):
        """The same lens under monochromatic illumination."""
        return ZonePlate(self.ozw_um, self.diameter_um, None, self.energy_ev, None)

    # -- first-order optics ----------------------------------------------------
    @property
    def wavelength(self):
        """Nominal wavelength λ in µm."""
        return float(wavelength_um(self.energy_ev))

    @renamed_kwargs(wavelength="wavelength_um")
    def na_at(self, wavelength_um):
        """Numerical aperture ``λ/(2Δr)`` at ``wavelength_um`` (first diffraction order)."""
        return np.asarray(wavelength_um) / (2.0 * self.ozw_um)

    @property
    def na(self):
        """Numerical aperture at the nominal wavelength."""
        return float(self.na_at(self.wavelength))

    @property
    def resolution(self):
        """Rayleigh resolution ``0.61 λ/NA = 1.22 Δr`` in µm."""
        return RAYLEIGH_FACTOR * self.wavelength / self.na

    @property
    def fwhm(self):
        """FWHM of the in-focus intensity PSF, ``0.514 λ/NA``, in µm."""
        return FWHM_FACTOR * self.wavelength / self.na

    @property
    def depth_of_field(self):
        """Depth of field ``λ/NA²`` in µm (on-axis intensity ≥ 81 % within ±DOF/2)."""
        return self.wavelength / self.na**2

    @property
    def mtf_cutoff(self):
        """Incoherent cut-off frequency ``2NA/λ = 1/Δr`` in cycles/µm."""
        return 2.0 * self.na / self.wavelength

    @property
    def bandwidth(self):
        """Spectral FWHM ``Δλ = λ/(λ/Δλ)`` in µm (0 if monochromatic)."""
        return 0.0 if self.monochromaticity is None else self.wavelength / self.monochromaticity

    @renamed_kwargs(wavelength="wavelength_um")
    def focal_length_at(self, wavelength_um):
        """Focal length ``f = DΔr/λ`` in µm at ``wavelength_um``."""
        if self.diameter_um is None:
            raise InputError(
                "this ZonePlate has no diameter, so its focal length and chromatic focal shift are unknown; "
                "give diameter_um or n_zones, or use .monochromatic()"
            )
        return self.diameter_um * self.ozw_um / np.asarray(wavelength_um, dtype=np.float64)

    @property
    def focal_length(self):
        """Focal length in µm at the nominal wavelength."""
        return float(self.focal_length_at(self.wavelength))

    @property
    def chromatic_defocus_sigma(self):
        """Standard deviation (µm) of the focal position over the spectrum, ``f σ_λ/λ``."""
        if self.monochromaticity is None:
            return 0.0
        return self.focal_length / (self.monochromaticity * _FWHM_PER_SIGMA)

    def spectrum(self, n_wavelengths=11):
        """Quadrature of the Gaussian spectrum: wavelengths, weights and focal shifts.

        Gauss–Hermite nodes of a Gaussian with FWHM ``Δλ`` centred on λ. The
        focal shift of wavelength ``λ_i`` is ``f(λ_i) − f(λ)`` along the beam:
        at fixed object and detector positions and a large magnification the
        object-side plane in focus moves by the same amount (up to
        ``O(1/M)``), so a point at defocus ``z`` is at ``z − shift_i`` from the
        focus of ``λ_i``.

        Returns
        -------
        wavelengths, weights, shifts : ndarray
            µm, summing to 1, µm. A single node with zero shift when
            monochromatic.
        """
        lam = self.wavelength
        if self.monochromaticity is None or n_wavelengths <= 1:
            return np.array([lam]), np.array([1.0]), np.array([0.0])
        nodes, weights = np.polynomial.hermite_e.hermegauss(int(n_wavelengths))
        sigma = self.bandwidth / _FWHM_PER_SIGMA
        wavelengths = lam + sigma * nodes
        weights = weights / weights.sum()
        shifts = self.focal_length_at(wavelengths) - self.focal_length_at(lam)
        return wavelengths, weights, shifts

    # -- PSF -------------------------------------------------------------------
    @renamed_kwargs(wavelength="wavelength_um")
    def optical_coordinates(self, r_um, z_um, wavelength_um=None):
        """``(u, v)`` of lateral distance ``r`` and defocus ``z`` (µm)."""
        lam = self.wavelength if wavelength_um is None else wavelength_um
        na = self.na_at(lam)
        k = 2.0 * np.pi / lam
        return k * na**2 * np.asarray(z_um, dtype=np.float64), k * na * np.asarray(r_um, dtype=np.float64)

    @renamed_kwargs(wavelength="wavelength_um")
    def intensity(self, r_um, z_um, wavelength_um=None, method="lommel"):
        """Monochromatic intensity PSF at ``(r, z)`` µm, 1 at the focus.

        ``method``: ``'lommel'`` (closed form) or ``'direct'`` (quadrature).
        """
        u, v = self.optical_coordinates(r_um, z_um, wavelength_um)
        if method == "lommel":
            return lommel_intensity(u, v)
        if method == "direct":
            return psf_direct(u, v)
        raise InputError(f"unknown PSF method {method!r}; use 'lommel' or 'direct'")

    def density(self, r_um, z_um, polychromatic=True, n_wavelengths=11):
        """PSF as a probability density per µm² (each defocus plane integrates to 1).

        A monochromatic plane carries ``∫ I 2πr dr = λ²/(π NA²)`` at every
        defocus (energy conservation), hence the factor ``π NA²/λ²``. The
        polychromatic PSF is the spectrum-weighted mean of these densities,
        each wavelength at its own focal shift.
        """
        r = np.asarray(r_um, dtype=np.float64)
        z = np.asarray(z_um, dtype=np.float64)
        if polychromatic:
            wavelengths, weights, shifts = self.spectrum(n_wavelengths)
        else:
            wavelengths, weights, shifts = np.array([self.wavelength]), np.array([1.0]), np.array([0.0])
        r, z = np.broadcast_arrays(r, z)
        # all wavelengths in one PSF evaluation (the Lommel sums are vectorised)
        na = self.na_at(wavelengths)[:, None]
        k = (2.0 * np.pi / wavelengths)[:, None]
        u = k * na**2 * (z.ravel()[None, :] - shifts[:, None])
        v = k * na * r.ravel()[None, :]
        planes = lommel_intensity(u, v) * (np.pi * na**2 / wavelengths[:, None] ** 2)
        out = (weights[:, None] * planes).sum(axis=0).reshape(r.shape)
        return out

    def kernel_half_width(self, z_um, pixel_size_um, polychromatic=True, rings=6.0):
        """Half-width (pixels) of a kernel holding the defocus disc plus ``rings`` Rayleigh radii."""
        spread = 3.0 * self.chromatic_defocus_sigma if (polychromatic and self.monochromaticity) else 0.0
        if spread and self.diameter_um is None:
            spread = 0.0
        radius = self.na * (np.max(np.abs(z_um)) + spread) + rings * self.resolution
        return max(1, int(np.ceil(radius / pixel_size_um)))

    def psf_2d(self, z_um, pixel_size_um, size=None, polychromatic=True, oversample=5, n_wavelengths=11):
        """Pixel-integrated 2D PSF at defocus ``z_um``, as a detector kernel summing to 1.

        Parameters
        ----------
        z_um : float
            Distance of the imaged plane from the focal plane, µm.
        pixel_size_um : float
            Detector (sample-plane) pixel size, µm.
        size : int, optional
            Odd kernel side in pixels; default from :meth:`kernel_half_width`.
        polychromatic : bool
            Average over the spectrum with chromatic focal shifts (needs a
            diameter) — the default when ``monochromaticity`` is set.
        oversample : int
            Sub-samples per pixel side for the pixel integration.
        n_wavelengths : int
            Gauss–Hermite nodes of the spectrum.

        Returns
        -------
        ndarray, float32, shape ``(size, size)``
        """
        p = float(pixel_size_um)
        if not np.isfinite(p) or p <= 0:
            raise InputError(f"pixel_size_um must be positive, got {pixel_size_um!r}")
        poly = bool(polychromatic) and self.monochromaticity is not None
        if size is None:
            half = self.kernel_half_width(z_um, p, polychromatic=poly)
        else:
            size = int(size)
            if size < 1 or size % 2 == 0:
                raise InputError(f"PSF kernel size must be a positive odd integer, got {size}")
            half = size // 2
        os_ = max(1, int(oversample))
        # radial profile on a fine grid, then pixel integration by sub-sampling
        sub = (np.arange(os_) + 0.5) / os_ - 0.5
        axis = (np.arange(-half, half + 1)[:, None] + sub[None, :]).ravel() * p
        rr = np.hypot(axis[:, None], axis[None, :])
        r_max = rr.max()
        # the profile varies on the scale of the Airy rings (~λ/2NA); a cubic
        # spline through res/16 steps interpolates it to < 1e-5 of the peak
        step = min(p / os_, self.resolution / 16)
        r_grid = np.linspace(0.0, r_max, int(np.ceil(r_max / step)) + 2)
        profile = self.density(r_grid, float(z_um), polychromatic=poly, n_wavelengths=n_wavelengths)
        img = CubicSpline(r_grid, profile, bc_type=((1, 0.0), "not-a-knot"))(rr)
        n = 2 * half + 1
        kernel = img.reshape(n, os_, n, os_).mean(axis=(1, 3))
        total = kernel.sum()
        if not total > 0:
            raise InputError(f"PSF kernel at z={z_um} µm is empty; increase size")
        return (kernel / total).astype(np.float32)

    def psf_stack(self, z_values_um, pixel_size_um, size=None, **kwargs):
        """Kernels :meth:`psf_2d` for several defocus values, one common odd size."""
        z = np.atleast_1d(np.asarray(z_values_um, dtype=np.float64))
        if size is None:
            poly = kwargs.get("polychromatic", True) and self.monochromaticity is not None
            size = 2 * self.kernel_half_width(z, pixel_size_um, polychromatic=poly) + 1
        return np.stack([self.psf_2d(zi, pixel_size_um, size=size, **kwargs) for zi in z])

    def otf(self, pixel_size_um, size=None, z_um=0.0, polychromatic=False):
        """2D OTF: the FFT of the (pixel-integrated) PSF, 1 at zero frequency.

        Returns
        -------
        freqs : ndarray
            1D frequency axis in cycles/µm (``np.fft.fftfreq`` order).
        otf : ndarray, complex128, shape ``(size, size)``
            Centred at the kernel centre, so it is real for a symmetric PSF.
        """
        k = self.psf_2d(z_um, pixel_size_um, size=size, polychromatic=polychromatic).astype(np.float64)
        n = k.shape[0]
        spectrum = np.fft.fft2(np.fft.ifftshift(k))
        return np.fft.fftfreq(n, d=pixel_size_um), spectrum / spectrum[0, 0]

    def ideal_otf(self, freq_per_um):
        """Analytic in-focus OTF at frequencies in cycles/µm (cut-off ``2NA/λ``)."""
        return ideal_otf(freq_per_um, self.mtf_cutoff)

    def summary(self):
        """The lens's headline numbers (µm, cycles/µm) as a dict."""
        out = {
            "ozw_um": self.ozw_um,
            "energy_ev": self.energy_ev,
            "wavelength_um": self.wavelength,
            "na": self.na,
            "resolution_um": self.resolution,
            "fwhm_um": self.fwhm,
            "depth_of_field_um": self.depth_of_field,
            "mtf_cutoff_per_um": self.mtf_cutoff,
            "monochromaticity": self.monochromaticity,
        }
        if self.diameter_um is not None:
            out.update(
                diameter_um=self.diameter_um,
                focal_length_um=self.focal_length,
                chromatic_defocus_sigma_um=float(self.chromatic_defocus_sigma),
            )
        return out


#: XM-2 high-resolution objective (35 nm OZW, 517 eV, λ/Δλ = 300).
XM2_35NM = ZonePlate.xm2(35)
#: XM-2 standard objective (60 nm OZW, 517 eV, λ/Δλ = 300).
XM2_60NM = ZonePlate.xm2(60)
#: Outermost-zone widths (µm) of the high- and low-resolution objectives: the lenses of the combined
#: protocol, and the FWHM of the Gaussian band limit in the paper's band-limited studies.
OZW_HIGH_RES_UM = XM2_35NM.ozw_um
OZW_LOW_RES_UM = XM2_60NM.ozw_um
