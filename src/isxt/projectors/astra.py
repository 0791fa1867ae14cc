"""ASTRA toolbox backend with isxt's geometry contract.

* With a CUDA GPU: ASTRA's ``parallel3d_vec`` projectors (``cuda3d``) through
  ``astra.experimental.direct_FP3D`` / ``direct_BP3D``, onto one detector row
  per slice, followed by the same exact slice-to-row overlap matrix (on the
  GPU for cupy arrays).
* Without: ASTRA's 2D CPU ``linear`` projector on ``parallel_vec`` geometry,
  slice by slice (threads over slices), followed by the exact slice-to-row
  overlap matrix that maps slices to detector rows (so unequal pixel sizes and
  ``dv`` shifts follow the same contract as the numba backend).

ASTRA samples one ray per detector pixel (its centre) where the numba backend
averages over the pixel; for pixels no larger than the structures imaged the
two agree closely. Tests use this backend as an independent implementation.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._array import add_at, array_module
from ..errors import InputError
from ..operators import write_into
from ._axial import axial_adjoint, axial_forward
from ._footprint import axial_weights
from .base import Projector

__all__ = ["AstraProjector", "astra_available", "cuda_available", "cuda_problem"]


def _import_astra():
    try:
        import astra
    except ImportError:
        raise InputError("backend 'astra' needs the ASTRA toolbox: pip install 'isxt[astra]'") from None
    return astra


def astra_available():
    try:
        _import_astra()
    except InputError:
        return False
    return True


def cuda_problem():
    """Why ASTRA's CUDA projectors cannot be used here, or None when they can.

    >>> reason = cuda_problem()
    >>> reason is None or isinstance(reason, str)
    True
    """
    if not astra_available():
        return "the ASTRA toolbox is not installed: pip install 'isxt[gpu]'"
    import astra

    try:
        usable = bool(astra.use_cuda())
    except (RuntimeError, OSError, ImportError) as exc:  # a missing or mismatched CUDA driver / runtime
        return f"ASTRA's CUDA check failed: {type(exc).__name__}: {exc}"
    if not usable:
        return ("ASTRA reports no usable CUDA device (a CPU-only ASTRA build, no NVIDIA driver, "
                "or CUDA_VISIBLE_DEVICES hides the GPU)")
    return None


def cuda_available():
    """True when ASTRA was built with CUDA and sees a GPU (:func:`cuda_problem` says why not)."""
    return cuda_problem() is None


class AstraProjector(Projector):
    """Projector on the ASTRA toolbox (GPU ``parallel3d_vec`` or CPU 2D slice by slice)."""

    backend = "astra"

    def __init__(self, volume, scan, use_gpu=None, threads=None, supersampling=None):
        super().__init__(volume, scan)
        self._astra = _import_astra()
        self.use_gpu = cuda_available() if use_gpu is None else bool(use_gpu)
        self.threads = threads or min(os.cpu_count() or 1, max(1, volume.nz))
        ratio = scan.pixel_size_um / volume.voxel_size_um
        self.supersampling = max(1, math.ceil(ratio - 1e-6)) if supersampling is None else int(supersampling)
        if self.use_gpu:
            self._setup_gpu()
        else:
            self._setup_cpu()

    def subset(self, indices):
        return type(self)(
            self.volume, self.scan[indices], use_gpu=self.use_gpu, threads=self.threads,
            supersampling=self.supersampling,
        )

    # -- geometry ---------------------------------------------------------------
    def _frames(self):
        """Per view: ray direction, detector centre, u and v pixel vectors (µm)."""
        th = self.scan.angles
        p = self.scan.pixel_size_um
        uc, vc = self.scan.detector_center()
        c, s, zero = np.cos(th), np.sin(th), np.zeros_like(th)
        ray = np.stack([-s, c, zero], axis=1)
        det = np.stack([uc * c, uc * s, vc], axis=1)
        u = np.stack([c * p, s * p, zero], axis=1)
        v = np.stack([zero, zero, np.full_like(th, p)], axis=1)
        return ray, det, u, v

    def _bounds(self):
        vol = self.volume
        ex, ey, ez = vol.extent
        cx, cy, cz = vol.center_um
        return (cx - ex / 2, cx + ex / 2, cy - ey / 2, cy + ey / 2, cz - ez / 2, cz + ez / 2)

    # -- CPU: 2D slices + axial overlap ---------------------------------------
    def _setup_cpu(self):
        astra = self._astra
        ray, det, u, _ = self._frames()
        # 2D parallel_vec: the in-plane part; the detector centre's z is handled axially
        vectors = np.concatenate([ray[:, :2], det[:, :2], u[:, :2]], axis=1)
        x0, x1, y0, y1, _, _ = self._bounds()
        self._vol_geom = astra.create_vol_geom(self.volume.ny, self.volume.nx, x0, x1, y0, y1)
        self._proj_geom = astra.create_proj_geom("parallel_vec", self.scan.cols, vectors)
        self._proj_id = astra.create_projector("linear", self._proj_geom, self._vol_geom)
        self._op = astra.OpTomo(self._proj_id)
        self._first_row, self._axial = axial_weights(self.volume, self.scan)

    def _map_slices(self, fn, items):
        if self.threads > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                return list(pool.map(fn, items))
        return [fn(i) for i in items]

    def _forward_cpu(self, x):
        n_angles, rows, cols = self.range_shape
        # ASTRA's 2D images have row 0 at the largest y; isxt's j grows with y
        flipped = x[:, ::-1, :]
        sinos = self._map_slices(lambda k: self._op.FP(np.ascontiguousarray(flipped[k])), range(self.volume.nz))
        s = np.ascontiguousarray(np.stack(sinos, axis=2), dtype=np.float32)  # (angles, cols, nz)
        out = np.zeros((n_angles, rows, cols), dtype=np.float32)
        axial_forward(s, self._first_row, self._axial, out)
        return out

    def _adjoint_cpu(self, y):
        n_angles, rows, cols = self.range_shape
        s = np.zeros((n_angles, cols, self.volume.nz), dtype=np.float32)
        axial_adjoint(y, self._first_row, self._axial, s)
        slices = self._map_slices(lambda k: self._op.BP(np.ascontiguousarray(s[:, :, k])), range(self.volume.nz))
        return np.ascontiguousarray(np.stack(slices, axis=0)[:, ::-1, :], dtype=np.float32)

    # -- GPU: parallel3d_vec, one detector row per slice + axial overlap -----
    # ASTRA's CUDA projectors interpolate trilinearly, so rows that do not sit
    # on slice centres (finer or coarser pixels, sub-pixel dv shifts, the ends
    # of the volume) would follow a different model from the contract's
    # slice/row overlaps. So ASTRA projects onto a detector with one row per
    # slice, through the slice centres (horizontal rays sample each slice
    # exactly), and the exact slice-to-row overlap matrix of the CPU path maps
    # slices to the scan's rows. Along u, a pixel coarser than the voxel is
    # split into ``supersampling`` sub-columns that are averaged (the pixel
    # mean of the contract); their transpose spreads a pixel back evenly.
    def _setup_gpu(self):
        astra = self._astra
        ray, det, u, _ = self._frames()
        vol, n = self.volume, self.supersampling
        det = det.copy()
        det[:, 2] = vol.center_um[2]  # the scan's vertical offset lives in the axial weights
        v = np.zeros_like(u)
        v[:, 2] = vol.voxel_size_um
        vectors = np.concatenate([ray, det, u / n, v], axis=1)
        x0, x1, y0, y1, z0, z1 = self._bounds()
        self._vol_geom = astra.create_vol_geom(vol.ny, vol.nx, vol.nz, x0, x1, y0, y1, z0, z1)
        self._proj_geom = astra.create_proj_geom("parallel3d_vec", vol.nz, self.scan.cols * n, vectors)
        self._proj_id = astra.create_projector("cuda3d", self._proj_geom, self._vol_geom)
        self._first_row, self._axial = axial_weights(vol, self.scan)
        self._device_weights = None

    def _weights_on(self, xp):
        if xp is np:
            return self._first_row, self._axial
        if self._device_weights is None:
            rows = np.clip(self._first_row[:, :, None] + np.arange(self._axial.shape[2]), 0, self.scan.rows - 1)
            self._device_weights = (xp.asarray(rows), xp.asarray(self._axial))
        return self._device_weights

    def _axial_forward_gpu(self, s, xp):
        """(nz, angles, cols) slice projections → (angles, rows, cols)."""
        n_angles, rows, cols = self.range_shape
        if xp is np:
            out = np.zeros(self.range_shape, dtype=np.float32)
            axial_forward(np.ascontiguousarray(s.transpose(1, 2, 0)), *self._weights_on(np), out)
            return out
        row_index, w = self._weights_on(xp)
        view = xp.arange(n_angles)[:, None]
        s = s.transpose(1, 0, 2)  # (angles, nz, cols)
        out = xp.zeros(self.range_shape, dtype=np.float32)
        for b in range(w.shape[2]):
            add_at(out, (view, row_index[:, :, b]), w[:, :, b, None] * s)
        return out

    def _axial_adjoint_gpu(self, y, xp):
        """Transpose of :meth:`_axial_forward_gpu`: (angles, rows, cols) → (nz, angles, cols)."""
        n_angles = self.range_shape[0]
        if xp is np:
            s = np.zeros((n_angles, self.scan.cols, self.volume.nz), dtype=np.float32)
            axial_adjoint(np.ascontiguousarray(y, dtype=np.float32), *self._weights_on(np), s)
            return s.transpose(2, 0, 1)
        row_index, w = self._weights_on(xp)
        view = xp.arange(n_angles)[:, None]
        s = sum(w[:, :, b, None] * y[view, row_index[:, :, b]] for b in range(w.shape[2]))
        return s.transpose(1, 0, 2)

    # numpy arrays are copied to and from the GPU by ASTRA; device arrays (cupy)
    # are handed to ASTRA directly through DLPack, so solvers can keep their
    # iterates on the GPU (see isxt._array).
    def _forward_gpu(self, x):
        from astra import experimental

        xp = array_module(x)
        n_angles, _, cols = self.range_shape
        n = self.supersampling
        proj = xp.zeros((self.volume.nz, n_angles, cols * n), dtype=np.float32)  # ASTRA's (rows, angles, cols)
        experimental.direct_FP3D(self._proj_id, xp.ascontiguousarray(x, dtype=np.float32), proj)
        if n > 1:
            proj = proj.reshape(self.volume.nz, n_angles, cols, n).mean(axis=3, dtype=np.float32)
        return self._axial_forward_gpu(proj, xp)

    def _adjoint_gpu(self, y):
        from astra import experimental

        xp = array_module(y)
        n = self.supersampling
        s = self._axial_adjoint_gpu(y, xp)
        if n > 1:
            s = xp.repeat(s * np.float32(1.0 / n), n, axis=2)
        vol = xp.zeros(self.domain_shape, dtype=np.float32)
        experimental.direct_BP3D(self._proj_id, vol, xp.ascontiguousarray(s, dtype=np.float32))
        return vol

    # -- the operator ---------------------------------------------------------------
    def forward(self, x, out=None):
        if self.use_gpu and array_module(x) is not np:
            return write_into(self._forward_gpu(self._check_device(x, self.domain_shape, "volume")), out)
        x = self._check_volume(x)
        return write_into(self._forward_gpu(x) if self.use_gpu else self._forward_cpu(x), out)

    def adjoint(self, y, out=None):
        if self.use_gpu and array_module(y) is not np:
            return write_into(self._adjoint_gpu(self._check_device(y, self.range_shape, "projections")), out)
        y = self._check_data(y)
        return write_into(self._adjoint_gpu(y) if self.use_gpu else self._adjoint_cpu(y), out)

    @staticmethod
    def _check_device(a, shape, what):
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"{what} have shape {tuple(a.shape)}, projector expects {tuple(shape)}")
        return a

    def __del__(self):
        proj_id = getattr(self, "_proj_id", None)
        if proj_id is not None:
            try:
                self._astra.projector.delete(proj_id) if not self.use_gpu else self._astra.projector3d.delete(proj_id)
            except Exception:  # interpreter shutdown
                pass
