"""`isxt reconstruct` / `calibrate` / `info` end to end, and the shipped example."""

import hashlib
import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from isxt.cli import main
from isxt.io import read_angles, read_stack, read_volume
from isxt.reconstruct import Scan, reconstruct

from _helpers import ROOT, make_example


TINY = dict(volume_shape=(4, 24, 24), n_interior=12, interior_cols=12, roi_center_um=(0.1, -0.05), n_sparse=6,
            photons=None, dual=None, iterations=3, write_phantom=False, calibration=False)


def _api_scans(tmp_path, info):
    """The example's scans for the Python API, from the arrays the generator made."""
    scans = []
    for name in ("interior", "sparse"):
        geom, trans = info[name]
        geom = geom.__class__(read_angles(tmp_path / f"{name}_angles.txt", "deg"), geom.det_shape,
                              geom.pixel_size_um, geom.center_um)
        scans.append(Scan(geom, -np.log(trans), name=name))
    return scans


@pytest.mark.parametrize("formats", [("mrc", "tiff"), ("tiff", "mrc")])
def test_cli_equals_python_api(tmp_path, formats, capsys):
    info = make_example.generate(tmp_path, formats=formats, **TINY)
    rc = main(["reconstruct", str(tmp_path / "acquisition.toml"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    volume, voxel = read_volume(tmp_path / "recon" / "volume.mrc")
    assert voxel == pytest.approx(0.04)
    with mrcfile.open(tmp_path / "recon" / "volume.mrc") as mrc:
        assert float(mrc.voxel_size.x) == pytest.approx(400.0)  # Å in the header

    # The same reconstruction through the Python API, from the arrays the generator made.
    scans = _api_scans(tmp_path, info)
    expected = reconstruct(scans, info["volume"], method="cgls", iterations=3)
    np.testing.assert_allclose(volume, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())

    prov = json.loads((tmp_path / "recon" / "provenance.json").read_text())
    assert prov["result"]["iterations"] == 3 and len(prov["result"]["residual_history"]) == 3
    files = {Path(f["path"]).name: f["sha256"] for f in prov["inputs"]}
    stack_file = info["files"]["interior"]
    assert files[stack_file] == hashlib.sha256((tmp_path / stack_file).read_bytes()).hexdigest()
    assert prov["parameters"]["volume"]["voxel_size_um"] == 0.04
    assert prov["parameters"]["scans"][1]["pixel_size_um"] == pytest.approx(0.08)
    assert "reconstruct" in prov["timings_s"] and prov["isxt_version"]
    assert (tmp_path / "recon" / "quicklook.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_precondition_equals_python_api(tmp_path, capsys):
    info = make_example.generate(tmp_path, **TINY)
    toml = tmp_path / "acquisition.toml"
    toml.write_text(toml.read_text().replace("nonneg = false", "nonneg = false\nprecondition = true"))
    assert main(["reconstruct", str(toml), "--no-progress"]) == 0, capsys.readouterr().err
    volume, _ = read_volume(tmp_path / "recon" / "volume.mrc")
    scans = _api_scans(tmp_path, info)
    expected = reconstruct(scans, info["volume"], method="cgls", iterations=3, precondition=True)
    plain = reconstruct(scans, info["volume"], method="cgls", iterations=3)
    np.testing.assert_allclose(volume, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert np.abs(expected - plain).max() > 1e-3 * np.abs(plain).max()  # the option reached the solver


def test_tiff_output_and_dry_run(tmp_path, capsys):
    make_example.generate(tmp_path, **TINY)
    acq = tmp_path / "acquisition.toml"
    acq.write_text(acq.read_text().replace('volume = "volume.mrc"', 'volume = "lac.tif"\nformat = "tiff"'))
    assert main(["reconstruct", str(acq), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "memory estimate" in out and "time estimate" in out
    assert not (tmp_path / "recon").exists()  # a dry run writes nothing
    assert main(["reconstruct", str(acq), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    data, voxel = read_volume(tmp_path / "out" / "lac.tif")
    assert voxel == pytest.approx(0.04) and data.shape == (4, 24, 24) and data.dtype == np.float32


def test_calibrate_and_apply(tmp_path, capsys):
    tiny = {**TINY, "dual": (0.8, 0.4), "calibration": True, "volume_shape": (4, 64, 64), "interior_cols": 48}
    make_example.generate(tmp_path, **tiny)
    acq = tmp_path / "acquisition.toml"
    assert main(["calibrate", str(acq)]) == 0
    fit = json.loads((tmp_path / "recon" / "calibration.json").read_text())["result"]
    assert fit["model"] == "dual_energy"
    assert fit["dual_energy"]["phi0"] == pytest.approx(0.8, abs=0.05)
    assert (tmp_path / "recon" / "calibration.png").exists()
    assert "dual_energy_rms" in (tmp_path / "recon" / "calibration_residuals.csv").read_text()
    assert main(["reconstruct", str(acq), "--no-progress"]) == 0
    prov = json.loads((tmp_path / "recon" / "provenance.json").read_text())
    assert prov["preprocessing"]["calibration"]["model"] == "dual_energy"


def test_info(tmp_path, capsys):
    make_example.generate(tmp_path, **TINY)
    assert main(["info", str(tmp_path / "interior.mrc")]) == 0
    out = capsys.readouterr().out
    assert "12 x 4 x 12" in out and "0.04 µm" in out
    assert main(["info", str(tmp_path / "interior.mrc"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    data = read_stack(tmp_path / "interior.mrc").data
    assert info["min"] == pytest.approx(float(data.min())) and info["max"] == pytest.approx(float(data.max()))


def test_shipped_example_is_reproducible(tmp_path):
    shipped = ROOT / "examples" / make_example.NAME
    make_example.generate(tmp_path)
    names = sorted(p.name for p in shipped.iterdir() if p.is_file() and p.name != "README.md")
    assert names == sorted(p.name for p in tmp_path.iterdir())
    assert sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file() and "recon" not in p.parts) < 5e6
    for name in names:
        if name.endswith((".mrc", ".tif")):
            a, b = read_stack(shipped / name).data, read_stack(tmp_path / name).data
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:
            assert (shipped / name).read_text() == (tmp_path / name).read_text()
