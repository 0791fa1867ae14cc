"""Issue 10: alignment on off-axis ROIs of a 3D cell (finer-grid simulation), the residual guard,
misaligned data on demand, and the shifts pickup of ``isxt reconstruct``."""

import numpy as np
import pytest

from isxt.align import align_full_field, align_interior, read_shifts_csv
from isxt.align.displace import make_displacement
from isxt.align.prefilter import bandpass
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.phantoms import cell_phantom
from isxt.projectors import projector

NZ, N, S = 12, 64, 0.05  # 12 slices of 64² voxels of 50 nm; data from the 2x finer grid


@pytest.fixture(scope="module")
def cell():
    vol = VolumeGeometry((NZ, N, N), S)
    fine = VolumeGeometry((2 * NZ, 2 * N, 2 * N), S / 2)
    lac = np.asarray(cell_phantom(fine, seed=1).lac, np.float32)
    radius = 0.85 * vol.extent[0] / 2  # cell_phantom's default diameter
    return vol, fine, lac, radius


def _noisy(y, photons, seed):
    rng = np.random.default_rng(seed)
    return (-np.log(np.maximum(rng.poisson(photons * np.exp(-y)), 1) / photons)).astype(np.float32)


def test_bandpass_removes_ramps_and_keeps_structure():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:30, 0:50]
    structure = bandpass(rng.normal(size=(30, 50)), 1.0, 4.0)
    ramp = 0.3 * cols + 0.1 * rows + 0.002 * cols**2
    out = bandpass(structure + ramp, 0.0, 4.0)[8:-8, 8:-8]
    ref = bandpass(structure, 0.0, 4.0)[8:-8, 8:-8]
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.99


@pytest.mark.slow
@pytest.mark.parametrize("frac", [(0.6, 0.0), (0.0, -0.6), (0.4, 0.4), (-0.3, 0.5)])
def test_anchor_step_is_exact_on_undisplaced_off_axis_rois(cell, frac):
    """Before the band-pass prefilter the anchor NCC locked onto the absorption ramp (7–10 px here)."""
    vol, fine, lac, radius = cell
    rc = (frac[0] * radius, frac[1] * radius)
    it = ScanGeometry.interior(vol, 40, S, 1.6, rc)
    sp = ScanGeometry.full_field(vol, 10, 2 * S)
    yi = _noisy(projector(fine, it).forward(lac), 5000.0, 1)
    ys = _noisy(projector(fine, sp).forward(lac), 5000.0, 2)
    ff = align_full_field(sp, ys, iterations=2)
    assert np.sqrt(np.mean(np.sum(ff.shifts_px**2, axis=1))) < 0.3
    res = align_interior(it, yi, sp.with_shifts(ff.shifts_um), ys, full_flags=ff.flags)
    anchored = res.info["anchored_views"]
    obs = np.array([a for _, a in res.info["anchor_obs_px"]])
    assert len(obs) == len(anchored) >= 9
    # the anchor observations sit within 0.4 px of the truth (zero) with noise on 12 rows: the ramp no longer wins
    assert np.sqrt(np.mean(np.sum(obs**2, axis=1))) < 0.4
    # the solution weighs each anchor against its pairs by their variances (no longer 25:1), and on 12 rows at
    # 4.5° steps (under the ROI's Nyquist sampling) the pairs are noisy: the anchored views move a little
    assert np.sqrt(np.mean(np.sum(res.shifts_px[anchored] ** 2, axis=1))) < 0.5
    # views between anchors rest on neighbour pairs; this short, under-sampled stack is outside what isxt align
    # is measured for (docs/alignment.md), but the ramp lock itself (7–10 px on these cases before) is gone
    assert np.sqrt(np.mean(np.sum(res.shifts_px**2, axis=1))) < 1.0


@pytest.mark.slow
def test_residual_guard_keeps_input_shifts_that_fit_better(cell):
    from isxt.align.pipeline import align_acquisition, guard_line
    from isxt.align.refine import combined_residual
    from isxt.reconstruct import Scan

    vol, fine, lac, radius = cell
    it = ScanGeometry.interior(vol, 30, S, 1.6, (0.5 * radius, -0.3 * radius))
    sp = ScanGeometry.full_field(vol, 10, 2 * S)
    true_i = make_displacement(30, 2.0, 0.5, seed=4).shifts_px * S
    true_s = make_displacement(10, 1.0, 0.3, seed=5).shifts_px * 2 * S
    # the input shifts are the truth: no estimate can fit the noiseless data better
    full = Scan(sp.with_shifts(true_s), projector(fine, sp.with_shifts(true_s)).forward(lac), name="sparse")
    inter = Scan(it.with_shifts(true_i), projector(fine, it.with_shifts(true_i)).forward(lac), name="interior")
    results, info = align_acquisition(full, [inter], volume=vol, full_iterations=1, refine=1)
    r_in = combined_residual([full, inter], vol)
    assert info["residual_input"] == pytest.approx(r_in)
    if info["accepted"]:
        assert info["residual_aligned"] < info["residual_input"]
    else:
        assert np.array_equal(results["interior"].shifts_um, true_i)
        assert np.array_equal(results["sparse"].shifts_um, true_s)
        assert "REJECTED" in guard_line(info)
    # whatever the verdict, what is returned never fits worse than the input
    import dataclasses

    chosen = [dataclasses.replace(s, geometry=s.geometry.with_shifts(results[s.name].shifts_um)) for s in (full, inter)]
    assert combined_residual(chosen, vol) <= r_in * (1 + 1e-6)


def test_displacement_is_seeded_and_bounded():
    a = make_displacement(40, 4.0, 1.0, jumps=1, blank=2, seed=7)
    b = make_displacement(40, 4.0, 1.0, jumps=1, blank=2, seed=7)
    assert np.array_equal(a.shifts_px, b.shifts_px)
    walk = a.shifts_px.copy()
    walk[a.jumps, 0] -= 10.0
    assert np.all(np.abs(walk) <= 4.0 + 1.0 + 1e-9)
    assert set(a.jumps).isdisjoint(a.blank) and len(a.blank) == 2
    assert [a.flags[i] for i in a.blank] == ["blank", "blank"] and a.flags[a.jumps[0]] == "outlier"


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """isxt simulate --drift → isxt align -o A/out → isxt reconstruct -o A/out, as a user runs them."""
    from isxt.cli import main

    root = tmp_path_factory.mktemp("loop")
    acq = root / "A" / "acquisition.toml"
    assert main(["simulate", "--size", "test", "--rows", "12", "--drift", "2", "--jitter", "1", "--jumps", "1",
                 "--blank", "1", "--roi-center", "0.6", "-0.4", "-o", str(root / "A")]) == 0
    return root, acq


def test_simulate_writes_truth_in_the_align_csv_format(loop):
    root, acq = loop
    for name, n in (("interior", None), ("sparse", 19)):
        truth = read_shifts_csv(root / "A" / f"truth_{name}_shifts.csv", n_angles=n)
        assert np.all(np.isfinite(truth.shifts_um)) and np.abs(truth.shifts_px).max() > 0.5
    it = read_shifts_csv(root / "A" / "truth_interior_shifts.csv")
    assert it.flags.count("blank") == 1 and it.flags.count("outlier") == 1
    from isxt.io import read_stack

    stack = read_stack(root / "A" / "interior.mrc").data
    assert stack.shape[1] == 12  # --rows
    blank = it.flags.index("blank")
    assert np.allclose(stack[blank], 1.0)  # noiseless: a flat field


@pytest.mark.slow
def test_cli_loop_align_then_reconstruct_picks_up_the_output_directory(loop, capsys):
    import json

    from isxt.cli import main
    from isxt.provenance import sha256

    root, acq = loop
    out = root / "A" / "out"
    assert main(["align", str(acq), "-o", str(out), "--truth", str(root / "A"), "--refine", "1"]) == 0
    text = capsys.readouterr().out
    assert "residual guard:" in text and "truth interior: RMS error" in text and "truth sparse: RMS error" in text
    truth = read_shifts_csv(root / "A" / "truth_interior_shifts.csv")
    blank, jump = truth.flags.index("blank"), truth.flags.index("outlier")
    assert f"flagged view {blank} " in text and f"flagged view {jump} " in text  # the blank frame and the jump
    est = read_shifts_csv(out / ("interior_shifts.rejected.csv" if "REJECTED" in text else "interior_shifts.csv"))
    # a 10 px jump in a 20-column stack: flagged (recovered on wider stacks: test_align_loop.py)
    assert est.flags[blank] == "blank" and est.flags[jump] in ("outlier", "lowcorr")
    header = (out / "interior_shifts.csv").read_text().splitlines()[0]
    assert header.startswith("# residual guard:")
    prov = json.loads((out / "alignment_provenance.json").read_text())
    assert set(prov["result"]["guard"]) == {"residual_input", "residual_aligned", "accepted"}
    if not prov["result"]["guard"]["accepted"]:
        assert (out / "interior_shifts.rejected.csv").is_file()
    # stale shifts in the TOML's [output] dir must not be used when -o names another directory
    stale = root / "A" / "recon"
    stale.mkdir()
    (stale / "interior_shifts.csv").write_text("index,angle_deg,du_um,dv_um,du_px,dv_px,flag\n")
    assert main(["reconstruct", str(acq), "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"scan 'interior': shifts {out / 'interior_shifts.csv'}" in text
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["shifts"]["interior"]["sha256"] == sha256(out / "interior_shifts.csv")
    # --no-shifts turns the pickup off
    assert main(["reconstruct", str(acq), "-o", str(root / "B"), "--no-shifts", "--no-progress"]) == 0
    assert "scan 'interior': shifts none" in capsys.readouterr().out


def test_shifts_none_in_the_toml_turns_pickup_off(loop, tmp_path):
    from isxt.acquisition import load_acquisition

    root, acq = loop
    (tmp_path / "interior_shifts.csv").write_text(
        (root / "A" / "truth_interior_shifts.csv").read_text())
    text = acq.read_text().replace('name = "interior"', 'name = "interior"\nshifts = "none"')
    text = text.replace('file = "', f'file = "{root / "A"}/').replace('angles = "', f'angles = "{root / "A"}/')
    (tmp_path / "acq.toml").write_text(text)
    a = load_acquisition(tmp_path / "acq.toml", output_dir=tmp_path)
    assert a.scan("interior").shifts_um is None
    b = load_acquisition(tmp_path / "acq.toml".replace("acq", "acq"), output_dir=tmp_path, pickup_shifts=True)
    assert b.scan("interior").sources.get("shifts") == "none"


def test_align_on_a_too_short_stack_is_one_error_line_not_a_traceback(tmp_path, capsys):
    """isxt simulate --size test has 2 interior rows and 1 sparse row: the full field keeps its mass
    centres (no registration on 1 row), the interior step refuses with exit 2 and one line."""
    from isxt.cli import main

    assert main(["simulate", "--size", "test", "-o", str(tmp_path / "T")]) == 0
    capsys.readouterr()
    assert main(["align", str(tmp_path / "T" / "acquisition.toml"), "-o", str(tmp_path / "al")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too small to register" in err[0] and "--rows 20" in err[0]
    assert not (tmp_path / "al" / "interior_shifts.csv").exists()


def test_simulate_refuses_more_sparse_views_than_interior_angles(tmp_path, capsys):
    from isxt.cli import main

    out = tmp_path / "E"
    assert main(["simulate", "--size", "small", "--n-interior", "10", "--n-full", "19", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--n-full 19 is more than the 10 interior views" in err[0]
    assert not out.exists()
