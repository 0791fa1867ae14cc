"""The projector interface shared by all backends."""

from __future__ import annotations

import numpy as np

from ..geometry import ScanGeometry, VolumeGeometry
from ..operators import Operator

__all__ = ["Projector"]


class Projector(Operator):
    """A parallel-beam projector for one volume and one scan.

    ``forward(x)`` maps a ``(nz, ny, nx)`` float32 LAC volume (1/µm) to a
    ``(n_angles, rows, cols)`` stack of pixel-averaged line integrals
    (dimensionless absorption); ``adjoint(y)`` is its exact transpose.
    """

    backend = "abstract"

    def __init__(self, volume, scan):
        if not isinstance(volume, VolumeGeometry):
            raise TypeError(f"volume must be an isxt.VolumeGeometry, got {type(volume).__name__}")
        if not isinstance(scan, ScanGeometry):
            raise TypeError(f"scan must be an isxt.ScanGeometry, got {type(scan).__name__}")
        self.volume = volume
        self.scan = scan
        self.domain_shape = volume.shape
        self.range_shape = scan.shape

    def __repr__(self):
        return (
            f"{type(self).__name__}(volume={self.volume.shape} @ {self.volume.voxel_size_um} µm, "
            f"scan={self.scan.shape} @ {self.scan.pixel_size_um} µm)"
        )

    def subset(self, indices):
        """The same projector restricted to views ``indices`` (for OSEM)."""
        return type(self)(self.volume, self.scan[indices])

    @staticmethod
    def _zeroed(out, shape):
        """``out`` set to zero (checked: a C-contiguous float32 ndarray of ``shape``), or new zeros."""
        if out is None:
            return np.zeros(shape, dtype=np.float32)
        if not isinstance(out, np.ndarray) or out.shape != tuple(shape) or out.dtype != np.float32 \
                or not out.flags.c_contiguous:
            raise ValueError(f"out= must be a C-contiguous float32 ndarray of shape {tuple(shape)}, "
                             f"got {type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}")
        out.fill(0.0)
        return out

    def _check_volume(self, x):
        x = np.asarray(x)
        if x.shape != self.domain_shape:
            raise ValueError(f"volume has shape {x.shape}, projector expects {self.domain_shape} (nz, ny, nx)")
        return x.astype(np.float32, copy=False)

    def _check_data(self, y):
        y = np.asarray(y)
        if y.shape != self.range_shape:
            raise ValueError(f"projections have shape {y.shape}, projector expects {self.range_shape} (n_angles, rows, cols)")
        return np.ascontiguousarray(y, dtype=np.float32)
