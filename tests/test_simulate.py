"""Image formation: Beer–Lambert, band limiting, the depth-dependent PSF model, noise, flat field, Eq. 16."""

import numpy as np
import pytest

from isxt.errors import InputError
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.operators import adjoint_mismatch, convolve_detector
from isxt.optics import XM2_35NM
from isxt.projectors import projector
from isxt.simulate import (
    DepthPSFProjector,
    absorption_from_intensity,
    affine_stray_light,
    band_limit,
    beer_lambert,
    depth_psf_direct,
    slab_depths,
    dual_energy_transmission,
    equalising_flat_field,
    photons_per_pixel,
    poisson_noise,
    simulate_projections,
)


def blob_phantom(vol, n=14, seed=0):
    """Absorbing spheres kept away from the top and bottom of the volume."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.meshgrid(vol.coords("z"), vol.coords("y"), vol.coords("x"), indexing="ij")
    half_w, half_h = 0.5 * min(vol.extent[:2]), 0.5 * vol.extent[2]
    x = np.zeros(vol.shape, np.float32)
    for _ in range(n):
        r = rng.uniform(0.06, 0.2) * half_w
        cx, cy = rng.uniform(-0.7 * half_w, 0.7 * half_w, 2)
        cz = rng.uniform(-0.3 * half_h, 0.3 * half_h)
        x[(xx - cx) ** 2 + (yy - cy) ** 2 + (zz - cz) ** 2 < r * r] += rng.uniform(0.3, 1.0)
    return x


@pytest.fixture(scope="module")
def small_case():
    vol = VolumeGeometry((12, 32, 32), 0.02)
    scan = ScanGeometry.full_field(vol, 3, 0.02, rows=12)
    return vol, scan, blob_phantom(vol)


def test_beer_lambert_round_trip():
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 5, (3, 4, 5)).astype(np.float32)
    intensity = beer_lambert(y, i0=250.0)
    assert intensity.dtype == np.float32
    np.testing.assert_allclose(intensity, 250.0 * np.exp(-y.astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(absorption_from_intensity(intensity, i0=250.0), y, atol=1e-5)
    with pytest.raises(InputError):
        absorption_from_intensity(np.zeros(3))
    assert absorption_from_intensity(np.zeros(1), clip=0.01)[0] == pytest.approx(np.log(100.0))


def test_band_limit_blurs_the_intensity():
    """Constant data is unchanged; the missing intensity of a small absorber is conserved and spread."""
    y = np.full((1, 41, 41), 0.7, np.float32)
    np.testing.assert_allclose(band_limit(y, 0.06, 0.02), y, atol=1e-6)
    y = np.zeros((1, 41, 41), np.float32)
    y[0, 20, 20] = 2.0
    blurred = band_limit(y, 0.1, 0.02)
    deficit_before = np.sum(1 - np.exp(-y.astype(np.float64)))
    deficit_after = np.sum(1 - np.exp(-blurred.astype(np.float64)))
    assert deficit_after == pytest.approx(deficit_before, rel=1e-4)  # float32 output
    assert blurred.max() < 0.2 * y.max()
    # blurring intensity is not blurring absorption: -ln(mean T) < mean(-ln T) (Jensen)
    assert blurred.sum() < y.sum()


def test_depth_projector_adjoint_is_exact(small_case):
    vol, scan, _ = small_case
    op = DepthPSFProjector(vol, scan, XM2_35NM, n_slabs=3, focus_um=-1.0)
    assert adjoint_mismatch(op) < 1e-5


def test_single_slab_is_a_z_independent_kernel(small_case):
    """n_slabs = 1 reduces to Eq. 11: k ⊛ (A x) with the PSF at the focus offset."""
    vol, scan, x = small_case
    op = DepthPSFProjector(vol, scan, XM2_35NM, n_slabs=1, focus_um=-0.7)
    kernel = XM2_35NM.psf_2d(0.7, scan.pixel_size_um, size=op.kernels.shape[-1])
    reference = convolve_detector(projector(vol, scan), kernel).forward(x)
    np.testing.assert_allclose(op.forward(x), reference, atol=1e-5 * np.abs(reference).max())


def test_slab_weights_partition_the_volume(small_case):
    """With a delta PSF the slabs add back to the plain projection exactly."""
    vol, scan, x = small_case
    op = DepthPSFProjector(vol, scan, XM2_35NM, n_slabs=4)
    op.kernels = np.zeros((4, 1, 1))
    op.kernels[:, 0, 0] = 1.0
    np.testing.assert_allclose(op.forward(x), projector(vol, scan).forward(x), atol=1e-5)


def test_fast_depth_model_matches_direct_evaluation(small_case):
    """The slab model is within its documented bound of the thin-slab reference."""
    vol, scan, x = small_case
    focus = -1.5  # put the whole object out of focus, where the PSF changes fastest with depth
    # one-voxel depth bins: the reference is itself within ~1.5e-4 of its converged value
    direct = depth_psf_direct(x, vol, scan, XM2_35NM, focus_um=focus, depth_step_um=vol.voxel_size_um)
    fast = DepthPSFProjector(vol, scan, XM2_35NM, focus_um=focus)  # default slab spacing ≤ DOF/4
    in_focus_only = convolve_detector(projector(vol, scan), XM2_35NM.psf_2d(-focus, scan.pixel_size_um)).forward(x)
    err = np.linalg.norm(fast.forward(x) - direct) / np.linalg.norm(direct)
    depth_effect = np.linalg.norm(in_focus_only - direct) / np.linalg.norm(direct)
    assert err < 2e-3
    assert depth_effect > 5 * err  # the test case does depend on depth
    # a finer slab grid converges (second order in the spacing)
    finer = DepthPSFProjector(vol, scan, XM2_35NM, focus_um=focus, n_slabs=2 * fast.n_slabs - 1)
    err_fine = np.linalg.norm(finer.forward(x) - direct) / np.linalg.norm(direct)
    assert err_fine < 0.5 * err


def test_depth_psf_conserves_absorption_mass(small_case):
    """Kernels sum to 1: the total absorption per view is that of the plain projection."""
    vol, scan, x = small_case
    wide = ScanGeometry.full_field(vol, 3, 0.02, margin=1.6, rows=40)
    y = DepthPSFProjector(vol, wide, XM2_35NM, focus_um=0.5).forward(x)
    plain = projector(vol, wide).forward(x)
    np.testing.assert_allclose(y.sum(axis=(1, 2)), plain.sum(axis=(1, 2)), rtol=2e-3)


def test_poisson_noise_statistics():
    transmission = np.full(200_000, 0.3)
    photons = 500.0
    noisy = poisson_noise(transmission, photons, seed=3)
    assert noisy.dtype == np.float32
    # mean T, variance T/N0; bounds are ~5 standard errors
    assert noisy.mean() == pytest.approx(0.3, abs=5 * np.sqrt(0.3 / photons / noisy.size))
    assert noisy.var() == pytest.approx(0.3 / photons, rel=0.02)
    np.testing.assert_array_equal(noisy, poisson_noise(transmission, photons, seed=3))
    assert not np.array_equal(noisy, poisson_noise(transmission, photons, seed=4))
    with pytest.raises(InputError):
        poisson_noise(transmission, 0.0)


def test_flat_field_equalises_row_counts():
    """After the flat field the mean expected count along every row is the nominal photon number."""
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 1, (4, 6, 30)) * np.linspace(0.0, 4.0, 6)[None, :, None]  # thick rows absorb more
    ff = equalising_flat_field(y)
    assert ff.shape == (4, 6, 1)
    expected_counts = 100.0 * ff * np.exp(-y)
    np.testing.assert_allclose(expected_counts.mean(axis=2), 100.0, rtol=1e-12)
    np.testing.assert_allclose(ff[:, 0, 0], 1.0)  # empty rows keep the nominal illumination
    ff_all = equalising_flat_field(y, average_angles=True)
    np.testing.assert_allclose((ff_all * np.exp(-y)).mean(axis=(0, 2)), 1.0, rtol=1e-12)
    authors = equalising_flat_field(y, statistic="mean_attenuation")
    assert np.all(authors >= ff - 1e-12)  # mean(1/T) ≥ 1/mean(T)


def test_dual_energy_limits():
    y = np.linspace(0, 3, 7)
    np.testing.assert_allclose(dual_energy_transmission(y, 1.0, 2.5), np.exp(-y), rtol=1e-6)
    np.testing.assert_allclose(dual_energy_transmission(y, 0.3, 1.0), np.exp(-y), rtol=1e-6)
    np.testing.assert_allclose(dual_energy_transmission(y, 0.0, 2.0), np.exp(-2 * y), rtol=1e-6)
    mixed = dual_energy_transmission(y, 0.8, 0.5)
    assert np.all(mixed[1:] > np.exp(-y[1:]))  # a harder second energy transmits more
    np.testing.assert_allclose(affine_stray_light(np.exp(-y), 0.9, 0.05), 0.9 * np.exp(-y) + 0.05, rtol=1e-6)
    with pytest.raises(InputError):
        dual_energy_transmission(y, 1.5, 1.0)


def test_simulate_projections_paths(small_case):
    vol, scan, x = small_case
    plain = projector(vol, scan).forward(x)
    ideal = simulate_projections(x, vol, scan)
    np.testing.assert_allclose(ideal.absorption, plain, atol=1e-5)
    assert ideal.photons is None
    banded = simulate_projections(x, vol, scan, psf=0.035)
    np.testing.assert_allclose(banded.absorption, band_limit(plain, 0.035, scan.pixel_size_um), atol=1e-6)
    depth = simulate_projections(x, vol, scan, psf=XM2_35NM, focus_um=-0.5, n_slabs=3)
    expected = DepthPSFProjector(vol, scan, XM2_35NM, n_slabs=3, focus_um=-0.5).forward(x)
    np.testing.assert_allclose(depth.absorption, expected, atol=1e-5)
    dual = simulate_projections(x, vol, scan, dual_energy={"phi0": 0.9, "c": 0.5})
    np.testing.assert_allclose(dual.transmission, dual_energy_transmission(plain, 0.9, 0.5), rtol=1e-6)


def test_simulate_projections_noise_level():
    """With the equalising flat field the noisy transmission is unbiased and photons follow the rows."""
    vol = VolumeGeometry((6, 24, 24), 0.04)
    scan = ScanGeometry.full_field(vol, 40, 0.04)
    x = blob_phantom(vol, seed=2) * 3
    n0 = photons_per_pixel(150, scan.pixel_size_um)
    assert n0 == pytest.approx(2400.0)
    sim = simulate_projections(x, vol, scan, photons=n0, seed=5)
    clean = np.exp(-sim.ideal_absorption.astype(np.float64))
    resid = sim.transmission - clean
    sigma = np.sqrt(clean / sim.photons)
    assert abs(resid.mean()) < 5 * np.sqrt(np.mean(sigma**2) / resid.size)
    assert np.mean((resid / sigma) ** 2) == pytest.approx(1.0, rel=0.05)
    np.testing.assert_allclose((sim.photons * clean).mean(axis=2), n0, rtol=1e-5)
    flat = simulate_projections(x, vol, scan, photons=n0, flat_field="flat")
    assert np.all(flat.photons == np.float32(n0))


def test_simulate_loses_no_light_at_the_detector_edges():
    """On a thin slab the linear model's zero boundary loses signal; `simulate` keeps the projection's integral."""
    from isxt.geometry import ScanGeometry, VolumeGeometry
    from isxt.optics import ZonePlate
    from isxt.projectors import projector
    from isxt.simulate import DepthPSFProjector

    vol = VolumeGeometry((2, 48, 48), 0.02)
    x = np.zeros(vol.shape, np.float32)
    x[:, 12:36, 10:38] = 0.3
    scan = ScanGeometry.full_field(vol, 3, 0.02)
    model = DepthPSFProjector(vol, scan, ZonePlate.xm2(35))
    ideal = projector(vol, scan).forward(x).sum()
    assert model.forward(x).sum() < 0.9 * ideal  # blurred off the two rows, nothing comes back
    assert model.simulate(x).sum() == pytest.approx(ideal, rel=0.01)


# --------------------------------------------------------------------------
# One-pass projection onto the depth nodes (NumbaProjector.forward_depth_slabs)
# --------------------------------------------------------------------------
def hat_weight_maps(vol, center_xy, angle, nodes):
    """Hat weights (n_nodes, ny, nx) of every voxel column on the depth nodes, from their definition."""
    yy, xx = np.meshgrid(vol.coords("y") - center_xy[1], vol.coords("x") - center_xy[0], indexing="ij")
    depth = -xx * np.sin(angle) + yy * np.cos(angle)
    if nodes.size == 1:
        return np.ones((1,) + depth.shape)
    step = nodes[1] - nodes[0]
    return np.stack([np.clip(1.0 - np.abs(depth - c) / step, 0.0, None) for c in nodes])


def slab_by_slab(vol, scan, x, nodes):
    """The reference: one ordinary projection of the hat-weighted volume per node and view."""
    out = np.zeros((scan.n_angles, nodes.size) + scan.shape[1:], np.float32)
    for a in range(scan.n_angles):
        view = projector(vol, scan[[a]])
        for s, w in enumerate(hat_weight_maps(vol, scan.center_um[:2], scan.angles[a], nodes)):
            out[a, s] = view.forward(x * w[None].astype(np.float32))[0]
    return out


@pytest.fixture(scope="module")
def depth_slab_cases():
    """Off-centre volume and scan with (du, dv) shifts, views at 0, 45°, 90° and oblique; pixel ½, 1, 2 voxels."""
    rng = np.random.default_rng(11)
    vol = VolumeGeometry((5, 23, 27), 0.02, center_um=(0.03, -0.02, 0.01))
    angles = np.deg2rad([0.0, 45.0, 90.0, 31.7, 123.4, 180.0])
    cases = {}
    for factor in (0.5, 1, 2):
        p = factor * vol.voxel_size_um
        shifts = rng.uniform(-0.05, 0.05, (angles.size, 2))
        cases[factor] = ScanGeometry(angles, (int(0.1 / p) + 2, int(0.7 / p)), p, center_um=(0.05, 0.01, 0.0),
                                     shifts_um=shifts)
    return vol, cases, rng.random(vol.shape, dtype=np.float32)


@pytest.mark.parametrize("factor", [0.5, 1, 2])
@pytest.mark.parametrize("n_nodes", [2, 5])
def test_depth_slabs_equal_slab_by_slab_projections(depth_slab_cases, factor, n_nodes):
    vol, cases, x = depth_slab_cases
    scan = cases[factor]
    nodes = slab_depths(vol, scan, n_nodes)
    got = projector(vol, scan).forward_depth_slabs(x, nodes, scan.center_um[:2])
    reference = slab_by_slab(vol, scan, x, nodes)
    assert got.dtype == np.float32 and got.shape == reference.shape
    assert np.abs(got - reference).max() <= 1e-5 * np.abs(reference).max()


def test_depth_slabs_single_node_is_the_plain_projection(depth_slab_cases):
    vol, cases, x = depth_slab_cases
    scan = cases[2]
    got = projector(vol, scan).forward_depth_slabs(x, np.zeros(1), scan.center_um[:2])
    np.testing.assert_array_equal(got[:, 0], projector(vol, scan).forward(x))


def test_depth_slabs_sum_to_the_plain_projection(depth_slab_cases):
    """The hat weights of a voxel sum to 1; with a thin volume (one slice) too."""
    vol, cases, x = depth_slab_cases
    for v, xv in ((vol, x), (VolumeGeometry((1,) + vol.shape[1:], vol.voxel_size_um, center_um=vol.center_um), x[2:3])):
        scan = cases[1]
        op = projector(v, scan)
        slabs = op.forward_depth_slabs(xv, slab_depths(v, scan, 7), scan.center_um[:2])
        plain = op.forward(xv)
        assert np.abs(slabs.sum(axis=1) - plain).max() <= 1e-5 * np.abs(plain).max()


def test_depth_slabs_adjoint_identity(depth_slab_cases):
    vol, cases, x = depth_slab_cases
    rng = np.random.default_rng(3)
    for scan in cases.values():
        nodes = slab_depths(vol, scan, 4)
        op = projector(vol, scan)
        ax = op.forward_depth_slabs(x, nodes, scan.center_um[:2]).astype(np.float64)
        y = rng.random(ax.shape, dtype=np.float32)
        aty = op.adjoint_depth_slabs(y, nodes, scan.center_um[:2]).astype(np.float64)
        assert np.vdot(ax, y) == pytest.approx(np.vdot(x.astype(np.float64), aty), rel=1e-5)
        # a list of per-view images works as well
        np.testing.assert_array_equal(op.adjoint_depth_slabs(list(y), nodes, scan.center_um[:2]), aty.astype(np.float32))


def test_depth_slabs_reject_uneven_nodes(depth_slab_cases):
    vol, cases, x = depth_slab_cases
    op = projector(vol, cases[1])
    with pytest.raises(ValueError, match="evenly spaced"):
        op.forward_depth_slabs(x, [0.0, 0.1, 0.3], (0.0, 0.0))
    with pytest.raises(ValueError, match="non-empty"):
        op.forward_depth_slabs(x, [], (0.0, 0.0))


def test_depth_psf_one_pass_equals_the_slab_loop(small_case, monkeypatch):
    """forward, simulate and adjoint give what the per-slab projections (other backends) give."""
    from isxt.projectors.numba_cpu import NumbaProjector

    vol, scan, x = small_case
    interior = ScanGeometry(scan.angles, (scan.rows, 20), scan.pixel_size_um, center_um=(0.08, -0.05, 0.0))
    y = np.random.default_rng(4).random(scan.shape, dtype=np.float32)
    results = []
    for one_pass in (True, False):
        if not one_pass:
            monkeypatch.delattr(NumbaProjector, "iter_depth_slabs")
        op = DepthPSFProjector(vol, scan, XM2_35NM, n_slabs=5, focus_um=-0.8)
        roi = DepthPSFProjector(vol, interior, XM2_35NM, n_slabs=5, focus_um=-0.8)
        results.append((op.forward(x), op.simulate(x), roi.simulate(x), op.adjoint(y)))
    for new, old in zip(*results):
        assert np.abs(new - old).max() <= 1e-5 * np.abs(old).max()


# --------------------------------------------------------------------------
# noisy_absorption: the one step from noiseless transmission to noisy absorption
# --------------------------------------------------------------------------
def test_noisy_absorption_statistics_follow_poisson():
    """Delta method: -ln of Poisson counts / N has mean -ln T and variance 1/(N T) to first order."""
    from isxt.simulate import noisy_absorption

    t, n = 0.3, 4000.0
    y = noisy_absorption(np.full(200_000, t), n, seed=3).astype(np.float64)
    assert y.mean() == pytest.approx(-np.log(t), abs=4 * np.sqrt(1 / (n * t) / y.size) + 1 / (n * t))
    assert y.var() == pytest.approx(1.0 / (n * t), rel=0.03)


def test_noisy_absorption_floor_seed_and_broadcast():
    from isxt.simulate import noisy_absorption, poisson_noise

    # no photon through an opaque pixel reads as one count: absorption ln N, finite
    dark = noisy_absorption(np.zeros((2, 3, 4)), 250.0, seed=0)
    np.testing.assert_allclose(dark, np.log(250.0), rtol=1e-7)
    # per-row photons (a flat field) broadcast; the noisy transmission comes back on request
    t = np.random.default_rng(0).uniform(0.2, 0.9, (3, 4, 5))
    photons = np.array([100.0, 1e3, 1e4, 1e5])[None, :, None]
    y, noisy = noisy_absorption(t, photons, seed=5, return_transmission=True)
    np.testing.assert_array_equal(noisy, poisson_noise(t, photons, seed=5))
    np.testing.assert_array_equal(y, (-np.log(np.maximum(noisy, 1.0 / photons))).astype(np.float32))
    np.testing.assert_array_equal(y, noisy_absorption(t, photons, seed=5))  # seeded: reproducible
    assert not np.array_equal(y, noisy_absorption(t, photons, seed=6))
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(noisy_absorption(t, 1e3, rng=rng_a), noisy_absorption(t, 1e3, rng=rng_b))
    # the error spread shrinks as 1/sqrt(N) along the rows
    spread = (y - -np.log(t)).std(axis=(0, 2))
    assert np.all(np.diff(spread) < 0)
