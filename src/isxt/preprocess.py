"""Preprocessing of measured stacks: flat/dark normalisation, absorption, crop and binning.

The order used by the acquisition workflow is crop → normalise → clip →
(calibrate) → absorption → bin. Binning is done on the absorption, because
the forward model's pixel value is the mean of the line integrals over the
pixel. Cropping and binning move the detector centre; the returned offsets
(in original pixels) keep the geometry consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = [
    "check_finite",
    "normalize",
    "absorption",
    "transmission",
    "ClipReport",
    "crop",
    "crop_bounds",
    "crop_offset",
    "scan_transmission",
    "bin_images",
    "binned_offset",
]


def check_finite(data, where="data"):
    """Raise :class:`InputError` naming the first image with NaN or inf."""
    data = np.asarray(data)
    if data.dtype.kind != "f":
        return
    # Image by image keeps memory flat for memory-mapped stacks.
    for i in range(data.shape[0]):
        bad = ~np.isfinite(data[i])
        if bad.any():
            n = int(bad.sum())
            for j in range(i + 1, data.shape[0]):
                n += int((~np.isfinite(data[j])).sum())
            raise InputError(
                f"{where}: image {i} has NaN or inf values ({n} pixels in all); "
                "mask or interpolate them before reconstruction"
            )


def normalize(data, flats, darks=None, where="data"):
    """Transmission ``(I - dark) / (flat - dark)`` from raw counts.

    Parameters
    ----------
    data : ndarray
        ``(n, rows, cols)`` raw images.
    flats, darks : ndarray
        ``(m, rows, cols)`` open-beam and dark images (averaged over ``m``);
        ``darks`` may be None (no dark current).

    Returns
    -------
    ndarray
        float32 transmission.

    Raises
    ------
    InputError
        If shapes differ or the flat is not brighter than the dark somewhere.
    """
    flat = np.mean(np.asarray(flats, dtype=np.float64), axis=0)
    dark = 0.0 if darks is None else np.mean(np.asarray(darks, dtype=np.float64), axis=0)
    if flat.shape != tuple(data.shape[1:]) or (darks is not None and dark.shape != flat.shape):
        raise InputError(
            f"{where}: flats/darks of image size {flat.shape} do not match the projections {tuple(data.shape[1:])}"
        )
    denom = flat - dark
    dead = denom <= 0
    if dead.any():
        r, c = np.argwhere(dead)[0]
        raise InputError(
            f"{where}: {int(dead.sum())} pixels have flat <= dark (first at row {r}, column {c}); "
            "check the flat and dark images"
        )
    out = (np.asarray(data, dtype=np.float64) - dark) / denom
    return out.astype(np.float32)


@dataclass
class ClipReport:
    """How many transmission values were raised to the clip floor."""

    clipped: int
    total: int
    floor: float | None

    @property
    def fraction(self):
        return self.clipped / self.total if self.total else 0.0

    def to_dict(self):
        return {"clipped_pixels": self.clipped, "total_pixels": self.total, "clip_transmission": self.floor}


def absorption(trans, clip=None, where="data"):
    """Absorption ``y = -ln(T)`` from transmission, float32.

    Parameters
    ----------
    trans : ndarray
        Transmission ``I/I0``.
    clip : float, optional
        Floor in ``(0, 1)``: values below it (noise can make them zero or
        negative) are set to ``clip`` and counted. Without ``clip`` any
        non-positive value is an error, because ``-ln`` of it is undefined
        and silently clipping would bias the LAC.

    Returns
    -------
    y : ndarray
    report : ClipReport
    """
    trans = np.asarray(trans, dtype=np.float32)
    check_finite(trans, where)
    if clip is None:
        bad = trans <= 0
        if bad.any():
            i = int(np.argwhere(bad)[0][0])
            raise InputError(
                f"{where}: {int(bad.sum())} transmission values are <= 0 (first in image {i}); "
                "-ln(T) is undefined there — set clip_transmission = 1e-3 in the scan to clip them"
            )
        return (-np.log(trans)).astype(np.float32), ClipReport(0, trans.size, None)
    clip = float(clip)
    if not 0 < clip < 1:
        raise InputError(f"{where}: clip_transmission must be in (0, 1), got {clip}")
    low = trans < clip
    n = int(low.sum())
    y = -np.log(np.maximum(trans, np.float32(clip)))
    return y.astype(np.float32), ClipReport(n, trans.size, clip)


def transmission(y):
    """Transmission ``exp(-y)`` from absorption, float32."""
    return np.exp(-np.asarray(y, dtype=np.float32))


def crop(data, rows=None, cols=None, where="data"):
    """Crop ``data[:, r0:r1, c0:c1]``.

    Returns
    -------
    data : ndarray
        A view when possible.
    offset_px : tuple of float
        ``(du, dv)`` in original pixels: how far the new detector centre is
        from the old one (add ``offset × pixel_size`` to the scan's shifts);
        :func:`crop_offset` gives it without the data.
    """
    (r0, r1), (c0, c1) = crop_bounds(data.shape[1:], rows, cols, where)
    return data[:, r0:r1, c0:c1], crop_offset(data.shape[1:], rows, cols, where)


def crop_bounds(image_shape, rows=None, cols=None, where="data"):
    """``((r0, r1), (c0, c1))`` of a crop of images of ``image_shape = (rows, cols)``, checked."""
    R, C = image_shape
    return _range(rows, R, "rows", where), _range(cols, C, "cols", where)


def crop_offset(image_shape, rows=None, cols=None, where="data"):
    """Detector-centre offset ``(du, dv)`` in original pixels of a crop (see :func:`crop`).

    Examples
    --------
    >>> crop_offset((100, 80), rows=[10, 30], cols=[0, 40])
    (-20.0, -30.0)
    """
    R, C = image_shape
    (r0, r1), (c0, c1) = crop_bounds(image_shape, rows, cols, where)
    return ((c0 + c1) / 2 - C / 2, (r0 + r1) / 2 - R / 2)


def _range(pair, n, name, where):
    if pair is None:
        return 0, n
    try:
        a, b = (int(v) for v in pair)
    except (TypeError, ValueError):
        raise InputError(f"{where}: crop.{name} must be [start, stop] pixel indices, got {pair!r}") from None
    if not 0 <= a < b <= n:
        raise InputError(f"{where}: crop.{name} = [{a}, {b}] is outside the detector's 0..{n} {name}")
    return a, b


def binned_offset(rows, cols, factor):
    """Centre offset ``(du, dv)`` in original pixels caused by trimming to a multiple of ``factor``."""
    r = rows // factor * factor
    c = cols // factor * factor
    return ((c - cols) / 2, (r - rows) / 2)


def bin_images(data, factor, where="data"):
    """Average ``factor × factor`` pixel blocks of every image (trailing rows/cols that do not fill a block are dropped).

    Returns
    -------
    data : ndarray
        float32, ``(n, rows // factor, cols // factor)``.
    offset_px : tuple of float
        Detector-centre offset ``(du, dv)`` in original pixels from the trim.
    """
    factor = int(factor)
    if factor < 1:
        raise InputError(f"{where}: bin must be a positive integer, got {factor}")
    n, R, C = data.shape
    if factor == 1:
        return np.asarray(data, dtype=np.float32), (0.0, 0.0)
    r, c = R // factor, C // factor
    if r < 1 or c < 1:
        raise InputError(f"{where}: bin = {factor} is larger than the image ({R} x {C})")
    blocks = np.asarray(data[:, : r * factor, : c * factor], dtype=np.float64)
    out = blocks.reshape(n, r, factor, c, factor).mean(axis=(2, 4))
    return out.astype(np.float32), binned_offset(R, C, factor)


def scan_transmission(data, kind, rows=None, cols=None, flats=None, darks=None, where="data"):
    """Cropped float32 transmission of a stack of ``kind`` ('raw', 'transmission'); None for 'absorption'.

    Raw counts are normalised by the (cropped) flats and darks.
    """
    data, _ = crop(data, rows, cols, where)
    if kind == "raw":
        flats, _ = crop(np.asarray(flats), rows, cols, where)
        if darks is not None:
            darks, _ = crop(np.asarray(darks), rows, cols, where)
        return normalize(data, flats, darks, where=where)
    if kind == "transmission":
        return np.asarray(data, dtype=np.float32)
    return None
