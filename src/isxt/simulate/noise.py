"""Detector noise: Poisson counts, the paper's z-equalising flat field, and noisy absorption.

:func:`noisy_absorption` is the one place that turns a noiseless
transmission into the absorption a reconstruction consumes: Poisson counts,
then ``-ln(max(T, 1/N))``, a pixel that caught no photon read as one count.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .physics import absorption_from_intensity

__all__ = ["poisson_noise", "noisy_absorption", "equalising_flat_field", "photons_per_pixel"]


def poisson_noise(transmission, photons, seed=0, rng=None):
    """Noisy transmission ``counts / photons`` with ``counts ~ Poisson(photons · T)``.

    Parameters
    ----------
    transmission : array_like
        Noiseless ``I/I0``.
    photons : float or array_like
        Incident photons per pixel (broadcast; e.g. ``photons * flat_field``).
    seed : int
        Seed of ``np.random.default_rng`` when ``rng`` is not given.
    rng : numpy.random.Generator, optional

    Returns
    -------
    ndarray, float32
        Mean ``T`` and variance ``T/photons``; zero counts give 0.
    """
    t = np.asarray(transmission, dtype=np.float64)
    n0 = np.asarray(photons, dtype=np.float64)
    if np.any(~np.isfinite(n0)) or np.any(n0 <= 0):
        raise InputError("photons per pixel must be positive and finite")
    if np.any(t < 0):
        raise InputError("transmission must be non-negative")
    rng = np.random.default_rng(seed) if rng is None else rng
    counts = rng.poisson(n0 * t)
    return (counts / n0).astype(np.float32)



def noisy_absorption(transmission, photons, seed=0, rng=None, return_transmission=False):
    """Absorption ``-ln(max(T̃, 1/N))`` of Poisson-noisy transmission ``T̃`` (float32).

    The step every simulation with noise ends with: :func:`poisson_noise`,
    then the logarithm with a pixel that caught no photon read as one count
    (a detector floor), so the absorption stays finite.

    Parameters
    ----------
    transmission : array_like
        Noiseless ``I/I0``.
    photons : float or array_like
        Incident photons per pixel ``N`` (broadcast against ``transmission``).
    seed : int
        Seed of the noise when ``rng`` is not given.
    rng : numpy.random.Generator, optional
    return_transmission : bool
        Also return the noisy transmission ``T̃``.

    Returns
    -------
    absorption : ndarray, float32
    transmission : ndarray, float32
        Only with ``return_transmission=True``.

    Examples
    --------
    >>> y = noisy_absorption(np.full((1, 2, 2), 0.5), photons=1e4, seed=1)
    >>> y.dtype, bool(abs(y.mean() - np.log(2)) < 0.05)
    (dtype('float32'), True)
    """
    noisy = poisson_noise(transmission, photons, seed=seed, rng=rng)
    floor = 1.0 / np.asarray(photons, dtype=np.float64)
    absorption = absorption_from_intensity(np.maximum(noisy, floor))
    return (absorption, noisy) if return_transmission else absorption


def equalising_flat_field(absorption, statistic="mean_transmission", average_angles=False):
    """The paper's z-equalising flat field: incident intensity per detector row.

    App. A: "taking an ideal Beer–Lambert projection of the sample and then
    averaging all illumination profiles over the mean horizontal absorption".
    Here every detector row (z) of every view gets the incident-intensity
    factor

    * ``statistic='mean_transmission'`` (default): ``1 / mean_cols exp(-y)``,
      so the *mean transmitted count along each row equals the nominal photon
      number* — one Poisson level for all rows;
    * ``statistic='mean_attenuation'``: ``mean_cols exp(+y)`` — the variant in
      the authors' code (slightly larger where a row's absorption varies).

    With ``average_angles=True`` the row statistic is also averaged over views
    (one profile for the whole scan).

    Parameters
    ----------
    absorption : ndarray, shape ``(n_angles, rows, cols)``
        Ideal (noiseless) absorption ``y``.

    Returns
    -------
    ndarray, float64, shape ``(n_angles, rows, 1)`` (broadcasts over columns)
        ≥ 1 where the sample absorbs, 1 for rows of empty field.
    """
    y = np.asarray(absorption, dtype=np.float64)
    if y.ndim != 3:
        raise InputError(f"absorption must be (n_angles, rows, cols), got shape {y.shape}")
    axes = (0, 2) if average_angles else (2,)
    if statistic == "mean_transmission":
        ff = 1.0 / np.mean(np.exp(-y), axis=axes, keepdims=True)
    elif statistic == "mean_attenuation":
        ff = np.mean(np.exp(y), axis=axes, keepdims=True)
    else:
        raise InputError(f"unknown flat-field statistic {statistic!r}; use 'mean_transmission' or 'mean_attenuation'")
    return np.broadcast_to(ff, (y.shape[0], y.shape[1], 1)).copy()


def photons_per_pixel(photons_per_area, pixel_size_um, reference_pixel_um=0.01):
    """Convert a dose like the paper's "150 photons / (10 nm)²" to photons per detector pixel."""
    return float(photons_per_area) * (float(pixel_size_um) / float(reference_pixel_um)) ** 2

