"""The pieces of the interior solve (issue 10): parallax of neighbour pairs, the weighted robust least
squares with per-interval offsets, peak selection against the anchors, the NCC peak's variance, and the
combined protocol that isxt simulate and the alignment study acquire."""

import numpy as np
import pytest

from isxt.align import anchor_pairs, make_anchors, ncc_map
from isxt.align.parallax import pair_parallax_px, sample_centroid
from isxt.align.peaks import anchor_prior, choose_peaks, local_peaks
from isxt.align.prefilter import bandpass
from isxt.align.solve import segment_ids, solve_shifts
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.projectors import projector
from isxt.simulate.protocol import combined_scans


@pytest.mark.parametrize("roi_center", [(0.7, 0.0), (0.0, -0.9), (-0.5, 0.6)])
@pytest.mark.parametrize("point", [(0.0, 0.0), (0.4, -1.1), (-1.3, 0.2)])
def test_pair_parallax_is_the_motion_of_the_point_on_the_interior_detector(roi_center, point):
    """Independent truth: ScanGeometry.project_point of the same point at the two angles."""
    vol = VolumeGeometry((4, 64, 64), 0.05)
    it = ScanGeometry.interior(vol, 40, 0.05, 1.2, roi_center)
    u, _ = it.project_point(point[0], point[1], 0.0)
    for i, j in [(0, 1), (7, 8), (19, 21), (39, 38)]:
        expected = (u[j] - u[i]) / it.pixel_size_um
        assert pair_parallax_px(it, i, j, point) == pytest.approx(expected, abs=1e-9)
    assert pair_parallax_px(it, 0, 1, (np.nan, 0.0)) == 0.0  # unknown centroid: no correction


def test_sample_centroid_of_an_off_centre_object_survives_detector_shifts():
    vol = VolumeGeometry((4, 48, 48), 0.1)
    x = np.zeros(vol.shape, np.float32)
    x[:, 30:36, 10:14] = 1.0  # a bar centred at x = -1.2, y = 0.85 µm
    scan = ScanGeometry.full_field(vol, 15, 0.1)
    data = projector(vol, scan).forward(x)
    expected = (float(np.mean(vol.coords("x")[10:14])), float(np.mean(vol.coords("y")[30:36])))
    assert sample_centroid(scan, data) == pytest.approx(expected, abs=1e-3)
    rng = np.random.default_rng(3)
    shifts = np.column_stack([rng.uniform(-0.2, 0.2, 15), np.zeros(15)])  # a drifting, aligned stack
    moved = projector(vol, scan.with_shifts(shifts)).forward(x)
    assert sample_centroid(scan.with_shifts(shifts), moved) == pytest.approx(expected, abs=0.02)


def _chain(n, anchors_every, rng, noise=0.0):
    t = rng.uniform(-3, 3, size=(n, 2))
    anchored = list(range(0, n, anchors_every)) + ([n - 1] if (n - 1) % anchors_every else [])
    anchor_obs = [(i, t[i] + rng.normal(0, noise, 2)) for i in anchored]
    pairs = [(i, i + 1, t[i] - t[i + 1] + rng.normal(0, noise, 2)) for i in range(n - 1)]
    return t, anchor_obs, pairs


def test_solve_shifts_recovers_consistent_observations_exactly():
    t, a, p = _chain(30, 5, np.random.default_rng(0))
    sol = solve_shifts(30, a, p)
    assert np.allclose(sol.shifts_px, t, atol=1e-9)


def test_segment_offsets_absorb_a_parallax_bias_that_bends_the_chain_otherwise():
    rng = np.random.default_rng(1)
    n = 31
    t, a, p = _chain(n, 6, rng)
    segs = segment_ids(np.arange(n), {i for i, _ in a}, [(i, j) for i, j, _ in p])
    bias = 0.6 * np.sin(np.arange(segs.max() + 1) * 1.3)  # one column offset per interval between anchors
    biased = [(i, j, d + [0.0, bias[s]]) for (i, j, d), s in zip(p, segs)]
    plain = solve_shifts(n, a, biased, anchor_weight=1.0).shifts_px
    fitted = solve_shifts(n, a, biased, anchor_weight=1.0, segments=segs).shifts_px
    assert np.sqrt(np.mean((fitted - t) ** 2)) < 1e-6
    assert np.sqrt(np.mean((plain[:, 1] - t[:, 1]) ** 2)) > 0.2  # the same data without the offsets
    assert np.allclose(plain[:, 0], t[:, 0])  # rows: no parallax, no offsets needed


def test_segment_ids_follow_the_chain_and_put_the_ends_in_the_outer_intervals():
    pairs = [(k, k + 1) for k in range(9)]
    assert segment_ids(np.arange(10), {2, 5, 8}, pairs).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert segment_ids(np.arange(10), {4}, pairs).tolist() == [-1] * 9  # one anchor: no interval


def test_fisher_variances_weight_noisy_anchors_down():
    """Anchors 10x noisier than pairs: weighting by their variances beats equal weights."""
    errs = {"weighted": [], "equal": []}
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = 40
        t = rng.uniform(-3, 3, size=(n, 2))
        a = [(i, t[i] + rng.normal(0, 0.5, 2)) for i in range(0, n, 4)]
        p = [(i, i + 1, t[i] - t[i + 1] + rng.normal(0, 0.05, 2)) for i in range(n - 1)]
        var = ([np.full(2, 0.25)] * len(a), [np.full(2, 0.0025)] * len(p))
        for key, kw in (("weighted", {"variances": var}), ("equal", {"anchor_weight": 1.0})):
            e = solve_shifts(n, a, p, **kw).shifts_px - t
            errs[key].append(np.sqrt(np.mean((e - e.mean(0)) ** 2)))  # the common offset is the anchors' mean
    assert np.mean(errs["weighted"]) < 0.6 * np.mean(errs["equal"])


def _bumps(peaks, shape=(15, 15)):
    """An NCC map with Gaussian bumps of given height at integer (row, col) offsets from the centre."""
    from isxt.align.ncc import NCCMap

    r, c = np.mgrid[-(shape[0] // 2):shape[0] // 2 + 1, -(shape[1] // 2):shape[1] // 2 + 1]
    v = np.zeros(shape)
    for (pr, pc), h in peaks:
        v = np.maximum(v, h * np.exp(-((r - pr) ** 2 + (c - pc) ** 2) / 2.0))
    return NCCMap(v, np.arange(-(shape[0] // 2), shape[0] // 2 + 1), np.arange(-(shape[1] // 2), shape[1] // 2 + 1))


def test_local_peaks_lists_near_equal_maxima_best_first():
    peaks = local_peaks(_bumps([((0.0, 5.0), 0.80), ((1.0, -1.0), 0.78), ((-4.0, -4.0), 0.5)]), 2)
    assert [tuple(np.round(s)) for s, _ in peaks] == [(0.0, 5.0), (1.0, -1.0)]  # 0.5 is not within 0.15


def test_choose_peaks_switches_to_the_peak_the_anchors_imply_only_when_it_is_nearly_as_good():
    prior = np.zeros((3, 2))  # the anchors put views 0, 1 and 2 at no shift
    side = _bumps([((0.0, 5.0), 0.80), ((0.0, 0.0), 0.76)])
    weak = _bumps([((0.0, 5.0), 0.80), ((0.0, 0.0), 0.55)])
    hyps = [local_peaks(m, 2, within=0.3) for m in (side, weak)]
    obs = [(0, 1, np.array([0.0, 5.0])), (1, 2, np.array([0.0, 5.0]))]
    out, switches, _ = choose_peaks(obs, hyps, [np.zeros(2), np.zeros(2)], prior)
    assert np.allclose(out[0][2], 0.0, atol=0.05) and np.allclose(out[1][2], [0.0, 5.0])
    assert [s["pair"] for s in switches] == [(0, 1)]
    assert choose_peaks(obs, hyps, [np.zeros(2)] * 2, None)[1] == []  # no anchors: nothing to go by


def test_anchor_prior_interpolates_in_angle_not_in_index():
    angles = np.array([0.0, 0.1, 0.5, 0.6])
    prior = anchor_prior(angles, [(0, np.array([0.0, 0.0])), (3, np.array([6.0, -6.0]))])
    assert prior[1] == pytest.approx([1.0, -1.0]) and prior[2] == pytest.approx([5.0, -5.0])
    assert anchor_prior(angles, [(0, np.zeros(2))]) is None


def test_ncc_peak_variance_follows_the_registration_scatter_with_the_noise():
    """The variance the peak's height and sharpness imply scales like the measured scatter of the peak."""
    rng = np.random.default_rng(0)
    base = bandpass(rng.normal(size=(40, 40)), 1.5, 6.0)
    base /= base.std()
    predicted, measured = [], []
    for sigma in (0.3, 0.9):
        peaks, var = [], []
        for k in range(60):
            a = bandpass(base + rng.normal(0, sigma, base.shape), 0.7, 6.0)
            b = bandpass(base + rng.normal(0, sigma, base.shape), 0.7, 6.0)
            nmap = ncc_map(a, b, max_shift=4)
            sp = nmap.spline(nmap.best()[0], 3)
            pk = sp.peak()[0]
            peaks.append(pk)
            var.append(sp.variance(pk, a.size))
        measured.append(np.var(np.array(peaks), axis=0).mean())
        predicted.append(np.mean(var))
    ratio_measured = measured[1] / measured[0]
    ratio_predicted = predicted[1] / predicted[0]
    assert ratio_measured > 3  # the noisier pair scatters more
    assert 0.5 < ratio_predicted / ratio_measured < 2.0


@pytest.mark.parametrize("n_full", [5, 10, 19])
def test_combined_scans_put_every_sparse_view_on_an_interior_angle_with_both_ends(n_full):
    vol = VolumeGeometry((20, 64, 64), 0.05)
    it, sp = combined_scans(vol, 1.6, (0.5, -0.2), 0.05, n_full=n_full, rows=10, drift_px=3.0)
    assert it.n_angles == 51 and it.rows == 10 and sp.n_angles == n_full
    assert np.isclose(sp.angles[0], it.angles[0]) and np.isclose(sp.angles[-1], it.angles[-1])
    assert all(np.min(np.abs(it.angles - a)) < 1e-12 for a in sp.angles)
    anchors = make_anchors(sp, np.zeros(sp.shape), it, use_mirrors=False)
    assert len({i for i, _ in anchor_pairs(it.angles, anchors)}) == n_full  # each sparse view anchors a view
    assert sp.rows * sp.pixel_size_um >= vol.extent[2] + 2 * 0.1  # the whole slab plus the drift margin


def test_suspect_pairs_a_jumped_view_and_a_view_far_from_the_anchors():
    from isxt.align.peaks import far_from_prior, jumps_kept

    rng = np.random.default_rng(2)
    n = 20
    prior = np.zeros((n, 2))
    truth = rng.uniform(-0.5, 0.5, (n, 2))  # jitter the anchors cannot see
    truth[7] += [0.0, 10.0]  # a stage jump of view 7
    obs = [(i, i + 1, truth[i] - truth[i + 1]) for i in range(n - 1)]
    obs[12] = (12, 13, truth[12] - truth[13] + [4.0, -5.0])  # one side peak
    hyps = [[(d, 0.8)] for _, _, d in obs]  # no other peak near the anchors
    _, _, suspect = choose_peaks(obs, hyps, [np.zeros(2)] * len(obs), prior)
    assert sorted(suspect) == [6, 7, 12]  # the jump's two pairs and the side peak
    assert jumps_kept(obs, suspect, prior) == [12]  # the jump's pairs agree with each other
    shifts = truth.copy()
    assert np.flatnonzero(far_from_prior(shifts, prior)).tolist() == [7]
    assert not far_from_prior(shifts, None).any()
