"""The acquisition package: to_toml() round trips, the NeXus entry key, .tlt angles beside TIFF, dry runs, progress."""

import os
import shutil

import h5py
import numpy as np
import pytest

from isxt._progress import progress_bar, quiet
from isxt.acquisition import load_acquisition, prepare_scans
from isxt.cli import main
from isxt.errors import InputError
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.io import read_stack, write_angles, write_stack
from isxt.io.nexus import write_nexus
from isxt.preprocess import crop, crop_offset

from _helpers import ROOT


def _values(acq):
    """Everything the acquisition resolved, file paths normalised (the file's own path left out)."""
    d = acq.to_dict()
    d.pop("acquisition")
    for s in d["scans"]:
        s["sources"] = {k: os.path.normpath(v) if k.endswith("_file") else v for k, v in s["sources"].items()}
    return d


def _round_trip(path):
    """load → to_toml → load, the text written beside the original (relative paths stay valid)."""
    first = load_acquisition(path)
    again = path.with_name("again.toml")
    again.write_text(first.to_toml())
    second = load_acquisition(again)
    assert _values(second) == _values(first)
    for a, b in zip(first.scans, second.scans):
        np.testing.assert_array_equal(a.angles_rad, b.angles_rad)
        assert a.geometry() == b.geometry()
        assert a.stack.data.shape == b.stack.data.shape
    assert second.volume == first.volume
    return first, second


def test_to_toml_round_trips_the_shipped_example(tmp_path):
    shutil.copytree(ROOT / "examples" / "combined_small", tmp_path / "ex")
    first, second = _round_trip(tmp_path / "ex" / "acquisition.toml")
    assert second.calibration == first.calibration and first.calibration["apply"] is True


def test_to_toml_round_trips_an_isxt_simulate_output(tmp_path):
    out = tmp_path / "sim"
    assert main(["simulate", "--size", "test", "--n-full", "5", "--photons", "2000", "-o", str(out),
                 "--no-progress"]) == 0
    first, _ = _round_trip(out / "acquisition.toml")
    assert [s.photons for s in first.scans] == [2000.0, 2000.0]


def test_to_toml_round_trips_every_optional_key(tmp_path):
    """Inline angles, crop, bin, PSF, weight, clip, shifts = none, TV options and [compute]."""
    vol = VolumeGeometry((4, 20, 20), 0.05)
    angles = np.radians(np.arange(0, 180, 15.0))
    g = ScanGeometry(angles, (4, 24), 0.05, center_um=(0.1, 0.0, 0.0))
    t = np.exp(-np.random.default_rng(1).random(g.shape)).astype(np.float32)
    write_stack(tmp_path / "s.npy", t)
    path = tmp_path / "acq.toml"
    path.write_text(f"""description = "every key"
[volume]
extent_um = [1.0, 1.0, 0.2]
voxel_size_um = 0.05
[[scan]]
name = "interior"
file = "s.npy"
angles = {np.degrees(angles).tolist()}
angle_unit = "deg"
pixel_size_um = 0.05
center_um = [0.1, 0.0, 0.0]
crop = {{rows = [0, 4], cols = [2, 22]}}
bin = 2
psf = {{zone_plate_ozw_um = 0.03}}
weight = 2.5
photons = 3000
clip_transmission = 1e-3
shifts = "none"
[reconstruction]
method = "tv"
iterations = 3
tv_weight = 0.01
bounds = [0.0, 2.0]
[compute]
scheduler = "local:2"
[output]
dir = "out"
volume = "v.tif"
""")
    first, second = _round_trip(path)
    s = second.scans[0]
    assert (s.crop, s.bin, s.psf, s.weight, s.sources["shifts"]) == ({"rows": [0, 4], "cols": [2, 22]}, 2,
                                                                      {"zone_plate_ozw_um": 0.03}, 2.5, "none")
    assert second.reconstruction["bounds"] == [0.0, 2.0] and second.compute == {"scheduler": "local:2"}
    assert second.raw["description"] == "every key" and second.output["format"] == "tiff"


def test_crop_offset_is_the_offset_of_the_cropped_array():
    data = np.zeros((1, 30, 41), np.uint8)
    for rows, cols in (([3, 17], [0, 41]), (None, [10, 11]), ([0, 30], None), ([29, 30], [5, 40])):
        assert crop_offset(data.shape[1:], rows, cols) == crop(data, rows, cols)[1]
    with pytest.raises(InputError, match="outside the detector"):
        crop_offset((30, 41), [0, 31])


def _two_entry_nexus(path, a, b, units=True):
    write_nexus(path, a, pixel_size_um=0.05, angles_rad=np.radians(np.arange(len(a)) * 15.0))
    write_nexus(path.with_suffix(".tmp.nxs"), b, pixel_size_um=0.05, angles_rad=np.radians(np.arange(len(b)) * 15.0))
    with h5py.File(path, "a") as f, h5py.File(path.with_suffix(".tmp.nxs"), "r") as g:
        g.copy(g["entry"], f, name="entry2")
        if not units:
            del f["entry2/sample/rotation_angle"].attrs["units"]
    path.with_suffix(".tmp.nxs").unlink()


def test_nexus_entry_key_chooses_the_nxentry(tmp_path):
    a = np.full((12, 4, 24), 0.5, np.float32)
    b = np.full((12, 4, 24), 0.25, np.float32)
    _two_entry_nexus(tmp_path / "two.nxs", a, b)
    assert read_stack(tmp_path / "two.nxs").data[0, 0, 0] == 0.5  # the first NXtomo entry by default
    assert read_stack(tmp_path / "two.nxs", entry="entry2").data[0, 0, 0] == 0.25
    with pytest.raises(InputError, match="no group 'entry3'.*entry, entry2"):
        read_stack(tmp_path / "two.nxs", entry="entry3")
    scan = 'file = "two.nxs"\npixel_size_um = 0.05\ncenter_um = [0.1, 0.0, 0.0]\n'
    text = ("[volume]\nextent_um = [1.0, 1.0, 0.2]\nvoxel_size_um = 0.05\n"
            f'[[scan]]\nname = "a"\n{scan}[[scan]]\nname = "b"\nentry = "entry2"\n{scan}')
    (tmp_path / "acq.toml").write_text(text)
    acq = load_acquisition(tmp_path / "acq.toml")
    ys = [s.data for s in prepare_scans(acq).scans]
    np.testing.assert_allclose([ys[0].max(), ys[1].max()], [-np.log(0.5), -np.log(0.25)], rtol=1e-6)
    assert not acq.warnings
    _round_trip(tmp_path / "acq.toml")
    # the same entry twice: a warning naming both scans
    (tmp_path / "acq.toml").write_text(text.replace('entry = "entry2"\n', ""))
    warned = load_acquisition(tmp_path / "acq.toml").warnings
    assert len(warned) == 1 and "reads the same data as scan 'a'" in warned[0]
    write_stack(tmp_path / "s.npy", a)
    (tmp_path / "acq.toml").write_text(text.replace("two.nxs", "s.npy"))
    with pytest.raises(InputError, match="entry = 'entry2' applies to NeXus files only"):
        load_acquisition(tmp_path / "acq.toml")


def test_nexus_angles_without_units_say_so(tmp_path):
    a = np.full((12, 4, 24), 0.5, np.float32)
    _two_entry_nexus(tmp_path / "two.nxs", a, a, units=False)
    (tmp_path / "acq.toml").write_text('[volume]\nextent_um = [1.0, 1.0, 0.2]\nvoxel_size_um = 0.05\n[[scan]]\n'
                                       'file = "two.nxs"\nentry = "entry2"\ncenter_um = [0.1, 0.0, 0.0]\n')
    with pytest.raises(InputError, match="rotation_angle has no units attribute; set angle_unit"):
        load_acquisition(tmp_path / "acq.toml")
    with open(tmp_path / "acq.toml", "a") as fh:
        fh.write('angle_unit = "deg"\n')
    np.testing.assert_allclose(load_acquisition(tmp_path / "acq.toml").scans[0].angles_rad,
                               np.radians(np.arange(12) * 15.0))


def test_tlt_beside_a_tiff_stack_gives_degrees(tmp_path):
    angles = np.radians(np.arange(0, 180, 15.0))
    t = np.full((12, 4, 24), 0.5, np.float32)
    write_stack(tmp_path / "s.tif", t, pixel_size_um=0.05)  # no angles in the TIFF itself
    assert read_stack(tmp_path / "s.tif").angles_rad is None
    write_angles(tmp_path / "s.tlt", angles, "deg")
    stack = read_stack(tmp_path / "s.tif")
    np.testing.assert_allclose(stack.angles_rad, angles)
    assert stack.meta["angles_source"].endswith("s.tlt")
    base = '[volume]\nextent_um = [1.0, 1.0, 0.2]\nvoxel_size_um = 0.05\n[[scan]]\nfile = "s.tif"\ncenter_um = [0.1, 0.0, 0.0]\n'
    (tmp_path / "acq.toml").write_text(base)
    np.testing.assert_allclose(load_acquisition(tmp_path / "acq.toml").scans[0].angles_rad, angles)
    # an explicit .tlt angles file needs no angle_unit either: IMOD tilt files are in degrees
    shutil.move(tmp_path / "s.tlt", tmp_path / "tilts.tlt")
    (tmp_path / "acq.toml").write_text(base + 'angles = "tilts.tlt"\n')
    acq = load_acquisition(tmp_path / "acq.toml")
    np.testing.assert_allclose(acq.scans[0].angles_rad, angles)
    _round_trip(tmp_path / "acq.toml")


def test_dry_run_needs_no_force_on_an_existing_output_dir(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--size", "test", "--n-full", "5", "-o", str(out), "--no-progress"]) == 0
    (out / "recon").mkdir()
    (out / "recon" / "volume.mrc").write_bytes(b"old")
    capsys.readouterr()
    assert main(["reconstruct", str(out / "acquisition.toml"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "volume.mrc exist in" in text and "needs --force" in text and "nothing was written" in text
    assert (out / "recon" / "volume.mrc").read_bytes() == b"old"
    assert main(["reconstruct", str(out / "acquisition.toml"), "--no-progress"]) == 2  # a real run still refuses
    assert "use --force" in capsys.readouterr().err


def test_progress_is_one_line_per_stage_off_a_terminal(capsys):
    total = sum(progress_bar(range(5), desc="stage A"))
    with progress_bar(total=3, desc="stage B") as bar:
        bar.update(2)
        bar.set_postfix(residual="0.5")
    err = capsys.readouterr().err.splitlines()
    assert total == 10 and len(err) == 2
    assert err[0].startswith("stage A: 5/5 it in") and err[1].startswith("stage B: 2/3 it [residual=0.5] in")
    with quiet():
        list(progress_bar(range(5), desc="stage C"))
    assert capsys.readouterr().err == ""
