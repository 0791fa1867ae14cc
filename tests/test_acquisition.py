"""Acquisition files: resolution of every key, preprocessing into scans, validation."""

import numpy as np
import pytest

from isxt.acquisition import SCHEMA, load_acquisition, memory_estimate, prepare_scans
from isxt.errors import InputError
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.io import write_stack
from isxt.projectors import projector

VOL = VolumeGeometry((4, 20, 20), 0.05)
ANGLES = np.radians(np.arange(0, 180, 15.0))  # 12 views


def _data(tmp_path, cols=24):
    scan = ScanGeometry(ANGLES, (4, cols), 0.05, center_um=(0.1, 0.0, 0.0))
    x = np.random.default_rng(0).random(VOL.shape).astype(np.float32) * 0.5
    y = projector(VOL, scan).forward(x)
    return scan, x, y


def _toml(tmp_path, scan_lines, extra=""):
    text = f"""
[volume]
extent_um = [1.0, 1.0, 0.2]
voxel_size_um = 0.05

[[scan]]
name = "interior"
{scan_lines}

[reconstruction]
method = "cgls"
iterations = 2
{extra}
"""
    path = tmp_path / "acq.toml"
    path.write_text(text)
    return path


def test_resolves_keys_and_units(tmp_path):
    scan, x, y = _data(tmp_path)
    write_stack(tmp_path / "s.mrc", np.exp(-y), pixel_size_um=0.05, angles_rad=scan.angles)
    acq = load_acquisition(_toml(tmp_path, """file = "s.mrc"
center_um = [0.1, 0.0, 0.0]
psf = {zone_plate_ozw_um = 0.035}
weight = 2.0"""))
    assert acq.volume.shape == (4, 20, 20)  # from extent_um / voxel_size_um
    s = acq.scans[0]
    np.testing.assert_allclose(s.angles_rad, ANGLES, atol=1e-7)  # from the MRC header
    assert s.pixel_size_um == pytest.approx(0.05) and s.sources["pixel_size"] == "s.mrc header"
    assert s.psf_fwhm_um == 0.035  # OZW → Gaussian FWHM = OZW (Eq. 11-12)
    prepared = prepare_scans(acq)
    np.testing.assert_allclose(prepared.scans[0].data, y, rtol=1e-5, atol=1e-6)
    assert prepared.scans[0].weights == 2.0
    assert acq.output["dir"] == str(tmp_path / "recon")
    mem = memory_estimate(acq)
    # cgls: x + 4 work volumes, data + raw copy + 2 work data copies (float32)
    assert mem["bytes"] == 4 * (VOL.shape[0] * 400 * 5 + y.size * 4)


def test_raw_nexus_crop_bin_and_clip(tmp_path):
    scan, x, y = _data(tmp_path)
    flats = np.full((2, 4, 24), 1000.0, np.float32)
    darks = np.full((1, 4, 24), 10.0, np.float32)
    raw = (10 + 990 * np.exp(-y)).astype(np.float32)
    raw[0, 0, 5] = 5.0  # below the dark: negative transmission
    raw[1, 0, 0] = 5.0  # the same outside the crop: not counted
    write_stack(tmp_path / "s.nxs", raw, angles_rad=scan.angles, flats=flats, darks=darks)
    lines = """file = "s.nxs"
kind = "raw"
pixel_size_um = 0.05
center_um = [0.1, 0.0, 0.0]
crop = {cols = [2, 22]}
bin = 2"""
    with pytest.raises(InputError, match="clip_transmission"):
        load_acquisition(_toml(tmp_path, lines))
    acq = load_acquisition(_toml(tmp_path, lines + "\nclip_transmission = 1e-3"))
    prepared = prepare_scans(acq)
    assert prepared.report["scans"]["interior"]["clipped_pixels"] == 1
    got = prepared.scans[0]
    assert got.data.shape == (12, 2, 10) and got.geometry.pixel_size_um == pytest.approx(0.1)
    # The cropped, binned data are what the cropped, binned geometry predicts.
    expected = projector(VOL, got.geometry).forward(x)
    ok = np.ones(got.data.shape, bool)
    ok[0, 0, 1] = False  # the clipped pixel's block (cropped column 3 → binned column 1)
    np.testing.assert_allclose(got.data[ok], expected[ok], rtol=1e-3, atol=1e-4)


def test_angles_list_and_unit_checks(tmp_path):
    scan, x, y = _data(tmp_path)
    write_stack(tmp_path / "s.npy", y)
    base = 'file = "s.npy"\nkind = "absorption"\npixel_size_um = 0.05\ncenter_um = [0.1, 0.0, 0.0]\n'
    listed = f"angles = {np.degrees(ANGLES).tolist()}\n"
    acq = load_acquisition(_toml(tmp_path, base + listed + 'angle_unit = "deg"'))
    np.testing.assert_allclose(acq.scans[0].angles_rad, ANGLES)
    with pytest.raises(InputError, match="look like degrees"):
        load_acquisition(_toml(tmp_path, base + listed + 'angle_unit = "rad"'))
    with pytest.raises(InputError, match="no angle metadata"):
        load_acquisition(_toml(tmp_path, base))


def test_every_problem_names_its_key(tmp_path):
    scan, x, y = _data(tmp_path)
    write_stack(tmp_path / "s.npy", y)
    lines = """file = "s.npy"
kind = "absorbtion"
pixel_size_um = 0
angles = "missing.txt"
psf = {fwhm_um = 0.03, zone_plate_ozw_um = 0.03}"""
    with pytest.raises(InputError) as info:
        load_acquisition(_toml(tmp_path, lines, extra='stop = "discrepancy"\nbackend = "gpu"\ndevice = "cuda"\nfoo = 1'))
    msg = str(info.value)
    for key in ("kind", "pixel_size_um", "angles", "psf", "backend", "reconstruction.device", "reconstruction.foo"):
        assert key in msg, key
    assert "did you mean 'absorption'" in msg


def test_gpu_device_needs_the_astra_backend(tmp_path):
    scan, x, y = _data(tmp_path)
    write_stack(tmp_path / "s.npy", y)
    with pytest.raises(InputError, match="reconstruction.device.*needs backend='astra'"):
        load_acquisition(_toml(tmp_path, 'file = "s.npy"', extra='device = "gpu"'))


def test_precondition_only_for_cgls_and_pwls(tmp_path):
    scan, x, y = _data(tmp_path)
    write_stack(tmp_path / "s.mrc", np.exp(-y), pixel_size_um=0.05, angles_rad=scan.angles)
    acq = load_acquisition(_toml(tmp_path, 'file = "s.mrc"', extra="precondition = true"))
    assert acq.reconstruction["precondition"] is True
    est = acq.time_estimate()  # numba: the CPU throughput
    assert est["device"] == "cpu" and est["seconds"] > 0
    path = _toml(tmp_path, 'file = "s.mrc"', extra="precondition = true")
    path.write_text(path.read_text().replace('method = "cgls"', 'method = "sirt"'))
    with pytest.raises(InputError, match="reconstruction.precondition.*'sirt'"):
        load_acquisition(path)


def test_schema_is_documented():
    doc = (__import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "acquisition.md").read_text()
    for section, keys in SCHEMA.items():
        for key in keys:
            assert f"`{key}`" in doc, f"{section}.{key} is not documented"


def test_alignment_shifts_are_picked_up_from_the_output_directory(tmp_path):
    from isxt.align import AlignmentResult, write_shifts_csv

    scan, x, y = _data(tmp_path)
    write_stack(tmp_path / "s.mrc", np.exp(-y), pixel_size_um=0.05, angles_rad=scan.angles)
    toml = _toml(tmp_path, 'file = "s.mrc"\ncenter_um = [0.1, 0.0, 0.0]')
    assert load_acquisition(toml).scans[0].shifts_um is None
    shifts = np.random.default_rng(3).uniform(-0.02, 0.02, (ANGLES.size, 2))
    result = AlignmentResult(shifts, ["ok"] * ANGLES.size, ANGLES, 0.05, {})
    (tmp_path / "recon").mkdir()
    write_shifts_csv(tmp_path / "recon" / "interior_shifts.csv", result)
    acq = load_acquisition(toml)
    np.testing.assert_allclose(acq.scans[0].shifts_um, shifts, atol=1e-6)
    assert any("interior_shifts.csv" in w for w in acq.warnings)
