"""Unit-suffixed names in the public API (geometry, phantoms, metrics, planning, demo); the old names work for one
release with a warning."""

import copy
import dataclasses
import pickle
import warnings

import numpy as np
import pytest

from isxt._deprecate import IsxtDeprecationWarning
from isxt.geometry import ScanGeometry, VolumeGeometry, angles_180

ANGLES = angles_180(7)
SHIFTS = np.column_stack([np.linspace(-0.02, 0.03, 7), np.linspace(0.01, -0.01, 7)])


def _old(call, *names):
    """``call()`` with old names: the warnings, one per old name, each naming the new name."""
    with pytest.warns(DeprecationWarning) as caught:
        value = call()
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(names), messages
    for name, message in zip(names, messages):
        assert f"'{name}' is now called '{name}_um'" in message and "next release" in message
    assert all(w.category is IsxtDeprecationWarning for w in caught)
    assert {w.filename for w in caught} == {__file__}  # the warning points at the user's line
    return value


def test_new_names_are_the_fields_and_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vol = VolumeGeometry((2, 8, 10), voxel_size_um=0.1, center_um=(0.2, -0.1, 0.05))
        scan = ScanGeometry(ANGLES, (3, 12), pixel_size_um=0.05, center_um=(0.1, 0.0, 0.0), shifts_um=SHIFTS)
        ScanGeometry.full_field(vol, 5, pixel_size_um=0.2)
        ScanGeometry.interior(vol, 5, pixel_size_um=0.1, roi_diameter_um=0.6, roi_center_um=(0.1, 0.0))
        scan.with_shifts(shifts_um=SHIFTS)
        vol.cylinder_mask(radius_um=0.3, center_xy_um=(0.1, 0.0))
        vol.radial_distance(center_xy_um=(0.1, 0.0))
    assert [f.name for f in dataclasses.fields(vol)] == ["shape", "voxel_size_um", "center_um"]
    assert [f.name for f in dataclasses.fields(scan)] == ["angles", "det_shape", "pixel_size_um", "center_um",
                                                          "shifts_um"]
    assert (vol.voxel_size_um, vol.center_um, scan.pixel_size_um, scan.center_um) == (0.1, (0.2, -0.1, 0.05), 0.05,
                                                                                       (0.1, 0.0, 0.0))
    np.testing.assert_array_equal(scan.shifts_um, SHIFTS)
    # positional construction is unchanged
    assert VolumeGeometry((2, 8, 10), 0.1, (0.2, -0.1, 0.05)) == vol
    assert ScanGeometry(ANGLES, (3, 12), 0.05, (0.1, 0.0, 0.0), SHIFTS) == scan


def test_old_constructor_keywords_warn_and_give_the_same_value():
    vol = VolumeGeometry((2, 8, 10), 0.1, (0.2, -0.1, 0.05))
    assert _old(lambda: VolumeGeometry((2, 8, 10), voxel_size=0.1, center=(0.2, -0.1, 0.05)),
                "voxel_size", "center") == vol
    new = ScanGeometry(ANGLES, (3, 12), 0.05, (0.1, 0.0, 0.0), SHIFTS)
    old = _old(lambda: ScanGeometry(ANGLES, (3, 12), pixel_size=0.05, center=(0.1, 0.0, 0.0), shifts=SHIFTS),
               "pixel_size", "center", "shifts")
    assert old == new and hash(old) == hash(new)
    assert "VolumeGeometry()" in str(_warning(lambda: VolumeGeometry((1, 2, 2), voxel_size=1.0)))


def _warning(call):
    with pytest.warns(DeprecationWarning) as caught:
        call()
    return caught[0].message


def test_old_classmethod_and_method_keywords_warn_and_agree():
    vol = VolumeGeometry((2, 8, 10), 0.1, (0.2, -0.1, 0.05))
    assert _old(lambda: ScanGeometry.full_field(vol, 5, pixel_size=0.2), "pixel_size") == \
        ScanGeometry.full_field(vol, 5, 0.2)
    old = _old(lambda: ScanGeometry.interior(vol, 5, pixel_size=0.1, roi_diameter=0.6, roi_center=(0.1, 0.0)),
               "pixel_size", "roi_diameter", "roi_center")
    assert old == ScanGeometry.interior(vol, 5, 0.1, 0.6, (0.1, 0.0)) and old.cols == 6
    assert "ScanGeometry.interior()" in str(_warning(lambda: ScanGeometry.interior(vol, 5, 0.1, roi_diameter=0.6)))
    scan = ScanGeometry.full_field(vol, 7, 0.2)
    assert _old(lambda: scan.with_shifts(shifts=SHIFTS), "shifts") == scan.with_shifts(SHIFTS) != scan
    np.testing.assert_array_equal(_old(lambda: vol.radial_distance(center_xy=(0.1, 0.0)), "center_xy"),
                                  vol.radial_distance((0.1, 0.0)))
    np.testing.assert_array_equal(_old(lambda: vol.cylinder_mask(0.3, center_xy=(0.1, 0.0)), "center_xy"),
                                  vol.cylinder_mask(0.3, (0.1, 0.0)))


@pytest.mark.parametrize("call", [
    lambda vol: VolumeGeometry((2, 8, 10), 0.1, voxel_size=0.1),  # positional new + old keyword
    lambda vol: VolumeGeometry((2, 8, 10), voxel_size_um=0.1, voxel_size=0.1),
    lambda vol: ScanGeometry(ANGLES, (3, 12), 0.05, center_um=(0, 0, 0), center=(0, 0, 0)),
    lambda vol: ScanGeometry.full_field(vol, 5, pixel_size_um=0.2, pixel_size=0.2),
    lambda vol: ScanGeometry.interior(vol, 5, 0.1, roi_diameter_um=0.6, roi_diameter=0.6),
    lambda vol: ScanGeometry.full_field(vol, 7, 0.2).with_shifts(shifts_um=SHIFTS, shifts=SHIFTS),
])
def test_old_and_new_name_together_is_an_error(call):
    vol = VolumeGeometry((2, 8, 10), 0.1)
    with pytest.raises(TypeError, match="got both|multiple values"):
        call(vol)


def test_old_attributes_warn_read_only_and_agree():
    vol = VolumeGeometry((2, 8, 10), 0.1, (0.2, -0.1, 0.05))
    scan = ScanGeometry(ANGLES, (3, 12), 0.05, (0.1, 0.0, 0.0), SHIFTS)
    for obj, old, new in ((vol, "voxel_size", "voxel_size_um"), (vol, "center", "center_um"),
                          (scan, "pixel_size", "pixel_size_um"), (scan, "center", "center_um"),
                          (scan, "shifts", "shifts_um")):
        with pytest.warns(DeprecationWarning, match=rf"{type(obj).__name__}\.{old} is now called "
                                                    rf"{type(obj).__name__}\.{new}; the old name goes"):
            value = getattr(obj, old)
        assert value is getattr(obj, new)
        with pytest.raises(AttributeError):
            setattr(obj, old, value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, new, value)


def test_replace_takes_the_new_names():
    vol = VolumeGeometry((2, 8, 10), 0.1, (0.2, -0.1, 0.05))
    assert dataclasses.replace(vol, voxel_size_um=0.05) == VolumeGeometry((2, 8, 10), 0.05, (0.2, -0.1, 0.05))
    assert dataclasses.replace(vol, center_um=(0, 0, 0)).center_um == (0.0, 0.0, 0.0)
    scan = ScanGeometry(ANGLES, (3, 12), 0.05, (0.1, 0.0, 0.0))
    moved = dataclasses.replace(scan, shifts_um=SHIFTS, pixel_size_um=0.1)
    assert moved == ScanGeometry(ANGLES, (3, 12), 0.1, (0.1, 0.0, 0.0), SHIFTS)
    with pytest.raises(ValueError, match="pixel_size_um must be a positive length"):
        dataclasses.replace(scan, pixel_size_um=-1.0)  # validated like the constructor
    with pytest.raises(TypeError, match="pass only 'voxel_size_um'"):
        dataclasses.replace(vol, voxel_size=0.05)  # replace passes every field by its (new) name


def test_pickle_copy_and_hash_survive_the_rename():
    vol = VolumeGeometry((2, 8, 10), 0.1, (0.2, -0.1, 0.05))
    scan = ScanGeometry(ANGLES, (3, 12), 0.05, (0.1, 0.0, 0.0), SHIFTS)
    for obj in (vol, scan):
        for back in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj), copy.copy(obj)):
            assert back == obj and hash(back) == hash(obj) and repr(back) == repr(obj)
            assert {obj: 1}[back] == 1
    back = pickle.loads(pickle.dumps(scan))
    np.testing.assert_array_equal(back.shifts_um, SHIFTS)
    assert not back.shifts_um.flags.writeable  # still a read-only value


def test_the_suite_turns_an_own_old_name_into_an_error():
    """pyproject's filterwarnings: any isxt code path using an old name fails the suite."""
    with pytest.raises(IsxtDeprecationWarning):
        VolumeGeometry((1, 2, 2), voxel_size=1.0)


# -- the other public µm parameters ------------------------------------------------------------------

def _same(a, b):
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    return a == b or (a != a and b != b)  # NaN == NaN here


def _vol():
    return VolumeGeometry((2, 40, 40), 0.1, (0.05, -0.05, 0.0))


def _renamed_calls():
    from isxt import metrics, phantoms
    from isxt.experiments.demo import DemoConfig
    from isxt.optics import ZonePlate
    from isxt.planning import protocol

    rng = np.random.default_rng(0)
    x, ref = rng.random((2, 40, 40)), rng.random((2, 40, 40))
    vol = _vol()
    return [
        (lambda: phantoms.cell_phantom(vol, cell_diameter=3.0).lac,
         lambda: phantoms.cell_phantom(vol, cell_diameter_um=3.0).lac, ["cell_diameter"]),
        (lambda: phantoms.bacteria_phantom(vol, n_cells=3, diameter_range=(0.8, 1.0), length_range=(1.5, 2.0)).lac,
         lambda: phantoms.bacteria_phantom(vol, n_cells=3, diameter_range_um=(0.8, 1.0), length_range_um=(1.5, 2.0)).lac,
         ["diameter_range", "length_range"]),
        (lambda: phantoms.Capillary(inner_radius=1.0, outer_radius=1.3, center_xy=(0.1, 0.0)),
         lambda: phantoms.Capillary(1.0, 1.3, (0.1, 0.0)), ["inner_radius", "outer_radius", "center_xy"]),
        (lambda: phantoms.default_capillary(vol, outer_radius=1.5, wall=0.3),
         lambda: phantoms.default_capillary(vol, outer_radius_um=1.5, wall_um=0.3), ["outer_radius", "wall"]),
        (lambda: metrics.radial_profile(x, ref, vol, center_xy=(0.3, 0.0), bins=4, r_max=1.5),
         lambda: metrics.radial_profile(x, ref, vol, center_xy_um=(0.3, 0.0), bins=4, r_max_um=1.5),
         ["center_xy", "r_max"]),
        (lambda: metrics.FRCResult(np.linspace(0, 0.5, 5), np.ones(5), np.ones(5), pixel_size=0.02),
         lambda: metrics.FRCResult(np.linspace(0, 0.5, 5), np.ones(5), np.ones(5), 0.02), ["pixel_size"]),
        (lambda: protocol.interior_sampling(ZonePlate(0.06), roi_diameter=4.0, pixel_size=0.02),
         lambda: protocol.interior_sampling(ZonePlate(0.06), 4.0, 0.02), ["roi_diameter", "pixel_size"]),
        (lambda: protocol.planned_scans(vol, 30, 5, interior_pixel=0.1, full_pixel=0.2, roi_diameter=2.0,
                                        roi_center=(0.3, 0.0)),
         lambda: protocol.planned_scans(vol, 30, 5, 0.1, 0.2, 2.0, (0.3, 0.0)),
         ["interior_pixel", "full_pixel", "roi_diameter", "roi_center"]),
        (lambda: DemoConfig(voxel_size=0.1, roi_diameter=3.0, roi_center=(0.5, 0.0), ozw_interior=0.04,
                            ozw_sparse=0.06),
         lambda: DemoConfig(voxel_size_um=0.1, roi_diameter_um=3.0, roi_center_um=(0.5, 0.0), ozw_interior_um=0.04,
                            ozw_sparse_um=0.06),
         ["voxel_size", "roi_diameter", "roi_center", "ozw_interior", "ozw_sparse"]),
    ]


@pytest.mark.parametrize("case", range(9))
def test_other_renamed_parameters_warn_and_agree(case):
    old, new, names = _renamed_calls()[case]
    assert _same(_old(old, *names), new())


def test_load_phantom_center_and_plan_lengths_warn_and_agree(tmp_path):
    import isxt
    from isxt.phantoms import load_phantom

    path = tmp_path / "v.npy"
    np.save(path, np.full((2, 6, 6), 0.1, np.float32))
    old = _old(lambda: load_phantom(path, voxel_size_um=0.05, center=(0.1, 0.2, 0.0)), "center")
    assert old.geometry == load_phantom(path, 0.05, center_um=(0.1, 0.2, 0.0)).geometry == \
        VolumeGeometry((2, 6, 6), 0.05, (0.1, 0.2, 0.0))
    kw = dict(quick=True, progress=False, seed=1)
    new = isxt.plan(4.2, 1.8, 35, 60, roi_center_um=(0.4, 0.0), interior_pixel_um=0.05, full_pixel_um=0.1, **kw)
    old = _old(lambda: isxt.plan(cell_diameter=4.2, roi_diameter=1.8, interior_resolution_nm=35, full_resolution_nm=60,
                                 roi_center=(0.4, 0.0), interior_pixel=0.05, full_pixel=0.1, **kw),
               "cell_diameter", "roi_diameter", "roi_center", "interior_pixel", "full_pixel")
    for f in ("n_interior", "n_full", "interior_pixel_um", "full_pixel_um", "dose_roi_gy", "dose_in_roi_gy"):
        assert getattr(old, f) == getattr(new, f), f
    assert (old.inputs["roi_center_um"], old.inputs["cell_diameter_um"]) == ([0.4, 0.0], 4.2)


def test_other_old_attributes_warn_and_agree():
    from isxt.experiments.demo import DemoConfig
    from isxt.metrics import FRCResult
    from isxt.phantoms import Capillary

    cap = Capillary(1.0, 1.3, (0.1, 0.0))
    for name in ("inner_radius", "outer_radius", "center_xy", "wall"):
        with pytest.warns(DeprecationWarning, match=rf"Capillary\.{name} is now called Capillary\.{name}_um"):
            assert getattr(cap, name) == getattr(cap, name + "_um")
    assert cap.wall_um == pytest.approx(0.3)
    # a mutable result or config keeps a writable old name, with the warning
    r = FRCResult(np.linspace(0, 0.5, 5), np.ones(5), np.ones(5), 0.02)
    config = DemoConfig()
    with pytest.warns(DeprecationWarning, match=r"FRCResult\.pixel_size is now called FRCResult\.pixel_size_um"):
        r.pixel_size = 0.04
    with pytest.warns(DeprecationWarning, match=r"DemoConfig\.roi_center is now called DemoConfig\.roi_center_um"):
        config.roi_center = (0.0, 0.1)
    assert r.pixel_size_um == 0.04 and config.roi_center_um == (0.0, 0.1)
    assert "roi_center" not in repr(config).replace("roi_center_um", "")  # the repr lists the new names


def test_alignment_result_old_names_warn_and_agree():
    from isxt.align import AlignmentResult

    shifts = np.array([[0.08, -0.04], [0.0, 0.02]])
    new = AlignmentResult(shifts, ["ok", "ok"], np.array([0.0, 0.1]), 0.04)
    with pytest.warns(DeprecationWarning, match=r"'shifts' is now called 'shifts_um'"):
        old = AlignmentResult(shifts=shifts, flags=["ok", "ok"], angles=np.array([0.0, 0.1]), pixel_size_um=0.04)
    assert np.array_equal(old.shifts_um, new.shifts_um)
    with pytest.warns(DeprecationWarning, match=r"AlignmentResult\.pixel_size is now called AlignmentResult\.pixel_size_um"):
        assert new.pixel_size == 0.04
    with pytest.warns(DeprecationWarning, match=r"AlignmentResult\.shifts is now called AlignmentResult\.shifts_um"):
        assert np.array_equal(new.shifts, shifts)
    assert np.allclose(new.shifts_px, shifts / 0.04)
