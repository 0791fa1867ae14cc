"""Multi-threaded numba CPU projector with an exact adjoint.

The forward projection runs in two stages per view:

1. in-plane: every voxel column ``(j, i)`` spreads its whole z-vector onto the
   detector columns its trapezoid footprint covers (vectorised over z, since
   parallel geometry repeats the in-plane weights for every slice);
2. axial: a small banded matrix maps slices to detector rows by interval
   overlap, which handles unequal pixel sizes and sub-pixel ``dv`` shifts.

The adjoint runs the same two stages transposed with identical weight
arithmetic, so ``<Ax, y> = <x, Aᵀy>`` to float32 rounding.
"""

from __future__ import annotations

import numba
import numpy as np

from ._footprint import axial_weights, trapezoid_cdf, trapezoid_params
from .base import Projector

__all__ = ["NumbaProjector"]

# Work is tiled so that the data one thread touches stays in cache: the
# forward pass sweeps all views over a band of volume rows, the adjoint sweeps
# all volume rows over a band of views.
_FORWARD_ROW_BLOCK = 16
_ADJOINT_VIEW_BLOCK = 8


@numba.njit(parallel=True, fastmath=True, cache=True)
def _forward_inplane(vol_t, xs, ys, cos_a, sin_a, t_center, voxel, pixel, out, row_block):
    ny, nx, nz = vol_t.shape
    n_angles, cols, _ = out.shape
    for j0 in range(0, ny, row_block):
        j1 = min(j0 + row_block, ny)
        for a in numba.prange(n_angles):
            hw, hf, height, ramp, mass = trapezoid_params(cos_a[a], sin_a[a], voxel, pixel)
            cx = cos_a[a] / pixel
            sy = sin_a[a] / pixel
            for j in range(j0, j1):
                ty = ys[j] * sy + t_center[a]
                for i in range(nx):
                    t0 = xs[i] * cx + ty
                    lo = int(np.floor(t0 - hw))
                    hi = int(np.floor(t0 + hw))
                    if hi < 0 or lo >= cols:
                        continue
                    lo = max(lo, 0)
                    hi = min(hi, cols - 1)
                    prev = trapezoid_cdf(lo - t0, hw, hf, height, ramp, mass)
                    for col in range(lo, hi + 1):
                        cur = trapezoid_cdf(col + 1 - t0, hw, hf, height, ramp, mass)
                        w = np.float32(cur - prev)
                        prev = cur
                        if w > 0:
                            for k in range(nz):
                                out[a, col, k] += w * vol_t[j, i, k]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _adjoint_inplane(sino, xs, ys, cos_a, sin_a, t_center, voxel, pixel, out, view_block):
    n_angles, cols, nz = sino.shape
    ny, nx, _ = out.shape
    for a0 in range(0, n_angles, view_block):
        a1 = min(a0 + view_block, n_angles)
        for j in numba.prange(ny):
            acc = np.zeros(nz, dtype=np.float32)
            for a in range(a0, a1):
                hw, hf, height, ramp, mass = trapezoid_params(cos_a[a], sin_a[a], voxel, pixel)
                cx = cos_a[a] / pixel
                ty = ys[j] * (sin_a[a] / pixel) + t_center[a]
                for i in range(nx):
                    t0 = xs[i] * cx + ty
                    lo = int(np.floor(t0 - hw))
                    hi = int(np.floor(t0 + hw))
                    if hi < 0 or lo >= cols:
                        continue
                    lo = max(lo, 0)
                    hi = min(hi, cols - 1)
                    acc[:] = 0.0
                    prev = trapezoid_cdf(lo - t0, hw, hf, height, ramp, mass)
                    for col in range(lo, hi + 1):
                        cur = trapezoid_cdf(col + 1 - t0, hw, hf, height, ramp, mass)
                        w = np.float32(cur - prev)
                        prev = cur
                        if w > 0:
                            for k in range(nz):
                                acc[k] += w * sino[a, col, k]
                    for k in range(nz):
                        out[j, i, k] += acc[k]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _axial_forward(s, first_row, weights, out):
    """out[a, r, c] = Σ_k W[a, k, r − first[a, k]] s[a, c, k]."""
    n_angles, cols, nz = s.shape
    band = weights.shape[2]
    for a in numba.prange(n_angles):
        for k in range(nz):
            for b in range(band):
                w = weights[a, k, b]
                if w == 0:
                    continue
                r = first_row[a, k] + b
                for c in range(cols):
                    out[a, r, c] += w * s[a, c, k]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _axial_adjoint(y, first_row, weights, out):
    """out[a, c, k] = Σ_r W[a, k, r − first[a, k]] y[a, r, c] (transpose of :func:`_axial_forward`)."""
    n_angles, cols, nz = out.shape
    band = weights.shape[2]
    for a in numba.prange(n_angles):
        for k in range(nz):
            for b in range(band):
                w = weights[a, k, b]
                if w == 0:
                    continue
                r = first_row[a, k] + b
                for c in range(cols):
                    out[a, c, k] += w * y[a, r, c]


class NumbaProjector(Projector):
    """Exact-footprint parallel-beam projector on the CPU (numba, multi-threaded).

    See :func:`isxt.projector` for the contract.
    """

    backend = "numba"

    def __init__(self, volume, scan):
        super().__init__(volume, scan)
        p = scan.pixel_size
        uc, _ = scan.detector_center()
        self._xs = volume.coords("x")
        self._ys = volume.coords("y")
        self._cos = np.cos(scan.angles)
        self._sin = np.sin(scan.angles)
        self._t_center = scan.cols / 2.0 - uc / p
        self._first_row, self._axial = axial_weights(volume, scan)

    def _inplane_args(self):
        return (self._xs, self._ys, self._cos, self._sin, self._t_center, self.volume.voxel_size, self.scan.pixel_size)

    def forward(self, x):
        x = self._check_volume(x)
        vol_t = np.ascontiguousarray(x.transpose(1, 2, 0))
        n_angles, rows, cols = self.range_shape
        s = np.zeros((n_angles, cols, self.volume.nz), dtype=np.float32)
        _forward_inplane(vol_t, *self._inplane_args(), s, _FORWARD_ROW_BLOCK)
        out = np.zeros((n_angles, rows, cols), dtype=np.float32)
        _axial_forward(s, self._first_row, self._axial, out)
        return out

    def adjoint(self, y):
        y = self._check_data(y)
        n_angles, rows, cols = self.range_shape
        s = np.zeros((n_angles, cols, self.volume.nz), dtype=np.float32)
        _axial_adjoint(y, self._first_row, self._axial, s)
        vol_t = np.zeros((self.volume.ny, self.volume.nx, self.volume.nz), dtype=np.float32)
        _adjoint_inplane(s, *self._inplane_args(), vol_t, _ADJOINT_VIEW_BLOCK)
        return np.ascontiguousarray(vol_t.transpose(2, 0, 1))
