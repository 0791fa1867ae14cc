"""isxt plan: sampling against the paper, dose against isxt.dose, self-consistency, files and bad input."""

import json
import math
import tomllib

import numpy as np
import pytest

import isxt
from isxt import dose as D
from isxt import metrics
from isxt.cli import main
from isxt.geometry import ScanGeometry
from isxt.io import read_angles, read_volume
from isxt.planning import model as M
from isxt.planning.protocol import count_anchors, interior_sampling, lens

PAPER_ROI = 801 * 0.02  # the paper's 801-px field of 20 nm pixels
PAPER_LIKE = (6.0, 2.6)  # cell and ROI diameter (µm): the cell 2.3× the ROI


@pytest.mark.parametrize("ozw, convention, expected, words", [
    (60, "paper", 656, "1.22/OZW"),
    (35, "paper", 1123, "1.22/OZW"),
    (35, "nyquist", 1256, "Nyquist"),
])
def test_paper_setup_interior_views(ozw, convention, expected, words):
    p = isxt.plan(36.0, PAPER_ROI, ozw, 60, interior_pixel_um=0.02, full_pixel_um=0.04, convention=convention, quick=True,
                  progress=False)
    assert isinstance(p, isxt.Plan)
    assert abs(p.n_interior - expected) <= 0.02 * expected
    assert words in p.convention
    assert p.n_interior <= p.n_interior_nyquist  # never above the Nyquist bound
    assert p.n_interior_nyquist == 1256  # ⌊π · 400⌋, stated beside every convention


def test_interior_views_follow_the_bowtie_law():
    """N = ⌈2πR f_cut⌉: halving the ROI halves the views (to a view), a finer lens needs more."""
    zp = lens(60, 517.0)
    big = interior_sampling(zp, 8.0, 0.02)
    small = interior_sampling(zp, 4.0, 0.02)
    assert abs(2 * small.n_interior - big.n_interior) <= 2
    assert interior_sampling(lens(35, 517.0), 4.0, 0.02).n_interior > small.n_interior


def _args(out, *extra, cell=4.2, roi=1.8, center=("0.6", "-0.4"), pixel=0.05):
    return ["plan", "--cell-diameter", str(cell), "--roi-diameter", str(roi), "--roi-center", *center,
            "--interior-resolution", "35", "--full-resolution", "60", "--interior-pixel", str(pixel),
            "--full-pixel", str(2 * pixel), "-o", str(out), *extra]


def test_quick_files_angles_and_no_overwrite(tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(_args(out, "--quick")) == 0
    data = json.loads((out / "plan.json").read_text())
    for key in ("n_interior", "n_full", "interior_pixel_um", "full_pixel_um", "dose_roi_gy", "dose_full_gy",
                "dose_ratio_full_to_roi", "predicted_roi_psnr_db", "predicted_full_scan_roi_psnr_db",
                "predicted_resolution_nm", "convention"):
        assert key in data
    assert math.isnan(data["predicted_roi_psnr_db"])  # --quick predicts nothing, and says so
    assert "--quick" in " ".join(data["notes"])
    interior = read_angles(out / "interior_angles.txt", "deg")
    sparse = read_angles(out / "sparse_angles.txt", "deg")
    assert interior.size == data["n_interior"] and sparse.size == data["n_full"]
    assert count_anchors(sparse, interior) == sparse.size >= 10  # every sparse view is an anchor
    acq = tomllib.loads((out / "acquisition.toml").read_text())
    assert [s["pixel_size_um"] for s in acq["scan"]] == [0.05, 0.1]
    assert (out / "plan.png").stat().st_size > 10_000 and "## 2. Interior views" in (out / "plan.md").read_text()
    capsys.readouterr()
    assert main(_args(out, "--quick")) == 2  # never overwritten without --force
    assert "exist" in capsys.readouterr().err


def test_dose_agrees_with_dose_maps_of_the_planned_scans(tmp_path):
    """The plan computes its doses on a coarser model grid with fewer views; isxt.dose on the planned scans agrees."""
    p = isxt.plan(6.0, 2.4, 60, 60, roi_center_um=(0.8, 0.5), interior_pixel_um=0.04, full_pixel_um=0.08, quick=True,
                  progress=False)
    assert p.model["k"] > 1
    isxt.write_plan(p, tmp_path)
    slab = M.build_slab(6.0, 2.4, (0.8, 0.5), 0.04, nz=2)
    vol = slab.volume
    acq = tomllib.loads((tmp_path / "acquisition.toml").read_text())
    maps = {}
    for spec in acq["scan"]:
        angles = read_angles(tmp_path / spec["angles"], "deg")
        width = 2.4 if spec["name"] == "interior" else float(np.hypot(*vol.extent[:2]))
        cols = int(round(width / spec["pixel_size_um"])) if spec["name"] == "interior" else \
            int(np.ceil(width / spec["pixel_size_um"]))
        g = ScanGeometry(angles, (2, cols), spec["pixel_size_um"], center_um=spec["center_um"])
        maps[spec["name"]] = D.dose_map(slab.truth, vol, g, spec["photons"])
    cell = slab.truth > 0
    assert D.mean_dose(maps["interior"], cell) == pytest.approx(p.dose_roi_gy, rel=0.03)
    assert D.mean_dose(maps["sparse"], cell) == pytest.approx(p.dose_full_gy, rel=0.03)


@pytest.mark.slow
def test_simulated_plan_reconstructs_and_matches_its_prediction(tmp_path, capsys):
    """The --simulate files reconstruct with `isxt reconstruct` as they stand, and the measured ROI PSNR (another
    phantom and noise seed, the plan's iteration count) is within 1.5 dB of the prediction, for the combined protocol
    and for the equal-dose full scan."""
    out = tmp_path / "plan"
    assert main(_args(out, "--simulate", pixel=0.06)) == 0
    data = json.loads((out / "plan.json").read_text())
    assert data["model"]["k"] == 1  # the prediction ran on the planned grid itself
    assert data["predicted_resolution_nm"] >= 2 * 60 - 1e-6  # never finer than the pixel's Nyquist period
    capsys.readouterr()
    assert main(["reconstruct", str(out / "acquisition.toml")]) == 0
    x = read_volume(out / "recon" / "volume.mrc")[0]
    truth = read_volume(out / "truth.mrc")[0]
    vol = isxt.VolumeGeometry(truth.shape, 0.06)
    roi = vol.cylinder_mask(1.8 / 2 - 2 * 0.06, (0.6, -0.4))
    peak = metrics.data_range(truth)
    measured = metrics.psnr(x, truth, mask=roi, data_range=peak)
    assert abs(measured - data["predicted_roi_psnr_db"]) < 1.5, (measured, data["predicted_roi_psnr_db"])

    # the equal-dose full scan, on the same other seed, at the plan's iteration count
    slab = M.build_slab(4.2, 1.8, (0.6, -0.4), 0.06, nz=2, seed=1)
    g = ScanGeometry.full_field(slab.volume, data["n_interior"], 0.06)
    y = M.simulate_scan(slab, g, 0.035, data["photons_full_scan"], seed=4242)
    xf = isxt.reconstruct([isxt.Scan(g, y)], slab.volume, iterations=data["full_scan_iterations"], precondition=True)
    measured_full = slab.psnr_roi(xf)
    assert abs(measured_full - data["predicted_full_scan_roi_psnr_db"]) < 1.5, \
        (measured_full, data["predicted_full_scan_roi_psnr_db"])


@pytest.mark.slow
def test_paper_like_cell_gets_paper_like_sparse_views():
    """Cell 2.3× the ROI, 35 nm interior and 60 nm full-field lenses at their Nyquist pixels: N_full in the paper's
    9–25, and the report says why (the sweep against dense sampling and the anchor rule)."""
    from isxt.planning.report import plan_markdown

    p = isxt.plan(PAPER_LIKE[0], PAPER_LIKE[1], 35, 60, roi_center_um=(0.5, -0.4), progress=False)
    assert p.model["k"] > 1 and p.n_interior > 100
    assert 9 <= p.n_full <= 25, [(r["n_full"], round(r["psnr_roi"], 2)) for r in p.sweep]
    md = plan_markdown(p)
    assert f"**N_full = {p.n_full}**" in md and "within 0.2 dB" in md and "anchors" in md and "null space" in md


def test_budget_sets_the_exposure_and_says_what_to_change(tmp_path, capsys):
    p = isxt.plan(4.2, 1.8, 35, 60, interior_pixel_um=0.05, full_pixel_um=0.1, dose_budget=1e7, quick=True, progress=False)
    assert p.budget_ok and p.dose_in_roi_gy == pytest.approx(1e7, rel=1e-6)
    twice = isxt.plan(4.2, 1.8, 35, 60, interior_pixel_um=0.05, full_pixel_um=0.1, dose_budget=2e7, quick=True,
                      progress=False)
    assert twice.photons_interior == pytest.approx(2 * p.photons_interior, rel=1e-6)  # dose is linear in photons
    # a budget above one view's dose but far below a usable protocol
    tight = p.dose_in_roi_gy / p.photons_interior * p.inputs["min_photons_interior"] / 20
    rc = main(_args(tmp_path / "tight", "--quick", "--dose-budget", f"{tight:g}"))
    err = capsys.readouterr().out
    assert rc == 1 and "--dose-budget" in err and "×" in err


def test_other_samples_bacteria_and_a_user_volume(tmp_path):
    """The sample changes the dose, not the sampling; a user's LAC volume (a file) is planned like the built-in cell."""
    kw = dict(interior_pixel_um=0.05, full_pixel_um=0.1, quick=True, progress=False)
    cell = isxt.plan(4.0, 1.6, 35, 60, **kw)
    bact = isxt.plan(4.0, 1.6, 35, 60, phantom="bacteria", **kw)
    assert bact.n_interior == cell.n_interior and bact.n_full == cell.n_full
    assert bact.dose_roi_gy > 0 and not math.isclose(bact.dose_roi_gy, cell.dose_roi_gy, rel_tol=0.05)
    # a uniform 3.6 µm water-like disc, 0.2/µm, as a user's file: doses scale with the LAC to first order
    vol = isxt.VolumeGeometry((8, 96, 96), 0.05)
    disc = (vol.cylinder_mask(1.8) * 0.2).astype(np.float32)
    np.save(tmp_path / "disc.npy", disc)
    mine = isxt.plan(4.0, 1.6, 35, 60, phantom=str(tmp_path / "disc.npy"), phantom_voxel_size_um=0.05, **kw)
    np.save(tmp_path / "disc2.npy", disc * 0.5)
    half = isxt.plan(4.0, 1.6, 35, 60, phantom=str(tmp_path / "disc2.npy"), phantom_voxel_size_um=0.05, **kw)
    assert mine.dose_ratio_full_to_roi > 1  # a full-field view irradiates more of the cell than an interior one
    assert 0.5 < half.dose_roi_gy / mine.dose_roi_gy < 0.75  # absorbed energy ∝ 1 − e^{−µL}: a bit over half


@pytest.mark.parametrize("extra, words", [
    ({"roi": 5.0}, "larger than the cell"),
    ({"center": ("1.9", "0.5")}, "outside the"),
    ({"budget": "1e-3"}, "below the dose of one interior view"),
    ({"phantom": "no_such_phantom"}, "not 'cell', 'bacteria'"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, extra, words):
    more = ["--quick"]
    if "budget" in extra:
        more += ["--dose-budget", extra["budget"]]
    if "phantom" in extra:
        more += ["--phantom", extra["phantom"]]
    args = _args(tmp_path / "bad", *more, roi=extra.get("roi", 1.8), center=extra.get("center", ("0.6", "-0.4")))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err
    assert not (tmp_path / "bad").exists()
