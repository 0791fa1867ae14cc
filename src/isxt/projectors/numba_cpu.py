"""Multi-threaded numba CPU projector with an exact adjoint: the host class.

The forward projection runs in two stages per view:

1. in-plane (:mod:`._kernels`): every voxel column ``(j, i)`` spreads its
   whole z-vector onto the detector columns its trapezoid footprint covers
   (vectorised over z, since parallel geometry repeats the in-plane weights
   for every slice);
2. axial (:mod:`._axial`): a small banded matrix maps slices to detector rows
   by interval overlap, which handles unequal pixel sizes and sub-pixel ``dv``
   shifts.

The adjoint runs the same two stages transposed with identical weight
arithmetic, so ``<Ax, y> = <x, Aᵀy>`` to float32 rounding. Buffers are padded
to whole SIMD registers (:mod:`._simd`) and 64-byte aligned.

For the depth-dependent PSF model, :meth:`NumbaProjector.iter_depth_slabs`
projects a view into one image per depth node in a single pass (the kernels
of :mod:`.depth_psf`).
"""

from __future__ import annotations

import numba
import numpy as np

from ..operators import write_into
from ._axial import axial_adjoint, axial_forward
from ._footprint import axial_weights, trapezoid_params
from ._kernels import adjoint_inplane, adjoint_inplane_2d, forward_inplane, forward_inplane_2d
from ._simd import LANES, aligned_zeros, chunked
from .base import Projector
from .depth_psf import adjoint_depth_inplane, check_nodes, forward_depth_inplane, node_intervals

__all__ = ["NumbaProjector"]

# Work is tiled so that the data one thread touches stays in its L2 cache:
# the forward pass sweeps all views over a band of volume rows, the adjoint
# sweeps all volume rows over a band of views. Sizes are in float32 elements.
_TILE_ELEMENTS = 1 << 18


class NumbaProjector(Projector):
    """Exact-footprint parallel-beam projector on the CPU (numba, multi-threaded).

    See :func:`isxt.projector` for the contract.
    """

    backend = "numba"

    def __init__(self, volume, scan):
        super().__init__(volume, scan)
        s, p = volume.voxel_size_um, scan.pixel_size_um
        uc, _ = scan.detector_center()
        cos, sin = np.cos(scan.angles), np.sin(scan.angles)
        # footprint centre of voxel (j, i) at view a, in detector columns:
        # t_rows[a, j] + i * steps[a]; forward and adjoint share these numbers
        t_center = scan.cols / 2.0 - uc / p
        xs, ys = volume.coords("x"), volume.coords("y")
        self._steps = s * cos / p
        self._t_rows = np.ascontiguousarray(xs[0] * cos[:, None] / p + ys[None, :] * sin[:, None] / p + t_center[:, None])
        params = np.array([trapezoid_params(c, sn, s, p) for c, sn in zip(cos, sin)], dtype=np.float64)
        self._footprints = np.ascontiguousarray(params[:, :4], dtype=np.float32)
        hw = self._footprints[:, 0].astype(np.float64)
        # a footprint of width 2 hw starting anywhere in a column touches ≤ floor(2 hw) + 2 columns
        self._taps = (np.floor(2.0 * hw) + 2).astype(np.int64)
        # room for footprints of voxels just outside the detector (see voxel_range)
        self._pad = int(np.ceil(2.0 * hw.max() + np.abs(self._steps).max())) + 2
        self._nz_padded = 1 if volume.nz == 1 else -(-volume.nz // LANES) * LANES
        self._first_row, self._axial = axial_weights(volume, scan)

    def _geometry_args(self):
        return self._t_rows, self._steps, self._footprints, self._taps, self._pad

    def _padded_shape(self):
        return self.scan.n_angles, self.scan.cols + 2 * self._pad, self._nz_padded

    def forward(self, x, out=None):
        x = self._check_volume(x)
        nz, ny, nx = self.domain_shape
        s = aligned_zeros(self._padded_shape())
        if nz == 1:
            forward_inplane_2d(np.ascontiguousarray(x[0]), *self._geometry_args(), s.reshape(s.shape[:2]))
        else:
            vol_t = aligned_zeros((ny, nx, self._nz_padded))
            vol_t[:, :, :nz] = x.transpose(1, 2, 0)
            row_block = max(1, _TILE_ELEMENTS // (nx * self._nz_padded))
            forward_inplane(chunked(vol_t), *self._geometry_args(), row_block, chunked(s))
        out = self._zeroed(out, self.range_shape)
        axial_forward(s, self._first_row, self._axial, out, self._pad)
        return out

    def adjoint(self, y, out=None):
        y = self._check_data(y)
        nz, ny, nx = self.domain_shape
        s = aligned_zeros(self._padded_shape())
        axial_adjoint(y, self._first_row, self._axial, s, self._pad)
        if nz == 1:
            image = self._zeroed(out, self.domain_shape)
            adjoint_inplane_2d(s.reshape(s.shape[:2]), *self._geometry_args(), image[0])
            return image
        vol_t = aligned_zeros((ny, nx, self._nz_padded))
        view_block = max(1, _TILE_ELEMENTS // (s.shape[1] * self._nz_padded))
        adjoint_inplane(chunked(s), *self._geometry_args(), view_block, chunked(vol_t))
        return write_into(np.ascontiguousarray(vol_t[:, :, :nz].transpose(2, 0, 1)), out)

    # -- depth nodes (the depth-dependent PSF model) -----------------------------
    def _depth_args(self, a, nodes, center_xy):
        """Depth of voxel ``(j, 0)`` per row, its step along a row, and the node intervals, at view ``a``."""
        cx, cy = float(center_xy[0]), float(center_xy[1])
        sin, cos = np.sin(self.scan.angles[a]), np.cos(self.scan.angles[a])
        x0 = self.volume.coords("x")[0]
        d_rows = -(x0 - cx) * sin + (self.volume.coords("y") - cy) * cos
        d_step = -self.volume.voxel_size_um * sin
        starts, stops = node_intervals(d_rows, d_step, nodes, self.volume.nx)
        return d_rows, d_step, nodes, starts, stops

    def _view_args(self, a):
        return self._t_rows[a], self._steps[a], self._footprints[a], self._taps[a], self._pad

    def _node_axial(self, a, n_nodes):
        """The axial map of view ``a`` repeated for ``n_nodes`` images."""
        first_row, weights = self._first_row[a : a + 1], self._axial[a : a + 1]
        return np.repeat(first_row, n_nodes, axis=0), np.repeat(weights, n_nodes, axis=0)

    def _slab_buffer(self, n_nodes):
        # the node kernels move whole SIMD registers, so a single slice is padded too
        nz_lanes = -(-self.volume.nz // LANES) * LANES
        return aligned_zeros((n_nodes, self.scan.cols + 2 * self._pad, nz_lanes))

    def iter_depth_slabs(self, x, nodes, center_xy):
        """Projections of ``x`` split over depth nodes, one view at a time, one pass over the volume per view.

        For view ``a`` the depth of voxel column ``(j, i)`` along the beam is
        ``d = -(x - cx) sinθ + (y - cy) cosθ`` (µm); its linear-interpolation
        ("hat") weight on node ``s`` is ``max(0, 1 - |d - nodes[s]| / step)``.
        Node ``s``'s image equals ``forward(x * hat_s)`` for that view (to
        float32 rounding), but each voxel is read once and adds its footprint
        to the images of the two nodes around its depth, so a view costs
        about two projections instead of one per node.

        Parameters
        ----------
        x : ndarray, shape ``(nz, ny, nx)``
        nodes : array_like, shape ``(n_nodes,)``
            Increasing, evenly spaced depths (µm); one node takes every voxel
            with weight 1. The weights of a voxel sum to 1 only within
            ``[nodes[0], nodes[-1]]``: place the nodes to cover the volume.
        center_xy : (float, float)
            ``(cx, cy)``, the origin of the depths (µm).

        Yields
        ------
        a : int
            View index, in order.
        slabs : ndarray, float32, shape ``(n_nodes, rows, cols)``
        """
        x = self._check_volume(x)
        nodes = check_nodes(nodes)
        if nodes.size == 1:
            for a, view in enumerate(self.forward(x)):
                yield a, view[None]
            return
        nz, ny, nx = self.domain_shape
        buf = self._slab_buffer(nodes.size)
        vol_t = aligned_zeros((ny, nx, buf.shape[2]))
        vol_t[:, :, :nz] = x.transpose(1, 2, 0)
        for a in range(self.scan.n_angles):
            buf[...] = 0.0
            # dynamic scheduling: intervals hold very different numbers of voxels
            with numba.parallel_chunksize(1):
                forward_depth_inplane(chunked(vol_t), *self._view_args(a), *self._depth_args(a, nodes, center_xy),
                                       chunked(buf))
            out = np.zeros((nodes.size,) + self.range_shape[1:], dtype=np.float32)
            axial_forward(buf, *self._node_axial(a, nodes.size), out, self._pad)
            yield a, out

    def forward_depth_slabs(self, x, nodes, center_xy):
        """All views of :meth:`iter_depth_slabs`: float32 ``(n_angles, n_nodes, rows, cols)``."""
        nodes = check_nodes(nodes)
        out = np.empty((self.scan.n_angles, nodes.size) + self.range_shape[1:], dtype=np.float32)
        for a, slabs in self.iter_depth_slabs(x, nodes, center_xy):
            out[a] = slabs
        return out

    def adjoint_depth_slabs(self, y, nodes, center_xy):
        """Transpose of :meth:`forward_depth_slabs`: ``Σ_a Σ_s hat_s · Aᵀ_a y[a][s]``.

        Parameters
        ----------
        y : array_like or sequence
            ``(n_angles, n_nodes, rows, cols)``, or anything whose ``y[a]`` is
            view ``a``'s ``(n_nodes, rows, cols)`` images (e.g. a list).
        nodes, center_xy
            As in :meth:`iter_depth_slabs`.

        Returns
        -------
        ndarray, float32, shape ``(nz, ny, nx)``
        """
        nodes = check_nodes(nodes)
        n_angles = self.scan.n_angles
        if len(y) != n_angles:
            raise ValueError(f"need slab images for {n_angles} views, got {len(y)}")
        views = [np.ascontiguousarray(y[a], dtype=np.float32) for a in range(n_angles)]
        shape = (nodes.size,) + self.range_shape[1:]
        for a, v in enumerate(views):
            if v.shape != shape:
                raise ValueError(f"slab images of view {a} have shape {v.shape}, expected (n_nodes, rows, cols) = {shape}")
        if nodes.size == 1:
            return self.adjoint(np.stack([v[0] for v in views]))
        nz, ny, nx = self.domain_shape
        buf = self._slab_buffer(nodes.size)
        vol_t = aligned_zeros((ny, nx, buf.shape[2]))
        for a, v in enumerate(views):
            buf[...] = 0.0
            axial_adjoint(v, *self._node_axial(a, nodes.size), buf, self._pad)
            adjoint_depth_inplane(chunked(buf), *self._view_args(a), *self._depth_args(a, nodes, center_xy),
                                   chunked(vol_t))
        return np.ascontiguousarray(vol_t[:, :, :nz].transpose(2, 0, 1))
