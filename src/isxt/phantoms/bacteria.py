"""A seeded cluster of rod-shaped bacteria (Pseudomonas-like spherocylinders)."""

from __future__ import annotations

import numpy as np

from .._deprecate import renamed_kwargs
from ..errors import InputError
from ._shapes import paint_capsules
from .base import LABELS, phantom_from_labels
from .capillary import paint_capillary
from .cell import _capillary_for, _check_geometry

__all__ = ["bacteria_phantom"]


def segment_distance(p1, q1, p2, q2):
    """Smallest distance between the segments ``[p1, q1]`` and ``[p2, q2]`` (3D).

    Closest points of two segments by clamping the line-line solution
    (Ericson, *Real-Time Collision Detection*, §5.1.9).
    """
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    eps = 1e-12
    if a <= eps and e <= eps:
        return float(np.linalg.norm(r))
    if a <= eps:
        s, t = 0.0, np.clip(f / e, 0, 1)
    else:
        c = d1 @ r
        if e <= eps:
            t, s = 0.0, np.clip(-c / a, 0, 1)
        else:
            b = d1 @ d2
            denom = a * e - b * b
            s = np.clip((b * f - c * e) / denom, 0, 1) if denom > eps else 0.0
            t = (b * s + f) / e
            if t < 0:
                t, s = 0.0, np.clip(-c / a, 0, 1)
            elif t > 1:
                t, s = 1.0, np.clip((b - c) / a, 0, 1)
    return float(np.linalg.norm((p1 + d1 * s) - (p2 + d2 * t)))


@renamed_kwargs(diameter_range="diameter_range_um", length_range="length_range_um")
def bacteria_phantom(
    volume_geometry,
    n_cells=30,
    seed=0,
    energy_ev=517.0,
    capillary=False,
    ice=False,
    diameter_range_um=(0.5, 0.8),
    length_range_um=(1.5, 3.0),
    granule_probability=0.4,
    max_tilt_deg=30.0,
    materials=None,
):
    """A cluster of rod-shaped bacteria as a labelled LAC volume.

    Each bacterium is a spherocylinder (capsule) with an envelope shell
    (outer membrane, peptidoglycan, inner membrane) around the cytoplasm;
    some carry dense storage granules. Cells do not overlap (they may
    touch). Centres lie in the volume's z range and in a disc around the
    volume axis that grows until all cells fit; axes have random azimuth
    and a tilt out of the xy plane of at most ``max_tilt_deg``.

    Parameters
    ----------
    volume_geometry : VolumeGeometry
    n_cells : int
    seed : int
    energy_ev : float
    capillary : bool or Capillary
        Put the cluster into an ice-filled glass capillary along z.
    ice : bool
        Without a capillary, fill the space around the cells with amorphous ice
        (a capillary is always filled with ice and has vacuum outside).
    diameter_range_um, length_range_um : tuple of float
        Uniform ranges (µm) of the cell diameter and the tip-to-tip length
        (``diameter_range`` and ``length_range`` are the deprecated names).
    granule_probability : float
        Chance that a cell carries 1–2 granules.
    max_tilt_deg : float
        Largest angle between a cell axis and the xy plane.
    materials : dict, optional
        ``{label name: Material}`` overriding default compositions.

    Returns
    -------
    Phantom
        ``info['cells']`` lists each cell's centre, axis, length and radius.
    """
    _check_geometry(volume_geometry)
    geom = volume_geometry
    n_cells = int(n_cells)
    if n_cells < 1:
        raise InputError(f"n_cells must be a positive integer, got {n_cells}")
    rng = np.random.default_rng(seed)
    cap = _capillary_for(geom, capillary)
    s = geom.voxel_size_um
    center = np.array(geom.center_um, dtype=np.float64)

    radii = rng.uniform(*diameter_range_um, n_cells) / 2
    lengths = np.maximum(rng.uniform(*length_range_um, n_cells), 2 * radii)
    half_axis = lengths / 2 - radii  # half length of the capsule's core segment
    envelope = max(0.035, 1.5 * s)
    if radii.min() - envelope < s:
        raise InputError(
            f"voxel size {s:g} µm is too coarse for {2 * radii.min():.2f} µm thick bacteria; "
            f"use voxels below {radii.min() / 3:.3f} µm"
        )

    # The cluster disc: start at ~40 % area coverage, grow when cells do not fit.
    disc_radius = min(geom.extent[0], geom.extent[1]) / 2 - s
    if cap is not None:
        disc_radius = min(disc_radius, cap.inner_radius_um - s)
    cluster_radius = min(np.sqrt(np.sum(2 * radii * lengths) / (np.pi * 0.4)), disc_radius)
    z_lo, z_hi = geom.coords("z")[[0, -1]]
    tilt_max = np.radians(max_tilt_deg)

    placed = []
    for k in range(n_cells):
        for attempt in range(2000):
            if attempt and attempt % 200 == 0:
                cluster_radius = min(cluster_radius * 1.1, disc_radius)
            rho = cluster_radius * np.sqrt(rng.random())
            phi = rng.uniform(0, 2 * np.pi)
            c = center + np.array([rho * np.cos(phi), rho * np.sin(phi), 0.0])
            c[2] = rng.uniform(z_lo, z_hi)
            az, tilt = rng.uniform(0, 2 * np.pi), rng.uniform(-tilt_max, tilt_max)
            axis = np.array([np.cos(tilt) * np.cos(az), np.cos(tilt) * np.sin(az), np.sin(tilt)])
            p, q = c - half_axis[k] * axis, c + half_axis[k] * axis
            # Whole cell inside the disc the volume (or capillary) offers.
            if max(np.hypot(*(p - center)[:2]), np.hypot(*(q - center)[:2])) + radii[k] > disc_radius:
                continue
            if all(segment_distance(p, q, o["p"], o["q"]) >= radii[k] + o["r"] for o in placed):
                placed.append({"p": p, "q": q, "r": radii[k], "center": c, "axis": axis})
                break
        else:
            raise InputError(
                f"could not fit {n_cells} bacteria into the volume (placed {len(placed)}); "
                "use fewer cells or a larger volume"
            )

    labels = np.zeros(geom.shape, dtype=np.uint8)
    free = [LABELS["background"]]
    cells_info = []
    for o in placed:
        paint_capsules(labels, geom, o["p"], o["q"], o["r"], LABELS["bacterial_envelope"], free)
        inner = o["r"] - envelope
        paint_capsules(labels, geom, o["p"], o["q"], inner, LABELS["bacterial_cytoplasm"], [LABELS["bacterial_envelope"]])
        n_granules = rng.integers(1, 3) if rng.random() < granule_probability else 0
        for _ in range(n_granules):
            r_g = min(rng.uniform(0.06, 0.12), 0.5 * (o["r"] - envelope))
            r_g = max(r_g, 0.75 * s)
            along = rng.uniform(0, 1)
            side = rng.standard_normal(3)
            side -= (side @ o["axis"]) * o["axis"]
            side *= rng.uniform(0, o["r"] - envelope - r_g) / (np.linalg.norm(side) + 1e-12)
            g = o["p"] + along * (o["q"] - o["p"]) + side
            paint_capsules(labels, geom, g, g, r_g, LABELS["bacterial_granule"], [LABELS["bacterial_cytoplasm"]])
        cells_info.append(
            {
                "center_um": o["center"].tolist(),
                "axis": o["axis"].tolist(),
                "length_um": float(2 * (np.linalg.norm(o["q"] - o["p"]) / 2 + o["r"])),
                "radius_um": float(o["r"]),
                "granules": int(n_granules),
            }
        )
    if cap is not None:
        paint_capillary(labels, geom, cap)
    elif ice:
        labels[labels == LABELS["background"]] = LABELS["ice"]
    info = {"kind": "bacteria", "seed": seed, "n_cells": len(placed), "envelope_um": envelope, "cells": cells_info}
    if cap is not None:
        info["capillary"] = {"inner_radius_um": cap.inner_radius_um, "outer_radius_um": cap.outer_radius_um}
    return phantom_from_labels(labels, geom, energy_ev, materials, info)
