"""Consistency report: correct acquisitions draw no warning, layout mistakes draw one naming the scan.

The thresholds (isxt.consistency.THRESHOLDS) were chosen from the measurements
in docs/consistency.md; here each mistake is made on a copy of a small
simulated acquisition, as a user would make it, by editing its TOML or files.
"""

import json
import re

import numpy as np
import pytest

from isxt.acquisition import load_acquisition, prepare_scans
from isxt.cli import main
from isxt.consistency import THRESHOLDS, check_consistency, matched_views, plateaued, seen_mask
from isxt.reconstruct import reconstruct

from _helpers import make_example

SMALL = dict(volume_shape=(4, 64, 64), n_interior=48, interior_cols=32, n_sparse=6, photons=20000.0, dual=None,
             calibration=False, iterations=20, write_phantom=False)


def _angles(path, fn):
    values = [float(v) for v in path.read_text().split() if not v.startswith("#")]
    path.write_text("\n".join(repr(v) for v in fn(values)) + "\n")


def _scan_key(text, scan, key, fn):
    """Rewrite ``key = value`` in the [[scan]] table named ``scan``."""
    head, *tables = text.split("[[scan]]")
    out = []
    for t in tables:
        if f'name = "{scan}"' in t:
            m = re.search(rf"^{key} = (.*?)(\s*#.*)?$", t, re.M)
            t = t.replace(m.group(0), f"{key} = {fn(m.group(1))}")
        out.append(t)
    return "[[scan]]".join([head, *out])


def _swap_files(d, text):
    for key in ("file", "angles"):
        a = re.findall(rf'^{key} = "(.*)"', text, re.M)
        text = text.replace(f'{key} = "{a[0]}"', "@@").replace(f'{key} = "{a[1]}"', f'{key} = "{a[0]}"')
        text = text.replace("@@", f'{key} = "{a[1]}"')
    return text


def _swap_xy(v):
    x, y, z = json.loads(v)
    return json.dumps([y, x, z])


MISTAKES = {
    "swapped files": _swap_files,
    "reversed interior angle file": lambda d, t: (_angles(d / "interior_angles.txt", lambda a: a[::-1]), t)[1],
    "x/y swapped in center_um": lambda d, t: _scan_key(t, "interior", "center_um", _swap_xy),
    "sparse angles offset by 90°": lambda d, t: (_angles(d / "sparse_angles.txt", lambda a: [v + 90 for v in a]), t)[1],
    "sparse pixel size 2x": lambda d, t: _scan_key(t, "sparse", "pixel_size_um", lambda v: repr(2 * float(v))),
}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    make_example.generate(d, seed=1, **SMALL)
    return d


def _broken(good, tmp_path, mistake):
    import shutil

    d = tmp_path / "acq"
    shutil.copytree(good, d)
    toml = d / "acquisition.toml"
    toml.write_text(MISTAKES[mistake](d, toml.read_text()))
    return toml


def test_a_correct_acquisition_draws_no_warning(good, tmp_path, capsys):
    assert main(["reconstruct", str(good / "acquisition.toml"), "-o", str(tmp_path / "out"), "--no-progress",
                 "--strict"]) == 0
    captured = capsys.readouterr()
    assert "warning:" not in captured.err and "cross 'sparse' predicts 'interior'" in captured.out
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    report = prov["result"]["consistency"]
    assert report["warnings"] == []
    cross = next(c for c in report["cross"] if c["source"] == "sparse")
    assert cross["residual"] < THRESHOLDS["cross"] / 2  # 0.02 measured; threshold 0.1
    interior = next(r for r in report["scans"] if r["name"] == "interior")
    assert interior["fit_final"] < interior["fit_first"] / 5


@pytest.mark.slow
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_layout_mistake_draws_a_warning_naming_the_scan(good, tmp_path, mistake):
    acq = load_acquisition(_broken(good, tmp_path, mistake))
    scans = prepare_scans(acq).scans
    with pytest.warns(UserWarning) as record:
        _, info = reconstruct(scans, acq.volume, iterations=20, return_info=True)
    warnings = info["consistency"]["warnings"]
    assert warnings and len(record) == len(warnings)
    assert all(re.match(r"scan '(interior|sparse)' ", w) for w in warnings)
    assert all("likely cause:" in w for w in warnings)


@pytest.mark.slow
def test_strict_exits_3_and_writes_nothing(good, tmp_path, capsys):
    toml = _broken(good, tmp_path, "x/y swapped in center_um")
    out = tmp_path / "out"
    assert main(["reconstruct", str(toml), "-o", str(out), "--no-progress", "--strict"]) == 3
    err = capsys.readouterr().err
    assert "warning: scan 'interior'" in err
    assert "likely cause: scan 'interior': x and y swapped in its center_um" in err
    assert not out.exists()


def test_simulate_outputs_draw_no_warning(tmp_path, capsys):
    for photons in ("3000", None):
        d = tmp_path / f"sim{photons}"
        args = ["simulate", "--size", "test", "--out", str(d), "--roi-center", "0.6", "-0.3", "--n-full", "9"]
        assert main(args + (["--photons", photons] if photons else [])) == 0
        assert main(["reconstruct", str(d / "acquisition.toml"), "--no-progress", "--strict",
                     "-o", str(d / "out")]) == 0
        assert "warning:" not in capsys.readouterr().err


def test_a_consistent_pair_checks_itself():
    """Two noiseless full-field scans of one object predict each other; a rotated copy does not."""
    import isxt

    vol = isxt.VolumeGeometry((2, 32, 32), 0.1)
    truth = np.zeros(vol.shape, np.float32)
    truth[:, 8:20, 6:14] = 0.5
    truth[:, 20:26, 18:28] = 0.3
    a = isxt.ScanGeometry.full_field(vol, 24, 0.1)
    b = isxt.ScanGeometry.full_field(vol, 12, 0.2)
    ya = isxt.projector(vol, a).forward(truth)
    yb = isxt.projector(vol, b).forward(truth)
    scans = [isxt.Scan(a, ya, name="a"), isxt.Scan(b, yb, name="b")]
    x = reconstruct(scans, vol, iterations=30, check=False)
    assert check_consistency(scans, vol, x, diagnose=False).ok
    rotated = [scans[0], isxt.Scan(b, isxt.projector(vol, b).forward(np.rot90(truth, axes=(1, 2)).copy()), name="b")]
    report = check_consistency(rotated, vol, x, diagnose=False)
    assert not report.ok and report.warnings[0].startswith("scan 'b' disagrees with scan 'a'")


def test_helpers():
    assert matched_views(np.radians([0, 90, 180]), np.radians([0])).tolist() == [True, False, True]
    assert plateaued([1.0, 0.5, 0.4, 0.399, 0.398, 0.398]) and not plateaued([1.0, 0.5, 0.25, 0.12, 0.06, 0.03])
    import isxt

    vol = isxt.VolumeGeometry((2, 16, 16), 0.1)
    assert seen_mask(isxt.ScanGeometry.full_field(vol, 4, 0.1), vol).all()
