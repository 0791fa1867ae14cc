"""Geometry values: equality with a tolerance, hashing consistent with it, repr, ``scan[idx]``, renamed arguments."""

import warnings

import numpy as np
import pytest

import isxt
from isxt.geometry import ATOL, ScanGeometry, VolumeGeometry, angles_180
from isxt.reconstruct import Scan


def _scan(**kw):
    args = dict(angles=angles_180(12), det_shape=(3, 40), pixel_size_um=0.05, center_um=(0.3, -0.2, 0.1))
    args.update(kw)
    return ScanGeometry(**args)


def test_volume_equality_tolerance_and_hash():
    a = VolumeGeometry((4, 32, 30), 0.04, center_um=(0.1, 0.0, -0.2))
    # the same volume reached through unit conversions (nm -> µm, rounding on the way)
    b = VolumeGeometry((4, 32, 30), 40.0 / 1000.0, center_um=(100.0 / 1000.0, 0.0, -0.2 + 1e-15))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != VolumeGeometry((4, 32, 30), 0.0401, center_um=a.center_um)  # a real difference
    assert a != VolumeGeometry((4, 32, 31), 0.04, center_um=a.center_um)
    assert a != VolumeGeometry((4, 32, 30), 0.04, center_um=(0.1, 1e-6, -0.2))
    assert a != "not a geometry"


def test_scan_equality_tolerance_and_hash():
    a = _scan()
    # angles from degrees, as files give them: equal to rounding
    b = _scan(angles=np.radians(np.degrees(angles_180(12))))
    assert a == b and hash(a) == hash(b)
    assert {a: "interior"}[b] == "interior"
    assert a != _scan(angles=angles_180(12) + 1e-6)
    assert a != _scan(pixel_size_um=0.05 * (1 + 1e-6))
    assert a != _scan(det_shape=(3, 41))
    assert a != _scan(angles=angles_180(11))  # another number of views compares unequal, no error
    shifted = a.with_shifts(np.full((12, 2), 0.01))
    assert shifted != a and shifted == a.with_shifts(np.full((12, 2), 0.01 + ATOL / 10))


def test_hash_agrees_with_tolerance_at_a_rounding_edge():
    """Two values on either side of any rounding edge, equal within the tolerance, hash the same."""
    edge = 0.05
    lo, hi = VolumeGeometry((2, 8, 8), edge - 1e-12), VolumeGeometry((2, 8, 8), edge + 1e-12)
    assert lo == hi and hash(lo) == hash(hi)


def test_repr_is_readable():
    a = _scan()
    text = repr(a)
    assert text.startswith("ScanGeometry(12 views 0°…165°") and "det_shape=(3, 40)" in text
    assert "pixel_size_um=0.05," in text and "center_um=(0.3, -0.2, 0.1)," in text and "no shifts" in text
    assert "pixel_size=" not in text and "center=" not in text  # the new names only
    assert "\n" not in text and len(text) < 150  # no array dump
    assert "shifts up to 0.02 µm" in repr(a.with_shifts(np.tile([0.02, -0.01], (12, 1))))
    assert repr(a[4]).startswith("ScanGeometry(1 view 60°,")
    v = VolumeGeometry((4, 32, 30), 0.04, center_um=(0.1, 0.0, -0.2))
    assert repr(v) == "VolumeGeometry(shape=(4, 32, 30), voxel_size_um=0.04, center_um=(0.1, 0, -0.2))"


def test_getitem_selects_views_with_their_shifts():
    shifts = np.column_stack([np.arange(12) * 0.01, -np.arange(12) * 0.02])
    a = _scan().with_shifts(shifts)
    for idx, views in ((3, [3]), (-1, [11]), (slice(2, 9, 3), [2, 5, 8]), ([7, 0], [7, 0]),
                       (np.arange(12) % 4 == 0, [0, 4, 8])):
        sub = a[idx]
        np.testing.assert_array_equal(sub.angles, a.angles[views])
        np.testing.assert_array_equal(sub.shifts_um, shifts[views])
        assert (sub.det_shape, sub.pixel_size_um, sub.center_um) == (a.det_shape, a.pixel_size_um, a.center_um)
    assert a[:] == a
    with pytest.raises(IndexError):
        a[12]
    with pytest.raises(IndexError, match="no views"):
        a[np.zeros(12, bool)]


def test_getitem_projects_like_the_full_scan():
    vol = VolumeGeometry((2, 16, 16), 0.1)
    scan = ScanGeometry.full_field(vol, 9, 0.1).with_shifts(np.full((9, 2), 0.03))
    x = np.random.default_rng(1).random(vol.shape, dtype=np.float32)
    full = isxt.projector(vol, scan).forward(x)
    np.testing.assert_allclose(isxt.projector(vol, scan[2:7:2]).forward(x), full[2:7:2], rtol=1e-6, atol=1e-7)


def test_subset_is_a_deprecated_alias():
    a = _scan()
    with pytest.warns(DeprecationWarning, match=r"scan\[indices\]"):
        sub = a.subset([1, 5])
    assert sub == a[[1, 5]]


def test_measured_scan_is_hashable_by_identity():
    g = _scan(det_shape=(1, 4), angles=angles_180(2))
    s1, s2 = Scan(g, np.zeros(g.shape)), Scan(g, np.zeros(g.shape))
    assert hash(s1) == hash(s1)  # used to raise TypeError
    assert s1 == s1 and s1 != s2 and len({s1, s2, s1}) == 2


def test_renamed_arguments_warn_and_agree():
    from isxt.metrics import frc
    from isxt.operators import gaussian_kernel

    new = gaussian_kernel(fwhm_um=0.09, pixel_size_um=0.04)
    with pytest.warns(DeprecationWarning) as caught:
        old = gaussian_kernel(fwhm=0.09, pixel_size=0.04)
    assert sorted(str(w.message).split("'")[1] for w in caught) == ["fwhm", "pixel_size"]
    assert "'fwhm' is now called 'fwhm_um'" in str(caught[0].message)
    np.testing.assert_array_equal(old, new)
    with pytest.raises(TypeError, match="both 'fwhm' and its new name 'fwhm_um'"):
        gaussian_kernel(0.09, fwhm=0.09, fwhm_um=0.09)
    img = np.random.default_rng(0).random((16, 16))
    with pytest.warns(DeprecationWarning):
        assert frc(img, img, pixel_size=0.02).pixel_size_um == 0.02
    vol = VolumeGeometry((1, 8, 8), 0.1)
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(vol.cylinder_mask(radius=0.3), vol.cylinder_mask(0.3))
    from isxt.optics import XM2_35NM
    from isxt.simulate import DepthPSFProjector

    scan = ScanGeometry.full_field(vol, 2, 0.1)
    with pytest.warns(DeprecationWarning, match="'focus' is now called 'focus_um'"):
        assert DepthPSFProjector(vol, scan, XM2_35NM, n_slabs=2, focus=-0.4, polychromatic=False).focus == -0.4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names do not warn
        DepthPSFProjector(vol, scan, XM2_35NM, n_slabs=2, focus_um=-0.4, polychromatic=False)
        vol.cylinder_mask(radius_um=0.3)
        frc(img, img, pixel_size_um=0.02)


def test_one_wavelength_with_codata_hc():
    from scipy import constants

    from isxt import optics
    from isxt.phantoms import materials, wavelength_um

    assert materials.wavelength_um is optics.wavelength_um is wavelength_um
    hc = constants.h * constants.c / constants.e * 1e6  # eV·µm
    assert optics.wavelength_um(517.0) == pytest.approx(hc / 517.0, rel=1e-15)
    assert optics.energy_ev_from_wavelength(optics.wavelength_um(400.0)) == pytest.approx(400.0, rel=1e-14)
