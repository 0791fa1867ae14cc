import numpy as np
import pytest
from scipy import integrate

from isxt.dose import (
    EV_TO_JOULE,
    dose_map,
    dose_ratio_full_to_roi,
    integrated_energy,
    interior_intensity_equal_dose,
    mean_dose,
    plot_dose_maps,
    protocol_dose,
)
from isxt.errors import InputError
from isxt.geometry import ScanGeometry, VolumeGeometry

N, VOXEL, RADIUS, MU = 128, 0.1, 5.0, 0.2
ENERGY_EV = 517.0
PHOTONS = 1000.0
VOL = VolumeGeometry((1, N, N), VOXEL)


def antialiased_disk(radius, center=(0.0, 0.0), sub=8):
    """Area fraction of each voxel inside the disk (so the voxelised area is exact)."""
    c = (np.arange(N * sub) + 0.5) / sub * VOXEL - N * VOXEL / 2
    yy, xx = np.meshgrid(c - center[1], c - center[0], indexing="ij")
    return (np.hypot(xx, yy) <= radius).reshape(N, sub, N, sub).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def cylinder():
    return (MU * antialiased_disk(RADIUS))[None].astype(np.float32)


@pytest.fixture(scope="module")
def full_scan():
    return ScanGeometry.full_field(VOL, 90, VOXEL)


@pytest.fixture(scope="module")
def full_dose(cylinder, full_scan):
    return dose_map(cylinder, VOL, full_scan, PHOTONS, ENERGY_EV)


def analytic_dose(points_x, points_y, angles, fluence):
    """Dose (Gy, ρ = 1 g/cm³) in a uniform cylinder: Σ_views F E µ exp(-µ t), t = depth along the beam.

    The beam of view θ travels along w = (-sin θ, cos θ); a point p at detector
    coordinate u = p·(cos θ, sin θ) entered the cylinder at depth
    t = p·w + sqrt(R² - u²).
    """
    energy_j = ENERGY_EV * EV_TO_JOULE
    dose = np.zeros_like(points_x)
    for th in angles:
        u = points_x * np.cos(th) + points_y * np.sin(th)
        along = -points_x * np.sin(th) + points_y * np.cos(th)
        depth = along + np.sqrt(np.clip(RADIUS**2 - u**2, 0, None))
        dose += fluence * energy_j * MU * np.exp(-MU * depth) / 1e-15  # J/µm³ over kg/µm³
    return dose


def test_total_energy_matches_beer_lambert(full_dose, full_scan):
    fluence = PHOTONS / full_scan.pixel_size_um**2
    chord_absorption = integrate.quad(
        lambda u: 1 - np.exp(-MU * 2 * np.sqrt(RADIUS**2 - u**2)), -RADIUS, RADIUS, limit=200
    )[0]
    expected = full_scan.n_angles * fluence * ENERGY_EV * EV_TO_JOULE * VOXEL * chord_absorption
    assert integrated_energy(full_dose, VOL) == pytest.approx(expected, rel=0.01)


def test_dose_profile_matches_analytic(full_dose, full_scan):
    yy, xx = np.meshgrid(VOL.coords("y"), VOL.coords("x"), indexing="ij")
    expected = analytic_dose(xx, yy, full_scan.angles, PHOTONS / full_scan.pixel_size_um**2)
    r = np.hypot(xx, yy)
    inner = r < RADIUS - 2 * VOXEL
    rel = full_dose[0][inner] / expected[inner] - 1
    assert np.abs(rel).max() < 0.04
    # Ring averages (the radial profile) agree much better.
    edges = np.arange(0, RADIUS - 2 * VOXEL, 0.3)
    ring = np.digitize(r[inner], edges)
    for k in np.unique(ring):
        sel = ring == k
        assert full_dose[0][inner][sel].mean() == pytest.approx(expected[inner][sel].mean(), rel=0.01)
    # Nothing is deposited in vacuum.
    assert np.all(full_dose[0][r > RADIUS + VOXEL] == 0)


def test_half_turn_dose_is_asymmetric_full_turn_is_not(cylinder):
    # 180°: the side facing the source in most views gets more dose.
    d180 = dose_map(cylinder, VOL, ScanGeometry.full_field(VOL, 36, VOXEL, arc="180"), PHOTONS)[0]
    d360 = dose_map(cylinder, VOL, ScanGeometry.full_field(VOL, 36, VOXEL, arc="360"), PHOTONS)[0]
    j, i_left, i_right = N // 2, N // 2 - 45, N // 2 + 44
    assert d180[j, i_right] > 1.5 * d180[j, i_left]
    assert d360[j, i_right] == pytest.approx(d360[j, i_left], rel=0.03)


def test_interior_scan_lights_only_its_band():
    # A sample filling the whole grid, so that every lit voxel absorbs.
    lac = np.full(VOL.shape, MU, dtype=np.float32)
    roi_center = (1.0, -0.5)
    scan = ScanGeometry.interior(VOL, 6, VOXEL, 3.0, roi_center_um=roi_center)
    scan = scan.with_shifts(np.column_stack([np.linspace(-0.7, 0.7, 6), np.zeros(6)]))
    yy, xx = np.meshgrid(VOL.coords("y"), VOL.coords("x"), indexing="ij")
    uc, _ = scan.detector_center()
    union = np.zeros((N, N), dtype=bool)
    for a, th in enumerate(scan.angles):
        dose = dose_map(lac, VOL, scan[[a]], PHOTONS)[0]
        u = np.abs(xx * np.cos(th) + yy * np.sin(th) - uc[a])
        # Lit exactly within the band |u| <= width/2 (up to the half diagonal of a voxel).
        assert np.all(dose[u > scan.width / 2 + VOXEL * np.sqrt(0.5)] == 0)
        assert np.all(dose[u < scan.width / 2 - VOXEL * np.sqrt(0.5)] > 0)
        union |= u < scan.width / 2 + VOXEL * np.sqrt(0.5)
    # The whole scan: voxels no band reaches (e.g. the corners) get exactly zero.
    dose = dose_map(lac, VOL, scan, PHOTONS)[0]
    assert not union.all()
    assert np.all(dose[~union] == 0)
    # A narrow band deposits far less than a full-field scan of the same views.
    full = dose_map(lac, VOL, ScanGeometry.full_field(VOL, 6, VOXEL), PHOTONS)[0]
    assert dose.sum() < 0.5 * full.sum()


def test_dose_is_linear_in_photons_and_additive(cylinder, full_scan):
    scan = full_scan[np.arange(0, 90, 10)]
    d1 = dose_map(cylinder, VOL, scan, PHOTONS)
    d3 = dose_map(cylinder, VOL, scan, 3 * PHOTONS)
    np.testing.assert_allclose(d3, 3 * d1, rtol=1e-5)
    halves = protocol_dose(cylinder, VOL, [(scan[np.arange(4)], PHOTONS), (scan[np.arange(4, 9)], PHOTONS)])
    np.testing.assert_allclose(halves, d1, rtol=1e-5, atol=1e-6 * d1.max())


def test_fluence_uses_pixel_area_and_density_divides(cylinder):
    # Twice the pixel size at the same photons per pixel is a quarter of the fluence.
    fine = ScanGeometry.full_field(VOL, 8, VOXEL)
    coarse = ScanGeometry.full_field(VOL, 8, 2 * VOXEL)
    d_fine = dose_map(cylinder, VOL, fine, PHOTONS)
    d_coarse = dose_map(cylinder, VOL, coarse, PHOTONS)
    assert integrated_energy(d_coarse, VOL) == pytest.approx(integrated_energy(d_fine, VOL) / 4, rel=0.01)
    dense = dose_map(cylinder, VOL, fine, PHOTONS, density=2.0)
    np.testing.assert_allclose(dense, d_fine / 2, rtol=1e-6)
    rho = np.ones(VOL.shape)
    rho[:, :, : N // 2] = 0
    d_rho = dose_map(cylinder, VOL, fine, PHOTONS, density=rho)
    assert np.all(d_rho[:, :, : N // 2] == 0)
    np.testing.assert_allclose(d_rho[:, :, N // 2 :], d_fine[:, :, N // 2 :], rtol=1e-6)


def test_rows_outside_detector_get_no_dose():
    vol = VolumeGeometry((6, 32, 32), 0.1)
    lac = np.full(vol.shape, 0.3, dtype=np.float32)
    scan = ScanGeometry.full_field(vol, 6, 0.1, rows=2)  # lights only the 2 central slices
    dose = dose_map(lac, vol, scan, PHOTONS)
    assert np.all(dose[[0, 1, 4, 5]] == 0)
    assert np.all(dose[2:4] > 0)


def test_full_to_roi_ratio(cylinder, full_scan):
    roi = ScanGeometry.interior(VOL, 45, VOXEL, RADIUS)  # half the sample diameter, half the views
    ratio = dose_ratio_full_to_roi(cylinder, VOL, full_scan, roi, PHOTONS)

    # Per view, the energy absorbed from a band |u| <= b is ∫ (1 - exp(-µ L(u))) du,
    # L(u) = 2 sqrt(R² - u²); for a uniform sample the mean-dose ratio is the energy ratio.
    def absorbed(b):
        return integrate.quad(lambda u: 1 - np.exp(-MU * 2 * np.sqrt(RADIUS**2 - u**2)), -b, b, limit=200)[0]

    assert ratio == pytest.approx(absorbed(RADIUS) / absorbed(RADIUS / 2), rel=0.01)
    # Attenuation makes the ratio exceed the pure area ratio (≈ 1.64) of disk and band.
    assert ratio > np.pi / (2 * np.arcsin(0.5) + np.sqrt(3) / 2)


def test_eq13_interior_intensity():
    assert interior_intensity_equal_dose(1e4, 2.3, 19, 499) == pytest.approx(1e4 * 2.3 * 480 / 499)
    assert interior_intensity_equal_dose(100.0, 2.0, 499, 499) == 0.0
    with pytest.raises(InputError):
        interior_intensity_equal_dose(100.0, 2.0, 600, 499)


def test_mean_dose_and_errors(full_dose, cylinder, full_scan):
    mask = cylinder > 0
    assert mean_dose(full_dose, mask) == pytest.approx(full_dose[mask].mean(), rel=1e-6)
    assert mean_dose(full_dose) == pytest.approx(full_dose.mean(), rel=1e-6)
    with pytest.raises(InputError):
        dose_map(cylinder[0], VOL, full_scan, PHOTONS)
    with pytest.raises(InputError):
        dose_map(cylinder, VOL, full_scan, -1.0)


def test_plot_dose_maps(tmp_path, full_dose):
    path = plot_dose_maps([full_dose, 0.5 * full_dose], ["a", "b"], tmp_path / "dose.png")
    assert path.stat().st_size > 1000
    with pytest.raises(InputError):
        plot_dose_maps([full_dose], ["a", "b"], tmp_path / "x.png")
