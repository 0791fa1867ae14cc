"""Interior shifts refined against the combined model, and the residual guard.

After the anchor step (:func:`isxt.align.align_interior`) every interior view
is registered to the re-projection of the *combined* reconstruction
(interior + full-field data with the current shifts) on the nominal interior
geometry: the best reference the data allow, at the interior resolution, with
no parallax between views and no resolution mismatch. A few rounds of
reconstruct → re-project → register converge (``--refine N``).

:func:`combined_residual` is the guard's measure: the relative data misfit
``‖A x − y‖ / ‖y‖`` of the combined reconstruction with given shifts. An
alignment that does not lower it must not be applied (the brief: never apply
a correction that makes the data fit worse).
"""

from __future__ import annotations

import numpy as np
from .._progress import progress_bar

from .ncc import ncc_map
from .prefilter import bandpass, registration_filter

__all__ = ["register_views", "refine_interior", "recover_views", "combined_residual", "default_volume"]


def register_views(reference, data, start_px, *, radius_px=3, smooth_px=0.7, highpass_px=3.0, views=None):
    """Sub-pixel shift of each ``data[i]`` onto ``reference[i]`` within ``radius_px`` of ``start_px[i]``.

    Both are band-passed (:func:`isxt.align.prefilter.bandpass`); the filter
    border of ``data`` is masked.

    Parameters
    ----------
    reference, data : ndarray ``(n, rows, cols)``
        Unshifted model images and measured images.
    start_px : ndarray ``(n, 2)``
        Current shifts ``(s_row, s_col)`` in pixels.
    views : sequence of int, optional
        Views to register (default: all); the others keep ``start_px``.

    Returns
    -------
    shifts : ndarray ``(n, 2)``
        ``(s_row, s_col)`` pixels.
    scores : ndarray ``(n,)``
        NCC at the peak (NaN for views not registered).
    """
    n, rows, cols = data.shape
    R = int(radius_px)
    sig, mask, _ = registration_filter((rows, cols), highpass_px, R)
    out = np.array(start_px, dtype=np.float64)
    scores = np.full(n, np.nan)
    for i in range(n) if views is None else views:
        ref = bandpass(reference[i], smooth_px, sig)
        img = bandpass(data[i], smooth_px, sig)
        nmap = ncc_map(ref, img, max_shift=R + 1, center=np.round(out[i]), moving_mask=mask)
        spline = nmap.spline(out[i], R)
        out[i], scores[i] = spline.peak(start=spline.clip(out[i]))
    return out, scores


def default_volume(full_scan, interior_scans):
    """A grid with the finest interior pixel as voxel, covering the full field (xy) and every scan (z)."""
    from ..geometry import VolumeGeometry

    p = min(s.pixel_size_um for s in interior_scans)
    width = full_scan.cols * full_scan.pixel_size_um
    z0 = min(s.center_um[2] - s.rows * s.pixel_size_um / 2 for s in (full_scan, *interior_scans))
    z1 = max(s.center_um[2] + s.rows * s.pixel_size_um / 2 for s in (full_scan, *interior_scans))
    nxy = int(np.ceil(width / p))
    nz = max(int(np.ceil((z1 - z0) / p - 1e-9)), 1)
    c = full_scan.center_um
    return VolumeGeometry((nz, nxy, nxy), p, center_um=(c[0], c[1], 0.5 * (z0 + z1)))


def _reconstruct(scans, volume, iterations, backend):
    from ..reconstruct import reconstruct  # workflow layer: the solver lives there

    return reconstruct(scans, volume, method="cgls", iterations=iterations, backend=backend,
                       check=False)  # an intermediate model; the guard judges the result


def combined_residual(scans, volume, *, iterations=10, backend="numba", return_volume=False):
    """Relative misfit ``‖A x − y‖ / ‖y‖`` of the combined CGLS reconstruction of ``scans``.

    Parameters
    ----------
    scans : list of isxt.reconstruct.Scan
        With the shifts to judge in their geometries.
    volume : VolumeGeometry
    iterations : int
        CGLS iterations (the same for every set of shifts compared).

    Returns
    -------
    float, or (float, ndarray) with ``return_volume``
    """
    from ..reconstruct import build_operator

    x = _reconstruct(scans, volume, iterations, backend)
    num = den = 0.0
    for s in scans:
        r = build_operator(s, volume, backend=backend).forward(x) - s.data
        num += float(np.sum(np.asarray(r, dtype=np.float64) ** 2))
        den += float(np.sum(np.asarray(s.data, dtype=np.float64) ** 2))
    value = float(np.sqrt(num / den)) if den > 0 else float("nan")
    return (value, x) if return_volume else value


def _subset(scan, views):
    """``scan`` restricted to ``views`` (all views when there are none)."""
    import dataclasses

    if not views:
        return scan
    views = np.asarray(views, dtype=int)
    return dataclasses.replace(scan, geometry=scan.geometry[views], data=np.asarray(scan.data)[views])


def refine_interior(full, interiors, results, *, volume=None, rounds=4, cgls_iterations=15, radius_px=2,
                    smooth_px=0.7, highpass_px=3.0, anchor_weight=None, direct_weight=0.25, backend="numba",
                    progress=False):
    """Refine interior shifts with the combined model.

    Each round reconstructs the combined problem with the current shifts and
    re-projects it onto the nominal interior geometry; then

    - every neighbour-pair observation ``t_i − t_j ≈ d_ij`` of the anchor
      step is corrected by the same registration between the two
      re-projections (the parallax a pair of views sees, which biases it by
      ~1 px at a few degrees' step);
    - every view is registered to its re-projection (``t_i ≈ r_i``, weight
      ``direct_weight``: the model partly holds the view's own error);
    - with the anchor observations (weight ``anchor_weight``) the shifts are
      solved again by robust least squares.

    Parameters
    ----------
    full : isxt.reconstruct.Scan
        The full-field scan, its geometry carrying the aligned shifts.
    interiors : list of isxt.reconstruct.Scan
        Interior scans (their geometry's shifts are ignored).
    results : list of AlignmentResult
        The anchor step's result per interior scan (its ``info`` holds the
        anchor and neighbour observations).
    volume : VolumeGeometry, optional
        Reconstruction grid (default :func:`default_volume`).
    rounds : int
        Reconstruct → re-project → solve rounds.

    Returns
    -------
    list of ndarray
        Refined ``(du, dv)`` µm per interior scan.
    dict
        ``rounds`` done and per-round largest change ``changes_px``.
    """
    import dataclasses

    from ..projectors import projector
    from .interior import _neighbour_pairs
    from .peaks import anchor_prior, choose_peaks, local_peaks
    from .solve import segment_ids, solve_shifts
    from .parallax import pair_parallax_px
    from .quality import interpolate_flagged

    volume = default_volume(full.geometry, [s.geometry for s in interiors]) if volume is None else volume
    shifts = [np.array(r.shifts_um, dtype=np.float64) for r in results]
    nominal = [projector(volume, s.geometry.with_shifts(None), backend=backend) for s in interiors]
    R = int(radius_px)
    # the data do not change between rounds: band-pass them once; the anchors' prior does not either
    filters = [registration_filter(s.data.shape[1:], highpass_px, R) for s in interiors]
    passed = [np.stack([bandpass(np.asarray(d, dtype=np.float64), smooth_px, f[0]) for d in s.data])
              for s, f in zip(interiors, filters)]
    priors = [anchor_prior(r.angles, r.info.get("anchor_obs_px", [])) for r in results]
    changes = []
    for rnd in progress_bar(range(int(rounds)), desc="refine interior", disable=not progress):
        model = [full] + [dataclasses.replace(s, geometry=s.geometry.with_shifts(t)) for s, t in zip(interiors, shifts)]
        if rnd == 0:
            # first model from the views the anchors fix: the others' errors would bias the parallax it gives
            model = [full] + [_subset(m, r.info.get("anchored_views")) for m, r in zip(model[1:], results)]
        x = _reconstruct(model, volume, cgls_iterations, backend)
        change = 0.0
        for k, (s, res) in enumerate(zip(interiors, results)):
            p = s.geometry.pixel_size_um
            data = np.asarray(s.data, dtype=np.float64)
            reproj = nominal[k].forward(x)
            n = data.shape[0]
            good = np.array([f == "ok" for f in res.flags])
            mask, bp = filters[k][1], passed[k]
            start = shifts[k][:, ::-1] / p
            nn, maps, hyps, offsets = [], [], [], []
            centroid = res.info.get("centroid_um") or (np.nan, np.nan)
            for i, j in _neighbour_pairs(res.angles, good):
                # the stage's relative shift: the registration less the centroid's parallax
                pk = np.array([0.0, pair_parallax_px(s.geometry, i, j, centroid)])
                nmap = ncc_map(bp[j], bp[i], max_shift=2 * R + 2, fixed_mask=mask, moving_mask=mask,
                               center=np.round(start[i] - start[j] + pk))
                peaks = local_peaks(nmap, R)
                nn.append((i, j, peaks[0][0] - pk))
                maps.append(nmap)
                hyps.append(peaks)
                offsets.append(pk)
            # the highest peak, unless it is a side peak far from where the anchors put the pair and a
            # near-equal peak is by it (the current estimate is no prior: its errors would hold)
            nn, _, _ = choose_peaks(nn, hyps, offsets, priors[k])
            npix = int(np.count_nonzero(mask))
            var_nn = [m.spline(d + pk, R).variance(d + pk, npix) for (_, _, d), pk, m in zip(nn, offsets, maps)]
            direct, _ = register_views(reproj, data, start, radius_px=R, smooth_px=smooth_px,
                                       highpass_px=highpass_px, views=np.flatnonzero(good))
            obs_a = res.info.get("anchor_obs_px", [])
            var_a = res.info.get("anchor_var_px2") or [np.ones(2)] * len(obs_a)
            keep = [k for k, (i, _) in enumerate(obs_a) if good[i]]
            anchors = [obs_a[k] for k in keep]
            fisher = anchor_weight is None and res.info.get("anchor_var_px2") is not None
            segs = segment_ids(np.argsort(np.argsort(res.angles)), {i for i, _ in anchors}, [(i, j) for i, j, _ in nn])
            t = solve_shifts(n, anchors, nn, anchor_weight=anchor_weight, direct_weight=direct_weight,
                             direct_obs=[(i, direct[i]) for i in np.flatnonzero(good)], segments=segs,
                             variances=([var_a[k] for k in keep], var_nn) if fisher else None).shifts_px
            # rows: no parallax, and a model lets the common vertical position creep (+0.1 px a round of plain
            # projection matching): anchors and the pairs registered again near the estimate, no model term
            t[:, 0] = solve_shifts(n, anchors, nn, anchor_weight=anchor_weight,
                                   variances=([var_a[k] for k in keep], var_nn) if fisher else None).shifts_px[:, 0]
            t = interpolate_flagged(res.angles, t, ~good)
            change = max(change, float(np.max(np.abs(t - start))))
            shifts[k] = t[:, ::-1] * p
        changes.append(change)
    return shifts, {"rounds": len(changes), "changes_px": changes}


def recover_views(full, interior, result, *, volume=None, cgls_iterations=15, smooth_px=0.7, highpass_px=3.0,
                  min_score_rel=0.8, min_gain=0.1, outlier_px=None, backend="numba"):
    """Re-register views the anchor step could not place (``lowcorr``, ``outlier``) over a wide window.

    A stage jump moves one view beyond the anchor step's search window: its
    pairs no longer correlate, it is flagged and its shift interpolated. Here
    the model is the combined reconstruction *without* the flagged views
    (full-field data plus the placed interior views), re-projected onto the
    nominal geometry; each flagged view is registered to its re-projection
    over ``±cols/2`` (``±rows/3``). A peak whose NCC reaches
    ``min_score_rel`` × the median NCC of the placed views (registered the
    same way, within ±2 px of their shifts), and beats the NCC where the
    neighbours put the view (interpolation in angle) by ``min_gain``, is
    accepted: the view keeps that
    shift and is flagged ``outlier`` when it departs from its neighbours by
    more than ``outlier_px`` (a jump, recovered), ``ok`` otherwise. A view
    that is not recovered but matches the model where its neighbours put it
    is ``ok`` there; any other keeps its flag and an interpolated shift.

    Returns
    -------
    AlignmentResult
        ``result`` with the recovered views' shifts and flags, and
        ``info["recovered"]``: ``{view: score}``.
    """
    import dataclasses

    from ..projectors import projector
    from .quality import interpolate_flagged, outlier_views

    flags = list(result.flags)
    todo = [i for i, f in enumerate(flags) if f in ("lowcorr", "outlier")]
    if not todo:
        return result
    volume = default_volume(full.geometry, [interior.geometry]) if volume is None else volume
    placed = [i for i, f in enumerate(flags) if f == "ok"]
    if len(placed) < 3:
        return result
    geo = interior.geometry.with_shifts(None)
    p = geo.pixel_size_um
    model = _subset(dataclasses.replace(interior, geometry=geo.with_shifts(result.shifts_um)), placed)
    x = _reconstruct([full, model], volume, cgls_iterations, backend)
    reproj = projector(volume, geo, backend=backend).forward(x)
    data = np.asarray(interior.data, dtype=np.float64)
    n, rows, cols = data.shape
    t = np.asarray(result.shifts_um)[:, ::-1] / p
    R = 2
    _, ref_scores = register_views(reproj, data, t, radius_px=R, smooth_px=smooth_px, highpass_px=highpass_px,
                                   views=placed)
    floor = min_score_rel * float(np.nanmedian(ref_scores))
    sig, mask, _ = registration_filter((rows, cols), highpass_px, R)
    wide = (max(R + 2, rows // 3), max(R + 2, cols // 2))
    recovered = {}
    between = interpolate_flagged(result.angles, t, np.isin(np.arange(n), todo))  # what the neighbours say
    for i in todo:
        nmap = ncc_map(bandpass(reproj[i], smooth_px, sig), bandpass(data[i], smooth_px, sig), max_shift=wide,
                       center=np.round(between[i]), moving_mask=mask)
        coarse, score = nmap.best()
        at_between = np.nan_to_num(nmap.at(between[i]), nan=-1.0)
        # a jump is a clear peak away from where the neighbours put the view, not a noise bump beside it
        if not (score >= floor and score - at_between >= min_gain):
            if at_between >= floor:  # where the neighbours put it, the view matches the model: placed
                flags[i] = "ok"
                t[i] = between[i]
            continue
        spline = nmap.spline(coarse, R)
        t[i], score = spline.peak(start=coarse)
        recovered[i] = float(score)
        flags[i] = "ok"
    bad = np.array([f != "ok" for f in flags])
    t = interpolate_flagged(result.angles, t, bad)
    limit = 0.1 * cols if outlier_px is None else float(outlier_px)
    for i in recovered:
        if outlier_views(result.angles, t, limit)[i]:
            flags[i] = "outlier"
    return dataclasses.replace(result, shifts_um=t[:, ::-1] * p, flags=flags, info={**result.info, "recovered": recovered})
