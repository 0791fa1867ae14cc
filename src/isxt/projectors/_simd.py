"""SIMD building blocks of the numba kernels: one register of :data:`LANES` float32.

Small LLVM intrinsics that load, store and fuse-multiply-add a chunk of
:data:`LANES` consecutive float32 as one vector value, so that the kernels in
:mod:`._kernels` move whole registers, plus the 64-byte aligned buffers those
registers are read from and written to.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

__all__ = ["LANES", "axpy_lanes", "lanes_load", "lanes_store", "lanes_fma", "lanes_select", "aligned_zeros", "chunked"]

# z-chunk processed as one SIMD register (16 float32 = one AVX-512 register;
# LLVM splits it where the CPU has narrower ones). Volumes with 1 < nz < 16
# are padded to 16 slices, which wastes work for very thin volumes.
LANES = 16

@intrinsic
def axpy_lanes(typingctx, y, y_start, alpha, x, x_start):
    """``y.flat[y_start:y_start + LANES] += alpha * x.flat[x_start:x_start + LANES]`` as one SIMD FMA.

    Spelled out in LLVM IR because numba cannot promise LLVM that ``x`` and
    ``y`` do not overlap, and numba disables the SLP vectoriser that could
    otherwise pack short fixed-size loops. Both arrays must be C-contiguous
    float32 and the slices in bounds (the callers guarantee this).
    """
    sig = types.void(y, y_start, alpha, x, x_start)

    def codegen(context, builder, signature, args):
        y_arr, y_off, a, x_arr, x_off = args
        vec = ir.VectorType(ir.FloatType(), LANES)
        y_ptr = context.make_array(signature.args[0])(context, builder, y_arr).data
        x_ptr = context.make_array(signature.args[3])(context, builder, x_arr).data
        y_vec_ptr = builder.bitcast(builder.gep(y_ptr, [y_off]), vec.as_pointer())
        x_vec_ptr = builder.bitcast(builder.gep(x_ptr, [x_off]), vec.as_pointer())
        a32 = context.cast(builder, a, signature.args[2], types.float32)
        splat = builder.insert_element(ir.Constant(vec, ir.Undefined), a32, ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        splat = builder.shuffle_vector(splat, ir.Constant(vec, ir.Undefined), zeros)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{LANES}f32")
        result = builder.call(fma, [splat, builder.load(x_vec_ptr, align=4), builder.load(y_vec_ptr, align=4)])
        builder.store(result, y_vec_ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


class _LanesType(types.Type):
    """One SIMD register of :data:`LANES` float32, held as an LLVM vector value.

    Lets a kernel keep z-chunks in registers across loop iterations (LLVM
    promotes such local variables) instead of going through memory.
    """

    def __init__(self):
        super().__init__(name=f"lanes{LANES}")


_lanes = _LanesType()
_VEC = ir.VectorType(ir.FloatType(), LANES)


@register_model(_LanesType)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _lanes_ptr(context, builder, array_type, array, start):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [start]), _VEC.as_pointer())


@intrinsic
def lanes_load(typingctx, x, x_start):
    """``x.flat[x_start:x_start + LANES]`` as a register (C-contiguous float32 ``x``, in bounds)."""

    def codegen(context, builder, signature, args):
        return builder.load(_lanes_ptr(context, builder, signature.args[0], args[0], args[1]), align=4)

    return _lanes(x, x_start), codegen


@intrinsic
def lanes_store(typingctx, y, y_start, v):
    """``y.flat[y_start:y_start + LANES] = v`` (C-contiguous float32 ``y``, in bounds)."""

    def codegen(context, builder, signature, args):
        builder.store(args[2], _lanes_ptr(context, builder, signature.args[0], args[0], args[1]), align=4)
        return context.get_dummy_value()

    return types.void(y, y_start, v), codegen


@intrinsic
def lanes_fma(typingctx, acc, alpha, v):
    """``acc + alpha * v``."""

    def codegen(context, builder, signature, args):
        acc_v, a, v = args
        a32 = context.cast(builder, a, signature.args[1], types.float32)
        splat = builder.insert_element(ir.Constant(_VEC, ir.Undefined), a32, ir.Constant(ir.IntType(32), 0))
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
        splat = builder.shuffle_vector(splat, ir.Constant(_VEC, ir.Undefined), zeros)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC] * 3), f"llvm.fma.v{LANES}f32")
        return builder.call(fma, [splat, v, acc_v])

    return _lanes(acc, alpha, v), codegen


@intrinsic
def lanes_select(typingctx, flag, a, b):
    """``a if flag else b`` without a branch (``flag`` an integer)."""

    def codegen(context, builder, signature, args):
        f, a, b = args
        cond = builder.icmp_signed("!=", f, ir.Constant(f.type, 0))
        return builder.select(cond, a, b)

    return _lanes(flag, a, b), codegen


def aligned_zeros(shape):
    """float32 zeros whose data starts on a 64-byte boundary.

    The kernels move whole 64-byte SIMD registers; numpy only guarantees
    16-byte alignment, and then every register load or store straddles two
    cache lines (and a straddling store cannot be forwarded to the next load).
    """
    n = int(np.prod(shape))
    raw = np.zeros(n + LANES, dtype=np.float32)
    skip = (-raw.ctypes.data % 64) // 4
    return raw[skip:skip + n].reshape(shape)


def chunked(a):
    """View of ``(..., nz_padded)`` as ``(..., nz_padded / LANES, LANES)``."""
    return a.reshape(a.shape[:-1] + (a.shape[-1] // LANES, LANES))

