"""Synthetic samples for simulations: the cell slab, and any phantom on a fine grid with its block mean.

Simulated data are computed from a phantom on a grid ``factor`` times finer
than the reconstruction grid, so that the reconstruction does not share the
simulation's discretisation (no inverse crime); the reference on the
reconstruction grid is the fine phantom's ``factor³`` block mean.
:func:`fine_and_coarse` builds both, for the experiments, ``isxt demo`` and
``isxt simulate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geometry import VolumeGeometry

__all__ = ["FineAndCoarse", "fine_and_coarse", "block_mean", "cell_slab", "PHANTOMS"]


def cell_slab(volume, seed=0):
    """A synthetic cell slab: LAC (1/µm) ellipses for cytoplasm, nucleus, organelles.

    Values follow typical water-window LACs (cytoplasm ≈ 0.25, nucleus ≈ 0.3,
    lipid droplets ≈ 0.6 1/µm); fine texture makes the interior detail matter.

    Examples
    --------
    >>> from isxt.geometry import VolumeGeometry
    >>> lac = cell_slab(VolumeGeometry((2, 32, 32), 0.1))
    >>> lac.shape, lac.dtype, bool(0.2 < lac.max() < 0.8)
    ((2, 32, 32), dtype('float32'), True)
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(volume.coords("z"), volume.coords("y"), volume.coords("x"), indexing="ij")
    cx, cy, _ = volume.center_um
    x, y = x - cx, y - cy
    half = 0.45 * min(volume.extent[0], volume.extent[1])

    def ellipse(x0, y0, a, b, phi=0.0):
        c, s = np.cos(phi), np.sin(phi)
        xr, yr = (x - x0) * c + (y - y0) * s, -(x - x0) * s + (y - y0) * c
        return (xr / a) ** 2 + (yr / b) ** 2 <= 1.0

    lac = np.zeros(volume.shape, dtype=np.float32)
    cell = ellipse(0, 0, half, 0.85 * half, 0.3)
    lac[cell] = 0.25
    lac[ellipse(-0.25 * half, 0.1 * half, 0.42 * half, 0.33 * half, -0.4)] = 0.31  # nucleus
    lac[ellipse(-0.3 * half, 0.05 * half, 0.1 * half, 0.08 * half)] = 0.38  # nucleolus
    for _ in range(18):  # mitochondria and vesicles, inside the cytoplasm
        r, t = 0.75 * half * np.sqrt(rng.random()), 2 * np.pi * rng.random()
        a = half * rng.uniform(0.03, 0.12)
        shape = ellipse(r * np.cos(t), r * np.sin(t), a, a * rng.uniform(0.3, 1.0), rng.uniform(0, np.pi))
        lac[shape & cell] = rng.choice([0.33, 0.36, 0.6, 0.18])
    texture = rng.standard_normal(volume.shape[1:]).astype(np.float32)
    texture = gaussian_filter(texture, 1.0)
    lac += np.where(cell, 0.02 * texture / texture.std(), 0.0).astype(np.float32)
    lac *= (1.0 + 0.05 * np.cos(2 * np.pi * z / max(volume.extent[2], 1e-6))).astype(np.float32)
    return np.clip(lac, 0, None).astype(np.float32)


def _cell(volume, seed):
    from .cell import cell_phantom

    return cell_phantom(volume, seed=seed).lac


def _bacteria(volume, seed):
    """As many bacteria as fill about a third of the volume's disc (at most 30, the phantom's default).

    The default 30 cells of 0.5–0.8 × 1.5–3 µm need a disc ≈ 8 µm across; on a smaller volume
    (``isxt simulate --phantom bacteria --size small`` is 5.1 µm wide) they would not fit.
    """
    from .bacteria import bacteria_phantom

    radius = min(volume.extent[0], volume.extent[1]) / 2
    footprint = 0.65 * 2.25  # mean diameter × mean length (µm²) of the default ranges
    n = int(np.clip(np.pi * radius**2 / 3 / footprint, 1, 30))
    return bacteria_phantom(volume, n_cells=n, seed=seed).lac


#: The built-in samples by name: ``maker(volume, seed) -> LAC``.
PHANTOMS = {"cell": _cell, "bacteria": _bacteria, "slab": cell_slab}


def block_mean(fine, factor=2):
    """The ``factor³`` block mean of a ``(nz, ny, nx)`` volume whose sides are multiples of ``factor``.

    >>> block_mean(np.arange(8, dtype=np.float32).reshape(2, 2, 2)).tolist()
    [[[3.5]]]
    """
    f = int(factor)
    nz, ny, nx = (n // f for n in fine.shape)
    return fine.reshape(nz, f, ny, f, nx, f).mean(axis=(1, 3, 5)).astype(np.float32)


@dataclass(frozen=True)
class FineAndCoarse:
    """A phantom on a fine simulation grid and its block mean on the reconstruction grid."""

    fine: VolumeGeometry
    lac_fine: np.ndarray
    volume: VolumeGeometry
    lac: np.ndarray


def fine_and_coarse(phantom, volume, seed=0, factor=2):
    """Build ``phantom`` on a ``factor``× finer grid than ``volume`` and its block mean on ``volume``.

    Parameters
    ----------
    phantom : {'cell', 'bacteria', 'slab'} or callable
        A name of :data:`PHANTOMS` or ``maker(volume, seed) -> LAC``.
    volume : VolumeGeometry
        The reconstruction grid; the fine grid has the same centre and extent.
    seed : int
    factor : int

    Returns
    -------
    FineAndCoarse

    Examples
    --------
    >>> from isxt.geometry import VolumeGeometry
    >>> ph = fine_and_coarse("slab", VolumeGeometry((2, 16, 16), 0.2))
    >>> ph.lac_fine.shape, ph.lac.shape, ph.fine.voxel_size_um
    ((4, 32, 32), (2, 16, 16), 0.1)
    """
    maker = PHANTOMS.get(phantom) if isinstance(phantom, str) else phantom
    if maker is None:
        raise InputError(f"unknown phantom {phantom!r}; use one of {', '.join(PHANTOMS)}")
    f = int(factor)
    fine = VolumeGeometry(tuple(f * n for n in volume.shape), volume.voxel_size_um / f, volume.center_um)
    lac_fine = np.asarray(maker(fine, seed), dtype=np.float32)
    return FineAndCoarse(fine, lac_fine, volume, block_mean(lac_fine, f))
