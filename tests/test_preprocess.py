"""Preprocessing: flat/dark normalisation, the clip rule, and crop/bin keeping the geometry exact."""

import numpy as np
import pytest

from isxt.errors import InputError
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.preprocess import absorption, bin_images, check_finite, crop, normalize
from isxt.projectors import projector


def test_normalize_recovers_transmission():
    rng = np.random.default_rng(0)
    trans = rng.uniform(0.2, 1.0, (4, 3, 5))
    flat = rng.uniform(800, 1000, (3, 5))
    dark = rng.uniform(10, 20, (3, 5))
    raw = dark + trans * (flat - dark)
    out = normalize(raw, np.stack([flat, flat]), np.stack([dark]))
    np.testing.assert_allclose(out, trans, rtol=1e-6)
    with pytest.raises(InputError, match="flat <= dark"):
        normalize(raw, np.stack([dark]), np.stack([flat]))


def test_absorption_and_clip_rule():
    t = np.array([[[1.0, np.exp(-2.0), 0.0, -0.1]]], np.float32)
    with pytest.raises(InputError, match="2 transmission values are <= 0.*clip_transmission"):
        absorption(t)
    y, report = absorption(t, clip=1e-3)
    np.testing.assert_allclose(y[0, 0], [0.0, 2.0, -np.log(1e-3), -np.log(1e-3)], rtol=1e-6)
    assert report.clipped == 2 and report.total == 4
    with pytest.raises(InputError, match="NaN"):
        absorption(np.full((1, 1, 2), np.nan, np.float32))
    with pytest.raises(InputError, match="image 1"):
        check_finite(np.array([[[1.0]], [[np.inf]]]))


@pytest.fixture(scope="module")
def setup():
    vol = VolumeGeometry((6, 20, 20), 0.05, center_um=(0.1, -0.05, 0.0))
    x = np.random.default_rng(2).random(vol.shape).astype(np.float32)
    scan = ScanGeometry(np.radians([0, 37, 90, 150]), (8, 30), 0.05, center_um=(0.15, 0.0, 0.02),
                        shifts_um=[[0.01, 0.0], [0.0, 0.02], [-0.03, 0.0], [0.0, 0.0]])
    return vol, x, scan


def test_crop_offset_matches_geometry(setup):
    vol, x, scan = setup
    full = projector(vol, scan).forward(x)
    cut, (du, dv) = crop(full, rows=(1, 6), cols=(4, 21))
    shifted = ScanGeometry(scan.angles, (5, 17), scan.pixel_size_um, scan.center_um,
                           scan.shifts_um + np.array([du, dv]) * scan.pixel_size_um)
    np.testing.assert_allclose(cut, projector(vol, shifted).forward(x), rtol=1e-4, atol=1e-5)


def test_binning_matches_a_coarser_detector(setup):
    vol, x, scan = setup
    full = projector(vol, scan.with_shifts(np.zeros((4, 2)))).forward(x)
    # 30 columns bin by 4 into 7 (two columns trimmed at the end): the centre moves.
    binned, (du, dv) = bin_images(full, 4)
    assert binned.shape == (4, 2, 7)
    coarse = ScanGeometry(scan.angles, (2, 7), scan.pixel_size_um * 4, scan.center_um,
                          np.tile([du, dv], (4, 1)) * scan.pixel_size_um)
    # The footprint projector's pixel value is the mean over the pixel area,
    # so binning is exactly the coarse detector.
    np.testing.assert_allclose(binned, projector(vol, coarse).forward(x), rtol=1e-4, atol=1e-5)
