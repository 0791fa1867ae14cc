"""method = "tv" end to end: the Python API, the TOML keys, the CLI and its provenance, the automatic λ."""

import json

import numpy as np
import pytest

import isxt
from isxt.acquisition import load_acquisition
from isxt.cli import main
from isxt.errors import InputError
from isxt.io import read_volume
from isxt.reconstruct import Scan, reconstruct

from _helpers import make_example

TINY = dict(volume_shape=(2, 24, 24), n_interior=12, interior_cols=12, roi_center_um=(0.1, -0.05), n_sparse=6,
            photons=None, dual=None, iterations=3, write_phantom=False, calibration=False)


def _tv_toml(tmp_path, extra):
    make_example.generate(tmp_path, **TINY)
    toml = tmp_path / "acquisition.toml"
    text = toml.read_text().replace('method = "cgls"', 'method = "tv"')
    assert 'method = "tv"' in text
    toml.write_text(text.replace("nonneg = false", "nonneg = false\n" + extra))
    return toml


def test_cli_tv_with_given_weight_and_bounds(tmp_path, capsys):
    toml = _tv_toml(tmp_path, "tv_weight = 0.002\nbounds = [0.0, 0.3]")
    acq = load_acquisition(toml)
    assert acq.reconstruction["tv_weight"] == 0.002 and acq.reconstruction["bounds"] == [0.0, 0.3]
    assert main(["reconstruct", str(toml), "--no-progress"]) == 0, capsys.readouterr().err
    assert "TV weight λ = 0.002" in capsys.readouterr().out
    volume, _ = read_volume(tmp_path / "recon" / "volume.mrc")
    assert volume.min() >= 0 and volume.max() <= np.float32(0.3) and volume.max() > 0.05
    prov = json.loads((tmp_path / "recon" / "provenance.json").read_text())
    assert prov["result"]["tv_weight"] == 0.002 and prov["result"]["tv_weight_rule"] == "given"
    assert prov["result"]["method"] == "tv"


@pytest.mark.slow
def test_cli_tv_automatic_weight_is_recorded(tmp_path, capsys):
    # without photon counts: the L-curve rule
    toml = _tv_toml(tmp_path, "")
    toml.write_text("\n".join(l for l in toml.read_text().splitlines() if not l.startswith("photons")))
    assert main(["reconstruct", str(toml), "--no-progress"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    prov = json.loads((tmp_path / "recon" / "provenance.json").read_text())
    lam = prov["result"]["tv_weight"]
    assert prov["result"]["tv_weight_rule"] == "lcurve" and lam > 0
    assert len(prov["result"]["tv_weight_trials"]) == 7
    assert lam in [t[0] for t in prov["result"]["tv_weight_trials"]]
    assert f"{lam:.4g}" in out


@pytest.mark.parametrize("extra, where", [
    ('bounds = [1.0, 0.5]', "reconstruction.bounds"),
    ('bounds = [0.0]', "reconstruction.bounds"),
    ('tv_weight = -1.0', "reconstruction.tv_weight"),
    ('tv_weight = "big"', "reconstruction.tv_weight"),
])
def test_bad_tv_keys(tmp_path, capsys, extra, where):
    toml = _tv_toml(tmp_path, extra)
    assert main(["reconstruct", str(toml), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert where in err and "Traceback" not in err
    assert not (tmp_path / "recon").exists()


def test_tv_keys_need_method_tv(tmp_path, capsys):
    make_example.generate(tmp_path, **TINY)
    toml = tmp_path / "acquisition.toml"
    toml.write_text(toml.read_text().replace("nonneg = false", "nonneg = false\ntv_weight = 0.1"))
    assert main(["reconstruct", str(toml), "--no-progress"]) == 2
    assert "applies to method = 'tv'" in capsys.readouterr().err


def _noisy_combined(seed=0, photons=2000.0):
    """Interior + 4 full views of a smooth phantom, Poisson noise, simulated on a 2× finer grid."""
    from isxt.projectors import projector
    from _helpers import smooth_phantom

    vol = isxt.VolumeGeometry((2, 32, 32), 0.08)
    fine = isxt.VolumeGeometry((4, 64, 64), 0.04)
    truth_fine = 0.4 * smooth_phantom(fine)
    interior = isxt.ScanGeometry.interior(vol, 24, 0.08, 1.3, (0.2, -0.1))
    full = isxt.ScanGeometry.full_field(vol, 4, 0.08)
    rng = np.random.default_rng(seed)
    scans = []
    for g in (interior, full):
        clean = projector(fine, g).forward(truth_fine)
        counts = rng.poisson(photons * np.exp(-clean))
        scans.append(Scan(g, -np.log(np.maximum(counts, 1) / photons).astype(np.float32), photons=photons))
    return scans, vol


@pytest.mark.slow
def test_reconstruct_tv_discrepancy_weight_meets_the_noise_level():
    scans, vol = _noisy_combined()
    x, info = reconstruct(scans, vol, method="tv", iterations=20, return_info=True)
    assert info["tv_weight_rule"] == "discrepancy" and info["tv_weight"] > 0
    assert x.min() >= 0
    # the weighted residual of the result is at the Poisson noise level (the rule's target)
    from isxt.solvers import poisson_variance
    from isxt.reconstruct import build_operator

    target = sum(float(poisson_variance(s.data, s.photons).sum()) for s in scans)
    rr = sum(float(((build_operator(s, vol).forward(x) - s.data) ** 2).sum()) for s in scans)
    assert 0.8 < rr / target < 1.25, rr / target


def test_reconstruct_tv_rejects_a_named_stop_rule():
    scans, vol = _noisy_combined()
    with pytest.raises(InputError, match="tv"):
        reconstruct(scans, vol, method="tv", stop="discrepancy")


def test_tv_on_the_shipped_example_draws_no_consistency_warning(tmp_path, capsys):
    # TV starts from a few CGLS iterations: its first iterate already fits the data, so the
    # "residual fell from the first to the final iterate" check must not judge it (it warned before)
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "examples" / "combined_small"
    ex = tmp_path / "ex"
    shutil.copytree(src, ex, ignore=shutil.ignore_patterns("recon"))
    toml = ex / "acquisition.toml"
    text = toml.read_text()
    assert 'method = "cgls"' in text
    toml.write_text(text.replace('method = "cgls"', 'method = "tv"'))  # λ by the discrepancy principle
    assert main(["reconstruct", str(toml), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "consistency" in out and "warning:" not in err, err
