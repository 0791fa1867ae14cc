"""The slab decomposition of one reconstruction: which voxels and detector rows each worker holds.

Parallel beam, rotation about z: a z-slab of the volume projects onto a band
of detector rows of every scan. Worker ``s`` holds slab ``s`` of the volume
and, per scan, the data rows ``held`` that its slab's forward model reaches:

* the band the slab's voxels project onto (:meth:`ScanGeometry.rows_covering`
  of the slab, over all views, so v-shifts are included, plus two rows for
  partially covered rows and coarse detector pixels);
* with a detector PSF, the band on the detector widened by the kernel's
  half-width, and the rows that :func:`isxt.operators.extend_rows` fills from
  the volume's first/last covered rows when the slab holds those;
* its ``owned`` rows: the data rows are split between the workers at the
  rows where the slab boundaries project, every row owned by one worker.

Neighbouring workers' held rows overlap (the halo). The forward projection
of the whole volume on a worker's held rows is its own contribution plus its
neighbours' contributions on the overlap; inner products over data count
owned rows only. :class:`SlabScanOperator` is the exact restriction of
:func:`isxt.reconstruct.build_operator` to one slab and its held rows, so the
distributed solver reproduces the single-process iterates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import ScanGeometry, VolumeGeometry
from ..operators import Operator

__all__ = ["slab_bounds", "slab_volume", "ScanRows", "plan_scan_rows", "SlabScanOperator"]

#: extra detector rows on each side of a slab's covered band (partial rows, coarse pixels)
BAND_MARGIN = 2


def slab_bounds(nz, n_slabs):
    """``[(k0, k1), ...]``: ``n_slabs`` contiguous z ranges of near-equal size covering ``0..nz``."""
    n_slabs = int(n_slabs)
    if n_slabs < 1 or n_slabs > nz:
        raise ValueError(f"slabs must be between 1 and the volume's {nz} slices, got {n_slabs}")
    edges = np.linspace(0, nz, n_slabs + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def slab_volume(volume, k0, k1):
    """The :class:`VolumeGeometry` of slices ``k0:k1`` of ``volume`` (same voxels, same place)."""
    s = volume.voxel_size_um
    n = k1 - k0
    cz = volume.center_um[2] + (k0 + (n - 1) / 2.0 - (volume.nz - 1) / 2.0) * s
    return VolumeGeometry((n, volume.ny, volume.nx), s, (volume.center_um[0], volume.center_um[1], cz))


@dataclass(frozen=True)
class ScanRows:
    """Rows of one scan for one slab (half-open ranges).

    ``band``, ``local``: rows of the detector widened by the PSF margins
    (``margins[0]`` rows on each side); ``held``, ``owned``: data rows.
    """

    band: tuple  # the slab's projection (before extend_rows and the PSF)
    local: tuple  # the window the worker computes the PSF-blurred projection on
    held: tuple  # data rows the worker holds
    owned: tuple  # data rows whose inner-product terms the worker adds
    margins: tuple  # (rows, cols) of the PSF kernel's half-size, (0, 0) without a PSF
    extend: tuple | None  # (first, last) per view on the wide detector for extend_rows, or None


def _hull(a, b):
    if a[1] <= a[0]:
        return b
    if b[1] <= b[0]:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


def _wide(geometry, margins):
    g = geometry
    return ScanGeometry(g.angles, (g.rows + 2 * margins[0], g.cols + 2 * margins[1]), g.pixel_size_um, g.center_um, g.shifts_um)


def plan_scan_rows(geometry, volume, bounds, kernel_shape=None):
    """The :class:`ScanRows` of every slab of ``volume`` (slices ``bounds``) for one scan.

    Parameters
    ----------
    geometry : ScanGeometry
    volume : VolumeGeometry
    bounds : list of (k0, k1)
        From :func:`slab_bounds`.
    kernel_shape : tuple, optional
        Shape of the scan's detector PSF kernel (odd sides), as in
        :func:`isxt.reconstruct.build_operator`.
    """
    margins = (0, 0) if kernel_shape is None else (kernel_shape[0] // 2, kernel_shape[1] // 2)
    m = margins[0]
    wide = _wide(geometry, margins)
    rows_w, rows = wide.rows, geometry.rows
    extend = None
    if kernel_shape is not None:
        first, last = wide.rows_covering(volume)
        if m and np.all(first <= last) and (np.any(first > 0) or np.any(last < rows_w - 1)):
            extend = (first, last)
    # data-row boundaries where the slab boundaries project (mean over views)
    _, vc = wide.detector_center()
    s = volume.voxel_size_um
    z_edges = [volume.center_um[2] + (k0 - volume.nz / 2.0) * s for k0, _ in bounds[1:]]
    cuts = [int(np.clip(round(float(np.mean((z - vc) / wide.pixel_size_um)) + rows_w / 2.0 - m), 0, rows)) for z in z_edges]
    cuts = [0, *np.maximum.accumulate(cuts).tolist(), rows] if cuts else [0, rows]
    plans = []
    for i, (k0, k1) in enumerate(bounds):
        first_s, last_s = wide.rows_covering(slab_volume(volume, k0, k1))
        band = (int(max(first_s.min() - BAND_MARGIN, 0)), int(min(last_s.max() + 1 + BAND_MARGIN, rows_w)))
        support = band
        if extend is not None and band[1] > band[0]:
            lo = 0 if band[0] <= extend[0].max() else band[0]
            hi = rows_w if band[1] - 1 >= extend[1].min() else band[1]
            support = (lo, hi)
        local = (max(support[0] - m, 0), min(support[1] + m, rows_w)) if support[1] > support[0] else (0, 0)
        held = (max(local[0] - m, 0), min(local[1] - m, rows)) if local[1] > local[0] else (0, 0)
        owned = (cuts[i], cuts[i + 1])
        held = _hull(held, owned)
        local = _hull(local, (held[0] + m, held[1] + m))
        plans.append(ScanRows(band, local, held, owned, margins, extend))
    return plans


class SlabScanOperator(Operator):
    """One scan's forward model restricted to one slab and the data rows the worker holds.

    ``forward(x_slab)`` is the contribution of the slab to the data rows
    ``rows.held`` of :func:`isxt.reconstruct.build_operator` (scaled by
    ``weight``, the square root of a least-squares weight); ``adjoint`` is its
    exact transpose. Summing ``forward`` over the slabs gives the
    single-process projection; ``adjoint`` of the held rows of the global
    residual gives the slab of the single-process gradient.
    """

    def __init__(self, geometry, volume, bounds, rows, kernel=None, weight=None, backend="numba"):
        from ..projectors import projector

        k0, k1 = bounds
        self.rows = rows
        self.kernel = None if kernel is None else np.asarray(kernel, np.float32)
        self.weight = weight
        self.slab = slab_volume(volume, k0, k1)
        wide = _wide(geometry, rows.margins)
        b0, b1 = rows.band
        self.cols_wide = wide.cols
        self.n_views = wide.n_angles
        self.cols = geometry.cols
        self.proj = None
        if b1 > b0:
            n = b1 - b0
            cz = wide.center_um[2] + (b0 + n / 2.0 - wide.rows / 2.0) * wide.pixel_size_um
            sub = ScanGeometry(wide.angles, (n, wide.cols), wide.pixel_size_um, (*wide.center_um[:2], cz), wide.shifts_um)
            self.proj = projector(self.slab, sub, backend=backend)
        self.domain_shape = self.slab.shape
        self.range_shape = (geometry.n_angles, rows.held[1] - rows.held[0], geometry.cols)
        self._source = None
        if rows.extend is not None:
            l0, l1 = rows.local
            first, last = rows.extend
            src = np.clip(np.arange(l0, l1)[None, :], first[:, None], last[:, None]) - l0
            self._valid = (src >= 0) & (src < l1 - l0)
            self._source = np.clip(src, 0, max(l1 - l0 - 1, 0))

    # -- pieces of the chain on the local window --------------------------------
    def _window_rows(self):
        (l0, _), (h0, h1), m = self.rows.local, self.rows.held, self.rows.margins[0]
        return slice(h0 + m - l0, h1 + m - l0)

    def _cols(self):
        mc = self.rows.margins[1]
        return slice(mc, mc + self.cols)

    def forward(self, x):
        l0, l1 = self.rows.local
        b0, b1 = self.rows.band
        if self.kernel is None:  # no PSF: local window = held rows = band ∪ owned
            z = np.zeros((self.n_views, l1 - l0, self.cols_wide), np.float32)
            if self.proj is not None:
                z[:, b0 - l0 : b1 - l0] = self.proj.forward(x)
            y = z
        else:
            import scipy.ndimage

            z = np.zeros((self.n_views, l1 - l0, self.cols_wide), np.float32)
            if self.proj is not None:
                z[:, b0 - l0 : b1 - l0] = self.proj.forward(x)
            if self._source is not None:
                z = np.take_along_axis(z, np.broadcast_to(self._source[:, :, None], z.shape), axis=1)
                z *= self._valid[:, :, None]
            y = scipy.ndimage.convolve(z, self.kernel[None], mode="constant", cval=0.0)
        y = np.ascontiguousarray(y[:, self._window_rows(), self._cols()])
        if self.weight is not None:
            y = (y * self.weight).astype(np.float32, copy=False)
        return y

    def adjoint(self, y):
        l0, l1 = self.rows.local
        b0, b1 = self.rows.band
        if self.weight is not None:
            y = (y * self.weight).astype(np.float32, copy=False)
        w = np.zeros((self.n_views, l1 - l0, self.cols_wide), np.float32)
        w[:, self._window_rows(), self._cols()] = y
        if self.kernel is not None:
            import scipy.ndimage

            w = scipy.ndimage.correlate(w, self.kernel[None], mode="constant", cval=0.0)
            if self._source is not None:
                z = np.zeros_like(w)
                views = np.arange(self.n_views)[:, None]
                np.add.at(z, (views, self._source), w * self._valid[:, :, None])
                w = z
        if self.proj is None:
            return np.zeros(self.domain_shape, np.float32)
        return self.proj.adjoint(np.ascontiguousarray(w[:, b0 - l0 : b1 - l0]))
