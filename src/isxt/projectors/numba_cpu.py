"""Multi-threaded numba CPU projector with an exact adjoint.

The forward projection runs in two stages per view:

1. in-plane: every voxel column ``(j, i)`` spreads its whole z-vector onto the
   detector columns its trapezoid footprint covers (vectorised over z, since
   parallel geometry repeats the in-plane weights for every slice);
2. axial: a small banded matrix maps slices to detector rows by interval
   overlap, which handles unequal pixel sizes and sub-pixel ``dv`` shifts.

The adjoint runs the same two stages transposed with identical weight
arithmetic, so ``<Ax, y> = <x, Aᵀy>`` to float32 rounding.

Speed comes from three choices:

* the footprint weights of a whole volume row are computed first, branch-free
  and vectorised over voxels (:func:`_row_footprints`), then applied in a
  separate loop, so the data loops carry no unpredictable branches;
* every footprint is applied with the same number of taps per view (trailing
  taps are exact zeros) into a detector padded on both sides, so the loops
  have fixed trip counts and no edge tests; voxels that cannot reach the
  detector (interior scans) are excluded per row analytically;
* slices are padded to a multiple of :data:`_LANES` and moved in chunks of
  one SIMD register by small LLVM intrinsics (:func:`_axpy_lanes`, the
  ``_lanes_*`` family); buffers are 64-byte aligned so that no register
  access straddles two cache lines; a single slice (2D) has its own kernels
  that loop tap by tap over a whole row (the adjoint's loop vectorises with
  gathers);
* the forward pass keeps the (up to 3) detector columns a voxel touches in
  registers and slides this window along the row (:func:`_window_row`), so
  each voxel costs one plain store instead of one read-modify-write per tap;
  views where that does not apply (more taps, steps of a column or more)
  scatter tap by tap.

For the depth-dependent PSF model, :meth:`NumbaProjector.iter_depth_slabs`
projects a view into one image per depth node in a single pass: each voxel's
footprint is computed once and added, times its two hat weights, to the
images of the two nodes around its depth (same kernels, node for view).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from ._footprint import axial_weights, trapezoid_cdf, trapezoid_params
from .base import Projector

__all__ = ["NumbaProjector"]

# z-chunk processed as one SIMD register (16 float32 = one AVX-512 register;
# LLVM splits it where the CPU has narrower ones). Volumes with 1 < nz < 16
# are padded to 16 slices, which wastes work for very thin volumes.
_LANES = 16
# Work is tiled so that the data one thread touches stays in its L2 cache:
# the forward pass sweeps all views over a band of volume rows, the adjoint
# sweeps all volume rows over a band of views. Sizes are in float32 elements.
_TILE_ELEMENTS = 1 << 18


@intrinsic
def _axpy_lanes(typingctx, y, y_start, alpha, x, x_start):
    """``y.flat[y_start:y_start + _LANES] += alpha * x.flat[x_start:x_start + _LANES]`` as one SIMD FMA.

    Spelled out in LLVM IR because numba cannot promise LLVM that ``x`` and
    ``y`` do not overlap, and numba disables the SLP vectoriser that could
    otherwise pack short fixed-size loops. Both arrays must be C-contiguous
    float32 and the slices in bounds (the callers guarantee this).
    """
    sig = types.void(y, y_start, alpha, x, x_start)

    def codegen(context, builder, signature, args):
        y_arr, y_off, a, x_arr, x_off = args
        vec = ir.VectorType(ir.FloatType(), _LANES)
        y_ptr = context.make_array(signature.args[0])(context, builder, y_arr).data
        x_ptr = context.make_array(signature.args[3])(context, builder, x_arr).data
        y_vec_ptr = builder.bitcast(builder.gep(y_ptr, [y_off]), vec.as_pointer())
        x_vec_ptr = builder.bitcast(builder.gep(x_ptr, [x_off]), vec.as_pointer())
        a32 = context.cast(builder, a, signature.args[2], types.float32)
        splat = builder.insert_element(ir.Constant(vec, ir.Undefined), a32, ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES)
        splat = builder.shuffle_vector(splat, ir.Constant(vec, ir.Undefined), zeros)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{_LANES}f32")
        result = builder.call(fma, [splat, builder.load(x_vec_ptr, align=4), builder.load(y_vec_ptr, align=4)])
        builder.store(result, y_vec_ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


class _LanesType(types.Type):
    """One SIMD register of :data:`_LANES` float32, held as an LLVM vector value.

    Lets a kernel keep z-chunks in registers across loop iterations (LLVM
    promotes such local variables) instead of going through memory.
    """

    def __init__(self):
        super().__init__(name=f"lanes{_LANES}")


_lanes = _LanesType()
_VEC = ir.VectorType(ir.FloatType(), _LANES)


@register_model(_LanesType)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _lanes_ptr(context, builder, array_type, array, start):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [start]), _VEC.as_pointer())


@intrinsic
def _lanes_load(typingctx, x, x_start):
    """``x.flat[x_start:x_start + _LANES]`` as a register (C-contiguous float32 ``x``, in bounds)."""

    def codegen(context, builder, signature, args):
        return builder.load(_lanes_ptr(context, builder, signature.args[0], args[0], args[1]), align=4)

    return _lanes(x, x_start), codegen


@intrinsic
def _lanes_store(typingctx, y, y_start, v):
    """``y.flat[y_start:y_start + _LANES] = v`` (C-contiguous float32 ``y``, in bounds)."""

    def codegen(context, builder, signature, args):
        builder.store(args[2], _lanes_ptr(context, builder, signature.args[0], args[0], args[1]), align=4)
        return context.get_dummy_value()

    return types.void(y, y_start, v), codegen


@intrinsic
def _lanes_fma(typingctx, acc, alpha, v):
    """``acc + alpha * v``."""

    def codegen(context, builder, signature, args):
        acc_v, a, v = args
        a32 = context.cast(builder, a, signature.args[1], types.float32)
        splat = builder.insert_element(ir.Constant(_VEC, ir.Undefined), a32, ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES)
        splat = builder.shuffle_vector(splat, ir.Constant(_VEC, ir.Undefined), zeros)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC] * 3), f"llvm.fma.v{_LANES}f32")
        return builder.call(fma, [splat, v, acc_v])

    return _lanes(acc, alpha, v), codegen


@intrinsic
def _lanes_select(typingctx, flag, a, b):
    """``a if flag else b`` without a branch (``flag`` an integer)."""

    def codegen(context, builder, signature, args):
        f, a, b = args
        cond = builder.icmp_signed("!=", f, ir.Constant(f.type, 0))
        return builder.select(cond, a, b)

    return _lanes(flag, a, b), codegen


@numba.njit(cache=True, inline="always")
def _window_walk(first, n, j, i0, nx, n_chunks, cols_pad, a):
    """Set-up shared by the register windows of one row at one view.

    Returns the element stride of one voxel / detector column, the first
    voxel ``q0`` and step ``q_dir`` of the walk (in the direction in which
    ``first`` grows), and the offsets of the row in the volume and of the view
    in the detector.
    """
    stride = n_chunks * _LANES
    reverse = first[n - 1] < first[0]
    q0 = n - 1 if reverse else 0
    q_dir = -1 if reverse else 1
    return stride, q0, q_dir, (j * nx + i0) * stride, a * cols_pad * stride


@numba.njit(cache=True, inline="always")
def _window_start(det, start, stride):
    """The 3 detector columns from ``start`` on, as registers."""
    return _lanes_load(det, start), _lanes_load(det, start + stride), _lanes_load(det, start + 2 * stride)


@numba.njit(cache=True, inline="always")
def _window_advance(det, base, stride, f, f_next, c0, c1, c2):
    """Shift the window by ``f_next − f`` (0 or 1) columns, loading the one that enters.

    Branch-free: the entering column ``f_next + 2`` is loaded either way and
    the registers are selected, so the walk has no data-dependent jumps.
    """
    move = f_next - f
    entering = _lanes_load(det, base + (f_next + 2) * stride)
    return (_lanes_select(move, c1, c0), _lanes_select(move, c2, c1), _lanes_select(move, entering, c2))


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
    for k in range(0, stride, _LANES):
        f = np.int64(first[q0])
        c0, c1, c2 = _window_start(out, view + f * stride + k, stride)
        for p in range(n):
            q = q0 + q_dir * p
            f_next = np.int64(first[q])
            # the column entering the window holds what earlier rows left there
            c0, c1, c2 = _window_advance(out, view + k, stride, f, f_next, c0, c1, c2)
            f = f_next
            v = _lanes_load(vol_t, row + q * stride + k)
            c0 = _lanes_fma(c0, w[0, q], v)
            c1 = _lanes_fma(c1, w[1, q], v)
            c2 = _lanes_fma(c2, w[2, q], v)
            # column f is final once the window moves on; until then the
            # store is simply repeated
            _lanes_store(out, view + f * stride + k, c0)
        _lanes_store(out, view + (f + 1) * stride + k, c1)
        _lanes_store(out, view + (f + 2) * stride + k, c2)


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
    for k in range(0, stride, _LANES):
        f = np.int64(first[q0])
        c0, c1, c2 = _window_start(sino, view + f * stride + k, stride)
        for p in range(n):
            q = q0 + q_dir * p
            f_next = np.int64(first[q])
            c0, c1, c2 = _window_advance(sino, view + k, stride, f, f_next, c0, c1, c2)
            f = f_next
            dst = row + q * stride + k
            acc = _lanes_load(out, dst)
            acc = _lanes_fma(acc, w[0, q], c0)
            acc = _lanes_fma(acc, w[1, q], c1)
            acc = _lanes_fma(acc, w[2, q], c2)
            _lanes_store(out, dst, acc)


@numba.njit(cache=True, inline="always")
def _windowed(n_taps, step):
    """Whether a view's rows go through the register windows: at most 3 taps, and a footprint
    step below one column, so ``first[]`` moves by at most 1 from voxel to voxel."""
    return n_taps <= 3 and abs(step) < 1.0 - 1e-9


@numba.njit(cache=True, fastmath=True, inline="always")
def _project_row(vol_t, j, i0, n, first, w, out, a, n_taps, windowed):
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
            dst = ((a * cols_pad + np.int64(first[q]) + m) * n_chunks) * _LANES
            src = ((j * nx + i0 + q) * n_chunks) * _LANES
            for k in range(0, n_chunks * _LANES, _LANES):
                _axpy_lanes(out, dst + k, w[m, q], vol_t, src + k)


@numba.njit(cache=True, fastmath=True, inline="always")
def _backproject_row(sino, j, i0, n, first, w, out, a, n_taps, windowed):
    """Transpose of :func:`_project_row`: voxels ``i0 … i0 + n − 1`` of row ``j`` gather from image ``a``.

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
            dst = ((j * nx + i0 + q) * n_chunks) * _LANES
            src = ((a * cols_pad + np.int64(first[q]) + m) * n_chunks) * _LANES
            for k in range(0, n_chunks * _LANES, _LANES):
                _axpy_lanes(out, dst + k, w[m, q], sino, src + k)


@numba.njit(cache=True)
def _voxel_range(t_first, step, hw, cols, nx):
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
def _row_footprints(t_first, step, i0, n, footprint, taps, pad, first, w, offset, left_cdf):
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
def _forward_inplane(vol_t, t_rows, steps, footprints, taps, pad, row_block, out):
    """Voxel-driven in-plane projection.

    ``vol_t[j, i, k, l]`` holds slice ``k * _LANES + l``; ``out[a, c, k, l]``
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
            windowed = _windowed(n_taps, steps[a])
            for j in range(j0, j1):
                i0, i1 = _voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
                _row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
                _project_row(vol_t, j, i0, i1 - i0, first, w, out, a, n_taps, windowed)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _adjoint_inplane(sino, t_rows, steps, footprints, taps, pad, view_block, out):
    """Transpose of :func:`_forward_inplane`: each voxel gathers from its footprint's columns.

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
                i0, i1 = _voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
                _row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
                windowed = _windowed(n_taps, steps[a])
                if windowed:
                    for m in range(n_taps, 3):  # rows a 3-tap view left behind
                        for q in range(i1 - i0):
                            w[m, q] = 0.0
                _backproject_row(sino, j, i0, i1 - i0, first, w, out, a, n_taps, windowed)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _forward_inplane_2d(image, t_rows, steps, footprints, taps, pad, out):
    """:func:`_forward_inplane` for a single slice: ``image`` (ny, nx), ``out`` (n_angles, padded cols)."""
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
            i0, i1 = _voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
            _row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
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
def _adjoint_inplane_2d(sino, t_rows, steps, footprints, taps, pad, out):
    """Transpose of :func:`_forward_inplane_2d`: each voxel gathers from its footprint's columns."""
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
            i0, i1 = _voxel_range(t_rows[a, j], steps[a], hw, cols, nx)
            _row_footprints(t_rows[a, j], steps[a], i0, i1 - i0, footprints[a], n_taps, pad, first, w, offset, left_cdf)
            row = out[j, i0:i1]
            view = sino[a]
            # tap-major: the loop over voxels vectorises (gathers from ``view``)
            for m in range(n_taps):
                w_m = w[m]
                tap = np.uint64(m)  # unsigned indices: no negative-index fix-up
                for q in range(i1 - i0):
                    row[q] += w_m[q] * view[first[q] + tap]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _axial_forward(s, first_row, weights, out, col_offset=0):
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
def _axial_adjoint(y, first_row, weights, out, col_offset=0):
    """out[a, c + col_offset, k] = Σ_r W[a, k, r − first[a, k]] y[a, r, c] (transpose of :func:`_axial_forward`)."""
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


# --------------------------------------------------------------------------
# One view split over depth nodes (for the depth-dependent PSF model)
# --------------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def _node_hats(d_row, d_step, i0, n, node, node_step, hat):
    """``hat[q]``: linear-interpolation weight on ``node`` of voxel ``i0 + q`` at depth ``d_row + i d_step``."""
    for q in range(n):
        d = d_row + (i0 + q) * d_step
        hat[q] = np.float32(max(0.0, 1.0 - abs(d - node) / node_step))


@numba.njit(cache=True, inline="always")
def _weigh_taps(w, hat, n_taps, n, w_node):
    """``w_node[m, q] = w[m, q] * hat[q]``: footprint weights times the voxels' hat weights on one node.

    ``w_node`` needs at least 3 rows, those from ``n_taps`` on zero (the register window reads 3).
    """
    for m in range(n_taps):
        for q in range(n):
            w_node[m, q] = w[m, q] * hat[q]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _forward_depth_inplane(vol_t, t_row, step, footprint, n_taps, pad, d_rows, d_step, nodes, starts, stops, out):
    """In-plane projection of one view into one image per depth node: ``out[s, c, k, l]``.

    Voxel ``(j, i)``, ``starts[j, s] ≤ i < stops[j, s]``, lies between nodes
    ``s`` and ``s + 1`` and adds its footprint to both images with its hat
    weights, so each voxel is read and its footprint computed once. The
    intervals run in parallel, first the even ones, then the odd ones: two
    intervals of one pass never write to the same image.
    """
    ny, nx, _, _ = vol_t.shape
    n_nodes, cols_pad, _, _ = out.shape
    cols = cols_pad - 2 * pad
    hw = np.float64(footprint[0])
    node_step = nodes[1] - nodes[0]
    windowed = _windowed(n_taps, step)
    for parity in range(2):
        for p in numba.prange((n_nodes - parity) // 2):
            s = 2 * p + parity
            first = np.empty(nx, dtype=np.uint64)
            w = np.empty((n_taps, nx), dtype=np.float32)
            # _window_row reads 3 tap rows: the unused one stays zero
            w_node = np.zeros((max(n_taps, 3), nx), dtype=np.float32)
            offset = np.empty(nx, dtype=np.float32)
            left_cdf = np.empty(nx, dtype=np.float32)
            hat = np.empty(nx, dtype=np.float32)
            for j in range(ny):
                i0, i1 = _voxel_range(t_row[j], step, hw, cols, nx)
                i0 = max(i0, starts[j, s])
                n = min(i1, stops[j, s]) - i0
                if n <= 0:
                    continue
                _row_footprints(t_row[j], step, i0, n, footprint, n_taps, pad, first, w, offset, left_cdf)
                for node in range(s, s + 2):
                    _node_hats(d_rows[j], d_step, i0, n, nodes[node], node_step, hat)
                    _weigh_taps(w, hat, n_taps, n, w_node)
                    _project_row(vol_t, j, i0, n, first, w_node, out, node, n_taps, windowed)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _adjoint_depth_inplane(sino, t_row, step, footprint, n_taps, pad, d_rows, d_step, nodes, starts, stops, out):
    """Transpose of :func:`_forward_depth_inplane`, added to ``out``; rows run in parallel."""
    n_nodes, cols_pad, _, _ = sino.shape
    ny, nx, _, _ = out.shape
    cols = cols_pad - 2 * pad
    hw = np.float64(footprint[0])
    node_step = nodes[1] - nodes[0]
    windowed = _windowed(n_taps, step)
    for j in numba.prange(ny):
        first = np.empty(nx, dtype=np.uint64)
        w = np.empty((n_taps, nx), dtype=np.float32)
        w_node = np.zeros((max(n_taps, 3), nx), dtype=np.float32)
        offset = np.empty(nx, dtype=np.float32)
        left_cdf = np.empty(nx, dtype=np.float32)
        hat = np.empty(nx, dtype=np.float32)
        i_lo, i_hi = _voxel_range(t_row[j], step, hw, cols, nx)
        for s in range(n_nodes - 1):
            i0 = max(i_lo, starts[j, s])
            n = min(i_hi, stops[j, s]) - i0
            if n <= 0:
                continue
            _row_footprints(t_row[j], step, i0, n, footprint, n_taps, pad, first, w, offset, left_cdf)
            for node in range(s, s + 2):
                _node_hats(d_rows[j], d_step, i0, n, nodes[node], node_step, hat)
                _weigh_taps(w, hat, n_taps, n, w_node)
                _backproject_row(sino, j, i0, n, first, w_node, out, node, n_taps, windowed)


def _aligned_zeros(shape):
    """float32 zeros whose data starts on a 64-byte boundary.

    The kernels move whole 64-byte SIMD registers; numpy only guarantees
    16-byte alignment, and then every register load or store straddles two
    cache lines (and a straddling store cannot be forwarded to the next load).
    """
    n = int(np.prod(shape))
    raw = np.zeros(n + _LANES, dtype=np.float32)
    skip = (-raw.ctypes.data % 64) // 4
    return raw[skip:skip + n].reshape(shape)


def _chunked(a):
    """View of ``(..., nz_padded)`` as ``(..., nz_padded / _LANES, _LANES)``."""
    return a.reshape(a.shape[:-1] + (a.shape[-1] // _LANES, _LANES))


def _check_nodes(nodes):
    """Depth nodes as float64, checked: increasing and evenly spaced."""
    nodes = np.asarray(nodes, dtype=np.float64)
    if nodes.ndim != 1 or nodes.size == 0 or not np.all(np.isfinite(nodes)):
        raise ValueError(f"depth nodes must be a non-empty 1D array of finite depths (µm), got shape {nodes.shape}")
    if nodes.size > 1:
        step = nodes[1] - nodes[0]
        if not step > 0 or not np.allclose(np.diff(nodes), step, rtol=1e-6, atol=0.0):
            raise ValueError("depth nodes must be increasing and evenly spaced")
    return nodes


def _node_intervals(d_rows, d_step, nodes, nx):
    """Voxels ``[starts[j, s], stops[j, s])`` of row ``j`` that lie between nodes ``s`` and ``s + 1``.

    The depth of voxel ``(j, i)`` is ``d_rows[j] + i * d_step``, monotone
    along the row, so each interval is a run of voxels; the runs partition
    the row. Depths beyond the end nodes (rounding) join the end intervals.
    """
    ny, n_int = d_rows.size, nodes.size - 1
    starts = np.zeros((ny, n_int), dtype=np.int64)
    stops = np.zeros((ny, n_int), dtype=np.int64)
    if d_step == 0.0:  # constant depth along the rows: each row in one interval
        s = np.clip(np.floor((d_rows - nodes[0]) / (nodes[1] - nodes[0])), 0, n_int - 1).astype(np.int64)
        stops[np.arange(ny), s] = nx
        return starts, stops
    # position (in voxels) where each row crosses each inner node
    u = (nodes[None, 1:-1] - d_rows[:, None]) / d_step
    if d_step > 0:  # voxels from ceil(u) on are at or beyond the node
        edges = np.clip(np.ceil(u), 0, nx).astype(np.int64)
        bounds = np.concatenate([starts[:, :1], edges, np.full((ny, 1), nx)], axis=1)
        return bounds[:, :-1].copy(), bounds[:, 1:].copy()
    # depth falls along the row: voxels up to floor(u) are at or beyond the node
    edges = np.clip(np.floor(u) + 1, 0, nx).astype(np.int64)
    bounds = np.concatenate([np.full((ny, 1), nx), edges, starts[:, :1]], axis=1)
    return bounds[:, 1:].copy(), bounds[:, :-1].copy()


class NumbaProjector(Projector):
    """Exact-footprint parallel-beam projector on the CPU (numba, multi-threaded).

    See :func:`isxt.projector` for the contract.
    """

    backend = "numba"

    def __init__(self, volume, scan):
        super().__init__(volume, scan)
        s, p = volume.voxel_size, scan.pixel_size
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
        # room for footprints of voxels just outside the detector (see _voxel_range)
        self._pad = int(np.ceil(2.0 * hw.max() + np.abs(self._steps).max())) + 2
        self._nz_padded = 1 if volume.nz == 1 else -(-volume.nz // _LANES) * _LANES
        self._first_row, self._axial = axial_weights(volume, scan)

    def _geometry_args(self):
        return self._t_rows, self._steps, self._footprints, self._taps, self._pad

    def _padded_shape(self):
        return self.scan.n_angles, self.scan.cols + 2 * self._pad, self._nz_padded

    def forward(self, x):
        x = self._check_volume(x)
        nz, ny, nx = self.domain_shape
        s = _aligned_zeros(self._padded_shape())
        if nz == 1:
            _forward_inplane_2d(np.ascontiguousarray(x[0]), *self._geometry_args(), s.reshape(s.shape[:2]))
        else:
            vol_t = _aligned_zeros((ny, nx, self._nz_padded))
            vol_t[:, :, :nz] = x.transpose(1, 2, 0)
            row_block = max(1, _TILE_ELEMENTS // (nx * self._nz_padded))
            _forward_inplane(_chunked(vol_t), *self._geometry_args(), row_block, _chunked(s))
        out = np.zeros(self.range_shape, dtype=np.float32)
        _axial_forward(s, self._first_row, self._axial, out, self._pad)
        return out

    def adjoint(self, y):
        y = self._check_data(y)
        nz, ny, nx = self.domain_shape
        s = _aligned_zeros(self._padded_shape())
        _axial_adjoint(y, self._first_row, self._axial, s, self._pad)
        if nz == 1:
            image = np.zeros((ny, nx), dtype=np.float32)
            _adjoint_inplane_2d(s.reshape(s.shape[:2]), *self._geometry_args(), image)
            return image[None]
        vol_t = _aligned_zeros((ny, nx, self._nz_padded))
        view_block = max(1, _TILE_ELEMENTS // (s.shape[1] * self._nz_padded))
        _adjoint_inplane(_chunked(s), *self._geometry_args(), view_block, _chunked(vol_t))
        return np.ascontiguousarray(vol_t[:, :, :nz].transpose(2, 0, 1))

    # -- depth nodes (the depth-dependent PSF model) -----------------------------
    def _depth_args(self, a, nodes, center_xy):
        """Depth of voxel ``(j, 0)`` per row, its step along a row, and the node intervals, at view ``a``."""
        cx, cy = float(center_xy[0]), float(center_xy[1])
        sin, cos = np.sin(self.scan.angles[a]), np.cos(self.scan.angles[a])
        x0 = self.volume.coords("x")[0]
        d_rows = -(x0 - cx) * sin + (self.volume.coords("y") - cy) * cos
        d_step = -self.volume.voxel_size * sin
        starts, stops = _node_intervals(d_rows, d_step, nodes, self.volume.nx)
        return d_rows, d_step, nodes, starts, stops

    def _view_args(self, a):
        return self._t_rows[a], self._steps[a], self._footprints[a], self._taps[a], self._pad

    def _node_axial(self, a, n_nodes):
        """The axial map of view ``a`` repeated for ``n_nodes`` images."""
        first_row, weights = self._first_row[a : a + 1], self._axial[a : a + 1]
        return np.repeat(first_row, n_nodes, axis=0), np.repeat(weights, n_nodes, axis=0)

    def _slab_buffer(self, n_nodes):
        # the node kernels move whole SIMD registers, so a single slice is padded too
        nz_lanes = -(-self.volume.nz // _LANES) * _LANES
        return _aligned_zeros((n_nodes, self.scan.cols + 2 * self._pad, nz_lanes))

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
        nodes = _check_nodes(nodes)
        if nodes.size == 1:
            for a, view in enumerate(self.forward(x)):
                yield a, view[None]
            return
        nz, ny, nx = self.domain_shape
        buf = self._slab_buffer(nodes.size)
        vol_t = _aligned_zeros((ny, nx, buf.shape[2]))
        vol_t[:, :, :nz] = x.transpose(1, 2, 0)
        for a in range(self.scan.n_angles):
            buf[...] = 0.0
            # dynamic scheduling: intervals hold very different numbers of voxels
            with numba.parallel_chunksize(1):
                _forward_depth_inplane(_chunked(vol_t), *self._view_args(a), *self._depth_args(a, nodes, center_xy),
                                       _chunked(buf))
            out = np.zeros((nodes.size,) + self.range_shape[1:], dtype=np.float32)
            _axial_forward(buf, *self._node_axial(a, nodes.size), out, self._pad)
            yield a, out

    def forward_depth_slabs(self, x, nodes, center_xy):
        """All views of :meth:`iter_depth_slabs`: float32 ``(n_angles, n_nodes, rows, cols)``."""
        nodes = _check_nodes(nodes)
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
        nodes = _check_nodes(nodes)
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
        vol_t = _aligned_zeros((ny, nx, buf.shape[2]))
        for a, v in enumerate(views):
            buf[...] = 0.0
            _axial_adjoint(v, *self._node_axial(a, nodes.size), buf, self._pad)
            _adjoint_depth_inplane(_chunked(buf), *self._view_args(a), *self._depth_args(a, nodes, center_xy),
                                   _chunked(vol_t))
        return np.ascontiguousarray(vol_t[:, :, :nz].transpose(2, 0, 1))
