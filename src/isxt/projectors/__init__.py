"""Projector backends: ``numba`` (default, CPU) and ``astra`` (ASTRA toolbox, CUDA or CPU)."""

from __future__ import annotations

from .base import Projector

__all__ = ["Projector", "projector", "BACKENDS"]

BACKENDS = ("numba", "astra")


def projector(volume, scan, backend="numba"):
    """A projector for ``volume`` (:class:`isxt.VolumeGeometry`) seen by ``scan``.

    Parameters
    ----------
    volume : VolumeGeometry
    scan : ScanGeometry
    backend : {'numba', 'astra'}
        ``numba``: this package's CPU kernels (exact voxel footprints).
        ``astra``: the ASTRA toolbox (``parallel3d_vec`` on a CUDA GPU when
        one is present, else 2D ``parallel_vec`` slice by slice on the CPU).

    Returns
    -------
    Projector
        With ``forward(x)`` → ``(n_angles, rows, cols)`` and ``adjoint(y)`` →
        ``(nz, ny, nx)``, float32.

    Examples
    --------
    >>> import numpy as np, isxt
    >>> vol = isxt.VolumeGeometry((2, 16, 16), voxel_size_um=0.1)
    >>> scan = isxt.ScanGeometry(isxt.angles_180(4), (2, 24), pixel_size_um=0.1)
    >>> A = isxt.projector(vol, scan)
    >>> A.forward(np.ones(vol.shape, np.float32)).shape
    (4, 2, 24)
    """
    if backend == "numba":
        from .numba_cpu import NumbaProjector

        return NumbaProjector(volume, scan)
    if backend == "astra":
        from .astra import AstraProjector

        return AstraProjector(volume, scan)
    raise ValueError(f"unknown projector backend {backend!r}; choose one of {', '.join(BACKENDS)}")
