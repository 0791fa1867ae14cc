"""PSNR, FRC/FSC, thresholds, resolution and radial profiles against analytic values."""

import numpy as np
import pytest

from isxt.errors import InputError
from isxt.geometry import VolumeGeometry
from isxt.metrics import (
    FRCResult,
    data_range,
    frc,
    frc_slices,
    fsc,
    psnr,
    psnr_rel,
    radial_profile,
    resolution,
    threshold_fixed,
    threshold_half_bit,
)


def test_data_range_is_99th_percentile():
    ref = np.arange(1, 1001, dtype=np.float32)  # 1 … 1000
    assert data_range(ref) == pytest.approx(np.percentile(np.arange(1, 1001), 99))
    assert data_range(ref) < ref.max()
    mask = ref <= 100
    assert data_range(ref, mask=mask) == pytest.approx(np.percentile(np.arange(1, 101), 99))


def test_psnr_of_known_mse():
    rng = np.random.default_rng(0)
    ref = rng.random((4, 8, 8)).astype(np.float32)
    signs = rng.choice([-1.0, 1.0], ref.shape)
    x = ref + 0.1 * signs  # MSE exactly 0.01
    assert psnr(x, ref, data_range=2.0) == pytest.approx(10 * np.log10(4 / 0.01), abs=1e-4)
    assert psnr(x, ref) == pytest.approx(10 * np.log10(data_range(ref) ** 2 / 0.01), abs=1e-4)
    assert psnr(ref, ref) == np.inf
    # a mask restricts the error but keeps the global data range
    x2 = ref.copy()
    x2[:, :, :4] += 0.2
    half = np.zeros((8, 8), bool)
    half[:, :4] = True
    dr = data_range(ref)
    assert psnr(x2, ref, mask=half) == pytest.approx(10 * np.log10(dr**2 / 0.04), abs=1e-4)
    assert psnr(x2, ref) == pytest.approx(10 * np.log10(dr**2 / 0.02), abs=1e-4)
    with pytest.raises(InputError):
        psnr(x2[0], ref)


def test_psnr_rel_is_difference_of_psnrs():
    rng = np.random.default_rng(1)
    truth = rng.random((2, 6, 6)).astype(np.float32)
    x = truth + 0.1
    x_ref = truth + 0.05
    # MSE ratio 4 → −6.02 dB, independent of the data range
    assert psnr_rel(x, x_ref, truth) == pytest.approx(-10 * np.log10(4), abs=1e-4)


def test_frc_of_image_with_itself_is_one():
    img = np.random.default_rng(2).random((32, 32))
    r = frc(img, img, pixel_size_um=0.02)
    assert r.freq[0] == 0 and r.freq[-1] == pytest.approx(0.5)
    assert len(r.freq) == 17
    np.testing.assert_allclose(r.frc, 1.0, atol=1e-12)
    # the ring sizes count every Fourier pixel up to Nyquist once
    fy, fx = np.meshgrid(np.fft.fftfreq(32), np.fft.fftfreq(32), indexing="ij")
    assert r.n.sum() == np.count_nonzero(np.hypot(fx, fy) * 32 < 16.5)
    assert r.n[0] == 1 and r.n[1] == 8
    np.testing.assert_allclose(r.freq_per_um, r.freq / 0.02)
    np.testing.assert_allclose(r.freq_nyquist, 2 * r.freq)


def test_frc_of_independent_noise_is_near_zero_and_of_scaled_image_one():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 128, 128))
    r = frc(a, b)
    assert abs(r.frc[3:].mean()) < 0.1
    assert np.abs(r.frc[3:]).max() < 0.5
    np.testing.assert_allclose(frc(a, 3 * a + 1).frc[1:], 1.0, atol=1e-9)  # scale/offset invariance
    np.testing.assert_allclose(frc(a, -a).frc[1:], -1.0, atol=1e-9)
    with pytest.raises(InputError):
        frc(a[None], a[None])


def test_fsc_and_slice_averaged_frc():
    rng = np.random.default_rng(4)
    vol = rng.random((8, 16, 16))
    np.testing.assert_allclose(fsc(vol, vol).frc, 1.0, atol=1e-12)
    noisy = vol + rng.standard_normal(vol.shape)
    per_slice = np.mean([frc(vol[k], noisy[k]).frc for k in range(8)], axis=0)
    r = frc_slices(vol, noisy, pixel_size_um=0.01)
    np.testing.assert_allclose(r.frc, per_slice)
    np.testing.assert_allclose(r.n, frc(vol[0], noisy[0]).n)
    np.testing.assert_allclose(frc_slices(vol, noisy, slices=[2]).frc, frc(vol[2], noisy[2]).frc)


def test_thresholds():
    assert threshold_fixed() == pytest.approx(1 / 7)
    n = np.array([1.0, 100.0, 1e8])
    expected = (0.2071 + 1.9102 / np.sqrt(n)) / (1.2071 + 0.9102 / np.sqrt(n))
    np.testing.assert_allclose(threshold_half_bit(n), expected)
    assert threshold_half_bit(1.0) == pytest.approx(2.1173 / 2.1173)  # a single pixel: 1
    assert threshold_half_bit(1e12) == pytest.approx(0.2071 / 1.2071, rel=1e-4)  # large rings: ≈ 0.1716


def test_resolution_from_synthetic_curve():
    freq = np.linspace(0, 0.5, 51)  # rings every 0.01 cycles/pixel
    curve = 1 - 2 * freq  # crosses 1/7 at f = (1 - 1/7)/2 = 3/7
    r = FRCResult(freq, curve, np.full(51, 1e6), pixel_size_um=0.02)
    f_cross = (1 - 1 / 7) / 2
    assert resolution(r) == pytest.approx(20.0 / f_cross, rel=1e-9)  # nm, linear between rings is exact
    assert r.resolution(pixel_size_um=0.01) == pytest.approx(10.0 / f_cross, rel=1e-9)
    r_px = FRCResult(freq, curve, np.full(51, 1e6))
    assert resolution(r_px) == pytest.approx(1 / f_cross)  # pixels without a pixel size
    # half-bit: the threshold for rings of 10⁶ pixels is constant here
    t = float(threshold_half_bit(1e6))
    assert resolution(r, "half-bit") == pytest.approx(20.0 / ((1 - t) / 2), rel=1e-9)
    # a step curve: crossing interpolated between the rings at 0.20 and 0.21
    step = np.where(freq < 0.205, 1.0, 0.0)
    assert resolution(FRCResult(freq, step, r.n, 0.02)) == pytest.approx(20.0 / (0.20 + 0.01 * (6 / 7)), rel=1e-9)
    # never crossing: no measurable resolution
    assert resolution(FRCResult(freq, np.ones(51), r.n, 0.02)) is None
    with pytest.raises(InputError):
        resolution(r, "1/3-bit")


def test_resolution_of_a_blurred_image_pair():
    # truth vs a blurred, noisy copy: the FRC falls where the blurred signal sinks below the noise,
    # so a stronger blur gives a coarser resolution (blur alone would keep FRC = 1: positive OTF)
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(5)
    img = rng.random((64, 64))
    noise = 0.05 * rng.standard_normal(img.shape)
    res = [resolution(frc(img, gaussian_filter(img, s, mode="wrap") + noise, pixel_size_um=0.01)) for s in (1.0, 2.0)]
    assert res[0] < res[1]
    assert 20 <= res[0] <= 200


def test_radial_profile_of_uniform_error_equals_global_psnr():
    vol = VolumeGeometry((3, 30, 30), voxel_size_um=0.1)
    rng = np.random.default_rng(6)
    ref = rng.random(vol.shape).astype(np.float32)
    x = ref + 0.05 * rng.choice([-1.0, 1.0], vol.shape)
    centres, values = radial_profile(x, ref, vol, bins=5)
    assert centres.shape == values.shape == (5,)
    np.testing.assert_allclose(values, psnr(x, ref), atol=1e-4)
    r_max = vol.radial_distance().max()
    np.testing.assert_allclose(centres, (np.arange(5) + 0.5) * r_max / 5)


def test_radial_profile_bins_localised_error():
    vol = VolumeGeometry((2, 40, 40), voxel_size_um=0.05, center_um=(0.3, 0.0, 0.0))
    ref = np.ones(vol.shape, np.float32)
    dist = vol.radial_distance(center_xy_um=(0.3, 0.0))
    x = ref + np.where(dist > 0.5, 0.1, 0.01)[None]
    edges = [0.0, 0.5, 0.8]
    centres, values = radial_profile(x, ref, vol, center_xy_um=(0.3, 0.0), bins=edges)
    np.testing.assert_allclose(centres, [0.25, 0.65])
    np.testing.assert_allclose(values, [10 * np.log10(1 / 1e-4), 10 * np.log10(1 / 1e-2)], atol=1e-3)
    # distances given directly, other metrics, masks and empty bins
    _, mse = radial_profile(x, ref, dist, bins=[0.0, 0.5, 0.8, 50.0, 100.0], metric="mse")
    assert mse[0] == pytest.approx(1e-4, rel=1e-3) and mse[1] == pytest.approx(1e-2, rel=1e-3) and np.isnan(mse[3])
    _, mae = radial_profile(x, ref, dist, bins=edges, metric=lambda a, b: np.abs(a - b).max(), mask=dist < 0.3)
    assert mae[0] == pytest.approx(0.01, rel=1e-4) and np.isnan(mae[1])
