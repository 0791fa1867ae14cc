"""Band-pass prefilter for registration: structure, not the absorption ramp.

An interior ROI off the rotation axis sees the sample's thickness change
across its window: a smooth ramp (and curvature) in every image that is far
stronger than the structure. The NCC of two ramps hardly depends on their
shift, so a registration on raw images drifts to wherever the ramp's small
curvature fits best (issue 10: 12–37 px on noiseless data). A difference of
Gaussians removes constant, linear and — up to a constant that the NCC's mean
removal takes — quadratic parts, so what is correlated is the structure. The
filter's border, where mirrored padding bends a ramp, is masked out.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["bandpass", "border_mask", "registration_filter", "resolution_sigma"]


def resolution_sigma(coarse_px, fine_px):
    """Gaussian σ (fine pixels) that blurs a ``fine_px`` image to the pixel area of ``coarse_px``.

    A coarse pixel averages a box of ``ratio = coarse/fine`` fine pixels; the
    fine pixel's own box is already there, so only the variance
    ``(ratio² − 1)/12`` is added (0 when the pixels agree).

    Examples
    --------
    >>> round(resolution_sigma(2.0, 1.0), 4)
    0.5
    """
    ratio = float(coarse_px) / float(fine_px)
    return float(np.sqrt(max(ratio * ratio - 1.0, 0.0) / 12.0))


def bandpass(image, low_px, high_px):
    """``G(low) * image − G(high) * image`` per axis σ (pixels), float64.

    Parameters
    ----------
    image : ndarray, 2D
    low_px : float or (float, float)
        σ of the smoothing (noise, resolution match); 0 for none.
    high_px : float or (float, float)
        σ of the background removed (the ramp); larger than ``low_px``.

    Examples
    --------
    >>> ramp = np.add.outer(np.zeros(20), np.arange(40.0))
    >>> float(np.abs(bandpass(ramp, 1.0, 4.0)[:, 17:-17]).max()) < 1e-9
    True
    """
    img = np.asarray(image, dtype=np.float64)
    low = gaussian_filter(img, low_px, mode="reflect") if np.any(np.asarray(low_px) > 0) else img
    return low - gaussian_filter(img, high_px, mode="reflect")


def border_mask(shape, width):
    """Boolean mask that is False within ``width = (rows, cols)`` pixels of the border."""
    w = np.broadcast_to(np.asarray(width, dtype=int), (2,))
    mask = np.zeros(shape, bool)
    mask[w[0] : shape[0] - w[0], w[1] : shape[1] - w[1]] = True
    return mask


def registration_filter(shape, highpass_px, radius_px):
    """The background σ ``(rows, cols)``, the valid-pixel mask and its border width for images of ``shape``.

    The σ along the rows is capped, and the masked border (1.5 σ, where
    mirrored padding bends a ramp) limited, so that a short stack (few
    slices) keeps an unmasked core of ``2·radius_px + 3`` pixels.
    """
    rows, cols = shape
    core = 2 * int(radius_px) + 3
    high = float(highpass_px)
    high_v = min(high, max((rows - core) / 4.0, 0.5))
    border = (int(min(np.ceil(1.5 * high_v), max((rows - core) // 2, 0))),
              int(min(np.ceil(1.5 * high), max((cols - core) // 2, 0))))
    return (high_v, high), border_mask(shape, border), border
