"""Angular sampling of a band-limited Radon transform (App. B.3, Fig. 11).

Rattey & Lindgren (1981): the Radon transform of a point at radius ``r0`` has
the angular–spatial spectrum

    |P(k_θ, f)| ∝ |J_{k_θ}(2π r0 f)|                    (Eq. 17–18)

(``k_θ`` the integer angular frequency over a full turn, ``f`` the detector
frequency). ``J_n(x)`` is negligible for ``|n| > x``, so the spectrum fills a
"bow-tie" ``|k_θ| ≤ 2π r0 |f|``. Views over 180° resolve ``|k_θ| ≤ N_a`` with
``N_a`` views (parallel-beam views at θ and θ + π carry the same data), so a
band limit ``f_cut`` needs ``N_a ≈ 2π R f_cut`` views over 180° for an object
of radius ``R`` (``π R`` at the detector Nyquist frequency, the classic
``π/2 · width`` rule). The microscope's OTF multiplies the columns (Eq. 19).

Conventions used here: radii and ``n_u`` in detector pixels, ``f`` in cycles
per pixel unless a name says ``_um``. "Number of angles" always means views
over a half turn.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import cumulative_trapezoid

from ._deprecate import renamed_kwargs
from .errors import InputError
from .lens_psf import bessel_table
from .optics import RAYLEIGH_FACTOR, ideal_otf

__all__ = [
    "radon_spectrum_point",
    "radon_spectrum_point_numeric",
    "otf_zone_plate",
    "otf_cutoff",
    "cumulative_power",
    "otf_power_fraction",
    "angles_for_power",
    "nyquist_angles",
    "subset_indices",
    "bowtie_plot",
]

CONVENTIONS = ("paper", "ideal")


def radon_spectrum_point(radius_px, n_u=800, n_angles_max=None, otf=None):
    """``|F(k_θ, k_u)|`` of the sinogram of a point at ``radius_px`` (Eq. 18–19).

    Parameters
    ----------
    radius_px : float
        Distance of the point from the rotation axis, in pixels.
    n_u : int
        Detector width ``L`` in pixels; column ``k_u`` is the frequency
        ``f = k_u / n_u`` cycles/pixel, ``k_u = 0 .. n_u//2``.
    n_angles_max : int, optional
        Largest angular frequency ``k_θ`` (rows ``0 .. n_angles_max``); default
        ``1.25 · 2π r0 · 0.5`` + 10, past the bow-tie at the Nyquist frequency.
    otf : callable or array_like, optional
        OTF as a function of ``f`` (cycles/pixel) or one value per column; it
        multiplies the columns (Eq. 19).

    Returns
    -------
    ndarray, float64, shape ``(n_angles_max + 1, n_u//2 + 1)``
        ``|J_{k_θ}(2π r0 k_u / n_u)| · |OTF|``, normalised so that each ideal
        column holds unit power over all ``k_θ ∈ ℤ`` (``Σ_n J_n² = 1``). Only
        ``k_θ ≥ 0`` is stored: ``|J_{-n}| = |J_n|``.
    """
    r0 = float(radius_px)
    if not np.isfinite(r0) or r0 < 0:
        raise InputError(f"radius_px must be a non-negative number of pixels, got {radius_px!r}")
    n_u = int(n_u)
    if n_u < 2:
        raise InputError(f"n_u must be at least 2 pixels, got {n_u}")
    if n_angles_max is None:
        n_angles_max = int(np.ceil(1.25 * np.pi * r0)) + 10
    freqs = np.arange(n_u // 2 + 1) / n_u
    # all integer orders at once by backward recurrence (scipy's jv costs ~1 µs a value)
    spectrum = np.abs(bessel_table(2 * np.pi * r0 * freqs, int(n_angles_max)).T)
    if otf is not None:
        column = otf(freqs) if callable(otf) else np.asarray(otf, dtype=np.float64)
        if column.shape != freqs.shape:
            raise InputError(f"otf must give one value per column ({freqs.size}), got shape {column.shape}")
        spectrum = spectrum * np.abs(column)[None, :]
    return spectrum


def radon_spectrum_point_numeric(radius_px, n_u=800, n_angles=None, phi0=0.0):
    """The same spectrum from a sampled sinogram, without Bessel functions.

    The sinogram of a point is ``δ(u − r0 cos(θ − φ0))``; its Fourier transform
    along ``u`` is ``exp(−2πi f r0 cos(θ − φ0))`` exactly, and an FFT over
    ``n_angles`` views on a full turn gives the ``k_θ`` axis. An independent
    check of Eq. 17–18 (Jacobi–Anger).

    Returns ``|F|`` with the layout of :func:`radon_spectrum_point`
    (rows ``k_θ = 0 .. n_angles//2``).
    """
    r0 = float(radius_px)
    if n_angles is None:
        n_angles = 2 * (int(np.ceil(1.25 * np.pi * r0)) + 10)
    theta = 2 * np.pi * np.arange(n_angles) / n_angles
    freqs = np.arange(int(n_u) // 2 + 1) / int(n_u)
    line = np.exp(-2j * np.pi * freqs[None, :] * r0 * np.cos(theta[:, None] - phi0))
    spectrum = np.abs(np.fft.fft(line, axis=0)) / n_angles
    return spectrum[: n_angles // 2 + 1]


def otf_cutoff(zone_plate, convention="paper"):
    """OTF cut-off frequency in cycles/µm.

    ``'ideal'``: ``2NA/λ = 1/OZW``, the incoherent cut-off of the zone plate
    itself. ``'paper'``: the authors' convention, an ideal lens whose Rayleigh
    radius equals the OZW (Airy ``v = 2π r 0.61/OZW``), i.e. ``1.22/OZW`` —
    22 % more optimistic; it is the convention that yields the paper's
    656 views for the 60 nm lens.
    """
    if convention == "ideal":
        return zone_plate.mtf_cutoff
    if convention == "paper":
        return 2 * RAYLEIGH_FACTOR / zone_plate.ozw_um
    raise InputError(f"unknown OTF convention {convention!r}; use one of {', '.join(CONVENTIONS)}")


@renamed_kwargs(pixel_size="pixel_size_um")
def otf_zone_plate(freqs, zone_plate, pixel_size_um, convention="paper"):
    """In-focus incoherent OTF of ``zone_plate`` at ``freqs`` cycles/pixel.

    ``(2/π)(arccos s − s√(1−s²))``, ``s = f / f_c`` with ``f_c`` from
    :func:`otf_cutoff`; ``pixel_size_um`` converts cycles/pixel to cycles/µm.
    """
    return ideal_otf(np.asarray(freqs, dtype=np.float64) / float(pixel_size_um), otf_cutoff(zone_plate, convention))


def cumulative_power(spectrum, column_power=None):
    """Fraction of the spectral power captured with ``N`` views over 180°, ``N = 0, 1, ...``.

    ``N`` views over a half turn resolve angular frequencies ``|k_θ| ≤ N``, so

        c[N] = Σ_{|k_θ| ≤ N} Σ_{k_u} |F|² / total,

    counting each stored row ``k_θ > 0`` twice (for ``±k_θ``).

    Parameters
    ----------
    spectrum : ndarray, shape ``(n_k_theta, n_k_u)``
        From :func:`radon_spectrum_point` (rows ``k_θ ≥ 0``).
    column_power : array_like, optional
        Exact total power of every column over all ``k_θ ∈ ℤ`` (e.g.
        ``|OTF|²``, by ``Σ J_n² = 1``); default: the total of ``spectrum``
        itself, which then reaches exactly 1 at its last row.
    """
    power = np.asarray(spectrum, dtype=np.float64) ** 2
    row = power.sum(axis=1)
    row[1:] *= 2.0
    cum = np.cumsum(row)
    total = cum[-1] if column_power is None else float(np.sum(column_power))
    return cum / total


def otf_power_fraction(freq_per_um, zone_plate, convention="paper"):
    """Fraction of the 1D OTF power ``∫₀^f |OTF|² df' / ∫₀^{f_c} |OTF|² df'`` (closed form).

    The power of a projection (a column of the sinogram spectrum) below ``f``
    is ``∫ |OTF|²`` along the one detector frequency axis, which is why the
    1D integral, not a 2D ``2πf df`` one, sets ``f_cut``.
    """
    s = np.clip(np.asarray(freq_per_um, dtype=np.float64) / otf_cutoff(zone_plate, convention), 0.0, 1.0)
    return _mtf2_integral(s) / _mtf2_integral(1.0)


def _mtf2_integral(s):
    """``∫₀^s ((2/π)(arccos t − t√(1−t²)))² dt`` on a fine grid (smooth integrand)."""
    t = np.linspace(0.0, 1.0, 20001)
    cum = cumulative_trapezoid(ideal_otf(t, 1.0) ** 2, t, initial=0.0)
    return np.interp(s, t, cum)


def nyquist_angles(radius_px):
    """Views over 180° that sample every frequency a pixel grid holds: ``2π R · 0.5 = π R``."""
    return int(np.ceil(np.pi * float(radius_px)))


def subset_indices(n_subset, n_grid, *, ends=False):
    """Indices of ``n_subset`` views spread evenly over a grid of ``n_grid`` views (180°).

    ``ends=False`` spaces them evenly around the half turn (view ``n_grid``
    is view 0 mirrored); ``ends=True`` puts the first and the last grid view
    in, so that a chain of grid views between two of them never runs past
    the last one (what interior alignment against anchors wants).

    Examples
    --------
    >>> subset_indices(4, 100).tolist()
    [0, 25, 50, 75]
    >>> subset_indices(4, 100, ends=True).tolist()
    [0, 33, 66, 99]
    """
    n_subset, n_grid = int(n_subset), int(n_grid)
    if not 1 <= n_subset <= n_grid:
        raise InputError(f"{n_subset} views cannot sit on a grid of {n_grid} views; need 1 <= {n_subset} <= {n_grid}")
    if ends:
        return np.unique(np.round(np.linspace(0, n_grid - 1, n_subset)).astype(int))
    return np.unique(np.round(np.arange(n_subset) * n_grid / n_subset).astype(int) % n_grid)


def angles_for_power(zone_plate, radius_px=400, pixel_size_um=0.02, fraction=0.98, convention="paper"):
    """``(f_cut, N_a)``: the frequency holding ``fraction`` of the OTF power and the views it needs.

    ``f_cut`` solves ``otf_power_fraction(f_cut) = fraction`` (1D OTF power)
    and is capped at the detector Nyquist frequency ``0.5/pixel_size``;
    ``N_a = ⌈2π R f_cut⌉`` views over 180° (``R = radius_px · pixel_size``).

    Parameters
    ----------
    zone_plate : ZonePlate
    radius_px : float
        Object (field) radius in pixels (the paper: 400 for an 801-px field).
    pixel_size_um : float
        Grid pixel (the paper: 20 nm).
    fraction : float
        Power fraction (the paper: 0.98).
    convention : {'paper', 'ideal'}
        OTF cut-off, see :func:`otf_cutoff`. With ``'paper'`` the 60 nm lens
        gives 656 views as in Fig. 11; the ideal 60 nm zone plate needs 538.

    Returns
    -------
    f_cut : float
        cycles/µm.
    n_angles : int
    """
    if not 0.0 < fraction < 1.0:
        raise InputError(f"fraction must be in (0, 1), got {fraction}")
    s = np.linspace(0.0, 1.0, 200001)
    frac = _mtf2_integral(s) / _mtf2_integral(1.0)
    f_cut = float(np.interp(fraction, frac, s)) * otf_cutoff(zone_plate, convention)
    f_cut = min(f_cut, 0.5 / float(pixel_size_um))
    n_angles = int(np.ceil(2 * np.pi * float(radius_px) * f_cut * float(pixel_size_um) - 1e-9))
    return f_cut, n_angles


def bowtie_plot(zone_plate, path, compare=None, radius_px=400, n_u=801, pixel_size_um=0.02, fraction=0.98, convention="paper"):
    """Fig. 11: the OTF-limited bow-tie and captured power vs views (:func:`isxt.plotting.analysis.bowtie_plot`)."""
    from .plotting.analysis import bowtie_plot as draw

    return draw(zone_plate, path, compare, radius_px, n_u, pixel_size_um, fraction, convention)
