"""Operators: the cached transpose, ``out=`` against the allocating path, and CGLS on reused buffers."""

import numpy as np
import pytest

import isxt
from isxt.operators import (
    adjoint_into,
    convolve_detector,
    crop_detector,
    extend_rows,
    forward_into,
    gaussian_kernel,
    scale,
    stack,
)
from isxt.projectors.astra import AstraProjector, astra_available
from isxt.solvers import cgls

RNG = np.random.default_rng(7)
VOL = isxt.VolumeGeometry((5, 20, 18), 0.05, center_um=(0.02, -0.03, 0.0))
FULL = isxt.ScanGeometry.full_field(VOL, 7, 0.1)
ROI = isxt.ScanGeometry.interior(VOL, 11, 0.05, roi_diameter_um=0.5, roi_center_um=(0.1, 0.05))


class Plain:
    """A user's operator: forward/adjoint without ``out=``, returning arrays it keeps (the worst case)."""

    def __init__(self, op):
        self.op, self.domain_shape, self.range_shape = op, op.domain_shape, op.range_shape
        self.last_forward = self.last_adjoint = None

    def forward(self, x):
        self.last_forward = self.op.forward(x)
        return self.last_forward

    def adjoint(self, y):
        self.last_adjoint = self.op.adjoint(y)
        return self.last_adjoint


def _operators():
    a_full, a_roi = isxt.projector(VOL, FULL), isxt.projector(VOL, ROI)
    weights = RNG.random(ROI.shape, dtype=np.float32) + 0.5
    first, last = np.full(ROI.n_angles, 1), np.full(ROI.n_angles, 3)
    return {
        "numba": a_full,
        "numba-2d": isxt.projector(isxt.VolumeGeometry((1, 20, 18), 0.05), FULL),
        "stacked-weighted": stack([a_roi, a_full], weights=[weights, 2.0]),
        "convolved": convolve_detector(a_roi, gaussian_kernel(0.1, 0.05)),
        "cropped": crop_detector(a_full, (1, 2)),
        "rows-extended": extend_rows(a_roi, first, last),
        "transpose": a_full.T.T,
        "stacked-plain-block": stack([Plain(a_roi), scale(a_full, 0.5)]),
    }


def _random_like(shape):
    if isinstance(shape, list):
        return [_random_like(s) for s in shape]
    return RNG.random(shape, dtype=np.float32)


def _buffer_like(a):
    return [np.full_like(b, np.nan) for b in a] if isinstance(a, list) else np.full_like(a, np.nan)


@pytest.mark.parametrize("name", list(_operators()))
def test_out_equals_the_allocating_path(name):
    op = _operators()[name]
    x, y = _random_like(op.domain_shape), _random_like(op.range_shape)
    fx, aty = op.forward(x), op.adjoint(y)
    out_f, out_a = _buffer_like(fx), _buffer_like(aty)  # NaN: every element must be written
    assert op.forward(x, out=out_f) is out_f and op.adjoint(y, out=out_a) is out_a
    for got, want in zip(out_f if isinstance(fx, list) else [out_f], fx if isinstance(fx, list) else [fx]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(out_a, aty)
    # twice into the same buffer: nothing accumulates from the first call
    np.testing.assert_array_equal(op.adjoint(y, out=out_a), aty)


def test_depth_psf_out_equals_the_allocating_path():
    from isxt.optics import XM2_35NM
    from isxt.simulate import DepthPSFProjector

    op = DepthPSFProjector(VOL, FULL[:3], XM2_35NM, n_slabs=3, polychromatic=False)
    x, y = _random_like(op.domain_shape), _random_like(op.range_shape)
    out_f, out_a = np.full(op.range_shape, np.nan, np.float32), np.full(op.domain_shape, np.nan, np.float32)
    np.testing.assert_array_equal(op.forward(x, out=out_f), op.forward(x))
    np.testing.assert_array_equal(op.adjoint(y, out=out_a), op.adjoint(y))


@pytest.mark.skipif(not astra_available(), reason="astra-toolbox not installed")
def test_astra_out_equals_the_allocating_path():
    op = AstraProjector(VOL, FULL, use_gpu=False)
    x, y = _random_like(op.domain_shape), _random_like(op.range_shape)
    np.testing.assert_array_equal(op.forward(x, out=np.empty(op.range_shape, np.float32)), op.forward(x))
    np.testing.assert_array_equal(op.adjoint(y, out=np.empty(op.domain_shape, np.float32)), op.adjoint(y))


def test_out_of_the_wrong_kind_is_refused():
    op = isxt.projector(VOL, FULL)
    x = _random_like(op.domain_shape)
    for bad in (np.empty(op.range_shape, np.float64), np.empty(op.range_shape[::-1], np.float32),
                np.empty(op.range_shape + (2,), np.float32)[..., 0]):
        with pytest.raises(ValueError, match="out= must be a C-contiguous float32"):
            op.forward(x, out=bad)


def test_transpose_is_cached_and_exact():
    op = stack([isxt.projector(VOL, ROI), isxt.projector(VOL, FULL)])
    assert op.T is op.T and op.T.T is op
    assert op.T.domain_shape == op.range_shape and op.T.range_shape == op.domain_shape
    y = _random_like(op.range_shape)
    np.testing.assert_array_equal(op.T.forward(y), op.adjoint(y))
    x = _random_like(op.domain_shape)
    for got, want in zip(op.T.adjoint(x), op.forward(x)):
        np.testing.assert_array_equal(got, want)


def test_into_helpers_copy_for_operators_without_out():
    plain = Plain(isxt.projector(VOL, FULL))
    x = _random_like(plain.domain_shape)
    buf = np.empty(plain.range_shape, np.float32)
    assert forward_into(plain, x, buf) is buf and buf is not plain.last_forward
    np.testing.assert_array_equal(buf, plain.last_forward)
    assert forward_into(plain, x) is plain.last_forward  # no buffer: the operator's own array
    y = _random_like(plain.range_shape)
    vol = np.empty(plain.domain_shape, np.float32)
    np.testing.assert_array_equal(adjoint_into(plain, y, vol), plain.op.adjoint(y))


def test_stacked_adjoint_leaves_the_blocks_own_arrays_alone():
    plain = Plain(isxt.projector(VOL, ROI))
    op = stack([plain, isxt.projector(VOL, FULL)])
    y = _random_like(op.range_shape)
    total = op.adjoint(y)
    kept = plain.last_adjoint
    np.testing.assert_array_equal(kept, plain.op.adjoint(y[0]))  # not summed into
    np.testing.assert_allclose(total, plain.op.adjoint(y[0]) + op[1].adjoint(y[1]), rtol=1e-6)


def _reference_cgls(A, y, iterations):
    """Textbook CGLS (Björck), every vector a new array: the allocating path to compare with."""
    x = np.zeros(A.domain_shape, np.float32)
    r = [b.copy() for b in y]
    s = A.adjoint(r)
    p, gamma = s.copy(), float(np.vdot(s, s))
    xs = []
    for _ in range(iterations):
        q = A.forward(p)
        alpha = gamma / sum(float(np.vdot(b, b)) for b in q)
        x = x + alpha * p
        r = [rb - alpha * qb for rb, qb in zip(r, q)]
        s = A.adjoint(r)
        gamma_new = float(np.vdot(s, s))
        p = s + (gamma_new / gamma) * p
        gamma = gamma_new
        xs.append(x)
    return xs


def test_cgls_on_reused_buffers_matches_textbook_cgls_and_keeps_iterates():
    ops = [isxt.projector(VOL, ROI), isxt.projector(VOL, FULL)]
    truth = _random_like(VOL.shape)
    y = [op.forward(truth) for op in ops]
    kept = []
    x = cgls(stack(ops), y, iterations=6, callback=lambda k, xk, r: kept.append(xk))
    ref = _reference_cgls(stack(ops), y, 6)
    assert len({id(a) for a in kept}) == 6  # every iterate its own array
    for got, want in zip(kept, ref):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())
    np.testing.assert_array_equal(x, kept[-1])
    # the same iterates, bit for bit, through operators without out= (copied into the buffers)
    plain = cgls(stack([Plain(op) for op in ops]), y, iterations=6)
    np.testing.assert_array_equal(plain, x)
    for data, op in zip(y, ops):  # the data were not touched
        np.testing.assert_array_equal(data, op.forward(truth))


def test_sirt_on_reused_buffers_is_the_same_with_operators_without_out():
    from isxt.solvers import sirt

    ops = [isxt.projector(VOL, ROI), isxt.projector(VOL, FULL)]
    truth = _random_like(VOL.shape)
    y = [op.forward(truth) for op in ops]
    kept = []
    x = sirt(stack(ops), y, iterations=4, callback=lambda k, xk, r: kept.append(xk.copy()))
    plain = sirt(stack([Plain(op) for op in ops]), y, iterations=4)
    np.testing.assert_array_equal(plain, x)
    # SIRT's fixed point is the data: the residual falls every iteration on consistent data
    res = [np.sqrt(sum(float(np.sum((op.forward(xk) - b) ** 2)) for op, b in zip(ops, y))) for xk in kept]
    assert all(b < a for a, b in zip(res, res[1:]))
    for data, op in zip(y, ops):
        np.testing.assert_array_equal(data, op.forward(truth))


def test_depth_psf_model_on_another_detector_has_its_own_transpose():
    from isxt.optics import XM2_35NM
    from isxt.simulate import DepthPSFProjector

    op = DepthPSFProjector(VOL, FULL[:2], XM2_35NM, n_slabs=2, polychromatic=False)
    assert op.T.range_shape == op.domain_shape  # cache the transpose, then copy the model
    wide = op._with_scan(isxt.ScanGeometry(FULL.angles[:2], (FULL.rows, FULL.cols + 4), FULL.pixel_size_um))
    assert wide.T.op is wide and wide.T.domain_shape == wide.range_shape != op.range_shape
