"""The numba projection kernels: voxel-driven in-plane projection and its exact transpose.

The forward projection runs in two stages per view: the in-plane stage here
(every voxel column ``(j, i)`` spreads its whole z-vector onto the detector
columns its trapezoid footprint covers) and the axial stage of :mod:`._axial`.

Speed comes from these choices:

* the footprint weights of a whole volume row are computed first, branch-free
  and vectorised over voxels (:func:`row_footprints`), then applied in a
  separate loop, so the data loops carry no unpredictable branches;
* every footprint is applied with the same number of taps per view (trailing
  taps are exact zeros) into a detector padded on both sides, so the loops
  have fixed trip counts and no edge tests; voxels that cannot reach the
  detector (interior scans) are excluded per row analytically
  (:func:`voxel_range`);
* slices are padded to a multiple of :data:`~._simd.LANES` and moved one SIMD
  register at a time (:mod:`._simd`); a single slice (2D) has its own kernels
  that loop tap by tap over a whole row (the adjoint's loop vectorises with
  gathers);
* the forward pass keeps the (up to 3) detector columns a voxel touches in
  registers and slides this window along the row (:func:`_window_row`), so
  each voxel costs one plain store instead of one read-modify-write per tap;
  views where that does not apply (more taps, steps of a column or more)
  scatter tap by tap.

:func:`project_row` and :func:`backproject_row` are shared with the depth-node
kernels of :mod:`.depth_psf`.
"""

from __future__ import annotations

import numba
import numpy as np

from ._footprint import trapezoid_cdf
from ._simd import LANES, axpy_lanes, lanes_fma, lanes_load, lanes_select, lanes_store

__all__ = [
    "use_window",
    "project_row",
    "backproject_row",
    "voxel_range",
    "row_footprints",
    "forward_inplane",
    "adjoint_inplane",
    "forward_inplane_2d",
    "adjoint_inplane_2d",
]


@numba.njit(cache=True, inline="always")
def _window_walk(first, n, j, i0, nx, n_chunks, cols_pad, a):
    """Set-up shared by the register windows of one row at one view.

    Returns the element stride of one voxel / detector column, the first
    voxel ``q0`` and step ``q_dir`` of the walk (in the direction in which
    ``first`` grows), and the offsets of the row in the volume and of the view
    in the detector.
    """
    stride = n_chunks * LANES
    reverse = first[n - 1] < first[0]
    q0 = n - 1 if reverse else 0
    q_dir = -1 if reverse else 1
    return stride, q0, q_dir, (j * nx + i0) * stride, a * cols_pad * stride


@numba.njit(cache=True, inline="always")
def _window_start(det, start, stride):
    """The 3 detector columns from ``start`` on, as registers."""
    return lanes_load(det, start), lanes_load(det, start + stride), lanes_load(det, start + 2 * stride)


@numba.njit(cache=True, inline="always")
def _window_advance(det, base, stride, f, f_next, c0, c1, c2):
    """Shift the window by ``f_next − f`` (0 or 1) columns, loading the one that enters.

    Branch-free: the entering column ``f_next + 2`` is loaded either way and
    the registers are selected, so the walk has no data-dependent jumps.
    """
    move = f_next - f
    entering = lanes_load(det, base + (f_next + 2) * stride)
    return (lanes_select(move, c1, c0), lanes_select(move, c2, c1), lanes_select(move, entering, c2))


@numba.njit(cache=True, fastmath=True)
def _window_row(vol_t, j, i0, n, first, w, out, a):
    """Add one volume row's projection to view ``a`` with the detector columns in registers.

    For views with at most 3 taps and a footprint step below one column,
    ``first`` changes by 0 or 1 from voxel to voxel (walking the row in the
    direction in which it grows). The 3 columns a voxel touches are then
    held in registers: when the window advances, the column leaving it is
    complete, and the entering one is loaded. Each voxel costs one voxel load,
    one detector load and one plain store, and no voxel waits on a store of
    the previous one (the tap-wise scatter's read-modify-writes do, whenever
    neighbouring voxels hit the same column). ``w`` needs 3 rows (a zero row
    for 2-tap views).
    """
    if n == 0:
        return
    stride, q0, q_dir, row, view = _window_walk(first, n, j, i0, vol_t.shape[1], vol_t.shape[2], out.shape[1], a)
    for k in range(0, stride, LANES):
        f = np.int64(first[q0])
        c0, c1, c2 = _window_start(out, view + f * stride + k, stride)
        for p in range(n):
            q = q0 + q_dir * p
            f_next = np.int64(first[q])
            # the column entering the window holds what earlier rows left there
            c0, c1, c2 = _window_advance(out, view + k, stride, f, f_next, c0, c1, c2)
            f = f_next
            v = lanes_load(vol_t, row + q * stride + k)
            c0 = lanes_fma(c0, w[0, q], v)
            c1 = lanes_fma(c1, w[1, q], v)
            c2 = lanes_fma(c2, w[2, q], v)
            # column f is final once the window moves on; until then the
            # store is simply repeated
            lanes_store(out, view + f * stride + k, c0)
        lanes_store(out, view + (f + 1) * stride + k, c1)
        lanes_store(out, view + (f + 2) * stride + k, c2)


@numba.njit(cache=True, fastmath=True)
def _window_row_adjoint(sino, j, i0, n, first, w, out, a):
    """Transpose of :func:`_window_row`: one volume row gathers from view ``a``.

    The 3 detector columns a voxel reads are held in registers and shift by
    one as ``first`` advances, so each voxel costs one detector load and one
    read-modify-write of its own slices (the tap-wise gather costs three of
    each). ``w`` needs 3 rows (a zero row for 2-tap views).
    """
    if n == 0:
        return
    stride, q0, q_dir, row, view = _window_walk(first, n, j, i0, out.shape[1], out.shape[2], sino.shape[1], a)
    for k in range(0, stride, LANES):
        f = np.int64(first[q0])
        c0, c1, c2 = _window_start(sino, view + f * stride + k, stride)
        for p in range(n):
            q = q0 + q_dir * p
            f_next = np.int64(first[q])
            c0, c1, c2 = _window_advance(sino, view + k, stride, f, f_next, c0, c1, c2)
            f = f_next
            dst = row + q * stride + k
            acc = lanes_load(out, dst)
            acc = lanes_fma(acc, w[0, q], c0)
            acc = lanes_fma(acc, w[1, q], c1)
            acc = lanes_fma(acc, w[2, q], c2)
            lanes_store(out, dst, acc)


@numba.njit(cache=True, inline="always")
def use_window(n_taps, step):
    """Whether a view's rows go through the register windows: at most 3 taps, and a footprint
    step below one column, so ``first[]`` moves by at most 1 from voxel to voxel."""
    return n_taps <= 3 and abs(step) < 1.0 - 1e-9


@numba.njit(cache=True, fastmath=True, inline="always")
def project_row(vol_t, j, i0, n, first, w, out, a, n_taps, windowed):
    """Add voxels ``i0 … i0 + n − 1`` of row ``j`` to image ``a`` of ``out`` (footprints ``first``, ``w``).

    Through the register window (:func:`_window_row`) where the view allows,
    else tap by tap: tap-major, since consecutive voxels mostly hit different
    columns, so their read-modify-writes do not wait on each other.
    """
    if windowed:
        _window_row(vol_t, j, i0, n, first, w, out, a)
        return
    nx, n_chunks = vol_t.shape[1], vol_t.shape[2]
    cols_pad = out.shape[1]
    for m in range(n_taps):
        for q in range(n):
            dst = ((a * cols_pad + np.int64(first[q]) + m) * n_chunks) * LANES
            src = ((j * nx + i0 + q) * n_chunks) * LANES
            for k in range(0, n_chunks * LANES, LANES):
                axpy_lanes(out, dst + k, w[m, q], vol_t, src + k)


@numba.njit(cache=True, fastmath=True, inline="always")
def backproject_row(sino, j, i0, n, first, w, out, a, n_taps, windowed):
    """Transpose of :func:`project_row`: voxels ``i0 … i0 + n − 1`` of row ``j`` gather from image ``a``.

    Tap-major outside the register window, so that no voxel waits on its own
    previous update.
    """
    if windowed:
        _window_row_adjoint(sino, j, i0, n, first, w, out, a)
        return
    nx, n_chunks = out.shape[1], out.shape[2]
    cols_pad = sino.shape[1]
    for m in range(n_taps):
        for q in range(n):
            dst = ((j * nx + i0 + q) * n_chunks) * LANES
            src = ((a * cols_pad + np.int64(first[q]) + m) * n_chunks) * LANES
            for k in range(0, n_chunks * LANES, LANES):
                axpy_lanes(out, dst + k, w[m, q], sino, src + k)


@numba.njit(cache=True)
def voxel_range(t_first, step, hw, cols, nx):
    """Voxels ``[i0, i1)`` of a row whose footprint may reach detector columns ``[0, cols)``.

    The footprint centre is ``t_first + i * step`` (pixels); a voxel reaches
    the detector when the centre lies within ``(-hw, cols + hw)``. The range
    is widened by one voxel on each side; the detector padding absorbs that.
    """
    if abs(step) < 1e-9:
        if -hw < t_first < cols + hw:
            return 0, nx
        return 0, 0
    lo_f = (-hw - t_first) / step
    hi_f = (cols + hw - t_first) / step
    if lo_f > hi_f:
        lo_f, hi_f = hi_f, lo_f
    i0 = int(min(max(np.floor(lo_f), 0.0), nx))
    i1 = int(min(max(np.floor(hi_f) + 2.0, 0.0), nx))
    return i0, max(i0, i1)


@numba.njit(cache=True, fastmath=True)
def row_footprints(t_first, step, i0, n, footprint, taps, pad, first, w, offset, left_cdf):
    """Footprints of the ``n`` voxels ``i0 + q`` (``0 ≤ q < n``) of one row at one view.

    Fills ``first[q]`` (first padded detector column hit) and ``w[m, q]``
    (weight on column ``first[q] + m``, ``m < taps``); ``offset`` and
    ``left_cdf`` are scratch.
    The loops are branch-free and count from 0 (so numba's negative-index
    handling folds away) and LLVM vectorises them over voxels; the weights
    are differences of the footprint's CDF at column edges.
    """
    hw, hf, height, ramp = footprint[0], footprint[1], footprint[2], footprint[3]
    t_start = t_first + i0 * step
    for q in range(n):
        t0 = t_start + q * step
        left = np.floor(t0 - np.float64(hw))
        first[q] = np.uint64(int(left) + pad)
        # left edge of column ``first`` relative to the footprint centre; at
        # or left of the footprint, so the CDF is 0 there. float32 from here
        # on: the numbers are a few pixels at most.
        offset[q] = np.float32(left - t0)
    # weight of tap m = CDF at its right edge − CDF at its left edge, the
    # latter kept in ``left_cdf``. The last tap ends right of the footprint,
    # where the CDF is the whole mass.
    last = taps - 1
    mass = trapezoid_cdf(hw + hw + np.float32(1.0), hw, hf, height, ramp)
    for q in range(n):
        left_cdf[q] = np.float32(0.0)
    for m in range(last):
        edge = np.float32(m + 1)
        w_m = w[m]
        for q in range(n):
            cdf = trapezoid_cdf(offset[q] + edge, hw, hf, height, ramp)
            w_m[q] = cdf - left_cdf[q]
            left_cdf[q] = cdf
    w_last = w[last]
    for q in range(n):
        w_last[q] = mass - left_cdf[q]


@numba.njit(parallel=True, fastmath=True, cache=True)
def forward_inplane(vol_t, t_rows, steps, footprints, taps, pad, row_block, out):
    """Voxel-driven in-plane projection.

    ``vol_t[j, i, k, l]`` holds slice ``k * LANES + l``; ``out[a, c, k, l]``
    is the detector with ``pad`` extra columns on both sides. Rows go
    through :func:`_window_row` where the view allows, else tap by tap.
    """
    ny, nx, _, _ = vol_t.shape
    n_angles, cols_pad, _, _ = out.shape
    cols = cols_pad - 2 * pad
    max_taps = taps.max()
    for j0 in range(0, ny, row_block):
        j1 = min(j0 + row_block, ny)
        for a in numba.prange(n_angles):
            first = np.empty(nx, dtype=np.uint64)
            # _window_row reads 3 tap rows: the unused one stays zero
            w = np.zeros((max(max_taps, 3), nx), dtype=np.float32)
            offset = np.empty(nx, dtype=np.float32)
            left_cdf = np.empty(nx, dtype=np.float32)
            hw = np.float64(footprints[a, 0])
            n_taps = taps[a]
            windowed = use_window(n_taps, steps[a])
            for j in range(j0, j1):
                i0, i1 = voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
                row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
                project_row(vol_t, j, i0, i1 - i0, first, w, out, a, n_taps, windowed)


@numba.njit(parallel=True, fastmath=True, cache=True)
def adjoint_inplane(sino, t_rows, steps, footprints, taps, pad, view_block, out):
    """Transpose of :func:`forward_inplane`: each voxel gathers from its footprint's columns.

    Rows go through :func:`_window_row_adjoint` where the view allows (at
    most 3 taps, footprint step below one column), else tap by tap.
    """
    n_angles, cols_pad, _, _ = sino.shape
    ny, nx, _, _ = out.shape
    cols = cols_pad - 2 * pad
    max_taps = taps.max()
    for a0 in range(0, n_angles, view_block):
        a1 = min(a0 + view_block, n_angles)
        for j in numba.prange(ny):
            first = np.empty(nx, dtype=np.uint64)
            w = np.zeros((max(max_taps, 3), nx), dtype=np.float32)
            offset = np.empty(nx, dtype=np.float32)
            left_cdf = np.empty(nx, dtype=np.float32)
            for a in range(a0, a1):
                hw = np.float64(footprints[a, 0])
                n_taps = taps[a]
                i0, i1 = voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
                row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
                windowed = use_window(n_taps, steps[a])
                if windowed:
                    for m in range(n_taps, 3):  # rows a 3-tap view left behind
                        for q in range(i1 - i0):
                            w[m, q] = 0.0
                backproject_row(sino, j, i0, i1 - i0, first, w, out, a, n_taps, windowed)


@numba.njit(parallel=True, fastmath=True, cache=True)
def forward_inplane_2d(image, t_rows, steps, footprints, taps, pad, out):
    """:func:`forward_inplane` for a single slice: ``image`` (ny, nx), ``out`` (n_angles, padded cols)."""
    ny, nx = image.shape
    n_angles, cols_pad = out.shape
    cols = cols_pad - 2 * pad
    max_taps = taps.max()
    for a in numba.prange(n_angles):
        first = np.empty(nx, dtype=np.uint64)
        w = np.empty((max_taps, nx), dtype=np.float32)
        offset = np.empty(nx, dtype=np.float32)
        left_cdf = np.empty(nx, dtype=np.float32)
        hw = np.float64(footprints[a, 0])
        n_taps = taps[a]
        for j in range(ny):
            i0, i1 = voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
            row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
            row = image[j, i0:i1]
            view = out[a]
            # tap-major: long simple loops over voxels; consecutive voxels
            # mostly hit different columns, so the read-modify-writes overlap
            for m in range(n_taps):
                w_m = w[m]
                tap = np.uint64(m)  # unsigned indices: no negative-index fix-up
                for q in range(i1 - i0):
                    view[first[q] + tap] += w_m[q] * row[q]


@numba.njit(parallel=True, fastmath=True, cache=True)
def adjoint_inplane_2d(sino, t_rows, steps, footprints, taps, pad, out):
    """Transpose of :func:`forward_inplane_2d`: each voxel gathers from its footprint's columns."""
    n_angles, cols_pad = sino.shape
    ny, nx = out.shape
    cols = cols_pad - 2 * pad
    max_taps = taps.max()
    for j in numba.prange(ny):
        first = np.empty(nx, dtype=np.uint64)
        w = np.empty((max_taps, nx), dtype=np.float32)
        offset = np.empty(nx, dtype=np.float32)
        left_cdf = np.empty(nx, dtype=np.float32)
        for a in range(n_angles):
            hw = np.float64(footprints[a, 0])
            n_taps = taps[a]
            i0, i1 = voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
            row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
            row = out[j, i0:i1]
            view = sino[a]
            # tap-major: the loop over voxels vectorises (gathers from ``view``)
            for m in range(n_taps):
                w_m = w[m]
                tap = np.uint64(m)  # unsigned indices: no negative-index fix-up
                for q in range(i1 - i0):
                    row[q] += w_m[q] * view[first[q] + tap]

