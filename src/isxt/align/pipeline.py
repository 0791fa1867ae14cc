"""The whole alignment of an acquisition: full-field step, anchor step, refinement, residual guard.

:func:`align_acquisition` is what ``isxt align`` runs. The guard compares the
relative misfit of the combined reconstruction (:func:`combined_residual`)
with the new shifts and with the input shifts (those the scans carried); a
new estimate that does not lower it is rejected and the input shifts kept.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .full_field import align_full_field
from .interior import align_interior
from .quality import AlignmentResult, interpolate_flagged, outlier_views
from .refine import combined_residual, default_volume, recover_views, refine_interior

__all__ = ["align_acquisition", "anchor_interpolation", "guard_line"]


def anchor_interpolation(result, outlier_px):
    """The anchor-only candidate: anchored views at their anchor observations, the others interpolated in angle.

    Views between anchors rest on neighbour pairs, which parallax (in ``u``)
    and a short stack (in ``v``) can bias by pixels; where they do, the
    anchors alone, interpolated, fit the data better (the combined misfit
    decides, :func:`align_acquisition`). Views recovered from a jump
    (``info["recovered"]``) keep their own shift. ``outlier`` flags are set
    again on the new shifts (departure from the neighbours' median above
    ``outlier_px`` pixels).
    """
    p = result.pixel_size_um
    t = np.array(result.shifts_um, dtype=np.float64)[:, ::-1] / p
    sums = np.zeros_like(t)
    counts = np.zeros(len(t))
    for i, a in result.info.get("anchor_obs_px", []):
        sums[i] += a
        counts[i] += 1
    usable = np.array([f in ("ok", "outlier") for f in result.flags])
    known = (counts > 0) & usable
    t[known] = sums[known] / np.maximum(counts[known, None], 1)
    if known.sum() < 2:
        return result
    recovered = np.isin(np.arange(len(t)), list(result.info.get("recovered", {}))) & usable & ~known
    own = t[recovered]
    t = interpolate_flagged(result.angles, t, ~known)  # a jump is no node for its neighbours
    t[recovered] = own
    jumps = outlier_views(result.angles, t, outlier_px)
    flags = [("outlier" if j else "ok") if f in ("ok", "outlier") else f for f, j in zip(result.flags, jumps)]
    for i in np.flatnonzero(~known & ~recovered):  # placed by interpolation: re-examined by recover_views
        if result.flags[i] in ("lowcorr", "outlier"):
            flags[i] = "lowcorr"
    return dataclasses.replace(result, shifts_um=t[:, ::-1] * p, flags=flags, info={**result.info, "candidate": "anchors"})


def align_acquisition(full, interiors, *, volume=None, full_iterations=3, refine=4, guard=True, use_mirrors=True,
                      backend="numba", progress=False):
    """Align a full-field scan and interior scans, refine, and guard the result.

    Parameters
    ----------
    full : isxt.reconstruct.Scan
        The sparse full-field scan; its geometry's shifts are the input shifts.
    interiors : list of isxt.reconstruct.Scan
        Interior scans (their geometry's shifts are the input shifts).
    volume : VolumeGeometry, optional
        Grid for refinement and guard (default :func:`isxt.align.refine.default_volume`).
    full_iterations : int
        Projection-matching rounds of the full-field step.
    refine : int
        Rounds of refinement against the combined model (0: none).
    guard : bool
        Apply the residual guard.

    Returns
    -------
    results : dict of str → AlignmentResult
        Keyed by scan name (or ``"full"``, ``"interior0"``, ...): the shifts
        to use — the input ones when the guard rejected the estimate.
    guard_info : dict
        ``residual_input``, ``residual_aligned``, ``accepted`` and
        ``estimate`` (the new results, whether accepted or not).
    """
    names = [full.name or "full"] + [s.name or f"interior{k}" for k, s in enumerate(interiors)]
    ff = align_full_field(full.geometry, full.data, iterations=full_iterations, backend=backend, progress=progress)
    full_aligned = full.geometry.with_shifts(ff.shifts_um)
    its = [
        align_interior(s.geometry, s.data, full_aligned, full.data, full_flags=ff.flags, use_mirrors=use_mirrors,
                       progress=progress)
        for s in interiors
    ]
    volume = default_volume(full.geometry, [s.geometry for s in interiors]) if volume is None else volume
    full_model = dataclasses.replace(full, geometry=full_aligned)
    its = [recover_views(full_model, s, r, volume=volume, backend=backend) for s, r in zip(interiors, its)]
    alt = [anchor_interpolation(r, 0.1 * s.geometry.cols) for s, r in zip(interiors, its)]
    # a jump again, against the model of the anchor-only shifts (the chain's errors would bias it)
    alt = [recover_views(full_model, s, r, volume=volume, backend=backend) for s, r in zip(interiors, alt)]
    if refine and interiors:
        shifts, rinfo = refine_interior(dataclasses.replace(full, geometry=full_aligned), list(interiors), its,
                                        volume=volume, rounds=refine, backend=backend, progress=progress)
        its = [dataclasses.replace(r, shifts_um=t, info={**r.info, "refine": rinfo}) for r, t in zip(its, shifts)]
    scans = [full, *interiors]

    def misfit(results):
        new = [dataclasses.replace(s, geometry=s.geometry.with_shifts(r.shifts_um)) for s, r in zip(scans, results)]
        return combined_residual(new, volume, backend=backend)

    candidates = {}
    if interiors:  # the refined estimate or the anchors alone: whichever fits the data better
        candidates = {"refined": misfit([ff, *its]), "anchors": misfit([ff, *alt])}
        if candidates["anchors"] < candidates["refined"]:
            its = alt
    chosen = min(candidates, key=candidates.get) if candidates else None
    estimate = dict(zip(names, [ff, *its]))
    info = {"estimate": estimate, "accepted": True, "residual_input": float("nan"), "residual_aligned": float("nan"),
            "candidates": candidates, "chosen": chosen}
    if not guard:
        return estimate, info
    info["residual_input"] = combined_residual(scans, volume, backend=backend)
    info["residual_aligned"] = candidates[chosen] if candidates else misfit([ff, *its])
    info["accepted"] = bool(info["residual_aligned"] < info["residual_input"])
    if info["accepted"]:
        return estimate, info
    kept = {
        name: AlignmentResult(np.array(s.geometry.shifts_um, dtype=np.float64), r.flags, r.angles, r.pixel_size_um,
                              {**r.info, "guard": "rejected"})
        for name, s, r in zip(names, scans, [ff, *its])
    }
    return kept, info


def guard_line(info):
    """One line stating the guard's comparison and decision."""
    a, b = info["residual_input"], info["residual_aligned"]
    if not np.isfinite(a):
        return "residual guard: off"
    verdict = "accepted" if info["accepted"] else "REJECTED: alignment does not lower the residual; input shifts kept"
    return f"residual guard: combined-model misfit {b:.5f} with the new shifts, {a:.5f} with the input shifts: {verdict}"
