"""Solvers against closed-form least-squares / EM truths on small dense problems."""

import numpy as np
import pytest
import scipy.sparse.linalg

from isxt.errors import InputError
from isxt.metrics import psnr
from isxt.operators import Operator, stack
from isxt.solvers import (
    Discrepancy,
    FixedIterations,
    Oracle,
    cgls,
    make_subsets,
    mlem,
    osem,
    poisson_variance,
    poisson_weights,
    pwls,
    sirt,
)


class Dense(Operator):
    """A matrix as an operator on flat float32 vectors."""

    def __init__(self, M):
        self.M = np.asarray(M, np.float64)
        self.domain_shape = (self.M.shape[1],)
        self.range_shape = (self.M.shape[0],)

    def forward(self, x):
        return (self.M @ np.asarray(x, np.float64)).astype(np.float32)

    def adjoint(self, y):
        return (self.M.T @ np.asarray(y, np.float64)).astype(np.float32)


def matrix(m, n, cond, seed=0):
    """An m×n matrix with singular values log-spaced from 1 to 1/cond."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (u * np.logspace(0, -np.log10(cond), n)) @ v.T


def positive_matrix(m, n, seed=0):
    return 0.2 + np.random.default_rng(seed).random((m, n))


def rel(a, b):
    return np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b)


# ------------------------------------------------------------------ CGLS


def test_cgls_recovers_noiseless_solution():
    M = matrix(60, 30, cond=10)
    x_true = np.random.default_rng(1).standard_normal(30)
    x = cgls(Dense(M), (M @ x_true).astype(np.float32), iterations=60)
    assert x.dtype == np.float32
    assert rel(x, x_true) < 1e-4


def test_cgls_matches_scipy_lsqr_on_noisy_ill_conditioned_problem():
    M = matrix(50, 30, cond=100, seed=2)
    rng = np.random.default_rng(3)
    y = (M @ rng.standard_normal(30) + 0.05 * rng.standard_normal(50)).astype(np.float32)
    x_ref = scipy.sparse.linalg.lsqr(M, y.astype(np.float64), atol=1e-14, btol=1e-14, iter_lim=10000)[0]
    x = cgls(Dense(M), y, iterations=300)
    assert rel(x, x_ref) < 2e-3


def test_cgls_residual_is_monotone_and_reported_correctly():
    M = matrix(80, 40, cond=1000, seed=4)
    y = np.random.default_rng(5).standard_normal(80).astype(np.float32)
    A = Dense(M)
    seen = []
    cgls(A, y, iterations=40, callback=lambda k, x, r: seen.append((k, r, rel(A.forward(x), y) * np.linalg.norm(y))))
    iters, reported, actual = map(np.array, zip(*seen))
    assert list(iters) == list(range(1, 41))
    assert np.all(np.diff(reported) <= 1e-6 * reported[0])
    np.testing.assert_allclose(reported, actual, rtol=1e-3)


def test_cgls_nonneg_projection():
    M = matrix(60, 30, cond=10, seed=6)
    x_true = np.random.default_rng(7).standard_normal(30)  # half negative: LS solution is not feasible
    y = (M @ x_true).astype(np.float32)
    for every in (1, 3):
        x = cgls(Dense(M), y, iterations=50, nonneg=True, nonneg_every=every)
        assert np.all(x >= 0)
        # better than the trivial feasible point and close to the NNLS optimum
        assert np.linalg.norm(M @ x - y) < np.linalg.norm(y)
    x_nnls = __import__("scipy.optimize", fromlist=["nnls"]).nnls(M, y.astype(np.float64))[0]
    x = cgls(Dense(M), y, iterations=200, nonneg=True)
    assert np.linalg.norm(M @ x - y) < 1.5 * np.linalg.norm(M @ x_nnls - y)


def test_cgls_stacked_equals_concatenated_matrix():
    M1, M2 = matrix(30, 20, 10, seed=8), matrix(25, 20, 10, seed=9)
    rng = np.random.default_rng(10)
    y1, y2 = rng.standard_normal(30).astype(np.float32), rng.standard_normal(25).astype(np.float32)
    x_stack = cgls(stack([Dense(M1), Dense(M2)]), [y1, y2], iterations=40)
    x_dense = cgls(Dense(np.vstack([M1, M2])), np.concatenate([y1, y2]), iterations=40)
    np.testing.assert_allclose(x_stack, x_dense, rtol=1e-4, atol=1e-5)


def test_cgls_on_a_real_projector():
    from isxt.geometry import ScanGeometry, VolumeGeometry
    from isxt.projectors import projector

    vol = VolumeGeometry((2, 24, 24), voxel_size_um=0.1)
    scan = ScanGeometry.full_field(vol, 40, pixel_size_um=0.1)
    A = projector(vol, scan)
    yy, xx = np.mgrid[:24, :24]
    disk = ((xx - 11.5) ** 2 + (yy - 11.5) ** 2 < 8**2).astype(np.float32)
    truth = np.stack([disk * 0.5, disk * (0.3 + 0.2 * (xx < 12))]).astype(np.float32)
    x = cgls(A, A.forward(truth), iterations=100)
    assert rel(x, truth) < 0.025


def test_cgls_callback_stops_early():
    M = matrix(40, 20, 10, seed=11)
    y = np.random.default_rng(12).standard_normal(40).astype(np.float32)
    calls = []

    def cb(k, x, r):
        calls.append(k)
        return k == 3

    x = cgls(Dense(M), y, iterations=30, callback=cb)
    assert calls == [1, 2, 3]
    np.testing.assert_array_equal(x, cgls(Dense(M), y, iterations=3))
    np.testing.assert_array_equal(x, cgls(Dense(M), y, iterations=30, stop=FixedIterations(3)))


def test_stacked_operator_needs_list_data():
    A = stack([Dense(np.eye(3)), Dense(np.eye(3))])
    with pytest.raises(InputError):
        sirt(A, np.ones(3, np.float32), iterations=1)
    with pytest.raises(InputError):
        cgls(Dense(np.eye(3)), np.ones(3, np.float32), iterations=-1)


# ------------------------------------------------------------------ SIRT


def test_sirt_one_step_is_the_paper_formula():
    M = positive_matrix(12, 8, seed=13)
    M[:, 3] = 0  # a voxel no ray sees: C must be 0 there, not inf
    M[5] = 0  # a ray through nothing: R must be 0 there
    rng = np.random.default_rng(14)
    y = rng.random(12).astype(np.float32)
    x0 = rng.random(8).astype(np.float32)
    with np.errstate(divide="ignore"):
        C = np.where(M.sum(0) > 0, 1 / M.sum(0), 0)
        R = np.where(M.sum(1) > 0, 1 / M.sum(1), 0)
    expected = x0 + C * (M.T @ (R * (y - M @ x0)))
    x1 = sirt(Dense(M), y, x0=x0, iterations=1)
    assert np.all(np.isfinite(x1))
    np.testing.assert_allclose(x1, expected, rtol=1e-5, atol=1e-6)


def test_sirt_two_block_stack_is_the_stacked_formula():
    M1, M2 = positive_matrix(10, 6, seed=15), 3 * positive_matrix(7, 6, seed=16)
    rng = np.random.default_rng(17)
    y1, y2 = rng.random(10).astype(np.float32), rng.random(7).astype(np.float32)
    x0 = rng.random(6).astype(np.float32)
    C = 1 / (M1.sum(0) + M2.sum(0))
    R1, R2 = 1 / M1.sum(1), 1 / M2.sum(1)
    expected = x0 + C * (M1.T @ (R1 * (y1 - M1 @ x0)) + M2.T @ (R2 * (y2 - M2 @ x0)))
    x1 = sirt(stack([Dense(M1), Dense(M2)]), [y1, y2], x0=x0, iterations=1)
    np.testing.assert_allclose(x1, expected, rtol=1e-5, atol=1e-6)
    # R is per ray and C sums over all blocks, so the block form equals SIRT on the concatenated matrix
    x_one = sirt(Dense(np.vstack([M1, M2])), np.concatenate([y1, y2]), x0=x0, iterations=1)
    np.testing.assert_allclose(x1, x_one, rtol=1e-5, atol=1e-6)


def test_sirt_converges_to_least_squares_solution():
    M = positive_matrix(40, 10, seed=18)
    x_true = np.random.default_rng(19).random(10)
    y = (M @ x_true).astype(np.float32)
    res = []
    x = sirt(Dense(M), y, iterations=3000, callback=lambda k, x, r: res.append(r))
    assert rel(x, x_true) < 1e-3
    assert res[-1] < 1e-3 * res[0]


# ------------------------------------------------------------------ EM


def loglik(M, x, y):
    ax = M @ np.asarray(x, np.float64)
    return float(np.sum(y * np.log(ax) - ax))


def test_mlem_nonneg_and_monotone_likelihood():
    M = positive_matrix(60, 20, seed=20)
    rng = np.random.default_rng(21)
    y = rng.poisson(M @ (5 * rng.random(20))).astype(np.float32)
    xs = []
    x = mlem(Dense(M), y, iterations=30, callback=lambda k, x, r: xs.append(x.copy()))
    assert np.all(x >= 0)
    ll = np.array([loglik(M, xi, y) for xi in xs])
    assert np.all(np.diff(ll) >= -1e-6 * abs(ll[0]))
    assert ll[-1] > ll[0]


def test_mlem_default_start_matches_data_total_and_clips_negative_data():
    M = positive_matrix(20, 5, seed=22)
    y = (M @ np.ones(5)).astype(np.float32)
    y[0] = -1.0
    x = mlem(Dense(M), y, iterations=0)
    y_clip = np.maximum(y, 0)
    np.testing.assert_allclose((M @ x).sum(), y_clip.sum(), rtol=1e-5)
    assert np.all(mlem(Dense(M), y, iterations=5) >= 0)


def test_osem_with_one_subset_equals_mlem():
    M = positive_matrix(30, 10, seed=23)
    y = (M @ np.random.default_rng(24).random(10)).astype(np.float32)
    np.testing.assert_allclose(osem([(Dense(M), y)], iterations=7), mlem(Dense(M), y, iterations=7), rtol=1e-6)


def test_make_subsets_partitions_views_of_projectors_and_stacks():
    from isxt.geometry import ScanGeometry, VolumeGeometry
    from isxt.projectors import projector

    vol = VolumeGeometry((1, 12, 12), voxel_size_um=0.1)
    A1 = projector(vol, ScanGeometry.full_field(vol, 7, pixel_size_um=0.1))
    A2 = projector(vol, ScanGeometry.full_field(vol, 5, pixel_size_um=0.05))
    rng = np.random.default_rng(25)
    x = rng.random(vol.shape).astype(np.float32)
    y1, y2 = A1.forward(x), A2.forward(x)
    subsets = make_subsets(A1, y1, 3)
    assert len(subsets) == 3
    np.testing.assert_allclose(sum(As.adjoint(ys) for As, ys in subsets), A1.adjoint(y1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(subsets[1][0].forward(x), y1[1::3], rtol=1e-6)
    # weighted stack: scaled blocks are split with their weights
    w1 = rng.random(y1.shape).astype(np.float32)
    S = stack([A1, A2], weights=[w1, 2.0])
    ys = S.weigh([y1, y2])
    parts = make_subsets(S, ys, 6)  # A2 has 5 views: the last subset holds only A1's view 6
    assert len(parts) == 6 and len(parts[5][1]) == 1
    total = sum(Ss.adjoint(ds) for Ss, ds in parts)
    np.testing.assert_allclose(total, S.adjoint(ys), rtol=1e-5, atol=1e-6)
    x_osem = osem(make_subsets(A1, y1, 1), iterations=4)
    np.testing.assert_allclose(x_osem, mlem(A1, y1, iterations=4), rtol=1e-5, atol=1e-7)


def test_subsets_of_a_blurred_truncated_scan_are_its_views():
    """OSEM splits PSF models (project wide, blur, crop) into view subsets too."""
    from isxt.geometry import ScanGeometry, VolumeGeometry
    from isxt.reconstruct import Scan, build_operator

    vol = VolumeGeometry((2, 16, 16), voxel_size_um=0.1)
    g = ScanGeometry.interior(vol, 9, 0.1, roi_diameter_um=0.8)
    A = build_operator(Scan(g, np.zeros(g.shape, np.float32), psf=0.25), vol)
    x = np.random.default_rng(31).random(vol.shape, dtype=np.float32)
    y = A.forward(x)
    parts = make_subsets(A, y, 3)
    np.testing.assert_allclose(parts[2][0].forward(x), y[2::3], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sum(As.adjoint(ys) for As, ys in parts), A.adjoint(y), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="cannot split"):
        make_subsets(Dense(np.eye(3, dtype=np.float32)), np.ones(3, np.float32), 2)


# ------------------------------------------------------------------ weighted LS


def test_pwls_equals_closed_form_weighted_least_squares():
    M = matrix(50, 20, cond=30, seed=26)
    rng = np.random.default_rng(27)
    y = rng.standard_normal(50).astype(np.float32)
    w = (0.1 + rng.random(50) * 5).astype(np.float32)
    sw = np.sqrt(w.astype(np.float64))
    x_ref = np.linalg.lstsq(sw[:, None] * M, sw * y, rcond=None)[0]
    x = pwls(Dense(M), y, w, iterations=200)
    assert rel(x, x_ref) < 1e-3
    assert rel(x, np.linalg.lstsq(M, y, rcond=None)[0]) > 1e-2  # the weights matter


def test_pwls_stacked_weights_per_block():
    M1, M2 = matrix(30, 15, 10, seed=28), matrix(20, 15, 10, seed=29)
    rng = np.random.default_rng(30)
    y1, y2 = rng.standard_normal(30).astype(np.float32), rng.standard_normal(20).astype(np.float32)
    w1 = (0.5 + rng.random(30)).astype(np.float32)
    sw = np.sqrt(np.concatenate([w1, np.full(20, 4.0)]))
    x_ref = np.linalg.lstsq(sw[:, None] * np.vstack([M1, M2]), sw * np.concatenate([y1, y2]), rcond=None)[0]
    x = pwls(stack([Dense(M1), Dense(M2)]), [y1, y2], [w1, 4.0], iterations=100)
    assert rel(x, x_ref) < 1e-3
    with pytest.raises(InputError):
        pwls(Dense(M1), y1, -w1)


def test_poisson_weights_and_variance():
    y = np.array([0.0, 1.0, 2.0], np.float32)
    np.testing.assert_allclose(poisson_weights(y, 100), 100 * np.exp(-y), rtol=1e-6)
    np.testing.assert_allclose(poisson_variance(y, 100), np.exp(y) / 100, rtol=1e-6)
    w = poisson_weights([y, y], [10, 1000])
    np.testing.assert_allclose(w[1], 100 * w[0], rtol=1e-6)
    # the weight is the inverse variance of -ln(I/I0) for large counts
    rng = np.random.default_rng(31)
    counts = rng.poisson(1e4 * np.exp(-1.0), 200000)
    assert abs(np.var(-np.log(counts / 1e4)) * poisson_weights(np.float32(1.0), 1e4) - 1) < 0.02


# ------------------------------------------------------------------ stopping rules


def noisy_problem(seed=32):
    M = matrix(80, 40, cond=1e4, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x_true = np.cumsum(rng.standard_normal(40)) / 5  # smooth-ish truth
    sigma = 0.02
    y = (M @ x_true + sigma * rng.standard_normal(80)).astype(np.float32)
    return M, x_true.astype(np.float32), y, sigma


def test_oracle_returns_best_iterate():
    M, x_true, y, _ = noisy_problem()
    oracle = Oracle(x_true)
    x = cgls(Dense(M), y, iterations=60, stop=oracle)
    assert len(oracle.history) == 60
    assert oracle.best_value == max(oracle.history)
    assert psnr(x, x_true) == pytest.approx(max(oracle.history), abs=1e-9)
    assert 1 <= oracle.best_iteration < 60  # semi-convergence: fitting noise hurts
    assert oracle.history_iterations[int(np.argmax(oracle.history))] == oracle.best_iteration
    # patience ends the run; a callable metric with a mask sees only masked values
    mask = np.arange(40) < 20
    seen = []

    def neg_err(a, b):
        seen.append(a.size)
        return -float(np.abs(a - b).sum())

    o2 = Oracle(x_true, metric=neg_err, mask=mask, every=2, patience=3)
    cgls(Dense(M), y, iterations=60, stop=o2)
    assert set(seen) == {20} and all(k % 2 == 0 for k in o2.history_iterations)
    assert len(o2.history) < 30


def test_discrepancy_stops_at_noise_level():
    M, x_true, y, sigma = noisy_problem(seed=40)
    stop = Discrepancy(np.full(80, sigma**2), tau=1.0)
    res = []
    cgls(Dense(M), y, iterations=80, stop=stop, callback=lambda k, x, r: res.append(r))
    assert stop.stopped_at is not None and stop.stopped_at < 80
    assert len(res) == stop.stopped_at
    assert stop.residual_norm**2 <= 80 * sigma**2
    assert res[-2] ** 2 > 80 * sigma**2  # it stopped at the first such iteration
    assert Discrepancy([np.ones(3), np.ones(2)], tau=2).threshold == 10


# ------------------------------------------------------------------ preconditioning


def test_preconditioned_cgls_converges_to_the_least_squares_solution():
    from isxt.solvers import sensitivity_preconditioner

    M = np.abs(matrix(60, 25, cond=50, seed=40))  # non-negative, like a projector
    y = np.random.default_rng(41).standard_normal(60).astype(np.float32)
    x_ref = np.linalg.lstsq(M, y, rcond=None)[0]
    x = cgls(Dense(M), y, iterations=200, precondition=True)
    assert rel(x, x_ref) < 1e-3
    d = sensitivity_preconditioner(Dense(M), y)
    np.testing.assert_allclose(d, 1 / np.sqrt(M.sum(axis=0)), rtol=1e-5)
    # an explicit scaling volume is used as given
    x2 = cgls(Dense(M), y, iterations=200, precondition=np.linspace(0.5, 2, 25).astype(np.float32))
    assert rel(x2, x_ref) < 1e-3


def test_preconditioning_evens_out_unequally_sampled_voxels():
    """Two voxels, one crossed by 100 rays and one by a single ray (like the ROI and the rest
    of a combined scan): plain CGLS's first step barely moves the poorly seen voxel; the
    sensitivity-preconditioned first step gets both."""
    M = np.zeros((101, 2), dtype=np.float32)
    M[:100, 0] = 1.0
    M[100, 1] = 1.0
    y = M @ np.array([1.0, 1.0], dtype=np.float32)
    plain = cgls(Dense(M), y, iterations=1)
    pre = cgls(Dense(M), y, iterations=1, precondition=True)
    assert plain[0] == pytest.approx(1.0, rel=1e-3) and plain[1] < 0.02
    np.testing.assert_allclose(pre, [1.0, 1.0], rtol=1e-4)


def test_precondition_input_errors():
    M = matrix(10, 4, cond=5, seed=42)
    y = np.ones(10, np.float32)
    with pytest.raises(InputError, match="unknown precondition"):
        cgls(Dense(M), y, precondition="jacobi")
    with pytest.raises(InputError, match="positive"):
        cgls(Dense(M), y, precondition=np.zeros(4, np.float32))
    with pytest.raises(InputError, match="shape"):
        cgls(Dense(M), y, precondition=np.ones(5, np.float32))
