"""Null-space estimates against the analytic projection onto N(A)."""

import numpy as np
import pytest

from isxt.errors import InputError
from isxt.nullspace import NullSpaceResult, null_space
from isxt.operators import Operator, stack


class Dense(Operator):
    """A matrix acting on (nz, ny, nx) volumes, flattened."""

    def __init__(self, M, shape):
        self.M = np.asarray(M, np.float64)
        self.domain_shape = tuple(shape)
        self.range_shape = (self.M.shape[0],)

    def forward(self, x):
        return (self.M @ np.asarray(x, np.float64).ravel()).astype(np.float32)

    def adjoint(self, y):
        return (self.M.T @ np.asarray(y, np.float64)).astype(np.float32).reshape(self.domain_shape)


SHAPE = (1, 4, 6)  # 24 voxels


def rank_deficient(m, rank, seed):
    """An m×24 matrix of the given rank, non-zero singular values in [0.5, 1]; and Vᵣ."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(SHAPE))
    u, _ = np.linalg.qr(rng.standard_normal((m, rank)))
    v, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    return (u * np.linspace(1.0, 0.5, rank)) @ v.T, v


def analytic_null(V, x0):
    x = x0.ravel().astype(np.float64)
    return (x - V @ (V.T @ x)).reshape(x0.shape)


@pytest.fixture
def phantom():
    return np.random.default_rng(0).random(SHAPE).astype(np.float32)


@pytest.mark.parametrize("method, iterations", [("landweber", 200), ("cgls", 30)])
def test_null_space_equals_analytic_projection(phantom, method, iterations):
    M, V = rank_deficient(30, 15, seed=1)
    res = null_space(Dense(M, SHAPE), phantom, iterations=iterations, method=method)
    assert isinstance(res, NullSpaceResult) and res.method == method
    expected = analytic_null(V, phantom)
    assert res.x_null.dtype == np.float32 and res.x_null.shape == SHAPE
    np.testing.assert_allclose(res.x_null, expected, atol=2e-5)
    assert res.fraction == pytest.approx(np.linalg.norm(expected) / np.linalg.norm(phantom), rel=1e-4)
    assert res.energy_fraction == pytest.approx(res.fraction**2, rel=1e-9)
    assert res.fraction_roi is None
    assert np.abs(M @ res.x_null.ravel()).max() < 1e-4  # really in N(A)
    if method == "landweber":
        assert 0 < res.step < 1.0  # 1/(1.05‖A‖²) with ‖A‖ = 1
    else:
        assert res.step is None


def test_unseen_voxels_are_the_null_space(phantom):
    # A sees only voxels with odd flat index: exactly the even ones are unmeasurable
    rng = np.random.default_rng(2)
    M = rng.standard_normal((40, 24))
    M[:, ::2] = 0
    roi = np.zeros(SHAPE[1:], bool)
    roi[:2] = True
    res = null_space(Dense(M, SHAPE), phantom, iterations=50, method="cgls", roi_mask=roi)
    seen = np.zeros(24, bool)
    seen[1::2] = True
    expected = np.where(seen.reshape(SHAPE), 0, phantom)
    np.testing.assert_allclose(res.x_null, expected, atol=1e-5)
    # ROI fraction: a (ny, nx) mask broadcast over z
    m3 = np.broadcast_to(roi, SHAPE)
    assert res.fraction_roi == pytest.approx(np.linalg.norm(expected[m3]) / np.linalg.norm(phantom[m3]), rel=1e-4)


def test_stacked_operator_equals_concatenated_matrix(phantom):
    M1, _ = rank_deficient(20, 8, seed=3)
    M2, _ = rank_deficient(20, 6, seed=4)
    _, _, vt = np.linalg.svd(np.vstack([M1, M2]))
    V = vt[:14].T  # rank 14 row space of the stack
    for method, it in (("landweber", 600), ("cgls", 40)):
        res = null_space(stack([Dense(M1, SHAPE), Dense(M2, SHAPE)]), phantom, iterations=it, method=method)
        np.testing.assert_allclose(res.x_null, analytic_null(V, phantom), atol=5e-5)
    # adding measurements can only shrink the null space
    alone = null_space(Dense(M1, SHAPE), phantom, iterations=40, method="cgls")
    assert res.fraction < alone.fraction


def test_landweber_with_a_given_step_and_callback(phantom):
    M, V = rank_deficient(30, 15, seed=5)
    seen = []
    def callback(k, x, r):
        seen.append(r)
        return k == 40

    res = null_space(Dense(M, SHAPE), phantom, iterations=100, step=1.5, callback=callback)
    assert res.iterations == 40 and res.step == 1.5 and len(seen) == 40
    assert seen[-1] < 1e-3 * seen[0]  # ‖A x_n‖ → 0
    with pytest.raises(InputError):
        null_space(Dense(M, SHAPE), phantom, method="svd")
    with pytest.raises(InputError):
        null_space(Dense(M, SHAPE), phantom[0])


def test_interior_scan_leaves_more_null_space_than_full_scan():
    from isxt.geometry import ScanGeometry, VolumeGeometry
    from isxt.projectors import projector

    vol = VolumeGeometry((1, 20, 20), voxel_size_um=0.1)
    x0 = np.random.default_rng(6).random(vol.shape).astype(np.float32)
    full = projector(vol, ScanGeometry.full_field(vol, 30, pixel_size_um=0.1))
    interior = projector(vol, ScanGeometry.interior(vol, 30, pixel_size_um=0.1, roi_diameter_um=1.0))
    roi = vol.cylinder_mask(0.4)
    r_int = null_space(interior, x0, iterations=150, method="cgls", roi_mask=roi)
    r_both = null_space(stack([interior, full]), x0, iterations=150, method="cgls", roi_mask=roi)
    assert np.linalg.norm(interior.forward(r_int.x_null)) < 1e-3 * np.linalg.norm(interior.forward(x0))
    assert r_both.fraction < r_int.fraction
    assert r_both.fraction_roi < r_int.fraction_roi
