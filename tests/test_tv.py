"""TV-regularised reconstruction (PDHG): gradient adjoint, gap, bounds, limits, peer (ODL), entry points."""

import numpy as np
import pytest

import isxt
from isxt.errors import InputError
from isxt.operators import stack
from isxt.projectors import projector
from isxt.solvers import Gradient, tv_pdhg
from isxt.solvers.gradient import tv_norm
from isxt.solvers.tv_weight import menger_curvature

VOL = isxt.VolumeGeometry((3, 24, 24), 0.05)
SMALL = (2, 10, 10)


class Matrix:
    """A dense non-negative matrix as an operator (volume ``SMALL`` → vector): fast, with an exact adjoint."""

    def __init__(self, m, shape=SMALL, seed=0):
        rng = np.random.default_rng(seed)
        n = int(np.prod(shape))
        self.M = (rng.random((m, n)) * (rng.random((m, n)) < 0.2)).astype(np.float32)
        self.domain_shape, self.range_shape = shape, (m,)

    def forward(self, x):
        return (self.M @ x.ravel()).astype(np.float32)

    def adjoint(self, y):
        return (self.M.T @ y).astype(np.float32).reshape(self.domain_shape)


def _blocks(shape=VOL.shape):
    """A piecewise-constant phantom: two nested boxes, the inner one off-centre."""
    x = np.zeros(shape, np.float32)
    nz, ny, nx = shape
    x[:, ny // 5:ny * 3 // 4, nx // 4:nx * 4 // 5] = 1.0
    x[nz // 2:, ny * 2 // 5:ny * 3 // 5, nx // 2:nx * 3 // 5 + 1] = 2.0
    return x


def _matrix_problem(m=260, noise=0.0, seed=0):
    A = Matrix(m, seed=seed)
    truth = _blocks(SMALL)
    y = A.forward(truth)
    if noise:
        y = (y + np.random.default_rng(seed + 1).normal(0, noise * y.std(), y.shape)).astype(np.float32)
    return A, y, truth


def _problem(n_angles=12, vol=VOL, noise=0.0, seed=0):
    # data from a different discretisation (the 2× finer grid) than the reconstruction's
    fine = isxt.VolumeGeometry(tuple(2 * n for n in vol.shape), vol.voxel_size_um / 2)
    truth = _blocks(vol.shape)
    truth_fine = np.repeat(np.repeat(np.repeat(truth, 2, 0), 2, 1), 2, 2)
    geom = isxt.ScanGeometry.full_field(vol, n_angles, vol.voxel_size_um)
    y = projector(fine, geom).forward(truth_fine)
    if noise:
        y = y + np.random.default_rng(seed).normal(0, noise * y.max(), y.shape).astype(np.float32)
    return projector(vol, geom), y.astype(np.float32), truth


@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 6, 4), (4, 1, 5)])
def test_gradient_adjoint_identity(shape):
    rng = np.random.default_rng(1)
    g = Gradient(shape)
    x = rng.standard_normal(shape).astype(np.float32)
    q = rng.standard_normal((3, *shape)).astype(np.float32)
    lhs = float(np.vdot(g.forward(x).astype(np.float64), q))
    rhs = float(np.vdot(x.astype(np.float64), g.adjoint(q)))
    assert abs(lhs - rhs) <= 1e-5 * np.sqrt(np.sum(g.forward(x) ** 2) * np.sum(q**2))


def test_gradient_norm_bound_and_tv_of_a_step():
    # ‖∇‖² ≤ 12 (used for the step sizes); a unit step across a 4×5 face has TV 20
    g = Gradient((6, 6, 6))
    lam = isxt.operators.power_norm(g, iterations=60)
    assert 10.0 < lam <= 12.0
    x = np.zeros((3, 4, 5), np.float32)
    x[2:] = 1
    assert tv_norm(Gradient(x.shape).forward(x)) == pytest.approx(20.0)
    assert tv_norm(Gradient(x.shape).forward(np.ones_like(x))) == 0.0


def test_gap_falls_below_tolerance_with_both_bounds():
    A, y, _ = _matrix_problem(noise=0.05)
    x, info = tv_pdhg(A, y, 0.5, bounds=(0.0, 2.5), iterations=3000, tol=1e-6, return_info=True)
    assert info["converged"] and info["gap"][-1] <= 1e-6
    assert info["iterations"] < 3000
    # the gap bounds the suboptimality: the primal never goes below the best dual
    assert min(info["primal"]) >= max(info["dual"]) - 1e-9 * abs(max(info["dual"]))
    # and the gap is a real one: early iterates are far from converged
    assert info["gap"][0] > 100 * info["gap"][-1]


def test_tiny_weight_approaches_least_squares_on_dense_data():
    # noiseless, dense (more equations than voxels), piecewise constant: the least-squares solution
    # (LAPACK's, independent of isxt) is unique; TV with λ → 0 must approach it, a real λ must not
    A, y, truth = _matrix_problem(m=400)
    x_ls = np.linalg.lstsq(A.M.astype(np.float64), y.astype(np.float64), rcond=None)[0].reshape(SMALL)
    y = (y + np.random.default_rng(5).normal(0, 0.02 * y.std(), y.shape)).astype(np.float32)
    x_ls = np.linalg.lstsq(A.M.astype(np.float64), y.astype(np.float64), rcond=None)[0].reshape(SMALL)
    errors = []
    for lam in (1e-1, 1e-3, 1e-6):
        x_tv = tv_pdhg(A, y, lam, bounds=(None, None), iterations=3000, tol=1e-9)
        errors.append(np.linalg.norm(x_tv - x_ls) / np.linalg.norm(x_ls))
    assert errors[-1] < 1e-3, errors
    assert errors[0] > 10 * errors[1] > 100 * errors[2] or errors[2] < 1e-4, errors


@pytest.mark.parametrize("bounds, kind", [((0.0, None), "projector"), ((0.2, 1.5), "matrix"), ((None, 1.2), "matrix")])
def test_bounds_hold_on_every_iterate(bounds, kind):
    A, y, _ = _problem(noise=0.1) if kind == "projector" else _matrix_problem(noise=0.3)
    lo, hi = (None if b is None else np.float32(b) for b in bounds)  # the bounds act in float32
    seen = []

    def check(k, x, r):
        seen.append((float(x.min()), float(x.max())))

    x = tv_pdhg(A, y, 1e-3, bounds=bounds, iterations=15, tol=0, callback=check,
                x0=np.full(A.domain_shape, -1.0, np.float32))
    assert len(seen) == 15
    assert all((lo is None or a >= lo) and (hi is None or b <= hi) for a, b in seen)
    assert (lo is None or x.min() >= lo) and (hi is None or x.max() <= hi)
    # the constraint is active: unconstrained the noisy solution leaves the box
    free = tv_pdhg(A, y, 1e-3, bounds=(None, None), iterations=15, tol=0)
    assert (lo is not None and free.min() < lo) or (hi is not None and free.max() > hi)


def test_anisotropic_tv_differs_and_converges():
    A, y, _ = _matrix_problem(noise=0.1)
    xi, ii = tv_pdhg(A, y, 0.5, iterations=3000, tol=1e-6, return_info=True)
    xa, ia = tv_pdhg(A, y, 0.5, iterations=3000, tol=1e-6, isotropic=False, return_info=True)
    assert ii["converged"] and ia["converged"]
    assert np.abs(xi - xa).max() > 1e-3


def test_stacked_weighted_operator_and_scale_invariance():
    # scan weights fold into A and y; scaling the data and λ together scales the solution
    A, y, _ = _matrix_problem(noise=0.05)
    A2, y2, _ = _matrix_problem(m=50, noise=0.05, seed=3)
    S = stack([A, A2], weights=[1.0, 4.0])
    x1 = tv_pdhg(S, S.weigh([y, y2]), 0.5, iterations=300, tol=0)
    x3 = tv_pdhg(S, S.weigh([3 * y, 3 * y2]), 1.5, iterations=300, tol=0)
    assert np.abs(x3 - 3 * x1).max() <= 2e-3 * np.abs(x3).max()


def test_bad_input():
    A, y, _ = _matrix_problem()
    with pytest.raises(InputError, match="bounds"):
        tv_pdhg(A, y, 0.1, bounds=(1.0, 0.5))
    with pytest.raises(InputError, match="tv_weight"):
        tv_pdhg(A, y, -1.0)
    with pytest.raises(InputError, match="bounds"):
        tv_pdhg(A, y, 0.1, bounds=(0, float("nan")))


def test_menger_curvature_of_a_circle():
    t = np.linspace(0, np.pi / 2, 5)
    pts = [(2 * np.cos(a), 2 * np.sin(a)) for a in t]  # counter-clockwise, radius 2
    assert menger_curvature(pts) == pytest.approx([0.5, 0.5, 0.5])


def test_odl_pdhg_agrees():
    """Peer: ODL's PDHG with TV on the same problem, isxt's projector wrapped as an ODL operator."""
    odl = pytest.importorskip("odl")
    from isxt.solvers.peer import odl_tv_pdhg

    A, y, _ = _matrix_problem(noise=0.05)
    lam = 0.5
    x_isxt = tv_pdhg(A, y, lam, iterations=3000, tol=1e-8)
    x_odl = odl_tv_pdhg(A, y, lam, iterations=400)
    assert odl is not None
    rel = np.linalg.norm(x_odl - x_isxt) / np.linalg.norm(x_isxt)
    assert rel < 5e-3, rel
    # ... and neither is trivially the truth or the start
    assert np.linalg.norm(x_isxt - _blocks(SMALL)) / np.linalg.norm(x_isxt) > 10 * rel


def _cupy_gpu():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no cupy, no driver, no device
        return False


@pytest.mark.skipif(not _cupy_gpu(), reason="needs cupy and a GPU")
def test_numpy_and_cupy_iterates_agree():
    import cupy

    A, y, _ = _matrix_problem(noise=0.05)

    class DeviceMatrix:
        domain_shape, range_shape = A.domain_shape, A.range_shape
        M = cupy.asarray(A.M)

        def forward(self, x):
            return (self.M @ x.ravel()).astype(np.float32)

        def adjoint(self, v):
            return (self.M.T @ v).astype(np.float32).reshape(self.domain_shape)

    host, device = [], []
    x_h = tv_pdhg(A, y, 0.5, iterations=50, tol=0, callback=lambda k, x, r: host.append(x.copy()))
    x_d = tv_pdhg(DeviceMatrix(), cupy.asarray(y), 0.5, iterations=50, tol=0,
                  callback=lambda k, x, r: device.append(cupy.asnumpy(x)))
    assert isinstance(x_d, cupy.ndarray)
    for a, b in zip(host, device):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max())


@pytest.mark.parametrize("isotropic, bounds", [(True, (0.0, None)), (False, (0.1, 1.5))])
def test_fista_with_dual_tv_prox_agrees(isotropic, bounds):
    """Second, independent peer (always available): FISTA with the TV prox by FGP on its dual."""
    from isxt.solvers.tv_fista import tv_fista

    A, y, _ = _matrix_problem(noise=0.05)
    x_pd = tv_pdhg(A, y, 0.5, bounds=bounds, isotropic=isotropic, iterations=2000, tol=1e-8)
    x_fi = tv_fista(A, y, 0.5, bounds=bounds, isotropic=isotropic, iterations=200, inner_iterations=10)
    rel = np.linalg.norm(x_fi - x_pd) / np.linalg.norm(x_pd)
    assert rel < 5e-3, rel
    assert np.linalg.norm(x_pd - _blocks(SMALL)) / np.linalg.norm(x_pd) > 10 * rel
