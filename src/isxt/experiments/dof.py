"""Fig. 3: depth of field — radial PSNR and FRC resolution of full, interior and combined scans.

Five reconstructions of one cell, all CGLS with the plain projector (no PSF
in the model) stopped at the best ROI PSNR:

* ``ideal35`` — full scan, z-independent in-focus 35 nm PSF (infinite depth of field; the paper's reference);
* ``full35``, ``full60`` — full scans through the depth-dependent zone-plate PSF
  (:class:`isxt.simulate.DepthPSFProjector`, XM-2 35 / 60 nm lenses, λ/Δλ = 300, focus on the rotation axis);
* ``interior`` — the truncated 35 nm interior scan alone (focus on the ROI centre);
* ``combined`` — the truncated 35 nm scan with a sparse full-field 60 nm scan.

Quality: PSNR in annuli around the ROI axis (one global peak, as in the
paper) and the in-slice FRC of the ROI (a tapered square around the ROI
centre) against the phantom, with its 1/7 resolution.

CSV ``dof.csv``: one row per method and annulus: ``method,r_um,psnr`` plus the
method's ``psnr_roi`` and ``resolution_nm``.
"""

from __future__ import annotations

import numpy as np

from .. import metrics
from ..geometry import ScanGeometry
from ..optics import ZonePlate
from ..reconstruct import Scan
from . import _common as C
from ._runner import runner, sweep_map

NAME = "dof"
TITLE = "Depth of field: full, interior and combined scans (Fig. 3)"
METHODS = ("ideal35", "full35", "full60", "interior", "combined")

SIZES = {
    "test": dict(nz=2, n_xy=64, voxel_size=0.05, roi_diameter=1.2, roi_center=(0.3, -0.2), n_views=60, n_sparse=12,
                 iterations=40, bins=4),
    "small": dict(nz=4, n_xy=160, voxel_size=0.03, roi_diameter=1.8, roi_center=(0.45, -0.3), n_views=90,
                  n_sparse=24, iterations=60, bins=6),
    # the paper: 801-px field of 20 nm, 6 µm ROI, 499 views
    "paper": dict(nz=16, n_xy=801, voxel_size=0.02, roi_diameter=6.0, roi_center=(0.0, 0.0), n_views=499,
                  n_sparse=49, iterations=150, bins=10),
}


def _roi_frc(x, setup, pixel):
    """FRC of the ROI: a square around the ROI centre, tapered by a circular Hann window."""
    vol = setup.volume
    k0, j0, i0 = vol.index_of(setup.roi_center[0], setup.roi_center[1], vol.center_um[2])
    half = int(setup.roi_diameter / (2 * vol.voxel_size_um))
    j0, i0 = int(round(j0)), int(round(i0))
    sl = (slice(None), slice(j0 - half, j0 + half), slice(i0 - half, i0 + half))
    yy, xx = np.mgrid[-half:half, -half:half] + 0.5
    r = np.hypot(yy, xx) / half
    w = np.where(r < 1, 0.5 + 0.5 * np.cos(np.pi * r), 0.0)
    return metrics.frc_slices(x[sl] * w, setup.truth[sl] * w, pixel_size_um=pixel)


def _reconstruct(job):
    scans, setup, iterations = job
    return C.oracle_reconstruct(scans, setup, iterations)


def compute(size="small", progress=True, seed=0):
    """Simulate the five scans and reconstruct the five methods (two sweeps of independent items)."""
    cfg = SIZES[C.check_size(size)]
    setup = C.make_setup(cfg["nz"], cfg["n_xy"], cfg["voxel_size"], cfg["roi_diameter"], cfg["roi_center"], seed=seed)
    vol, s = setup.volume, cfg["voxel_size"]
    zp35, zp60 = ZonePlate.xm2(35), ZonePlate.xm2(60)
    full = ScanGeometry.full_field(vol, cfg["n_views"], s)
    interior = ScanGeometry.interior(vol, cfg["n_views"], s, cfg["roi_diameter"], cfg["roi_center"])
    sparse = ScanGeometry.full_field(vol, cfg["n_sparse"], s)
    sims = {
        "ideal35": (full, zp35.psf_2d(0.0, s)),
        "full35": (full, zp35),
        "full60": (full, zp60),
        "interior": (interior, zp35),
        "sparse60": (sparse, zp60),
    }
    ys = sweep_map(C.simulate_job, [(setup, g, psf) for g, psf in sims.values()], progress, "dof: simulate")
    scans = {k: Scan(g, y, name=k) for (k, (g, _)), y in zip(sims.items(), ys)}
    jobs = {"ideal35": ["ideal35"], "full35": ["full35"], "full60": ["full60"], "interior": ["interior"],
            "combined": ["interior", "sparse60"]}
    # annuli out to 1.25 ROI radii, as the paper's Fig. 3 axis runs past the ROI edge
    edges = np.linspace(0.0, 1.25 * setup.roi_diameter / 2, cfg["bins"] + 1)
    rows, summary, recons = [], {}, {}
    results = sweep_map(_reconstruct, [([scans[k] for k in jobs[m]], setup, cfg["iterations"]) for m in METHODS],
                          progress, "dof: reconstruct")
    for m, (x, info) in zip(METHODS, results):
        recons[m] = x
        centres, values = metrics.radial_profile(x, setup.truth, vol, center_xy_um=setup.roi_center, bins=edges,
                                                 data_range=setup.peak)
        summary[m] = {"psnr_roi": setup.psnr_roi(x), "resolution_nm": C.resolution_or_nan(_roi_frc(x, setup, s)),
                      "profile": values, "best_iteration": info["best_iteration"]}
        for r, v in zip(centres, values):
            rows.append({"method": m, "r_um": float(r), "psnr": float(v), "psnr_roi": summary[m]["psnr_roi"],
                         "resolution_nm": summary[m]["resolution_nm"]})
    e = edge_index(centres, setup.roi_diameter / 2)
    return {"rows": rows, "summary": summary, "setup": setup, "cfg": cfg, "centres": centres, "recons": recons,
            "edge": e}


def edge_index(centres, roi_radius):
    """The outermost annulus that lies inside the ROI (annuli have equal widths from r = 0)."""
    centres = np.asarray(centres)
    width = 2 * centres[0]
    inside = np.nonzero(centres + width / 2 <= roi_radius + 1e-9)[0]
    return int(inside[-1]) if inside.size else 0


def claims(result):
    """Claim (c) and the resolution ordering, at the annulus on the ROI edge."""
    summary, e = result["summary"], result["edge"]
    # PSNR_rel (Eq. 10) against the ideal 35 nm scan removes what the phantom's local content does to the PSNR
    rel = {m: summary[m]["profile"] - summary["ideal35"]["profile"] for m in summary}
    drop = {m: rel[m][0] - rel[m][e] for m in summary}
    r35, r60 = summary["full35"]["resolution_nm"], summary["full60"]["resolution_nm"]
    return {
        "interior_falls_towards_edge": C.claim(
            drop["interior"] >= 1.0,
            f"interior-only PSNR_rel centre − ROI edge: {drop['interior']:.2f} dB (need ≥ 1 dB)",
            value=drop["interior"],
        ),
        "combined_flat_towards_edge": C.claim(
            drop["combined"] <= max(0.5, 0.5 * drop["interior"]),
            f"combined PSNR_rel centre − ROI edge: {drop['combined']:.2f} dB (need ≤ max(0.5 dB, half the interior's "
            f"{drop['interior']:.2f} dB))",
            value=drop["combined"],
        ),
        "combined_ge_interior_at_edge": C.claim(
            summary["combined"]["profile"][e] > summary["interior"]["profile"][e],
            f"PSNR at the ROI edge: combined {summary['combined']['profile'][e]:.2f} dB vs interior "
            f"{summary['interior']['profile'][e]:.2f} dB",
            value=summary["combined"]["profile"][e] - summary["interior"]["profile"][e],
        ),
        "35nm_resolves_better_than_60nm": C.claim(
            None if not np.isfinite(r35 + r60) else r35 <= r60,
            f"ROI FRC 1/7 resolution: full 35 nm {C.resolution_text(r35)}, full 60 nm {C.resolution_text(r60)}, "
            f"ideal 35 nm {C.resolution_text(summary['ideal35']['resolution_nm'])}, combined "
            f"{C.resolution_text(summary['combined']['resolution_nm'])} (paper: 61 vs 79 nm)"
            + ("; undecided: an FRC that never crosses 1/7 gives no resolution to compare" if not np.isfinite(r35 + r60)
               else ""),
            value=r60 - r35,
        ),
    }


def plot(path, result):
    from ..plotting.experiments import dof_figure

    dof_figure(path, result["summary"], result["centres"], result["setup"], result["recons"])


def public(result):
    """The per-method summary (without the radial profiles) in the returned dict."""
    return {"summary": {m: {k: v for k, v in d.items() if k != "profile"} for m, d in result["summary"].items()}}


def describe(result):
    summary, setup, cfg, centres, e = (result[k] for k in ("summary", "setup", "cfg", "centres", "edge"))
    what = f"""
Cell phantom {cfg['nz']}×{cfg['n_xy']}×{cfg['n_xy']} at {cfg['voxel_size'] * 1000:.0f} nm (field
{cfg['n_xy'] * cfg['voxel_size']:.2f} µm; data simulated on a 2× finer grid), ROI {cfg['roi_diameter']} µm at
{cfg['roi_center']} µm. {cfg['n_views']} views for every full and interior scan, {cfg['n_sparse']} for the sparse
60 nm scan; noiseless. PSF models: XM-2 zone plates (35 nm: 60 µm diameter, 60 nm: 72 µm; λ/Δλ = 300) through
the depth-dependent model; ideal: in-focus 35 nm PSF for every depth. CGLS ≤ {cfg['iterations']} iterations,
oracle stop on the ROI PSNR. Radial PSNR in {cfg['bins']} annuli out to 1.25 ROI radii; "edge" is the outermost
annulus inside the ROI (centred at r = {centres[e]:.2f} µm; ROI radius {setup.roi_diameter / 2:.2f} µm); the
flatness claims use PSNR_rel (Eq. 10) against the ideal 35 nm scan.
"""
    srows = [{"method": m, "psnr_roi": summary[m]["psnr_roi"], "resolution_nm": summary[m]["resolution_nm"],
              "psnr_centre": float(summary[m]["profile"][0]), "psnr_edge": float(summary[m]["profile"][e]),
              "best_iteration": summary[m]["best_iteration"]} for m in METHODS]
    table = C.table_markdown(srows, fmt="{:.2f}")
    notes = """
Paper (`XM2_janelia_noiseless.csv`, 6 µm ROI in a 16 µm field): from the centre to r = 2.8 µm the interior-only
PSNR falls from 20.6 to 19.3 dB and then collapses (8.9 dB at 6 µm), while the combined reconstruction goes from
23.0 to 22.4 dB, tracking the full 35 nm scan; resolution 61 nm (35 nm lens) vs 79 nm (60 nm lens). Our small
field is 3× smaller, so depth-of-field effects are weaker than in the paper. A resolution of NaN means the
ROI FRC never fell below 1/7 up to the Nyquist frequency: not resolved at this sampling (finer than two voxels,
not measurable on this grid); a claim comparing such values is reported as UNDECIDED, never PASS.
"""
    return {"what": what, "table": table, "notes": notes}


run = runner(__name__)
