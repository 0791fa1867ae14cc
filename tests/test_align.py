"""Alignment (App. B.1): NCC cache, full-field and interior alignment on simulated drift."""

import numpy as np
import pytest

from isxt.align import (
    AlignmentResult,
    align_full_field,
    align_interior,
    classify_frames,
    gauge_difference,
    gauge_shifts,
    make_anchors,
    ncc,
    ncc_map,
    plot_shifts,
    read_shifts_csv,
    remove_gauge,
    shift_image,
    simulate_drift,
    write_shifts_csv,
)
from isxt.errors import InputError
from _align_blob import blob_cell_phantom, rms_px, simulate_combined
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.projectors import projector

PHOTONS = 3000.0


def _smooth_image(shape=(40, 60), seed=0):
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(np.random.default_rng(seed).normal(size=shape), 2.0)
    return img


@pytest.fixture(scope="module")
def sim19():
    return simulate_combined(19, "180", photons=PHOTONS, seed=0)


@pytest.fixture(scope="module")
def aligned19(sim19):
    """Both steps through the Scan-level API (the CLI test checks they equal the array-level ones)."""
    from isxt.align import align_scans
    from isxt.reconstruct import Scan

    res = align_scans(Scan(sim19["sparse_scan"], sim19["sparse_data"]),
                      Scan(sim19["interior_scan"], sim19["interior_data"]), full_field={"iterations": 3})
    return res["full"], res["interior"]


# -- NCC (Eq. 15) and its cache -----------------------------------------------------------
def test_ncc_is_one_for_affine_copies_and_minus_one_for_negatives():
    a = _smooth_image()
    assert ncc(a, 3 * a + 2) == pytest.approx(1.0)
    assert ncc(a, -a) == pytest.approx(-1.0)
    assert ncc(a, np.ones_like(a)) == 0.0


def test_ncc_map_peaks_at_the_integer_shift_that_maps_moving_onto_fixed():
    fixed = _smooth_image()
    moving = np.roll(fixed, (-3, 5), axis=(0, 1))  # content moved by (-3, +5)
    best, score = ncc_map(fixed, moving[4:-4, 6:-6], max_shift=12, offset=(4, 6)).best()
    assert tuple(best) == (3.0, -5.0)
    assert score == pytest.approx(1.0, abs=1e-9)
    # the overlap-normalised value equals Eq. 15 on the overlap
    nmap = ncc_map(fixed, moving, max_shift=6)
    direct = ncc(fixed[2:, :], np.roll(moving, (2, 0), axis=(0, 1))[2:, :])
    assert nmap.at((2, 0)) == pytest.approx(direct, abs=1e-9)


def test_bicubic_ncc_spline_finds_subpixel_shifts():
    fixed = _smooth_image(seed=3)
    true = np.array([1.3, -2.6])
    moving = shift_image(fixed, -true)  # moving shifted by +true is fixed again
    nmap = ncc_map(fixed[5:-5, 5:-5], moving[5:-5, 5:-5], max_shift=8)
    coarse, _ = nmap.best()
    peak, value = nmap.spline(coarse, 3).peak()
    assert np.allclose(peak, true, atol=0.1)
    f, g = nmap.spline(coarse, 3).value_and_grad(peak)
    assert f == pytest.approx(value) and np.all(np.abs(g) < 1e-3)


# -- drift, gauge, flags --------------------------------------------------------------------
def test_simulated_drift_is_a_seeded_random_walk_plus_jitter():
    walk = simulate_drift(4000, step_um=0.01, jitter_um=0.0, seed=1)
    assert np.allclose(walk[0], 0.0)
    assert np.std(np.diff(walk, axis=0)) == pytest.approx(0.01, rel=0.05)
    jitter = simulate_drift(4000, step_um=0.0, jitter_um=0.02, seed=1)
    assert np.std(jitter) == pytest.approx(0.02, rel=0.05)
    assert np.array_equal(simulate_drift(10, seed=7), simulate_drift(10, seed=7))


def test_gauge_removes_exactly_the_object_translation_part():
    angles = np.radians(np.arange(19) * 10.0)
    rng = np.random.default_rng(0)
    s = rng.normal(size=(19, 2))
    g = remove_gauge(s, angles)
    assert abs(g[:, 1].mean()) < 1e-12
    basis = np.column_stack([np.ones(19), np.cos(angles), np.sin(angles)])
    # residual of du is orthogonal to cos and sin after refitting the constant
    coef = np.linalg.lstsq(basis, g[:, 0], rcond=None)[0]
    assert np.allclose(coef[1:], 0, atol=1e-12)
    # a pure translation (a cosθ + b sinθ, const dz) is entirely gauge
    t = np.column_stack([0.3 * np.cos(angles) - 0.2 * np.sin(angles), np.full(19, 0.5)])
    assert np.allclose(remove_gauge(s + t, angles), g)


def test_frames_are_classified_blank_saturated_ok():
    rng = np.random.default_rng(0)
    stack = np.abs(rng.normal(1.0, 0.3, size=(4, 16, 16)))
    stack[1] = 0.005 * rng.normal(size=(16, 16))  # beam off: no contrast
    stack[2] = np.minimum(stack[2] * 5, 1.0)  # clipped absorption
    assert classify_frames(stack) == ["ok", "blank", "saturated", "ok"]


# -- anchors: resampling, sign and mirror views ----------------------------------------------
def test_anchors_reproduce_interior_views_and_mirrors_flip_u():
    from scipy.ndimage import gaussian_filter

    vol = VolumeGeometry((12, 64, 64), 0.05)
    x = gaussian_filter(blob_cell_phantom(vol, seed=2), 1.0)  # band-limited: cubic resampling is accurate
    theta = np.radians(30.0)
    interior = ScanGeometry([theta], (16, 32), 0.05, center_um=(0.2, -0.3, 0.0))
    shifts = np.array([[0.13, -0.07], [-0.11, 0.06]])  # µm, known to the full-field geometry
    full = ScanGeometry([theta, theta + np.pi], (16, 96), 0.05).with_shifts(shifts)
    full_data = projector(vol, full).forward(x)
    truth = projector(vol, interior).forward(x)[0]
    anchors = make_anchors(full, full_data, interior, use_mirrors=True)
    direct = next(a for a in anchors if a.full_index == 0 and not a.mirrored)
    mirror = next(a for a in anchors if a.full_index == 1 and a.mirrored)
    assert mirror.angle == pytest.approx(theta)
    for a in (direct, mirror):  # equal up to the cubic interpolation of sub-pixel shifts
        assert np.sqrt(np.mean((a.image - truth) ** 2)) < 0.03 * np.sqrt(np.mean(truth**2))
        assert ncc(a.image, truth) > 0.999
    # ignoring the full-field shifts makes the anchor visibly wrong: the sign matters
    wrong = make_anchors(full.with_shifts(-shifts), full_data, interior, use_mirrors=False)[0]
    assert ncc(wrong.image, truth) < ncc(direct.image, truth) - 0.01


# -- full-field alignment ----------------------------------------------------------------------
def test_full_field_alignment_recovers_known_shifts_with_19_views(sim19, aligned19):
    ff, _ = aligned19
    truth = sim19["sparse_true"]  # already in the full-field gauge
    err = rms_px(ff.shifts_um, truth, sim19["sparse_scan"].pixel_size_um)
    assert err < 0.3
    assert rms_px(np.zeros_like(truth), truth, sim19["sparse_scan"].pixel_size_um) > 3 * err
    assert ff.flags == ["ok"] * 19


def test_full_field_gauge_makes_object_translations_invisible(sim19):
    """Data of a drift with an added cosθ/sinθ and constant-dv part align to the same gauge-fixed shifts."""
    sc = sim19["sparse_scan"]
    a = sc.angles
    extra = np.column_stack([0.06 * np.cos(a) + 0.04 * np.sin(a), np.full(sc.n_angles, 0.05)])
    data = projector(sim19["volume"], sc.with_shifts(sim19["sparse_true"] + extra)).forward(sim19["phantom"])
    ff = align_full_field(sc, data, iterations=1)
    assert rms_px(ff.shifts_um, sim19["sparse_true"], sc.pixel_size_um) < 0.3


# -- interior alignment (Eq. 14) --------------------------------------------------------------
def test_interior_alignment_with_19_anchors(sim19, aligned19):
    _, it = aligned19
    p = sim19["interior_scan"].pixel_size_um
    assert it.info["n_anchors"] >= 19
    err = rms_px(it.shifts_um, sim19["interior_true"], p)
    assert err < 0.5
    assert rms_px(np.zeros((92, 2)), sim19["interior_true"], p) > 5 * err
    assert it.flags == ["ok"] * 92


def test_interior_alignment_degrades_gracefully_at_10_anchors():
    sim = simulate_combined(10, "180", photons=PHOTONS, seed=0)
    ff = align_full_field(sim["sparse_scan"], sim["sparse_data"], iterations=2)
    it = align_interior(sim["interior_scan"], sim["interior_data"],
                        sim["sparse_scan"].with_shifts(ff.shifts_um), sim["sparse_data"])
    assert rms_px(it.shifts_um, sim["interior_true"], sim["interior_scan"].pixel_size_um) < 1.5


def test_mirror_views_of_a_360_scan_serve_as_anchors():
    from isxt.align import anchor_pairs

    sim = simulate_combined(12, "360", photons=PHOTONS, seed=1)
    ff = align_full_field(sim["sparse_scan"], sim["sparse_data"], iterations=1)
    full = sim["sparse_scan"].with_shifts(ff.shifts_um)
    it = align_interior(sim["interior_scan"], sim["interior_data"], full, sim["sparse_data"], full_flags=ff.flags)
    assert any(m for _, _, m in it.info["anchor_pairs"])
    without = make_anchors(full, sim["sparse_data"], sim["interior_scan"], use_mirrors=False)
    n_without = len({j for _, j in anchor_pairs(sim["interior_scan"].angles, without)})
    assert it.info["n_anchors"] >= 12 > n_without
    assert rms_px(it.shifts_um, sim["interior_true"], sim["interior_scan"].pixel_size_um) < 1.0


def test_combined_reconstruction_after_alignment_matches_true_shifts(sim19, aligned19):
    from isxt.metrics import psnr
    from isxt.reconstruct import Scan, reconstruct

    ff, it = aligned19
    vol = sim19["volume"]
    isc, ssc = sim19["interior_scan"], sim19["sparse_scan"]

    def recon(s_int, s_sp):
        scans = [Scan(isc.with_shifts(s_int), sim19["interior_data"], name="interior"),
                 Scan(ssc.with_shifts(s_sp), sim19["sparse_data"], name="sparse")]
        return reconstruct(scans, vol, method="cgls", iterations=10)

    roi = vol.radial_distance(center_xy_um=isc.center_um[:2]) < 0.45 * isc.width
    truth = sim19["phantom"]
    ref = psnr(recon(sim19["interior_true"], sim19["sparse_true"]), truth, mask=roi)
    est = psnr(recon(it.shifts_um, ff.shifts_um), truth, mask=roi)
    unaligned = psnr(recon(np.zeros((92, 2)), np.zeros((19, 2))), truth, mask=roi)
    assert est > ref - 1.0
    assert unaligned < ref - 1.0  # the check can fail: drift does hurt


# -- robustness -----------------------------------------------------------------------------------
def test_bad_frames_and_a_jump_are_flagged_without_derailing_the_rest(sim19, aligned19):
    ff, _ = aligned19
    p = sim19["interior_scan"].pixel_size_um
    data = sim19["interior_data"].copy()
    truth = sim19["interior_true"].copy()
    rng = np.random.default_rng(0)
    data[20] = 0.002 * rng.normal(size=data[20].shape)  # blank
    data[50] = np.minimum(data[50] * 10, 0.5 * data[50].max())  # saturated
    jump = np.array([12 * p, 0.0])  # a sudden 12-pixel jump of one view
    truth[70] += jump
    volume, phantom = sim19["volume"], sim19["phantom"]
    data[70] = projector(volume, sim19["interior_scan"][[70]].with_shifts(truth[[70]])).forward(phantom)[0]
    # a blank full-field view and a full-field jump too
    sdata = sim19["sparse_data"].copy()
    sdata[7] = 0.0
    struth = sim19["sparse_true"].copy()
    struth[12] += [0.96, 0.0]  # 12 sparse pixels
    sdata[12] = projector(volume, sim19["sparse_scan"][[12]].with_shifts(struth[[12]])).forward(phantom)[0]
    ff_bad = align_full_field(sim19["sparse_scan"], sdata, iterations=2)
    assert ff_bad.flags[7] == "blank" and ff_bad.flags[12] == "outlier"
    assert set(ff_bad.flagged) == {7, 12}
    good_ff = [i for i in range(19) if i not in (7, 12)]
    # the gauge is fitted without the flagged views: compare in that frame, interior truth included
    ang = sim19["sparse_scan"].angles
    shift_frame = gauge_difference(ff_bad.shifts_um, struth, ang, weights=np.isin(np.arange(19), good_ff))
    assert np.all(np.abs(shift_frame) < 0.3 * 0.08)  # one jump does not move the frame by much
    struth = struth + gauge_shifts(shift_frame, ang)
    truth = truth + gauge_shifts(shift_frame, sim19["interior_scan"].angles)
    assert rms_px(ff_bad.shifts_um, struth, 0.08, rows=good_ff) < 0.3
    assert rms_px(ff_bad.shifts_um, struth, 0.08, rows=[12]) < 0.5  # the jump itself is followed
    it = align_interior(sim19["interior_scan"], data, sim19["sparse_scan"].with_shifts(ff_bad.shifts_um), sdata,
                        full_flags=ff_bad.flags)
    assert it.flags[20] == "blank" and it.flags[50] == "saturated" and it.flags[70] == "outlier"
    assert set(it.flagged) == {20, 50, 70}
    assert any("blank" in line for line in it.report())
    rest = [i for i in range(92) if i not in (20, 50, 70)]
    assert rms_px(it.shifts_um, truth, p, rows=rest) < 0.5
    assert rms_px(it.shifts_um, truth, p, rows=[70]) < 1.0  # the jump itself is followed
    # flagged blank/saturated views get shifts interpolated from their neighbours
    assert np.allclose(it.shifts_um[20], 0.5 * (it.shifts_um[19] + it.shifts_um[21]), atol=1e-9)
    assert np.allclose(ff_bad.shifts_um[7], 0.5 * (ff_bad.shifts_um[6] + ff_bad.shifts_um[8]), atol=1e-9)


# -- the shifts file -----------------------------------------------------------------------------
def test_shifts_csv_round_trip_and_plot(tmp_path, sim19, aligned19):
    _, it = aligned19
    it.flags[3] = "lowcorr"
    path = write_shifts_csv(tmp_path / "interior_shifts.csv", it)
    header = path.read_text().splitlines()[0]
    assert header == "index,angle_deg,du_um,dv_um,du_px,dv_px,flag"
    back = read_shifts_csv(path, n_angles=92, angles=sim19["interior_scan"].angles)
    assert np.allclose(back.shifts_um, it.shifts_um, atol=1e-6)
    assert back.flags == it.flags and back.pixel_size_um == pytest.approx(0.04, rel=1e-3)
    it.flags[3] = "ok"
    with pytest.raises(InputError, match="angles do not match"):
        read_shifts_csv(path, angles=sim19["interior_scan"].angles + 0.1)
    with pytest.raises(InputError, match="92 views"):
        read_shifts_csv(path, n_angles=19)
    bad = tmp_path / "bad.csv"
    bad.write_text("index,angle_deg,du_um\n0,0,0\n")
    with pytest.raises(InputError, match="lacks column"):
        read_shifts_csv(bad)
    png = plot_shifts(tmp_path / "shifts.png", {"interior": it}, anchors_deg=[0.0, 20.0])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_alignment_result_reports_pixels():
    r = AlignmentResult(np.array([[0.08, -0.04]]), ["ok"], np.array([0.0]), 0.04)
    assert np.allclose(r.shifts_px, [[2.0, -1.0]]) and r.report() == []


def test_full_field_scan_shifts_are_a_baseline_that_passes_through(sim19):
    """Crop offsets (or a previous alignment) in the geometry: the gauge acts on the departure from them."""
    sc = sim19["sparse_scan"]
    offset = np.tile([0.24, -0.16], (sc.n_angles, 1))  # e.g. a crop: 3 and -2 sparse pixels
    data = projector(sim19["volume"], sc.with_shifts(sim19["sparse_true"] + offset)).forward(sim19["phantom"])
    ff = align_full_field(sc.with_shifts(offset), data, iterations=1)
    assert rms_px(ff.shifts_um, sim19["sparse_true"] + offset, sc.pixel_size_um) < 0.3


# -- the command line ---------------------------------------------------------------------------
def test_cli_align_writes_the_shifts_the_python_api_finds(tmp_path, sim19, aligned19, capsys):
    from isxt.acquisition import load_acquisition
    from isxt.cli import main

    ff, it = aligned19
    np.save(tmp_path / "interior.npy", sim19["interior_data"])
    np.save(tmp_path / "sparse.npy", sim19["sparse_data"])
    isc, ssc = sim19["interior_scan"], sim19["sparse_scan"]
    deg = lambda a: "[" + ", ".join(f"{v:.6f}" for v in np.degrees(a)) + "]"  # noqa: E731
    toml = f"""
[volume]
shape = [32, 128, 128]
voxel_size_um = 0.04

[[scan]]
name = "interior"
file = "interior.npy"
kind = "absorption"
angles = {deg(isc.angles)}
angle_unit = "deg"
pixel_size_um = 0.04
center_um = [0.3, -0.2, 0.0]

[[scan]]
name = "sparse"
file = "sparse.npy"
kind = "absorption"
angles = {deg(ssc.angles)}
angle_unit = "deg"
pixel_size_um = 0.08

[output]
dir = "out"
"""
    (tmp_path / "acq.toml").write_text(toml)
    rc = main(["align", str(tmp_path / "acq.toml"), "--refine", "0", "--no-guard"])  # the anchor step alone
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "interior (interior, 92 views)" in out.out and "sparse (full-field, 19 views)" in out.out
    got_it = read_shifts_csv(tmp_path / "out" / "interior_shifts.csv", angles=isc.angles)
    got_ff = read_shifts_csv(tmp_path / "out" / "sparse_shifts.csv", angles=ssc.angles)
    assert np.allclose(got_ff.shifts_um, ff.shifts_um, atol=1e-4)
    assert np.allclose(got_it.shifts_um, it.shifts_um, atol=1e-4)
    assert (tmp_path / "out" / "alignment_shifts.png").read_bytes()[:4] == b"\x89PNG"
    # existing outputs are not overwritten without --force
    assert main(["align", str(tmp_path / "acq.toml")]) == 2
    assert "exist" in capsys.readouterr().err
    # the acquisition picks the files up as the scans' shifts
    (tmp_path / "acq.toml").write_text(
        toml.replace('center_um = [0.3, -0.2, 0.0]', 'center_um = [0.3, -0.2, 0.0]\nshifts = "out/interior_shifts.csv"')
    )
    acq = load_acquisition(tmp_path / "acq.toml", check_memory=False)
    assert np.allclose(acq.scan("interior").geometry().shifts_um, it.shifts_um, atol=1e-5)


def test_bad_inputs_raise_one_clear_error():
    tiny = ScanGeometry(np.radians([0.0, 2.0, 4.0]), (4, 12), 0.04)
    full = ScanGeometry(np.radians([0.0, 2.0, 4.0]), (16, 32), 0.08)
    with pytest.raises(InputError, match="too small to register"):
        align_interior(tiny, np.ones(tiny.shape), full, np.ones(full.shape))
    with pytest.raises(InputError, match="does not match"):
        align_full_field(full, np.ones((2, 16, 32)))
    with pytest.raises(InputError, match="fewer than 3 usable views"):
        align_full_field(full, np.zeros(full.shape))


@pytest.mark.parametrize("options", [{"objective": "ncc"}, {"weights": "components"}, {"anchor_weight": 25.0}])
def test_interior_alignment_options_recover_known_shifts(sim19, aligned19, options):
    """The paper's L-BFGS-B on Eq. 14, variance components and a fixed anchor weight: each a working path."""
    ff, _ = aligned19
    it = align_interior(sim19["interior_scan"], sim19["interior_data"], sim19["sparse_scan"].with_shifts(ff.shifts_um),
                        sim19["sparse_data"], full_flags=ff.flags, **options)
    assert rms_px(it.shifts_um, sim19["interior_true"], sim19["interior_scan"].pixel_size_um) < 0.5
    assert it.info["optimizer"]["nit"] > 0 if options.get("objective") == "ncc" else it.info["optimizer"]["nit"] == 0


@pytest.mark.parametrize("bad", [{"objective": "newton"}, {"weights": "equal"}])
def test_interior_alignment_names_an_unknown_option(sim19, aligned19, bad):
    from isxt.errors import InputError

    ff, _ = aligned19
    with pytest.raises(InputError, match=f"{next(iter(bad))}={next(iter(bad.values()))!r} is not one of"):
        align_interior(sim19["interior_scan"], sim19["interior_data"], sim19["sparse_scan"].with_shifts(ff.shifts_um),
                       sim19["sparse_data"], **bad)
