"""Projectors against the geometry contract, analytic projections, adjoint identities and ASTRA."""

import numpy as np
import pytest

import isxt
from isxt.operators import adjoint_mismatch, convolve_detector, gaussian_kernel, scale, stack
from isxt.projectors.astra import AstraProjector, astra_available

from _helpers import smooth_phantom

needs_astra = pytest.mark.skipif(not astra_available(), reason="astra-toolbox not installed")


def point_volume(vol, k, j, i):
    x = np.zeros(vol.shape, np.float32)
    x[k, j, i] = 1.0
    return x


def centroid(image):
    rows, cols = np.indices(image.shape)
    m = image.sum()
    return (rows * image).sum() / m, (cols * image).sum() / m


@pytest.mark.parametrize("arc", ["180", "360"])
def test_point_lands_where_the_contract_says(arc):
    """Centroids of a voxel's footprint on a fine detector follow u, v of the contract."""
    rng = np.random.default_rng(1)
    vol = isxt.VolumeGeometry((9, 33, 31), 0.05, center_um=(0.3, -0.2, 0.1))
    p = vol.voxel_size_um / 4  # the footprint spans several pixels, so the centroid is sub-pixel exact
    n = 12
    angles = isxt.angles_180(n) if arc == "180" else isxt.angles_360_interleaved(n)
    shifts = rng.uniform(-0.1, 0.1, (n, 2))
    scan = isxt.ScanGeometry(angles, (int(1.2 / p), int(3.0 / p)), p, center_um=(0.35, -0.1, 0.12), shifts_um=shifts)
    k, j, i = 6, 20, 9
    x, y, z = vol.coords("x")[i], vol.coords("y")[j], vol.coords("z")[k]
    proj = isxt.projector(vol, scan).forward(point_volume(vol, k, j, i))
    row_expected, col_expected = scan.pixel_of(x, y, z)
    for a in range(n):
        r, c = centroid(proj[a])
        # pixel centres sit at n + 0.5 in the contract's continuous coordinates
        assert r + 0.5 == pytest.approx(row_expected[a], abs=0.01)
        assert c + 0.5 == pytest.approx(col_expected[a], abs=0.01)


def interval_overlap(a0, a1, b0, b1):
    return np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0.0, None)


@pytest.mark.parametrize("pixel_factor", [0.5, 1.0, 2.0, 4.0])
def test_voxel_footprint_is_exact_at_axis_aligned_views(pixel_factor):
    """At θ = kπ/2 a voxel projects to a box: its pixel values are interval overlaps."""
    rng = np.random.default_rng(7)
    vol = isxt.VolumeGeometry((7, 21, 23), 0.05, center_um=(0.02, -0.03, 0.01))
    p = vol.voxel_size_um * pixel_factor
    angles = np.array([0.0, 0.5, 1.0, 1.5]) * np.pi
    shifts = rng.uniform(-0.07, 0.07, (4, 2))
    scan = isxt.ScanGeometry(angles, (int(0.8 / p) + 1, int(2.0 / p) + 1), p, center_um=(0.05, 0.04, 0.0), shifts_um=shifts)
    k, j, i = 2, 13, 8
    s = vol.voxel_size_um
    x, y, z = vol.coords("x")[i], vol.coords("y")[j], vol.coords("z")[k]
    proj = isxt.projector(vol, scan).forward(point_volume(vol, k, j, i))
    u, v = scan.project_point(x, y, z)
    col_edges = (np.arange(scan.cols + 1) - scan.cols / 2) * p
    row_edges = (np.arange(scan.rows + 1) - scan.rows / 2) * p
    for a in range(4):
        ou = interval_overlap(col_edges[:-1], col_edges[1:], u[a] - s / 2, u[a] + s / 2)
        ov = interval_overlap(row_edges[:-1], row_edges[1:], v[a] - s / 2, v[a] + s / 2)
        expected = s * np.outer(ov, ou) / p**2  # chord s, mean over the pixel area
        np.testing.assert_allclose(proj[a], expected, atol=1e-6 * s)


def test_mass_is_conserved_per_view():
    vol = isxt.VolumeGeometry((5, 24, 26), 0.08, center_um=(0.1, 0.0, -0.03))
    rng = np.random.default_rng(2)
    x = rng.random(vol.shape, dtype=np.float32)
    for p in (0.03, 0.08, 0.2, 0.35):
        scan = isxt.ScanGeometry(isxt.angles_180(17), (int(1.0 / p) + 2, int(4.0 / p)), p, center_um=vol.center_um,
                                 shifts_um=rng.uniform(-0.05, 0.05, (17, 2)))
        proj = isxt.projector(vol, scan).forward(x)
        expected = x.sum(dtype=np.float64) * vol.voxel_volume
        np.testing.assert_allclose(proj.sum(axis=(1, 2), dtype=np.float64) * p * p, expected, rtol=1e-5)


def test_shifts_move_projections_by_whole_pixels():
    vol = isxt.VolumeGeometry((4, 20, 20), 0.1)
    x = np.random.default_rng(3).random(vol.shape, dtype=np.float32)
    scan = isxt.ScanGeometry(isxt.angles_180(5), (8, 40), 0.1)
    shifted = scan.with_shifts(np.tile([0.2, 0.1], (5, 1)))  # +2 px in u, +1 px in v
    a = isxt.projector(vol, scan).forward(x)
    b = isxt.projector(vol, shifted).forward(x)
    # moving the detector centre by +du shows the object at u - du
    np.testing.assert_allclose(b[:, :-1, :-2], a[:, 1:, 2:], atol=1e-6)


def exact_disk_profile(u0, u1, radius):
    """Mean over [u0, u1] of the chord 2√(R² − u²) of a disk."""

    def antiderivative(u):
        u = np.clip(u, -radius, radius)
        return u * np.sqrt(radius**2 - u**2) + radius**2 * np.arcsin(u / radius)

    return (antiderivative(u1) - antiderivative(u0)) / (u1 - u0)


def disk_volume(vol, radius, oversample=8):
    """Area fraction of each voxel inside the disk (a uniform LAC of 1/µm)."""
    s = vol.voxel_size_um
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    xs = (vol.coords("x")[:, None] + sub * s).ravel()
    ys = (vol.coords("y")[:, None] + sub * s).ravel()
    inside = (xs[None, :] ** 2 + ys[:, None] ** 2 <= radius**2).astype(np.float64)
    frac = inside.reshape(vol.ny, oversample, vol.nx, oversample).mean(axis=(1, 3))
    return np.broadcast_to(frac, vol.shape).astype(np.float32)


@pytest.mark.parametrize("pixel_factor", [0.5, 1.0, 2.0, 4.0])
def test_uniform_disk_matches_exact_chords(pixel_factor):
    vol = isxt.VolumeGeometry((8, 128, 128), 0.05)  # 0.4 µm high: fills every detector row
    radius = 2.5
    p = vol.voxel_size_um * pixel_factor
    cols = int(np.ceil(7.0 / p))
    scan = isxt.ScanGeometry(isxt.angles_180(7) + 0.1, (int(round(0.4 / p)), cols), p)
    proj = isxt.projector(vol, scan).forward(disk_volume(vol, radius))
    edges = (np.arange(cols + 1) - cols / 2) * p
    exact = exact_disk_profile(edges[:-1], edges[1:], radius)
    inner = np.abs(0.5 * (edges[:-1] + edges[1:])) < radius - 2 * max(p, vol.voxel_size_um)
    for a in range(scan.n_angles):
        got = proj[a, 0, inner]
        err = np.linalg.norm(got - exact[inner]) / np.linalg.norm(exact[inner])
        assert err < 0.005, (a, err)


def _operators_for_adjoint():
    vol = isxt.VolumeGeometry((6, 30, 34), 0.05, center_um=(0.05, 0.1, 0.0))
    rng = np.random.default_rng(4)
    interior = isxt.ScanGeometry.interior(vol, 23, 0.04, roi_diameter_um=0.8, roi_center_um=(0.2, -0.1))
    interior = interior.with_shifts(rng.uniform(-0.03, 0.03, (23, 2)))
    sparse = isxt.ScanGeometry.full_field(vol, 5, 0.1, arc="360")
    a_roi = isxt.projector(vol, interior)
    a_full = isxt.projector(vol, sparse)
    kernel = gaussian_kernel(0.09, 0.04)
    weights = rng.random(sparse.shape).astype(np.float32)
    return {
        "interior": a_roi,
        "sparse": a_full,
        "convolved": convolve_detector(a_roi, kernel),
        "weighted": scale(a_full, weights),
        "stacked": stack([convolve_detector(a_roi, kernel), a_full], weights=[1.0, weights]),
    }


@pytest.mark.parametrize("name", ["interior", "sparse", "convolved", "weighted", "stacked"])
def test_adjoint_identity(name):
    op = _operators_for_adjoint()[name]
    for seed in range(3):
        assert adjoint_mismatch(op, seed=seed) < 1e-5


@needs_astra
def test_astra_adjoint_identity():
    vol = isxt.VolumeGeometry((3, 20, 22), 0.05)
    scan = isxt.ScanGeometry.interior(vol, 11, 0.05, roi_diameter_um=0.6, roi_center_um=(0.1, 0.0))
    # ASTRA's CPU 'linear' projector is an exact transpose (its GPU projectors are not: tests/test_gpu.py)
    assert adjoint_mismatch(AstraProjector(vol, scan, use_gpu=False)) < 1e-5


@needs_astra
@pytest.mark.parametrize(
    "kind", ["full", "sparse-2x", "interior-off-centre", "interior-fine-shifted"]
)
def test_numba_matches_astra(kind):
    vol = isxt.VolumeGeometry((6, 64, 64), 0.08, center_um=(0.1, -0.1, 0.05))
    x = smooth_phantom(vol)
    rng = np.random.default_rng(5)
    if kind == "full":
        scan = isxt.ScanGeometry.full_field(vol, 40, 0.08)
    elif kind == "sparse-2x":
        scan = isxt.ScanGeometry.full_field(vol, 9, 0.16, arc="360")
    elif kind == "interior-off-centre":
        scan = isxt.ScanGeometry.interior(vol, 60, 0.08, roi_diameter_um=2.4, roi_center_um=(0.9, -0.6))
    else:
        scan = isxt.ScanGeometry.interior(vol, 60, 0.04, roi_diameter_um=2.0, roi_center_um=(-0.5, 0.4))
        scan = scan.with_shifts(rng.uniform(-0.1, 0.1, (60, 2)))
    a = isxt.projector(vol, scan).forward(x)
    b = isxt.projector(vol, scan, backend="astra").forward(x)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 0.02


def test_subset_selects_views():
    vol = isxt.VolumeGeometry((2, 16, 16), 0.1)
    scan = isxt.ScanGeometry(isxt.angles_180(10), (2, 24), 0.1)
    x = np.random.default_rng(6).random(vol.shape, dtype=np.float32)
    A = isxt.projector(vol, scan)
    np.testing.assert_allclose(A.subset([1, 4, 7]).forward(x), A.forward(x)[[1, 4, 7]], rtol=1e-6, atol=1e-7)


def test_bad_shapes_are_reported():
    vol = isxt.VolumeGeometry((2, 16, 16), 0.1)
    A = isxt.projector(vol, isxt.ScanGeometry(isxt.angles_180(3), (2, 24), 0.1))
    with pytest.raises(ValueError, match="expects"):
        A.forward(np.zeros((2, 16, 15), np.float32))
    with pytest.raises(ValueError, match="expects"):
        A.adjoint(np.zeros((3, 2, 23), np.float32))
    with pytest.raises(ValueError, match="unknown projector backend"):
        isxt.projector(vol, A.scan, backend="nope")


@pytest.mark.parametrize("kind", ["interior-shifted", "sparse-2x-360"])
def test_single_slice_kernels_match_the_volume_kernels(kind):
    """nz == 1 runs dedicated 2D kernels; they must equal the slice-vectorised ones and be exact adjoints."""
    rng = np.random.default_rng(8)
    s = 0.05
    flat = isxt.VolumeGeometry((1, 30, 34), s, center_um=(0.05, 0.1, 0.0))
    # the same plane as slice 0 of a two-slice volume (slice 1 holds zeros)
    thick = isxt.VolumeGeometry((2, 30, 34), s, center_um=(0.05, 0.1, s / 2))
    if kind == "interior-shifted":
        scan = isxt.ScanGeometry.interior(flat, 23, 0.04, roi_diameter_um=0.8, roi_center_um=(0.2, -0.1), rows=1)
        scan = scan.with_shifts(np.column_stack([rng.uniform(-0.03, 0.03, 23), np.zeros(23)]))
    else:
        scan = isxt.ScanGeometry.full_field(flat, 5, 0.1, arc="360", rows=1)
    a_flat, a_thick = isxt.projector(flat, scan), isxt.projector(thick, scan)
    image = rng.random(flat.shape, dtype=np.float32)
    both = np.concatenate([image, np.zeros_like(image)])
    np.testing.assert_allclose(a_flat.forward(image), a_thick.forward(both), rtol=1e-5, atol=1e-7)
    y = rng.random(scan.shape, dtype=np.float32)
    np.testing.assert_allclose(a_flat.adjoint(y)[0], a_thick.adjoint(y)[0], rtol=1e-5, atol=1e-7)
    for seed in range(2):
        assert adjoint_mismatch(a_flat, seed=seed) < 1e-5


def test_psf_on_a_truncated_detector_blurs_in_light_from_outside():
    """An interior detector with a PSF equals the blurred full-field projection, cropped."""
    from scipy import ndimage

    from isxt.reconstruct import Scan, build_operator

    vol = isxt.VolumeGeometry((4, 48, 48), 0.05)
    x = smooth_phantom(vol)
    angles = isxt.angles_180(12)
    full = isxt.ScanGeometry(angles, (4, 80), 0.05)
    interior = isxt.ScanGeometry(angles, (4, 30), 0.05)  # centred: column c is full column c + 25
    kernel = gaussian_kernel(0.15, 0.05)
    # rows: the slab's edge rows continue (see test_psf_on_a_thin_slab_sees_the_sample_continue_in_z)
    h = kernel.shape[0] // 2
    rows_extended = np.pad(isxt.projector(vol, full).forward(x), ((0, 0), (h, h), (0, 0)), mode="edge")
    expected = ndimage.convolve(rows_extended, kernel[None], mode="constant")[:, h:-h, 25:55]
    op = build_operator(Scan(interior, np.zeros(interior.shape, np.float32), psf=kernel), vol)
    np.testing.assert_allclose(op.forward(x), expected, rtol=1e-5, atol=1e-6)
    assert adjoint_mismatch(op) < 1e-5
    # zero padding at the truncated edge would lose the light blurred in from outside
    naive = convolve_detector(isxt.projector(vol, interior), kernel).forward(x)
    assert np.abs(naive[:, :, 0] - expected[:, :, 0]).max() > 10 * np.abs(op.forward(x)[:, :, 0] - expected[:, :, 0]).max()


def test_psf_on_a_thin_slab_sees_the_sample_continue_in_z():
    """A slab of a z-invariant sample, blurred across rows, equals the taller sample's blurred projection."""
    from scipy import ndimage

    from isxt.reconstruct import Scan, build_operator

    image = smooth_phantom(isxt.VolumeGeometry((1, 40, 40), 0.05))[0]
    tall = isxt.VolumeGeometry((16, 40, 40), 0.05)
    slab = isxt.VolumeGeometry((4, 40, 40), 0.05)
    kernel = gaussian_kernel(0.15, 0.05)  # reaches 3 rows
    angles = isxt.angles_180(10)
    tall_scan = isxt.ScanGeometry(angles, (16, 64), 0.05)
    expected = ndimage.convolve(isxt.projector(tall, tall_scan).forward(np.repeat(image[None], 16, 0)),
                                kernel[None], mode="constant")[:, 6:10]
    scan = isxt.ScanGeometry(angles, (4, 64), 0.05)
    op = build_operator(Scan(scan, np.zeros(scan.shape, np.float32), psf=kernel), slab)
    np.testing.assert_allclose(op.forward(np.repeat(image[None], 4, 0)), expected, rtol=1e-5, atol=1e-6)
    assert adjoint_mismatch(op) < 1e-5
    # a zero boundary above and below the slab would lose a quarter of the signal on the edge rows
    naive = convolve_detector(isxt.projector(slab, scan), kernel).forward(np.repeat(image[None], 4, 0))
    assert np.abs(naive[:, 0] - expected[:, 0]).max() > 0.1 * expected[:, 0].max()


def test_rows_covering_follows_shifts_and_pixel_size():
    """First/last detector rows that see the volume, for shifted views and coarse pixels."""
    vol = isxt.VolumeGeometry((8, 10, 10), 0.05)  # z from -0.2 to 0.2 µm
    shifts = np.array([[0.0, 0.0], [0.0, 0.1], [0.0, -0.3]])
    scan = isxt.ScanGeometry(isxt.angles_180(3), (14, 20), 0.05, shifts_um=shifts)
    first, last = scan.rows_covering(vol)
    # rows span v from -0.35 µm; a v-shift of 0.1 µm moves the volume two rows down
    np.testing.assert_array_equal(first, [3, 1, 9])
    np.testing.assert_array_equal(last, [10, 8, 13])
    coarse = isxt.ScanGeometry(isxt.angles_180(3), (4, 10), 0.1)
    np.testing.assert_array_equal(coarse.rows_covering(vol), ([0, 0, 0], [3, 3, 3]))
    # the extension operator copies those rows and its adjoint folds them back
    from isxt.operators import extend_rows

    op = extend_rows(isxt.projector(vol, scan), first, last)
    y = op.forward(smooth_phantom(vol))
    np.testing.assert_array_equal(y[2, :9], np.broadcast_to(y[2, 9], (9, 20)))
    np.testing.assert_array_equal(y[0, :3], np.broadcast_to(y[0, 3], (3, 20)))
    np.testing.assert_array_equal(y[0, 11:], np.broadcast_to(y[0, 10], (3, 20)))
    assert np.abs(y[0, 3] - y[0, 4]).max() > 0  # the covered rows themselves are projections
    assert adjoint_mismatch(op) < 1e-5


@pytest.mark.parametrize("pixel_factor, kind", [(1.0, "full"), (2.0, "full"), (0.7, "full"), (1.0, "interior")])
def test_volume_forward_equals_transposed_adjoint(pixel_factor, kind):
    """Forward (register window or tap-wise scatter) = dense matrix whose rows come from the adjoint kernels.

    Covers both walking directions of a row (360° arc), 2- and 3-tap views,
    more than one z-chunk (17 slices) and rows cut by an interior detector.
    """
    vol = isxt.VolumeGeometry((17, 7, 6), 0.05, center_um=(0.01, -0.02, 0.0))
    p = vol.voxel_size_um * pixel_factor
    if kind == "full":
        scan = isxt.ScanGeometry.full_field(vol, 6, p, arc="360")
    else:
        scan = isxt.ScanGeometry.interior(vol, 6, p, roi_diameter_um=0.15, roi_center_um=(0.05, 0.0))
    A = isxt.projector(vol, scan)
    dense = np.empty((int(np.prod(scan.shape)), int(np.prod(vol.shape))), np.float64)
    e = np.zeros(scan.shape, np.float32)
    for n in range(dense.shape[0]):
        e.flat[n] = 1.0
        dense[n] = A.adjoint(e).ravel()
        e.flat[n] = 0.0
    x = np.random.default_rng(9).random(vol.shape, dtype=np.float32)
    expected = (dense @ x.ravel().astype(np.float64)).reshape(scan.shape)
    np.testing.assert_allclose(A.forward(x), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_as_scipy_operator_is_the_projector():
    """`Operator.as_scipy()` hands the projector to scipy.sparse.linalg with the same adjoint."""
    from scipy.sparse.linalg import lsqr

    vol = isxt.VolumeGeometry((1, 12, 12), 0.1)
    A = isxt.projector(vol, isxt.ScanGeometry(isxt.angles_180(24), (1, 18), 0.1))
    x = np.random.default_rng(8).random(vol.shape, dtype=np.float32)
    L = A.as_scipy()
    v = np.random.default_rng(9).random(L.shape[0])
    np.testing.assert_allclose(L.matvec(x.ravel()), A.forward(x).ravel(), rtol=1e-6)
    np.testing.assert_allclose(L.rmatvec(v), A.adjoint(v.reshape(A.range_shape).astype(np.float32)).ravel(), rtol=1e-5)
    solution = lsqr(L, A.forward(x).ravel(), atol=1e-10, btol=1e-10, iter_lim=500)[0]
    np.testing.assert_allclose(solution, x.ravel(), atol=2e-3)
