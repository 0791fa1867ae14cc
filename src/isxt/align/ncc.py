"""Normalised cross-correlation (Eq. 15) over overlaps, cached on integer shifts.

Shift convention used throughout :mod:`isxt.align`: shifting an image by
``s = (s_row, s_col)`` pixels moves its content to larger indices, i.e.
``shifted[r, c] = image[r - s_row, c - s_col]``. :func:`ncc_map` evaluates
``NCC(fixed, shift(moving, s))`` over the overlapping pixels for every
integer ``s`` at once with FFTs (the masked NCC of Padfield 2012), and
:class:`NCCSpline` interpolates such a cached grid bicubically to give
sub-pixel values and gradients (App. B.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import RectBivariateSpline
from scipy.signal import fftconvolve

__all__ = ["ncc", "ncc_map", "NCCMap", "NCCSpline", "shift_image"]


def ncc(x, y):
    """Normalised cross-correlation of two equally shaped arrays (Eq. 15).

    Returns 0 when either array is constant (no information).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    x = x - x.mean()
    y = y - y.mean()
    den = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return float(np.dot(x, y) / den) if den > 0 else 0.0


def shift_image(image, shift, order=3, cval=0.0):
    """``image`` moved by ``shift = (s_row, s_col)`` pixels (sub-pixel, spline interpolation)."""
    from scipy.ndimage import shift as nd_shift

    return nd_shift(np.asarray(image, dtype=np.float64), shift, order=order, mode="constant", cval=cval)


def _corr(a, b):
    """Full cross-correlation ``out[k] = Σ_n a[n] b[n - (k - (len(b) - 1))]``."""
    return fftconvolve(a, b[::-1, ::-1], mode="full")


@dataclass
class NCCMap:
    """NCC on a grid of integer shifts.

    ``values[i, j]`` is the NCC at shift ``(rows[i], cols[j])`` pixels; NaN
    where the overlap was too small to trust.
    """

    values: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    def best(self):
        """The integer shift ``(s_row, s_col)`` with the largest NCC, and that NCC."""
        v = np.where(np.isfinite(self.values), self.values, -np.inf)
        i, j = np.unravel_index(np.argmax(v), v.shape)
        return np.array([self.rows[i], self.cols[j]], dtype=np.float64), float(v[i, j])

    def at(self, shift):
        """The cached NCC at the integer shift nearest to ``shift`` (NaN outside the grid)."""
        i = int(round(shift[0])) - int(self.rows[0])
        j = int(round(shift[1])) - int(self.cols[0])
        if 0 <= i < self.values.shape[0] and 0 <= j < self.values.shape[1]:
            return float(self.values[i, j])
        return float("nan")

    def spline(self, center, radius):
        """A bicubic :class:`NCCSpline` on the ``(2·radius+1)²`` integer shifts around ``center``."""
        c = np.round(np.asarray(center, dtype=np.float64)).astype(int)
        r = int(radius)
        i0 = int(np.clip(c[0] - r - self.rows[0], 0, max(self.values.shape[0] - 2 * r - 1, 0)))
        j0 = int(np.clip(c[1] - r - self.cols[0], 0, max(self.values.shape[1] - 2 * r - 1, 0)))
        sub = self.values[i0 : i0 + 2 * r + 1, j0 : j0 + 2 * r + 1]
        floor = np.nanmin(sub) if np.any(np.isfinite(sub)) else 0.0
        sub = np.where(np.isfinite(sub), sub, floor)  # untrusted shifts: no better than the worst seen
        return NCCSpline(self.rows[i0 : i0 + sub.shape[0]], self.cols[j0 : j0 + sub.shape[1]], sub)


class NCCSpline:
    """Bicubic interpolation of cached integer-shift NCC values.

    Parameters
    ----------
    rows, cols : ndarray of int
        The integer shifts of the grid (at least 4 each).
    values : ndarray
        NCC on that grid.
    """

    def __init__(self, rows, cols, values):
        self.rows = np.asarray(rows, dtype=np.float64)
        self.cols = np.asarray(cols, dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float64)
        kx = min(3, len(self.rows) - 1)
        ky = min(3, len(self.cols) - 1)
        self._spline = RectBivariateSpline(self.rows, self.cols, self.values, kx=kx, ky=ky)

    @property
    def bounds(self):
        """``[(row_min, row_max), (col_min, col_max)]`` of the grid."""
        return [(self.rows[0], self.rows[-1]), (self.cols[0], self.cols[-1])]

    def clip(self, shift):
        return np.array([np.clip(shift[0], *self.bounds[0]), np.clip(shift[1], *self.bounds[1])])

    def value_and_grad(self, shift):
        """NCC and its gradient ``(∂/∂s_row, ∂/∂s_col)`` at a sub-pixel ``shift`` (clipped to the grid)."""
        s = self.clip(shift)
        f = float(self._spline.ev(s[0], s[1]))
        g = np.array([float(self._spline.ev(s[0], s[1], dx=1)), float(self._spline.ev(s[0], s[1], dy=1))])
        return f, g

    def variance(self, shift, n_pixels):
        """Variance (px², per axis) of the peak position at ``shift``, from its height and sharpness.

        For two images that agree up to white noise, the SSD between them is
        ``2N(1 − NCC)`` in units of their variance, so the log-likelihood of a
        shift is ``N/(2(1 − ρ)) · NCC`` and its Fisher information along an
        axis is ``N·c/(1 − ρ)``, with ``ρ`` the peak NCC and ``c`` the peak's
        curvature ``−∂²NCC/∂s²``. Band-passed pixels are correlated, so the
        value is a relative one: comparable between pairs filtered alike.

        Parameters
        ----------
        shift : array_like ``(2,)``
            The peak.
        n_pixels : int
            Number of overlapping pixels.

        Returns
        -------
        ndarray ``(2,)``
            ``(var_row, var_col)``; ``inf`` where the NCC is not peaked.
        """
        s = self.clip(shift)
        rho = min(float(self._spline.ev(s[0], s[1])), 0.999)
        curv = -np.array([float(self._spline.ev(s[0], s[1], dx=2)), float(self._spline.ev(s[0], s[1], dy=2))])
        with np.errstate(divide="ignore"):
            return np.where(curv > 0, max(1.0 - rho, 1e-3) / (float(n_pixels) * np.maximum(curv, 1e-12)), np.inf)

    def peak(self, start=None, step=0.02, reach=1.0):
        """Sub-pixel maximum: the best point of a ``step``-pixel grid within ±``reach`` px of ``start``.

        ``start`` defaults to the best integer shift of the grid.
        """
        if start is None:
            i, j = np.unravel_index(np.argmax(self.values), self.values.shape)
            start = (self.rows[i], self.cols[j])
        s = self.clip(start)
        offsets = np.arange(-reach, reach + step / 2, step)
        r = np.unique(np.clip(s[0] + offsets, *self.bounds[0]))
        c = np.unique(np.clip(s[1] + offsets, *self.bounds[1]))
        fine = self._spline(r, c, grid=True)
        i, j = np.unravel_index(np.argmax(fine), fine.shape)
        return np.array([r[i], c[j]]), float(fine[i, j])


def ncc_map(fixed, moving, max_shift=None, offset=(0, 0), min_overlap=0.5, fixed_mask=None, moving_mask=None,
            center=(0, 0)):
    """Overlap-normalised NCC of ``fixed`` and ``moving`` shifted by every integer shift.

    Parameters
    ----------
    fixed, moving : ndarray, 2D
        Images; they may differ in shape.
    max_shift : int or (int, int), optional
        Keep shifts ``|s_row − center[0]| ≤ max_shift[0]``,
        ``|s_col − center[1]| ≤ max_shift[1]``; default: every shift with
        some overlap.
    offset : (int, int)
        Where ``moving[0, 0]`` sits in ``fixed`` at zero shift (e.g. the
        margin of an anchor cut larger than the image it is compared with).
    min_overlap : float
        Shifts whose overlap has fewer pixels than this fraction of the
        smaller image get NaN.
    fixed_mask, moving_mask : ndarray of bool, optional
        Valid pixels (default: all).
    center : (int, int)
        Centre of the kept window of shifts.

    Returns
    -------
    NCCMap
        ``values[i, j] = NCC(fixed, shift(moving, (rows[i], cols[j])))`` over
        the pixels valid in both.
    """
    f = np.asarray(fixed, dtype=np.float64)
    m = np.asarray(moving, dtype=np.float64)
    mf = np.ones(f.shape) if fixed_mask is None else np.asarray(fixed_mask, dtype=np.float64)
    mm = np.ones(m.shape) if moving_mask is None else np.asarray(moving_mask, dtype=np.float64)
    f = f * mf
    m = m * mm
    n = _corr(mf, mm)
    sf = _corr(f, mm)
    sm = _corr(mf, m)
    sff = _corr(f * f, mm)
    smm = _corr(mf, m * m)
    sfm = _corr(f, m)
    n = np.rint(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = sfm - sf * sm / n
        var_f = sff - sf * sf / n
        var_m = smm - sm * sm / n
        # FFT round-off: variances below this are "constant" images
        tiny = 1e-10 * (np.abs(sff) + np.abs(smm) + 1e-30)
        good = (n >= min_overlap * min(mf.sum(), mm.sum())) & (var_f > tiny) & (var_m > tiny)
        values = np.where(good, num / np.sqrt(np.maximum(var_f * var_m, 1e-300)), np.nan)
    # full-correlation index k corresponds to displacement k - (len(moving) - 1) = shift + offset
    rows = np.arange(values.shape[0]) - (m.shape[0] - 1) - int(offset[0])
    cols = np.arange(values.shape[1]) - (m.shape[1] - 1) - int(offset[1])
    if max_shift is not None:
        ms = np.broadcast_to(np.asarray(max_shift, dtype=int), (2,))
        ki = np.abs(rows - int(round(center[0]))) <= ms[0]
        kj = np.abs(cols - int(round(center[1]))) <= ms[1]
        values, rows, cols = values[np.ix_(ki, kj)], rows[ki], cols[kj]
    return NCCMap(np.clip(values, -1.0, 1.0), rows, cols)
