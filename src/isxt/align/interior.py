"""Interior images aligned against full-field anchors (App. B.1, Eq. 14–15, Fig. 8).

The aligned full-field images, resampled to the interior pixel and cut to
the interior detector window at their angle, are *anchors*: absolute
references for the interior images, which alone could only be chained
neighbour to neighbour (and drift along long chains). The shifts ``T_i``
maximise

    Σ_{C_a} NCC(T_i I_i, A_j) + Σ_{C_nn} NCC(T_i I_i, T_j I_j)        (Eq. 14)

where ``C_a`` pairs an interior image with an anchor closer in angle than
half the image's nearest-neighbour spacing (a full-field view at ``θ + π``
counts, mirrored in ``u``) and ``C_nn`` pairs angular neighbours. NCC is
evaluated on integer shifts only (cached) and interpolated bicubically for
sub-pixel values, gradients and peak sharpness. Each pair's peak is an
observation (``t_i ≈ a``, ``t_i − t_j ≈ d`` less the parallax of
:mod:`isxt.align.parallax`) with the variance its peak implies; their
weighted, robust least-squares solution (:mod:`isxt.align.solve`) is the
Gauss–Newton form of Eq. 14, and optionally (``objective="ncc"``) the start
of an L-BFGS-B maximisation of Eq. 14 itself.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.optimize import minimize

from .._progress import progress_bar
from ..errors import InputError
from ..geometry import ScanGeometry
from .anchors import Anchor, anchor_pairs, make_anchors
from .ncc import ncc_map
from .parallax import pair_parallax_px, sample_centroid
from .peaks import anchor_prior, choose_peaks, far_from_prior, jumps_kept, local_peaks
from .prefilter import bandpass, border_mask, registration_filter, resolution_sigma
from .quality import AlignmentResult, classify_frames, interpolate_flagged, outlier_views
from .solve import parallax_coefficients, segment_ids, solve_shifts

__all__ = ["Anchor", "make_anchors", "anchor_pairs", "align_interior"]


def _neighbour_pairs(angles, good, hops=1):
    """The pairs ``C_nn``: good views 1 … ``hops`` apart in angle (flagged views are skipped over).

    ``hops=2`` adds second neighbours (``align_interior(hops=)`` says why
    the default is 1).
    """
    idx = np.flatnonzero(good)
    idx = idx[np.argsort(np.asarray(angles)[idx])]
    return [(int(a), int(b)) for h in range(1, int(hops) + 1) for a, b in zip(idx[:-h], idx[h:])]


def _correlates(nmap, score, min_ncc, radius_px):
    """A pair's peak is usable: above ``min_ncc``, or above half of it and clearly alone in its map.

    Thick samples imaged at a finer pixel than the anchors correlate weakly
    with them (NCC 0.23–0.28 on the paper-size cell at 20 nm against 40 nm
    anchors, noiseless) though the peak is right and the next local maximum
    is below 0.11: height alone would reject every anchor.
    """
    if score > min_ncc:
        return True
    if score <= 0.5 * min_ncc:
        return False
    peaks = local_peaks(nmap, radius_px, within=1.0, max_peaks=2)
    return len(peaks) < 2 or peaks[1][1] <= 0.6 * score


def _likelihood_weight(spline, shift):
    """``1/(1 − ρ)``: the weight of a pair's NCC in a sum of log-likelihoods (ρ its value at ``shift``)."""
    rho = spline.value_and_grad(shift)[0]
    return 1.0 / max(1.0 - min(rho, 0.999), 1e-3)


def _maximise_eq14(t0, maps_a, pairs_a, maps_nn, pairs_nn, par, good, radius_px, anchor_weight):
    """Eq. 14 itself, from ``t0``: L-BFGS-B on bicubic splines of the cached NCC, each shift within ±R.

    Every term is weighted as its log-likelihood, ``N/(2(1 − ρ))·NCC`` (a
    noisy pair counts less), or the anchors by ``anchor_weight`` against 1.
    Returns the shifts and the optimiser's report (with the anchors' median
    weight relative to a pair's).
    """
    n, R = len(t0), int(radius_px)
    splines_a = [m.spline(t0[i], R) for m, (i, _) in zip(maps_a, pairs_a)]
    splines_nn = [m.spline(t0[i] - t0[j] + pk, R) for m, (i, j), pk in zip(maps_nn, pairs_nn, par)]
    if anchor_weight is None:
        w_a = np.array([_likelihood_weight(sp, t0[i]) for (i, _), sp in zip(pairs_a, splines_a)])
        w_nn = np.array([_likelihood_weight(sp, t0[i] - t0[j] + pk)
                         for (i, j), sp, pk in zip(pairs_nn, splines_nn, par)])
    else:
        w_a, w_nn = np.full(len(pairs_a), float(anchor_weight)), np.ones(len(pairs_nn))

    def nll(flat):
        t = flat.reshape(n, 2)
        f = 0.0
        g = np.zeros((n, 2))
        for (i, _), sp, w in zip(pairs_a, splines_a, w_a):
            v, dv = sp.value_and_grad(t[i])
            f -= w * v
            g[i] -= w * dv
        for (i, j), sp, pk, w in zip(pairs_nn, splines_nn, par, w_nn):
            v, dv = sp.value_and_grad(t[i] - t[j] + pk)
            f -= w * v
            g[i] -= w * dv
            g[j] += w * dv
        return f, g.ravel()

    lo, hi = np.round(t0) - R, np.round(t0) + R
    bounds = [(lo[i, k], hi[i, k]) if good[i] else (None, None) for i in range(n) for k in range(2)]
    res = minimize(nll, t0.ravel(), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"ftol": 1e-12, "gtol": 1e-7, "maxiter": 300})
    ratio = float(np.median(w_a) / np.median(w_nn)) if len(w_a) and len(w_nn) else float("nan")
    return res.x.reshape(n, 2), {"success": bool(res.success), "nit": int(res.nit), "objective": float(res.fun),
                                 "anchor_weight": ratio}


def _prefiltered(data, anchors, ratio, smooth_px, highpass_px, radius):
    """Band-passed interior images (as is, and matched to the anchors' resolution), anchors, and their masks.

    The anchors are full-field pixels (``ratio`` interior pixels wide)
    resampled by cubic splines: the interior images get the extra pixel-area
    blur for the anchor pairs. The background σ along the rows is capped so
    that a short stack (few slices) keeps a usable unmasked core.
    """
    rows, cols = data.shape[1:]
    high = max(3.0, 2.0 * ratio) if highpass_px is None else float(highpass_px)
    match = resolution_sigma(ratio, 1.0)
    if high <= 0:
        hp = lambda img, low: gaussian_filter(img, low) if low else np.asarray(img, dtype=np.float64)  # noqa: E731
        border = (0, 0)
    else:
        sig, _, border = registration_filter((rows, cols), high, radius)
        hp = lambda img, low: bandpass(img, low, sig)  # noqa: E731
    images = np.stack([hp(d, smooth_px) for d in data])
    images_a = np.stack([hp(d, np.hypot(smooth_px, match)) for d in data])
    anchor_imgs = [hp(a.image, smooth_px) for a in anchors]
    mask = border_mask((rows, cols), border)
    anchor_mask = border_mask(anchor_imgs[0].shape, border) if anchor_imgs else None
    return images, images_a, anchor_imgs, mask, anchor_mask


def align_interior(
    interior_scan,
    interior_data,
    full_scan,
    full_data,
    *,
    full_flags=None,
    anchor_views=None,
    use_mirrors=True,
    search_px=None,
    radius_px=3,
    smooth_px=0.7,
    highpass_px=None,
    min_ncc=0.3,
    outlier_px=None,
    anchor_weight=None,
    parallax=True,
    centroid_um=None,
    fit_centroid=False,
    weights="fisher",
    objective="lsq",
    hops=1,
    segment_bias=True,
    progress=False,
):
    """Per-view shifts of an interior stack against full-field anchors (Eq. 14).

    Parameters
    ----------
    interior_scan : ScanGeometry
        Interior geometry; its shifts (crop offsets, a previous alignment)
        centre the search windows. The result is absolute (not relative to
        them).
    interior_data : ndarray ``(n, rows, cols)``
    full_scan : ScanGeometry
        Full-field geometry carrying its *aligned* shifts, e.g.
        ``scan.with_shifts(align_full_field(scan, data).shifts_um)``.
    full_data : ndarray
    full_flags : list of str, optional
        Flags of the full-field views; only ``ok`` ones become anchors.
    anchor_views : sequence of int, optional
        Restrict the anchors to these full-field views (Fig. 9).
    use_mirrors : bool
        Use views at ``θ + π`` as mirrored anchors (360° scans).
    search_px : int, optional
        Largest shift (interior pixels) searched for the first estimate;
        default: a quarter of the detector width.
    radius_px : int
        Half-width of the cached integer-shift NCC window around the first
        estimate (the bicubic interpolation and the optimiser stay in it).
    smooth_px : float
        Gaussian σ (interior pixels) on all images before correlation.
    highpass_px : float, optional
        σ (interior pixels) of the smooth background removed from every
        image before correlation (:func:`isxt.align.prefilter.bandpass`): the
        absorption ramp an off-axis ROI sees would otherwise dominate the
        NCC. Default: ``max(3, 2·p_full/p_interior)``; 0 turns it off.
    min_ncc : float
        Views whose best pair NCC at the solution is below this are flagged
        ``lowcorr`` and get interpolated shifts.
    outlier_px : float, optional
        Views whose shift departs from their neighbours' by more than this
        (interior pixels; default: 10 % of the width) are flagged ``outlier``.
    anchor_weight : float, optional
        Weight of an anchor pair relative to a neighbour pair in the first
        estimate and in Eq. 14 (1 gives the paper's unweighted sum). Default:
        estimated from the data — each kind of pair weighted by the inverse
        variance of its residuals (variance components; noisy full-field
        views make anchors less certain than interior neighbours).
    parallax : bool
        Remove from every neighbour pair the motion of the sample centroid
        between the two views (:mod:`isxt.align.parallax`): for an ROI off
        the rotation axis the pairs are otherwise biased by ~0.5 px per step.
    centroid_um : tuple of float, optional
        ``(X, Y)`` of the sample centroid; default: fitted to the full-field
        views' mass centres (:func:`isxt.align.parallax.sample_centroid`).
    fit_centroid : bool
        Also fit a correction to the centroid, with the shifts, to the anchor
        and pair observations (:func:`isxt.align.solve.solve_shifts`).
    weights : {"fisher", "components"}
        How anchor and pair observations are weighted when ``anchor_weight``
        is None: by each registration's Fisher information (its NCC peak's
        height and sharpness, :meth:`isxt.align.NCCSpline.variance`), or by
        variance components estimated from the residuals of each kind.
    segment_bias : bool
        Fit one column offset per interval between anchors to the
        neighbour pairs (:func:`isxt.align.solve.solve_shifts`): the parallax
        the centroid does not explain.
    hops : int
        Register each view with its neighbours up to this many views away.
        Measured on a 3D cell at Nyquist sampling: second neighbours (2Δθ)
        change too much between their images and give wrong peaks far more
        often (1.6 px RMS in u against 0.6 px), so the default is 1.
    objective : {"lsq", "ncc"}
        ``"lsq"``: the weighted, robust least-squares solution of the peak
        positions (the Gauss–Newton form of Eq. 14 with quadratic peaks).
        ``"ncc"``: then maximise Eq. 14 itself, each term weighted as a
        log-likelihood, with L-BFGS-B from there. Measured on a 3D cell, the
        second can climb onto a side peak along a chain (v errors of 2 px
        over six views where the first had 0.5); it is the paper's form.
    progress : bool
        Show a progress bar.

    Returns
    -------
    AlignmentResult
        Shifts in µm for ``interior_scan.with_shifts``, flags, and in
        ``info``: the anchor pairs, the NCC per view, the first estimate.
    """
    for name, value, allowed in (("objective", objective, ("lsq", "ncc")), ("weights", weights, ("fisher", "components"))):
        if value not in allowed:
            raise InputError(f"align_interior: {name}={value!r} is not one of {', '.join(map(repr, allowed))}")
    for name, sc in (("interior_scan", interior_scan), ("full_scan", full_scan)):
        if not isinstance(sc, ScanGeometry):
            raise InputError(f"align_interior: {name} must be an isxt.ScanGeometry")
    data = np.asarray(interior_data, dtype=np.float64)
    full_data = np.asarray(full_data, dtype=np.float64)
    if data.shape != interior_scan.shape:
        raise InputError(f"align_interior: interior data {data.shape} do not match the scan {interior_scan.shape}")
    if full_data.shape != full_scan.shape:
        raise InputError(f"align_interior: full-field data {full_data.shape} do not match the scan {full_scan.shape}")
    if min(interior_scan.rows, interior_scan.cols) < 2 * int(radius_px) + 3:
        raise InputError(
            f"align_interior: interior images of {interior_scan.rows}×{interior_scan.cols} pixels are too small "
            f"to register; at least {2 * int(radius_px) + 3} rows and columns are needed (crop less or bin less; "
            "for isxt simulate output: --rows 20)"
        )
    baseline = np.asarray(interior_scan.shifts_um)[:, ::-1] / interior_scan.pixel_size_um  # (rows, cols) px
    interior_scan = interior_scan.with_shifts(None)
    n = interior_scan.n_angles
    p = interior_scan.pixel_size_um
    angles = interior_scan.angles
    search = int(search_px) if search_px is not None else max(radius_px + 2, interior_scan.cols // 4)
    R = int(radius_px)
    # a short stack (few slices) cannot confirm a vertical shift of a large fraction of its height: a window
    # that large lets noise win; search along the rows within a third of the height
    search2 = (min(search, max(R + 2, interior_scan.rows // 3)), search)

    flags = classify_frames(data)
    good = np.array([f == "ok" for f in flags])
    if full_flags is None:
        full_flags = classify_frames(full_data)
    views = [k for k in (range(full_scan.n_angles) if anchor_views is None else anchor_views) if full_flags[k] == "ok"]
    margin = search + R + 1 + int(np.ceil(np.max(np.abs(baseline))))
    anchors = make_anchors(full_scan, full_data, interior_scan, views=views, use_mirrors=use_mirrors, margin=margin)
    pairs_a = anchor_pairs(angles, anchors, good)
    if not pairs_a:
        raise InputError(
            "align_interior: no full-field view lies within half an interior step of an interior view; "
            "acquire the sparse scan on angles of the interior scan (or their mirrors)"
        )
    pairs_nn = _neighbour_pairs(angles, good, hops=hops)
    if parallax and centroid_um is None:
        centroid_um = sample_centroid(full_scan, full_data, good=np.array([f == "ok" for f in full_flags]))
    # what a neighbour registration sees besides the stage: the centroid's motion (0 without the correction)
    par = np.array([[0.0, pair_parallax_px(interior_scan, i, j, centroid_um) if parallax else 0.0]
                    for i, j in pairs_nn]).reshape(-1, 2)

    images, images_a, anchor_imgs, mask, anchor_mask = _prefiltered(
        data, anchors, full_scan.pixel_size_um / p, smooth_px, highpass_px, R
    )

    bar = progress_bar(total=len(pairs_a) + len(pairs_nn), desc="interior NCC", disable=not progress)
    maps_a, obs_a, var_a, var_nn = [], [], [], []
    n_pix = int(np.count_nonzero(mask))
    for i, j in pairs_a:
        nmap = ncc_map(anchor_imgs[j], images_a[i], max_shift=search2, offset=(margin, margin), center=baseline[i],
                       fixed_mask=anchor_mask, moving_mask=mask)
        maps_a.append(nmap)
        coarse, score = nmap.best()
        if _correlates(nmap, score, min_ncc, R):
            spline = nmap.spline(coarse, R)
            peak = spline.peak(coarse)[0]
            obs_a.append((i, peak))
            var_a.append(spline.variance(peak, n_pix))
        bar.update()
    maps_nn, obs_nn, used_nn = [], [], []
    for (i, j), pk in zip(pairs_nn, par):
        nmap = ncc_map(images[j], images[i], max_shift=search2, center=np.round(baseline[i] - baseline[j] + pk),
                       fixed_mask=mask, moving_mask=mask)
        maps_nn.append(nmap)
        coarse, score = nmap.best()
        if _correlates(nmap, score, min_ncc, R):
            spline = nmap.spline(coarse, R)
            peak = spline.peak(coarse)[0]
            obs_nn.append((i, j, peak - pk))
            var_nn.append(spline.variance(peak, n_pix))
            used_nn.append((nmap, pk))
        bar.update()
    bar.close()
    if not obs_a:
        raise InputError("align_interior: no interior image correlates with its anchor; check the geometry and pixel sizes")

    # a confident side peak in a pair: the anchors, interpolated, say where the pair should be
    offsets = [o for _, o in used_nn]
    prior = anchor_prior(angles, obs_a)
    obs_nn, switches, suspect = choose_peaks(obs_nn, [local_peaks(m, R) for m, _ in used_nn], offsets, prior)
    for sw in switches:
        k = next(k for k, (i, j, _) in enumerate(obs_nn) if (i, j) == sw["pair"])
        raw = obs_nn[k][2] + offsets[k]
        var_nn[k] = used_nn[k][0].spline(raw, R).variance(raw, n_pix)
    suspect = jumps_kept(obs_nn, suspect, prior)
    for k in suspect:  # no peak agrees with the anchors: out of the fit (a jump is re-examined later)
        var_nn[k] = np.asarray(var_nn[k]) * 1e6

    # first estimate: anchors fix absolute positions, neighbours carry them along the chains
    variances = (np.array(var_a), np.array(var_nn).reshape(-1, 2)) if weights == "fisher" else None
    segs = segment_ids(np.argsort(np.argsort(angles)), {i for i, _ in obs_a}, [(i, j) for i, j, _ in obs_nn]) \
        if segment_bias else None
    coeff = parallax_coefficients(angles, [(i, j) for i, j, _ in obs_nn], p) if parallax and fit_centroid else None
    sol = solve_shifts(n, obs_a, obs_nn, anchor_weight=anchor_weight, parallax=coeff, variances=variances,
                       segments=segs)
    if coeff is not None:  # the pairs less the parallax of the centroid the anchors and pairs agree on
        centroid_um = (centroid_um[0] + sol.centroid_shift_um[0], centroid_um[1] + sol.centroid_shift_um[1])
        obs_nn = [(i, j, d + o - [0.0, pair_parallax_px(interior_scan, i, j, centroid_um)])
                  for (i, j, d), o in zip(obs_nn, offsets)]
    sigma = sol.sigma_px
    # a view left without any observation (its pairs suspect, no anchor) has no shift of its own
    observed = np.zeros(n, bool)
    observed[[i for i, _ in obs_a]] = True
    kept = [k for k in range(len(obs_nn)) if k not in set(suspect)]
    observed[[obs_nn[k][0] for k in kept]] = True
    observed[[obs_nn[k][1] for k in kept]] = True
    orphan = good & ~observed
    t0 = interpolate_flagged(angles, sol.shifts_px, ~good | orphan)
    if parallax:  # the parallax of the centroid the anchors and pairs agree on, for Eq. 14 and the scores
        par[:, 1] = [pair_parallax_px(interior_scan, i, j, centroid_um) for i, j in pairs_nn]
    if objective == "ncc":
        t, opt = _maximise_eq14(t0, maps_a, pairs_a, maps_nn, pairs_nn, par, good, R, anchor_weight)
        anchor_w = opt.pop("anchor_weight")
    else:  # the weighted least-squares solution stands
        t, opt = t0.copy(), {"success": True, "nit": 0}
        anchor_w = float(np.sum(sigma[1] ** 2) / np.sum(sigma[0] ** 2))

    # per view: its best pair NCC at the solution (from the cached integer grid)
    score = np.full(n, np.nan)
    for (i, _), nmap in zip(pairs_a, maps_a):
        score[i] = np.fmax(score[i], nmap.at(t[i]))  # fmax: NaN means 'no value yet'
    for (i, j), nmap, pk in zip(pairs_nn, maps_nn, par):
        v = nmap.at(t[i] - t[j] + pk)
        score[i] = np.fmax(score[i], v)
        score[j] = np.fmax(score[j], v)
    for i in np.flatnonzero((good & ~(score >= min_ncc)) | orphan):
        flags[i] = "lowcorr"
    bad = np.array([f != "ok" for f in flags])
    t = interpolate_flagged(angles, t, bad)
    outlier_px = 0.1 * interior_scan.cols if outlier_px is None else float(outlier_px)
    for i in np.flatnonzero(outlier_views(angles, t, outlier_px) & ~bad):
        flags[i] = "outlier"
    # a view that kept only wrong pairs sits far from where the anchors put it: re-examined as a jump would be
    for i in np.flatnonzero(far_from_prior(t, prior) & ~bad):
        flags[i] = "outlier"

    shifts = t[:, ::-1] * p  # (rows, cols) px → (du, dv) µm
    info = {
        "anchor_pairs": [(i, anchors[j].full_index, anchors[j].mirrored) for i, j in pairs_a],
        "anchor_angles": np.array([anchors[j].angle for _, j in pairs_a]),
        "anchored_views": sorted({i for i, _ in pairs_a}),
        "n_anchors": len({j for _, j in pairs_a}),
        "neighbour_pairs": pairs_nn,
        "ncc": score,
        "initial_um": t0[:, ::-1] * p,
        "anchor_obs_px": [(int(i), np.asarray(a, dtype=np.float64)) for i, a in obs_a],
        "neighbour_obs_px": [(int(i), int(j), np.asarray(d, dtype=np.float64)) for i, j, d in obs_nn],
        "parallax_px": {(int(i), int(j)): float(pk[1]) for (i, j), pk in zip(pairs_nn, par)},
        "centroid_um": tuple(centroid_um) if parallax else None,
        "sigma_px": {"anchor": sigma[0].tolist(), "pair": sigma[1].tolist()},
        "peak_switches": switches,
        "suspect_pairs": [obs_nn[k][:2] for k in suspect],
        "anchor_var_px2": [np.asarray(v, dtype=np.float64) for v in var_a],
        "anchor_weight": anchor_w,
        "prefilter": {"smooth_px": smooth_px, "highpass_px": highpass_px},
        "optimizer": {"method": objective, **opt},
    }
    return AlignmentResult(shifts, flags, angles.copy(), p, info)
