"""The paper's experiments at the reduced 'test' size: outputs, claims and the CLI.

Each experiment's claims are checked numbers (see docs/experiments.md); at the
'test' size the grids are tiny, so only claims that hold there robustly are
asserted here — the default size is what reproduces the paper.
"""

import csv

import numpy as np
import pytest

from isxt.cli import main
from isxt.errors import InputError, OutputError
from isxt.experiments import get, names, run


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _check_outputs(result, tmp_path, name):
    for ext in ("csv", "png", "md"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 0
    md = (tmp_path / f"{name}.md").read_text()
    for claim in result["claims"]:
        assert claim in md  # every claim is written with its numbers


def test_registry_and_bad_names():
    for name in ("nullspace", "dof", "dose", "sampling", "fractionation", "baselines"):
        assert name in names()
        assert callable(get(name).run)
    with pytest.raises(InputError, match="nullspace"):
        get("nope")
    with pytest.raises(InputError, match="size"):
        run("sampling", size="huge")


def test_cli_bad_name_exits_2(capsys, tmp_path):
    assert main(["experiment", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'nope'" in err and "baselines" in err and len(err.strip().splitlines()) == 1


def test_sampling_matches_the_paper_60nm(tmp_path):
    result = run("sampling", size="test", out_dir=tmp_path, progress=False)
    rows = _read_csv(tmp_path / "sampling.csv")
    assert list(rows[0])[:3] == ["ozw_nm", "power", "n_angles"]
    assert result["claims"]["paper_60nm_98pct"]["passed"]  # 656 views, as in Fig. 11
    assert all(c["passed"] for c in result["claims"].values())
    _check_outputs(result, tmp_path, "sampling")
    # never overwrite without force, and fail before the work
    with pytest.raises(OutputError):
        run("sampling", size="test", out_dir=tmp_path, progress=False)
    run("sampling", size="test", out_dir=tmp_path, progress=False, force=True)


def test_cli_runs_an_experiment(tmp_path, capsys):
    assert main(["experiment", "sampling", "--size", "test", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and (tmp_path / "sampling.md").exists()
    assert main(["experiment", "sampling", "--size", "test", "--out", str(tmp_path), "--no-progress"]) == 2


# -- every claim of every experiment, against a threshold written here beside the paper's value ----------------
def _cli(name, tmp_path_factory):
    """Run ``isxt experiment NAME --size test`` as a user would; returns (rc, stdout, output directory)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp(name)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["experiment", name, "--size", "test", "--out", str(out), "--no-progress"])
    return rc, buf.getvalue(), out


@pytest.fixture(scope="module")
def nullspace(tmp_path_factory):
    """nullspace at test size through the CLI (two of its claims FAIL there: a real failing case).

    The CLI's own call of ``isxt.experiments.run`` is recorded, so the claims' numbers come
    from the same run that set the exit status.
    """
    import isxt.experiments

    results = []
    original = isxt.experiments.run

    def recording(*args, **kwargs):
        results.append(original(*args, **kwargs))
        return results[-1]

    isxt.experiments.run = recording
    try:
        rc, out, directory = _cli("nullspace", tmp_path_factory)
    finally:
        isxt.experiments.run = original
    return rc, out, directory, results[0]


def _run_once(name):
    """A module fixture: experiment ``name`` at test size, run once for all its claim tests."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory):
        return run(name, size="test", out_dir=tmp_path_factory.mktemp(name), progress=False)

    return fixture


baselines = _run_once("baselines")
fractionation = _run_once("fractionation")
dof = _run_once("dof")
dose = _run_once("dose")
sampling = _run_once("sampling")


def _value(result, name):
    c = result["claims"][name]
    return c["value"], c


def test_cli_exits_1_exactly_when_a_claim_fails(nullspace, capsys):
    rc, out, directory, _ = nullspace
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert fails and rc == 1  # the real failing case: the null-space claims at test size
    assert "nullspace: 2 passed, 2 failed, 0 undecided of 4 claims" in out
    assert main(["experiment", "sampling", "--size", "test", "--out", str(directory / "s"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "sampling: 3 passed, 0 failed" in out


def test_nullspace_outputs(nullspace):
    _, _, directory, result = nullspace
    rows = _read_csv(directory / "nullspace.csv")
    assert list(rows[0])[:6] == ["method", "n_full", "psnr_volume", "psnr_roi", "null_volume", "null_roi"]
    assert {r["method"] for r in rows} == {"interior", "combined", "dense"}
    comb = sorted((r for r in rows if r["method"] == "combined"), key=lambda r: int(r["n_full"]))
    vol_null = [float(r["null_volume"]) for r in comb]
    assert all(a > b for a, b in zip(vol_null, vol_null[1:]))  # the volume null space shrinks with N_full
    _check_outputs(result, directory, "nullspace")


def test_nullspace_combined_beats_interior_by_6dB(nullspace):
    value, c = _value(nullspace[3], "combined_beats_interior_by_6dB")
    assert value >= 6.0, c  # paper Fig. 2: combined ≈ dense, far above interior (isxt paper size: +11.7 dB)


def test_nullspace_combined_within_1dB_of_dense(nullspace):
    value, c = _value(nullspace[3], "combined_within_1dB_of_dense")
    assert value <= 1.0, c  # paper Fig. 2: within 1 dB of the dense scan for N_full ≥ 20


def test_nullspace_null_roi_high_at_2_fails_at_test_size(nullspace):
    # paper: ROI null fraction at N_full = 2 is 2.24× the dense one (isxt paper size 2.22×, passes);
    # at test size only 1.32× — below the 1.5× threshold; docs/experiments.md says so plainly.
    value, c = _value(nullspace[3], "null_roi_high_at_2")
    assert c["passed"] is False and 1.0 < value < 1.5, c


def test_nullspace_null_roi_converges_by_9_fails(nullspace):
    # paper: combined/dense − 1 ≤ 15 % from N_full = 9; isxt: +17 % at test size, +25 % at paper size —
    # documented as failing in docs/experiments.md.
    value, c = _value(nullspace[3], "null_roi_converges_by_9")
    assert c["passed"] is False and value > 0.15, c


def test_baselines_combined_gt_interior(baselines):
    value, c = _value(baselines, "combined_gt_interior")
    assert value > 6.0, c  # paper §2.1: the sparse views remove the interior bias (≥ 6 dB in ROI PSNR)


def test_baselines_combined_gt_sparse(baselines):
    value, c = _value(baselines, "combined_gt_sparse")
    assert value > 0.0, c  # paper: the combined reconstruction resolves the ROI beyond the sparse scan


def test_baselines_combined_ge_sinogram_extension(baselines):
    value, c = _value(baselines, "combined_ge_sinogram_extension")
    assert value >= 0.0, c  # paper claim (e): combined ≥ sinogram extension (isxt paper size: +1.0 dB)


def test_baselines_combined_ge_sinogram_extension_with_calibration_mismatch(baselines):
    value, c = _value(baselines, "combined_ge_sinogram_extension_with_calibration_mismatch")
    assert value >= 0.0, c  # paper claim (e) with a 2–5 % calibration mismatch of the sparse data


def test_baselines_outputs(baselines, tmp_path):
    rows = baselines["rows"]
    assert {r["method"] for r in rows if r["sparse_scale"] == 1.0} == {
        "interior", "sparse", "sinogram_extension", "combined", "dense"}


def test_fractionation_holds_at_low_dose(fractionation):
    value, c = _value(fractionation, "fractionation_holds_at_low_dose")
    assert value <= 1.0, c  # paper Fig. 12: identical FRC curves for 51–881 views at the lowest dose


def test_fractionation_sparse_sampling_matters_at_high_dose(fractionation):
    value, c = _value(fractionation, "sparse_sampling_matters_at_high_dose")
    assert value > 1.0, c  # paper Fig. 12: a loss at the sparsest sampling only at 100× the dose


def test_fractionation_unresolved_frc_is_nan(fractionation):
    rows = fractionation["rows"]
    assert all(np.isnan(r["resolution_nm"]) or r["resolution_nm"] > 0 for r in rows)
    md = fractionation["outputs"]["md"].read_text()
    assert "not resolved at this sampling" in md


def test_dof_interior_falls_towards_edge(dof):
    value, c = _value(dof, "interior_falls_towards_edge")
    assert value >= 1.0, c  # paper Fig. 3: interior-only PSNR falls 20.6 → 19.3 dB (1.3 dB) towards the ROI edge


def test_dof_combined_flat_towards_edge(dof):
    value, c = _value(dof, "combined_flat_towards_edge")
    assert value <= 0.5, c  # paper Fig. 3: combined 23.0 → 22.4 dB (0.6 dB); threshold max(0.5, half the interior's)


def test_dof_combined_ge_interior_at_edge(dof):
    value, c = _value(dof, "combined_ge_interior_at_edge")
    assert value > 0.0, c  # paper Fig. 3: combined 22.4 dB vs interior 19.3 dB at r = 2.8 µm


def test_dof_35nm_resolves_better_than_60nm_is_undecided_at_test_size(dof):
    # paper: 61 nm (35 nm lens) vs 79 nm (60 nm lens); isxt paper size 44 vs 63 nm (passes).
    # At test size no FRC crosses 1/7: not resolved at this sampling, so the claim is undecided, never PASS.
    value, c = _value(dof, "35nm_resolves_better_than_60nm")
    assert c["passed"] is None and np.isnan(value), c
    assert "not resolved at this sampling" in c["detail"]
    rows = _read_csv(dof["outputs"]["csv"])
    assert all(r["resolution_nm"] == "nan" for r in rows)  # NaN in the CSV, never a placeholder


def test_dose_combined_beats_full_at_low_n_full(dose):
    value, c = _value(dose, "combined_beats_full_at_low_n_full")
    assert value > 0.0, c  # paper Fig. 5: combined above the equal-dose full scan (isxt paper size: +0.06 dB)


def test_dose_deconvolution_raises_combined(dose):
    value, c = _value(dose, "deconvolution_raises_combined")
    assert value > 0.0, c  # paper Fig. 5: the PSF model raises the combined ROI PSNR (isxt paper size +0.8 dB)


def test_dose_ratio_and_maps(dose):
    # paper §3.2: D_full / D_ROI = 2.3 for its ROI; isxt 2.27 at the default size, 2.07 at paper size;
    # the ratio grows as the ROI shrinks relative to the cell, and the test size's ROI gives 1.726.
    assert dose["dose_ratio"] == pytest.approx(1.726, rel=0.02)
    means = [m["mean_gy"] for m in dose["dose_maps"].values()]
    assert max(means) / min(means) < 1.1  # equal total dose by Eq. 13
    roi = [m["roi_gy"] for m in dose["dose_maps"].values()]
    assert roi[2] > 1.2 * roi[0]  # ... concentrated in the ROI by the combined protocol
    comb = sorted((r for r in dose["rows"] if r["protocol"] == "combined"), key=lambda r: r["n_full"])
    for r in comb:  # Eq. 13: the interior intensity falls linearly with N_full
        expected = r["photons_full"] * dose["dose_ratio"] * (24 - r["n_full"]) / 24
        assert r["photons_interior"] == pytest.approx(expected, rel=1e-6)


def test_sampling_paper_60nm_98pct(sampling):
    value, c = _value(sampling, "paper_60nm_98pct")
    assert abs(value - 656) <= 6.56, c  # paper Fig. 11: 656 views for the 60 nm lens at 98 % OTF power


def test_sampling_35nm_needs_more_views_up_to_nyquist(sampling):
    value, c = _value(sampling, "35nm_needs_more_views_up_to_nyquist")
    assert 656 < value <= 1257, c  # paper: 1256 views, the Nyquist limit πR = 1257


def test_sampling_more_power_needs_more_views(sampling):
    value, c = _value(sampling, "more_power_needs_more_views")
    assert value == 0, c  # paper Fig. 11: N_a rises with the captured OTF power for every lens


def test_simulate_writes_a_readable_acquisition(tmp_path):
    from isxt.acquisition import load_acquisition
    from isxt.io import read_volume

    out = tmp_path / "sim"
    assert main(["simulate", "--size", "test", "--out", str(out), "--n-full", "7", "--photons", "5000",
                 "--roi-center", "0.3", "-0.2", "--seed", "3"]) == 0
    acq = load_acquisition(out / "acquisition.toml")
    by_name = {s.name: s for s in acq.scans}
    assert by_name["sparse"].angles_rad.size == 7
    assert by_name["interior"].center_um[:2] == pytest.approx((0.3, -0.2))
    truth, voxel = read_volume(out / "truth.mrc")
    assert voxel == pytest.approx(acq.volume.voxel_size_um)
    assert np.asarray(truth).shape == acq.volume.shape
    # outputs are never overwritten without --force
    assert main(["simulate", "--size", "test", "--out", str(out)]) == 2
    assert main(["simulate", "--size", "test", "--out", str(tmp_path / "x"), "--phantom", "nofile.mrc"]) == 2
