"""Reconstruction quality: PSNR (Eq. 10), radial PSNR profiles (Fig. 3), FRC/FSC (Fig. 3, 12).

Conventions (those of the paper's figures):

* The PSNR peak is the **99th percentile of the reference** (:func:`data_range`),
  robust against a few very dense voxels, and the same global value is used
  for masked or per-annulus PSNRs so that they are comparable.
* Frequencies are in **cycles per pixel** (0 … 0.5 at Nyquist). The paper's
  FRC axes are in units of the Nyquist frequency, i.e. ``2 · freq``.
* Resolutions are the full period ``1/f`` at the threshold crossing, in nm
  when the pixel size (µm) is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._array import array_module
from ._deprecate import renamed_fields, renamed_kwargs
from .errors import InputError

__all__ = [
    "data_range",
    "psnr",
    "psnr_rel",
    "FRCResult",
    "frc",
    "fsc",
    "frc_slices",
    "threshold_fixed",
    "threshold_half_bit",
    "resolution",
    "radial_profile",
]


def data_range(ref, mask=None):
    """The PSNR peak value: the 99th percentile of the reference.

    The paper (and its authors' scripts) take the 99th percentile of the
    phantom rather than its maximum, so that a few extreme voxels do not set
    the scale.

    Parameters
    ----------
    ref : ndarray
        Reference (ground-truth) volume or image.
    mask : ndarray of bool, optional
        Take the percentile over these voxels only (e.g. the cell, excluding
        empty background).

    Returns
    -------
    float
    """
    xp = array_module(ref)
    values = ref if mask is None else ref[_mask_for(mask, ref.shape)]
    if values.size == 0:
        raise InputError("data_range: the mask selects no voxels")
    return float(xp.percentile(values.astype(np.float64), 99))


_reference_range = data_range  # the parameter named data_range below shadows the function


def psnr(x, ref, mask=None, data_range=None):
    """Peak signal-to-noise ratio ``10 log10(range² / MSE)`` in dB.

    Parameters
    ----------
    x, ref : ndarray
        Reconstruction and reference, same shape.
    mask : ndarray of bool, optional
        Average the squared error over these voxels only; ``(ny, nx)`` masks
        apply to every slice.
    data_range : float, optional
        Peak value; default :func:`data_range` of the whole ``ref`` (also when
        a mask is given, as in the paper).

    Returns
    -------
    float
        ``inf`` when ``x`` equals ``ref``.
    """
    _same_shape(x, ref, "psnr")
    peak = _reference_range(ref) if data_range is None else float(data_range)
    if mask is not None:
        m = _mask_for(mask, ref.shape)
        x, ref = x[m], ref[m]
        if ref.size == 0:
            raise InputError("psnr: the mask selects no voxels")
    diff = x.astype(np.float64) - ref.astype(np.float64)
    mse = float((diff * diff).mean())
    return _psnr_from_mse(mse, peak)


def _psnr_from_mse(mse, peak):
    if mse == 0:
        return float("inf")
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(peak**2 / mse))


def psnr_rel(x, x_ref, truth, mask=None, data_range=None):
    """Relative PSNR (Eq. 10): ``PSNR(x) − PSNR(x_ref)``, both against ``truth``.

    ``x_ref`` is the 'ideal' reference reconstruction (in the paper a full
    scan with infinite depth of field). Both PSNRs use the same peak (default
    :func:`data_range` of ``truth``) and the same ``mask``.
    """
    peak = _reference_range(truth) if data_range is None else float(data_range)
    return psnr(x, truth, mask=mask, data_range=peak) - psnr(x_ref, truth, mask=mask, data_range=peak)


# ---------------------------------------------------------------- FRC / FSC


def threshold_fixed(value=1.0 / 7.0):
    """A fixed FRC threshold; ``1/7`` (≈ 0.143) is the paper's resolution criterion."""
    return float(value)


def threshold_half_bit(n):
    """The half-bit information threshold of van Heel & Schatz (2005).

    ``T(n) = (0.2071 + 1.9102/√n) / (1.2071 + 0.9102/√n)`` for a ring (or
    shell) of ``n`` pixels.
    """
    root = np.sqrt(np.asarray(n, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (0.2071 + 1.9102 / root) / (1.2071 + 0.9102 / root)
    return np.where(root > 0, t, 1.0)


@renamed_fields(pixel_size="pixel_size_um")
@dataclass
class FRCResult:
    """A Fourier ring (or shell) correlation curve.

    Attributes
    ----------
    freq : ndarray
        Ring centre frequencies in cycles per pixel (0 … 0.5).
    frc : ndarray
        Correlation per ring, in [-1, 1].
    n : ndarray
        Number of Fourier pixels per ring (per slice for :func:`frc_slices`).
    pixel_size_um : float or None
        Pixel size in µm, if given (``pixel_size`` is the deprecated name).
    """

    freq: np.ndarray
    frc: np.ndarray
    n: np.ndarray
    pixel_size_um: float | None = None

    @property
    def freq_per_um(self):
        """Frequencies in cycles/µm (needs ``pixel_size_um``)."""
        if self.pixel_size_um is None:
            raise InputError("this FRC has no pixel_size_um; pass pixel_size_um to frc()/fsc()")
        return self.freq / self.pixel_size_um

    @property
    def freq_nyquist(self):
        """Frequencies in units of the Nyquist frequency (the paper's axis)."""
        return 2.0 * self.freq

    def threshold(self, kind="1/7"):
        """The threshold curve ``'1/7'``, ``'half-bit'`` or a constant, per ring."""
        if isinstance(kind, str):
            if kind == "1/7":
                return np.full(self.freq.shape, threshold_fixed(1.0 / 7.0))
            if kind in ("half-bit", "half_bit", "halfbit"):
                return threshold_half_bit(self.n)
            raise InputError(f"unknown FRC threshold {kind!r}; use '1/7', 'half-bit' or a number")
        return np.full(self.freq.shape, float(kind))

    @renamed_kwargs(pixel_size="pixel_size_um")
    def resolution(self, threshold="1/7", pixel_size_um=None):
        """Shorthand for :func:`resolution`."""
        return resolution(self, threshold=threshold, pixel_size_um=pixel_size_um)


def _ring_correlation(a, b, n_bins):
    """Sums over rings/shells of radius ``round(|f| / Δf)`` of the cross and auto spectra."""
    if a.shape != b.shape:
        raise InputError(f"FRC/FSC inputs differ in shape: {a.shape} vs {b.shape}")
    xp = array_module(a)
    fa = xp.fft.fftn(a.astype(np.float64))
    fb = xp.fft.fftn(b.astype(np.float64))
    grids = xp.meshgrid(*[xp.fft.fftfreq(n) for n in a.shape], indexing="ij")
    radius = xp.sqrt(sum(g * g for g in grids))
    n_max = min(a.shape) // 2 + 1
    n_bins = n_max if n_bins is None else int(n_bins)
    if n_bins < 2:
        raise InputError(f"n_bins must be at least 2, got {n_bins}")
    step = 0.5 / (n_bins - 1)
    ring = xp.rint(radius / step).astype(np.int64).ravel()
    keep = ring < n_bins  # drop the corners beyond Nyquist
    ring = ring[keep]

    def ring_sum(v):
        return xp.bincount(ring, weights=v.ravel()[keep], minlength=n_bins)[:n_bins]

    cross = ring_sum((fa * xp.conj(fb)).real)
    pa = ring_sum((fa * xp.conj(fa)).real)
    pb = ring_sum((fb * xp.conj(fb)).real)
    count = xp.bincount(ring, minlength=n_bins)[:n_bins]
    freq = np.arange(n_bins) * step
    return freq, _to_numpy(cross), _to_numpy(pa), _to_numpy(pb), _to_numpy(count)


def _to_numpy(v):
    return v.get() if hasattr(v, "get") else np.asarray(v)


def _correlation(cross, pa, pb):
    den = np.sqrt(pa * pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, cross / np.where(den > 0, den, 1.0), 0.0)


@renamed_kwargs(pixel_size="pixel_size_um")
def frc(a, b, pixel_size_um=None, n_bins=None):
    """Fourier ring correlation of two 2D images.

    Parameters
    ----------
    a, b : ndarray, shape (ny, nx)
        Two images (e.g. a reconstructed slice and the phantom slice, or two
        half-data reconstructions).
    pixel_size_um : float, optional
        Pixel size in µm, stored for :func:`resolution` (``pixel_size=`` is the deprecated name).
    n_bins : int, optional
        Number of rings from 0 to Nyquist (0.5 cycles/pixel) inclusive;
        default ``min(ny, nx)//2 + 1`` (ring width 1/min(ny, nx)).

    Returns
    -------
    FRCResult
    """
    if np.ndim(a) != 2:
        raise InputError(f"frc() needs 2D images, got {np.ndim(a)}D; use frc_slices() for (nz, ny, nx) or fsc() for 3D")
    freq, cross, pa, pb, count = _ring_correlation(a, b, n_bins)
    return FRCResult(freq, _correlation(cross, pa, pb), count, pixel_size_um)


@renamed_kwargs(pixel_size="pixel_size_um")
def fsc(a, b, pixel_size_um=None, n_bins=None):
    """Fourier shell correlation of two 3D volumes (see :func:`frc`)."""
    if np.ndim(a) != 3:
        raise InputError(f"fsc() needs 3D volumes, got {np.ndim(a)}D")
    freq, cross, pa, pb, count = _ring_correlation(a, b, n_bins)
    return FRCResult(freq, _correlation(cross, pa, pb), count, pixel_size_um)


@renamed_kwargs(pixel_size="pixel_size_um")
def frc_slices(a, b, pixel_size_um=None, n_bins=None, slices=None):
    """In-slice FRC of two volumes, averaged over z slices (the paper's Fig. 3 and 12).

    Parameters
    ----------
    a, b : ndarray, shape (nz, ny, nx)
    pixel_size_um, n_bins
        As for :func:`frc`.
    slices : sequence of int, optional
        The z indices to use (default all).

    Returns
    -------
    FRCResult
        ``frc`` is the mean of the per-slice curves; ``n`` is the ring size of
        one slice, so the half-bit threshold stays that of a single slice
        (conservative: neighbouring slices are not independent).
    """
    if np.ndim(a) != 3 or np.shape(a) != np.shape(b):
        raise InputError(
            f"frc_slices() needs two (nz, ny, nx) volumes of one shape, got {np.shape(a)} and {np.shape(b)}"
        )
    index = range(a.shape[0]) if slices is None else list(slices)
    curves = []
    for k in index:
        r = frc(a[k], b[k], pixel_size_um=pixel_size_um, n_bins=n_bins)
        curves.append(r.frc)
    if not curves:
        raise InputError("frc_slices(): no slices selected")
    return FRCResult(r.freq, np.mean(curves, axis=0), r.n, pixel_size_um)


@renamed_kwargs(pixel_size="pixel_size_um")
def resolution(result, threshold="1/7", pixel_size_um=None):
    """Resolution at the first crossing of the FRC curve with a threshold.

    The crossing frequency ``f`` is interpolated linearly between the last
    ring above and the first ring below the threshold (ring 0 is skipped);
    the resolution is the full period ``1/f``.

    Parameters
    ----------
    result : FRCResult
    threshold : '1/7', 'half-bit' or float
    pixel_size_um : float, optional
        Pixel size in µm; default ``result.pixel_size_um`` (``pixel_size=`` is the deprecated name).

    Returns
    -------
    float or None
        The resolution in **nm** when a pixel size is known, otherwise in
        pixels. ``None`` when the curve never drops below the threshold up to
        the last ring: the resolution is then limited by sampling (at most
        the Nyquist period of 2 pixels), not measurable from this curve.
    """
    pixel_size = result.pixel_size_um if pixel_size_um is None else pixel_size_um
    d = np.asarray(result.frc, dtype=np.float64) - result.threshold(threshold)
    below = np.nonzero(d[1:] < 0)[0]
    if below.size == 0:
        return None
    k = int(below[0]) + 1
    f0, f1 = result.freq[k - 1], result.freq[k]
    # d[k-1] ≥ 0 > d[k]: linear zero crossing between the two rings
    f = f0 + (f1 - f0) * d[k - 1] / (d[k - 1] - d[k])
    if f <= 0:
        return float("inf")
    period_px = 1.0 / f
    return float(period_px if pixel_size is None else period_px * pixel_size * 1000.0)


# ---------------------------------------------------------------- radial profiles


@renamed_kwargs(center_xy="center_xy_um", r_max="r_max_um")
def radial_profile(x, ref, geometry, center_xy_um=None, bins=20, metric="psnr", data_range=None, mask=None,
                   r_max_um=None):
    """A quality metric in cylindrical annuli around the ROI axis (Fig. 3).

    Parameters
    ----------
    x, ref : ndarray, shape (nz, ny, nx) or (ny, nx)
        Reconstruction and reference.
    geometry : VolumeGeometry or ndarray
        The volume geometry (distances from ``center_xy_um`` are computed with
        :meth:`VolumeGeometry.radial_distance`), or a ``(ny, nx)`` array of
        distances in µm.
    center_xy_um : (float, float), optional
        ROI axis position in µm (default the volume centre); ignored when
        ``geometry`` is an array of distances.
    bins : int or array_like
        Number of equal-width annuli from 0 to ``r_max_um``, or the annulus edges
        in µm.
    metric : 'psnr', 'mse', 'rmse' or callable
        ``callable(x_values, ref_values) -> float`` on the voxels of one
        annulus. ``'psnr'`` uses one peak for all annuli: ``data_range`` or, by
        default, :func:`data_range` of the whole ``ref``, as in the paper, so
        the annuli are comparable.
    data_range : float, optional
        PSNR peak.
    mask : ndarray of bool, optional
        Only these voxels count (e.g. the cell, not the empty background).
    r_max_um : float, optional
        Outer radius in µm for integer ``bins`` (default the largest distance
        inside the mask). ``center_xy`` and ``r_max`` are the deprecated names.

    Returns
    -------
    centres : ndarray
        Annulus mid radii in µm. (The paper's Fig. 3 axis is the ROI *width*,
        twice the radius.)
    values : ndarray
        The metric per annulus; NaN for annuli without voxels.
    """
    _same_shape(x, ref, "radial_profile")
    if hasattr(geometry, "radial_distance"):
        dist = np.asarray(geometry.radial_distance(center_xy_um), dtype=np.float64)
    else:
        dist = np.asarray(geometry, dtype=np.float64)
    if dist.shape != tuple(x.shape[-2:]):
        raise InputError(f"radial distances have shape {dist.shape}, the images are {tuple(x.shape[-2:])} (ny, nx)")
    full_dist = np.broadcast_to(dist, x.shape)
    m = np.ones(x.shape, bool) if mask is None else np.asarray(_mask_for(mask, x.shape))
    if np.isscalar(bins) or np.ndim(bins) == 0:
        n = int(bins)
        if n < 1:
            raise InputError(f"bins must be a positive number of annuli or an array of edges, got {bins!r}")
        top = float(full_dist[m].max()) if r_max_um is None else float(r_max_um)
        edges = np.linspace(0.0, top, n + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise InputError("bins as edges must be an increasing 1D array of at least two radii (µm)")
    n = edges.size - 1
    label = np.searchsorted(edges, full_dist, side="right") - 1
    label[full_dist == edges[-1]] = n - 1  # close the last annulus on the right
    valid = m & (label >= 0) & (label < n)
    lab = label[valid]
    xv = np.asarray(x, dtype=np.float64)[valid]
    rv = np.asarray(ref, dtype=np.float64)[valid]
    counts = np.bincount(lab, minlength=n)
    centres = 0.5 * (edges[:-1] + edges[1:])
    values = np.full(n, np.nan)
    if callable(metric):
        order = np.argsort(lab, kind="stable")
        splits = np.cumsum(counts)[:-1]
        for i, (xs, rs) in enumerate(zip(np.split(xv[order], splits), np.split(rv[order], splits))):
            if xs.size:
                values[i] = float(metric(xs, rs))
        return centres, values
    sse = np.bincount(lab, weights=(xv - rv) ** 2, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.where(counts > 0, sse / np.maximum(counts, 1), np.nan)
    if metric == "mse":
        return centres, mse
    if metric == "rmse":
        return centres, np.sqrt(mse)
    if metric != "psnr":
        raise InputError(f"unknown metric {metric!r}; use 'psnr', 'mse', 'rmse' or a callable")
    peak = _reference_range(np.asarray(ref)) if data_range is None else float(data_range)
    for i in np.nonzero(counts)[0]:
        values[i] = _psnr_from_mse(float(mse[i]), peak)
    return centres, values


# ---------------------------------------------------------------- helpers


def _same_shape(x, ref, where):
    if tuple(x.shape) != tuple(ref.shape):
        raise InputError(f"{where}: reconstruction {tuple(x.shape)} and reference {tuple(ref.shape)} differ in shape")


def _mask_for(mask, shape):
    xp = array_module(mask)
    mask = xp.asarray(mask, dtype=bool)
    if tuple(mask.shape) == tuple(shape):
        return mask
    try:
        return xp.broadcast_to(mask, tuple(shape))
    except ValueError:
        raise InputError(f"mask of shape {tuple(mask.shape)} does not fit data of shape {tuple(shape)}") from None
