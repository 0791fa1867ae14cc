"""Alignment of measured stacks (App. B.1): the sparse full-field stack first,
then interior images against it as anchors (Eq. 14–15).

Shifts are per-view ``(du, dv)`` in µm in the sense of
:meth:`isxt.geometry.ScanGeometry.with_shifts`: the detector centre moves by
them, so ``scan.with_shifts(result.shifts_um)`` is the geometry that models the
measured data. See ``docs/alignment.md``.
"""

from __future__ import annotations

from .drift import simulate_drift
from .full_field import align_full_field, gauge_difference, gauge_shifts, mass_centres, remove_gauge
from .anchors import Anchor, anchor_pairs, make_anchors
from .interior import align_interior
from .ncc import NCCMap, NCCSpline, ncc, ncc_map, shift_image
from .quality import FLAGS, AlignmentResult, classify_frames
from .shifts_io import plot_shifts, read_shifts_csv, write_shifts_csv

__all__ = [
    "AlignmentResult",
    "Anchor",
    "FLAGS",
    "NCCMap",
    "NCCSpline",
    "align_full_field",
    "align_interior",
    "align_scans",
    "anchor_pairs",
    "apply_shifts",
    "classify_frames",
    "gauge_difference",
    "gauge_shifts",
    "make_anchors",
    "mass_centres",
    "ncc",
    "ncc_map",
    "plot_shifts",
    "read_shifts_csv",
    "remove_gauge",
    "shift_image",
    "simulate_drift",
    "write_shifts_csv",
]


def align_scans(full, interior=None, *, anchor_views=None, use_mirrors=True, full_field=None, interior_options=None,
                progress=False):
    """Align a sparse full-field scan, then an interior scan against it.

    Parameters
    ----------
    full : isxt.reconstruct.Scan
        The sparse full-field scan (whole sample in view).
    interior : isxt.reconstruct.Scan, optional
        The interior scan.
    anchor_views : sequence of int, optional
        Full-field views used as anchors (default: all usable).
    use_mirrors : bool
        Use full-field views at ``θ + π`` as mirrored anchors.
    full_field, interior_options : dict, optional
        Extra keyword arguments for :func:`align_full_field` and
        :func:`align_interior`.
    progress : bool

    Returns
    -------
    dict
        ``{"full": AlignmentResult, "interior": AlignmentResult}`` (the
        latter only with ``interior``).
    """
    out = {"full": align_full_field(full.geometry, full.data, progress=progress, **(full_field or {}))}
    if interior is not None:
        out["interior"] = align_interior(
            interior.geometry,
            interior.data,
            full.geometry.with_shifts(out["full"].shifts_um),
            full.data,
            full_flags=out["full"].flags,
            anchor_views=anchor_views,
            use_mirrors=use_mirrors,
            progress=progress,
            **(interior_options or {}),
        )
    return out


def apply_shifts(scan, result):
    """A copy of ``scan`` (an :class:`isxt.reconstruct.Scan`) whose geometry carries ``result.shifts_um``."""
    import dataclasses

    return dataclasses.replace(scan, geometry=scan.geometry.with_shifts(result.shifts_um))
