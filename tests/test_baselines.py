"""Baselines: the extended geometry, the sinogram splice and the sinogram-extension reconstruction."""

import numpy as np
import pytest

from isxt import metrics
from isxt.baselines import (
    combined,
    extend_sinogram,
    extended_geometry,
    interior_only,
    sinogram_extension,
    sparse_only,
)
from isxt.errors import InputError
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.projectors import projector
from isxt.reconstruct import Scan


@pytest.fixture(scope="module")
def problem():
    vol = VolumeGeometry((2, 40, 40), 0.1)
    yy, xx = np.meshgrid(vol.coords("y"), vol.coords("x"), indexing="ij")
    disk = (xx**2 + (yy / 0.8) ** 2 <= 1.6**2).astype(np.float32) * 0.3
    disk += ((xx - 0.5) ** 2 + (yy + 0.3) ** 2 <= 0.3**2) * 0.3
    truth = np.broadcast_to(disk, vol.shape).astype(np.float32).copy()
    roi_c, roi_d = (0.4, -0.2), 1.2
    g_int = ScanGeometry.interior(vol, 40, 0.1, roi_d, roi_c)
    g_sp = ScanGeometry.full_field(vol, 40, 0.1)
    interior = Scan(g_int, projector(vol, g_int).forward(truth), name="interior")
    sparse = Scan(g_sp, projector(vol, g_sp).forward(truth), name="sparse")
    mask = vol.cylinder_mask(roi_d / 2 - 0.2, roi_c)
    return vol, truth, interior, sparse, mask


def test_extended_geometry_keeps_the_interior_columns(problem):
    vol, truth, interior, _, _ = problem
    wide, pad = extended_geometry(interior.geometry, vol)
    assert wide.cols == interior.geometry.cols + 2 * pad
    assert np.array_equal(wide.angles, interior.geometry.angles) and wide.pixel_size_um == interior.geometry.pixel_size_um
    y_wide = projector(vol, wide).forward(truth)
    # the middle columns are exactly the interior detector
    np.testing.assert_allclose(y_wide[:, :, pad:pad + interior.geometry.cols], interior.data, rtol=1e-5, atol=1e-6)
    # and the wide detector sees the whole object: total line integral per view equals the volume integral
    integral = truth.sum() * vol.voxel_size_um**3 / vol.extent[2]
    per_view = y_wide.sum(axis=(1, 2)) * wide.pixel_size_um**2 / vol.extent[2]
    np.testing.assert_allclose(per_view, integral, rtol=1e-4)


def test_extend_sinogram_feathers_linearly():
    measured = np.ones((1, 1, 8), np.float32)
    reproj = np.zeros((1, 1, 12), np.float32)
    out = extend_sinogram(measured, reproj, 2, feather=0)
    assert np.array_equal(out[0, 0], [0, 0] + [1] * 8 + [0, 0])
    out = extend_sinogram(measured, reproj, 2, feather=4)
    np.testing.assert_allclose(out[0, 0, 2:6], [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(out[0, 0, 6:10], [0.875, 0.625, 0.375, 0.125])
    with pytest.raises(InputError):
        extend_sinogram(measured, reproj, 3)
    with pytest.raises(InputError):
        extend_sinogram(measured, reproj, 2, feather=5)


def test_sinogram_extension_fixes_truncation(problem):
    vol, truth, interior, sparse, mask = problem
    peak = metrics.data_range(truth)
    x_int = interior_only(interior, vol, iterations=30)
    x_ext, info = sinogram_extension(interior, sparse, vol, iterations=30, return_info=True)
    p_int = metrics.psnr(x_int, truth, mask=mask, data_range=peak)
    p_ext = metrics.psnr(x_ext, truth, mask=mask, data_range=peak)
    assert p_ext > p_int + 1.5
    # the truncation bias (cupping: a low-frequency offset in the ROI) is what the extension removes
    bias_int = abs(float((x_int - truth)[mask].mean()))
    bias_ext = abs(float((x_ext - truth)[mask].mean()))
    assert bias_ext < 0.5 * bias_int
    assert info["extended"].geometry.cols == interior.geometry.cols + 2 * info["pad"]
    # the measured interior data sit unchanged in the middle of the extended sinogram
    c = interior.geometry.cols
    np.testing.assert_array_equal(info["extended"].data[:, :, info["pad"]:info["pad"] + c], interior.data)


def test_combined_and_sparse_wrappers(problem):
    vol, truth, interior, sparse, mask = problem
    peak = metrics.data_range(truth)
    x_c = combined(interior, sparse, vol, iterations=30)
    x_s = sparse_only(sparse, vol, iterations=30)
    p_c = metrics.psnr(x_c, truth, mask=mask, data_range=peak)
    p_s = metrics.psnr(x_s, truth, mask=mask, data_range=peak)
    # the interior views add to the full views in the ROI: measured 32.7 vs 28.5 dB
    assert p_s > 25 and p_c > p_s + 2.0
    with pytest.raises(InputError):
        combined(interior, "sparse", vol)
