"""Readers and writers: round trips per format, metadata units, corrupt files, atomic writes."""

import os

import h5py
import mrcfile
import numpy as np
import pytest
import tifffile

from isxt.errors import InputError, OutputError
from isxt.io import (
    OutputTransaction,
    read_angles,
    read_shifts,
    read_stack,
    read_volume,
    write_angles,
    write_stack,
    write_volume,
)
from isxt.io.angles import check_angle_unit

RNG = np.random.default_rng(1)
DATA = RNG.random((7, 5, 9)).astype(np.float32)
ANGLES = np.radians(np.linspace(-60, 60, 7))


@pytest.mark.parametrize("suffix", [".mrc", ".tif", ".nxs", ".npy"])
def test_stack_round_trip(tmp_path, suffix):
    path = tmp_path / f"stack{suffix}"
    write_stack(path, DATA, pixel_size_um=0.035, angles_rad=ANGLES)
    stack = read_stack(path)
    np.testing.assert_array_equal(stack.data, DATA)
    assert isinstance(stack.data, np.memmap) or suffix == ".nxs" and stack.data.base is not None
    if suffix == ".npy":  # .npy holds data only
        assert stack.pixel_size_um is None and stack.angles_rad is None
    else:
        assert stack.pixel_size_um == pytest.approx(0.035, rel=1e-6)
        np.testing.assert_allclose(stack.angles_rad, ANGLES, rtol=1e-6, atol=1e-7)


def test_mrc_voxel_size_is_stored_in_angstrom(tmp_path):
    path = tmp_path / "vol.mrc"
    vol = RNG.random((3, 4, 5))
    write_volume(path, vol, voxel_size_um=0.04)
    with mrcfile.open(path) as mrc:
        assert mrc.header.mode == 2  # float32
        assert float(mrc.voxel_size.x) == pytest.approx(400.0)  # 0.04 µm = 400 Å
    data, voxel = read_volume(path)
    assert data.dtype == np.float32 and voxel == pytest.approx(0.04)
    np.testing.assert_array_equal(data, vol.astype(np.float32))


def test_tiff_volume_and_ome_pixel_size(tmp_path):
    write_volume(tmp_path / "vol.tif", DATA, voxel_size_um=0.02)
    data, voxel = read_volume(tmp_path / "vol.tif")
    assert voxel == pytest.approx(0.02) and data.dtype == np.float32
    # An OME-TIFF in nm from another program.
    tifffile.imwrite(tmp_path / "o.ome.tif", DATA, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 35.0, "PhysicalSizeXUnit": "nm"})
    assert read_stack(tmp_path / "o.ome.tif").pixel_size_um == pytest.approx(0.035)


def test_nexus_flats_darks_and_image_key(tmp_path):
    flats = np.full((3, 5, 9), 100.0, np.float32)
    darks = np.full((2, 5, 9), 5.0, np.float32)
    raw = (5 + 95 * DATA).astype(np.float32)
    write_stack(tmp_path / "scan.nxs", raw, pixel_size_um=0.04, angles_rad=ANGLES, flats=flats, darks=darks)
    stack = read_stack(tmp_path / "scan.nxs")
    np.testing.assert_array_equal(stack.data, raw)  # projections only
    np.testing.assert_array_equal(stack.flats, flats)
    np.testing.assert_array_equal(stack.darks, darks)
    np.testing.assert_allclose(stack.angles_rad, ANGLES)
    with h5py.File(tmp_path / "scan.nxs") as f:
        keys = f["entry/instrument/detector/image_key"][()]
        assert keys.tolist() == [2, 2, 1, 1, 1] + [0] * 7
        assert f["entry/sample/rotation_angle"].attrs["units"] == "degree"


def test_nexus_angles_in_radians_and_without_units(tmp_path):
    path = tmp_path / "r.h5"
    write_stack(path, DATA, angles_rad=ANGLES)
    with h5py.File(path, "r+") as f:
        ds = f["entry/sample/rotation_angle"]
        ds[...] = ANGLES
        ds.attrs["units"] = "rad"
    np.testing.assert_allclose(read_stack(path).angles_rad, ANGLES)
    with h5py.File(path, "r+") as f:
        del f["entry/sample/rotation_angle"].attrs["units"]
    stack = read_stack(path)
    assert stack.angles_rad is None  # never guessed
    np.testing.assert_allclose(stack.meta["angles_without_unit"], ANGLES)


def test_mrc_angles_from_imod_sidecar(tmp_path):
    with mrcfile.new(tmp_path / "tilt.st") as mrc:
        mrc.set_data(DATA)
    write_angles(tmp_path / "tilt.rawtlt", ANGLES, "deg")
    np.testing.assert_allclose(read_stack(tmp_path / "tilt.st").angles_rad, ANGLES, atol=1e-9)


def test_read_angles_units_and_csv(tmp_path):
    (tmp_path / "a.txt").write_text("# tilt\n0\n1.5\n3\n")
    np.testing.assert_allclose(read_angles(tmp_path / "a.txt", "deg"), np.radians([0, 1.5, 3]))
    np.testing.assert_allclose(read_angles(tmp_path / "a.txt", "rad"), [0, 1.5, 3])
    (tmp_path / "b.csv").write_text("index,angle_rad\n0,0.1\n1,0.2\n")
    np.testing.assert_allclose(read_angles(tmp_path / "b.csv", "rad"), [0.1, 0.2])
    with pytest.raises(InputError, match="agree"):
        read_angles(tmp_path / "b.csv", "deg")
    with pytest.raises(InputError, match="'deg' or 'rad'"):
        read_angles(tmp_path / "a.txt", "grad")


def test_angle_unit_mistakes_are_refused():
    with pytest.raises(InputError, match="look like degrees"):
        check_angle_unit(np.arange(0, 180, 1.5), "rad")
    with pytest.raises(InputError, match="look like radians"):
        check_angle_unit(np.linspace(0, np.pi, 120, endpoint=False), "deg")
    check_angle_unit(np.arange(0, 180, 1.5), "deg")  # fine
    check_angle_unit(np.linspace(0, np.pi, 120), "rad")  # fine


def test_read_shifts(tmp_path):
    path = tmp_path / "shifts.csv"
    path.write_text("index,angle_deg,du_um,dv_um,du_px,dv_px,flag\n0,0,0.01,-0.02,0.25,-0.5,ok\n1,90,0.03,0,0.75,0,ok\n")
    np.testing.assert_allclose(read_shifts(path, n_views=2), [[0.01, -0.02], [0.03, 0.0]])
    with pytest.raises(InputError, match="2 shift rows for 3 images"):
        read_shifts(path, n_views=3)
    with pytest.raises(InputError, match="another scan"):
        read_shifts(path, n_views=2, angles_rad=np.radians([0, 45]))


def test_truncated_and_corrupt_files_are_input_errors(tmp_path):
    write_stack(tmp_path / "s.mrc", DATA)
    blob = (tmp_path / "s.mrc").read_bytes()
    (tmp_path / "t.mrc").write_bytes(blob[:-50])
    with pytest.raises(InputError, match="truncated|not a valid MRC"):
        read_stack(tmp_path / "t.mrc")
    (tmp_path / "junk.mrc").write_bytes(b"\x00" * 2000)
    with pytest.raises(InputError, match="MRC"):
        read_stack(tmp_path / "junk.mrc")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match="TIFF"):
        read_stack(tmp_path / "junk.tif")
    np.save(tmp_path / "c.npy", DATA.astype(np.complex64))
    with pytest.raises(InputError, match="complex"):
        read_stack(tmp_path / "c.npy")
    with pytest.raises(InputError, match="unknown file type"):
        read_stack(tmp_path / "x.png")


def _snapshot(d):
    return {p.relative_to(d): p.read_bytes() if p.is_file() else None for p in sorted(d.rglob("*"))}


def test_transaction_rolls_back_everything(tmp_path):
    (tmp_path / "keep.mrc").write_bytes(b"old")
    before = _snapshot(tmp_path)
    with pytest.raises(RuntimeError):
        with OutputTransaction(tmp_path, overwrite=True) as tx:
            tx.path("keep.mrc").write_bytes(b"new")
            tx.path("other.json").write_text("{}")
            raise RuntimeError("disk full midway")
    assert _snapshot(tmp_path) == before
    # A failure while renaming into place restores the replaced file too.
    with pytest.raises(OutputError):
        with OutputTransaction(tmp_path, overwrite=True) as tx:
            tx.path("keep.mrc").write_bytes(b"new")
            tx.path("never_written.json")
    assert _snapshot(tmp_path) == before
    # A directory the transaction created is removed again.
    with pytest.raises(RuntimeError):
        with OutputTransaction(tmp_path / "a" / "b") as tx:
            tx.path("v.mrc").write_bytes(b"x")
            raise RuntimeError
    assert _snapshot(tmp_path) == before
    with OutputTransaction(tmp_path, overwrite=True) as tx:
        tx.path("keep.mrc").write_bytes(b"new")
    assert (tmp_path / "keep.mrc").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["keep.mrc"]


def test_write_volume_refuses_to_overwrite(tmp_path):
    write_volume(tmp_path / "v.mrc", DATA, 0.04)
    with pytest.raises(OutputError, match="--force"):
        write_volume(tmp_path / "v.mrc", DATA * 2, 0.04)
    np.testing.assert_array_equal(read_volume(tmp_path / "v.mrc")[0], DATA)
    write_volume(tmp_path / "v.mrc", DATA * 2, 0.04, overwrite=True)
    np.testing.assert_array_equal(read_volume(tmp_path / "v.mrc")[0], DATA * 2)
