"""The axial stage of the projectors: detector rows from volume slices by interval overlap.

A small banded matrix per view (from :func:`._footprint.axial_weights`) maps
slices to detector rows, which handles unequal pixel sizes and sub-pixel
``dv`` shifts. Shared by the numba backend and by the ASTRA backend, whose
2D projections need the same z-to-row map.
"""

from __future__ import annotations

import numba

__all__ = ["axial_forward", "axial_adjoint"]


@numba.njit(parallel=True, fastmath=True, cache=True)
def axial_forward(s, first_row, weights, out, col_offset=0):
    """out[a, r, c] = Σ_k W[a, k, r − first[a, k]] s[a, c + col_offset, k]."""
    n_angles, nz = first_row.shape
    cols = out.shape[2]
    band = weights.shape[2]
    for a in numba.prange(n_angles):
        for k in range(nz):
            for b in range(band):
                w = weights[a, k, b]
                if w == 0:
                    continue
                r = first_row[a, k] + b
                for c in range(cols):
                    out[a, r, c] += w * s[a, c + col_offset, k]


@numba.njit(parallel=True, fastmath=True, cache=True)
def axial_adjoint(y, first_row, weights, out, col_offset=0):
    """out[a, c + col_offset, k] = Σ_r W[a, k, r − first[a, k]] y[a, r, c] (transpose of :func:`axial_forward`)."""
    n_angles, nz = first_row.shape
    cols = y.shape[2]
    band = weights.shape[2]
    for a in numba.prange(n_angles):
        for k in range(nz):
            for b in range(band):
                w = weights[a, k, b]
                if w == 0:
                    continue
                r = first_row[a, k] + b
                for c in range(cols):
                    out[a, c + col_offset, k] += w * y[a, r, c]

