"""Baselines side by side: interior-only, sparse-only, sinogram extension, combined, dense full scan.

One cell, one dense interior scan and one sparse full-field scan (2× pixel,
as a low-magnification scout scan would be), band-limited noiseless data
from a 2× finer phantom; every method stops at its best ROI PSNR (oracle).
The sinogram extension (:func:`isxt.baselines.sinogram_extension`) is the
scout-view method of the paper's ref. [14]: the sparse reconstruction is
re-projected to fill in the truncated interior sinogram.

Every scan's model carries its objective's Gaussian PSF (Eq. 11-12), for
every method alike.

Then the sinogram extension and the combined reconstruction again, with the
sparse data scaled by 1.02 and 1.05: a residual absorption-scale mismatch
between the scout and the interior scan, as an imperfect dual-energy
calibration (App. B.2) leaves it.

CSV ``baselines.csv``: ``method,psnr_roi,psnr_volume`` (+ ``sparse_scale,best_iteration,seconds``).
"""

from __future__ import annotations

import time

import numpy as np

from .. import baselines as B
from .. import metrics
from ..geometry import ScanGeometry
from ..optics import OZW_HIGH_RES_UM, OZW_LOW_RES_UM
from ..reconstruct import Scan
from ..solvers import Oracle
from . import _common as C
from ._runner import runner, sweep_map

NAME = "baselines"
TITLE = "Baselines: interior, sparse, sinogram extension, combined, dense"
# absorption-scale errors of the scout scan relative to the interior scan (1 + residual calibration error)
SPARSE_SCALES = (1.02, 1.05)

SIZES = {
    # 40 nm voxels as at the small size: on coarser grids the objectives' PSFs are sub-pixel
    "test": dict(nz=2, n_xy=64, voxel_size=0.04, roi_diameter=0.96, roi_center=(0.2, -0.15), n_interior=60,
                 n_sparse=12, sparse_pixel_factor=2.0, iterations=40, photons=None, tv_iterations=0),
    "small": dict(nz=4, n_xy=128, voxel_size=0.04, roi_diameter=1.92, roi_center=(0.4, -0.3), n_interior=120,
                  n_sparse=19, sparse_pixel_factor=2.0, iterations=80, photons=None, tv_iterations=100),
    "paper": dict(nz=8, n_xy=400, voxel_size=0.04, roi_diameter=6.0, roi_center=(1.0, -0.6), n_interior=499,
                  n_sparse=23, sparse_pixel_factor=2.0, iterations=150, photons=None, tv_iterations=150),
}


def _job(job):
    """One reconstruction of the comparison: ``(x, info)``."""
    method, scans, setup, cfg = job
    return _reconstruct(method, scans, setup, cfg["iterations"], cfg.get("tv_iterations"))


def compute(size="small", progress=True, seed=0):
    """Every method on consistent data, then two with a mis-scaled scout: one sweep item per reconstruction."""
    cfg = SIZES[C.check_size(size)]
    setup = C.make_setup(cfg["nz"], cfg["n_xy"], cfg["voxel_size"], cfg["roi_diameter"], cfg["roi_center"], seed=seed)
    vol, s = setup.volume, cfg["voxel_size"]
    geoms = {
        "interior": ScanGeometry.interior(vol, cfg["n_interior"], s, cfg["roi_diameter"], cfg["roi_center"]),
        "sparse": ScanGeometry.full_field(vol, cfg["n_sparse"], cfg["sparse_pixel_factor"] * s),
        "dense": ScanGeometry.full_field(vol, cfg["n_interior"], s),
    }
    # the paper's scout scan is a low-resolution one: 60 nm objective (Section 2.2, App. A)
    ozw = {"sparse": cfg.get("sparse_ozw_um", OZW_LOW_RES_UM)}
    # every scan's model carries its own optics (Eq. 11-12), for every method alike: the combined
    # reconstruction fits the blurred scout views and the sharp interior views each with its own PSF
    psf = {k: ozw.get(k, OZW_HIGH_RES_UM) for k in geoms}
    jobs = [(setup, g, psf[k], cfg["photons"], seed + i) for i, (k, g) in enumerate(geoms.items())]
    ys = sweep_map(C.simulate_job, jobs, progress, f"{NAME}: simulate")
    scans = {k: Scan(g, y, name=k, psf=psf[k]) for (k, g), y in zip(geoms.items(), ys)}
    steps = ["interior", "sparse", "sinogram_extension", "combined", "dense"]
    steps += ["combined_tv"] if cfg.get("tv_iterations") else []  # TV, automatic λ (issue 15)
    # A residual absorption-scale mismatch between the scout and the interior scan (what an
    # imperfect App. B.2 calibration leaves): the extension splices the two data sets at the
    # interior detector's edges, the combined reconstruction fits both in least squares.
    jobs = [(m, 1.0, scans) for m in steps]
    for factor in cfg.get("sparse_scales", SPARSE_SCALES):
        sparse = scans["sparse"]
        off = dict(scans, sparse=Scan(sparse.geometry, sparse.data * np.float32(factor), name="sparse", psf=sparse.psf))
        jobs += [(m, factor, off) for m in ("sinogram_extension", "combined")]
    out = sweep_map(_job, [(m, sc, setup, cfg) for m, _, sc in jobs], progress, NAME)
    rows = [_row(m, factor, x, info, setup) for (m, factor, _), (x, info) in zip(jobs, out)]
    recons = {m: x for (m, factor, _), (x, _info) in zip(jobs, out) if factor == 1.0}
    return {"rows": rows, "setup": setup, "cfg": cfg, "recons": recons}


def _reconstruct(method, scans, setup, iterations, tv_iterations=None):
    if method == "combined_tv":
        from .tv import tv_reconstruct

        return tv_reconstruct([scans["interior"], scans["sparse"]], setup, tv_iterations)
    if method == "sinogram_extension":
        peak = setup.peak
        metric = lambda x, t: metrics.psnr(x, t, data_range=peak)  # noqa: E731
        stop = Oracle(setup.truth, metric=metric, mask=setup.roi_mask, patience=10)
        sparse_stop = Oracle(setup.truth, metric=metric, mask=setup.cell_mask, patience=10)
        t0 = time.perf_counter()
        x = B.sinogram_extension(scans["interior"], scans["sparse"], setup.volume, iterations=iterations, stop=stop,
                                 sparse_stop=sparse_stop)
        return x, {"best_iteration": stop.best_iteration, "seconds": time.perf_counter() - t0}
    names = {"combined": ["interior", "sparse"]}.get(method, [method])
    # the combined scans are unequally sampled: precondition (see isxt.solvers.cgls)
    return C.oracle_reconstruct([scans[k] for k in names], setup, iterations, patience=10,
                                precondition=method == "combined")


def _row(method, sparse_scale, x, info, setup):
    return {"method": method, "psnr_roi": setup.psnr_roi(x), "psnr_volume": setup.psnr_volume(x),
            "sparse_scale": float(sparse_scale), "best_iteration": int(info["best_iteration"]),
            "seconds": float(info["seconds"])}


def claims(result):
    rows = result["rows"]
    r = {row["method"]: row for row in rows if row["sparse_scale"] == 1.0}
    off = {}
    for row in rows:
        if row["sparse_scale"] != 1.0:
            off.setdefault(row["sparse_scale"], {})[row["method"]] = row["psnr_roi"]
    claims = {
        "combined_ge_sinogram_extension": C.claim(
            r["combined"]["psnr_roi"] >= r["sinogram_extension"]["psnr_roi"],
            f"ROI PSNR combined {r['combined']['psnr_roi']:.2f} dB vs sinogram extension "
            f"{r['sinogram_extension']['psnr_roi']:.2f} dB",
            value=r["combined"]["psnr_roi"] - r["sinogram_extension"]["psnr_roi"],
        ),
        "combined_gt_interior": C.claim(
            r["combined"]["psnr_roi"] > r["interior"]["psnr_roi"],
            f"ROI PSNR combined {r['combined']['psnr_roi']:.2f} dB vs interior-only {r['interior']['psnr_roi']:.2f} dB",
            value=r["combined"]["psnr_roi"] - r["interior"]["psnr_roi"],
        ),
        "combined_gt_sparse": C.claim(
            r["combined"]["psnr_roi"] > r["sparse"]["psnr_roi"],
            f"ROI PSNR combined {r['combined']['psnr_roi']:.2f} dB vs sparse-only {r['sparse']['psnr_roi']:.2f} dB",
            value=r["combined"]["psnr_roi"] - r["sparse"]["psnr_roi"],
        ),
    }
    if off:
        claims["combined_ge_sinogram_extension_with_calibration_mismatch"] = C.claim(
            all(v["combined"] >= v["sinogram_extension"] for v in off.values()),
            "ROI PSNR combined vs sinogram extension with the sparse data scaled by "
            + ", ".join(f"{f:g}: {v['combined']:.2f} vs {v['sinogram_extension']:.2f} dB" for f, v in sorted(off.items())),
            value=min(v["combined"] - v["sinogram_extension"] for v in off.values()),
        )
    return claims


def plot(path, result):
    from ..plotting.experiments import baselines_figure

    baselines_figure(path, result["setup"], result["recons"])


def describe(result):
    rows, cfg = result["rows"], result["cfg"]
    noise = "noiseless" if cfg["photons"] is None else f"Poisson noise, {cfg['photons']:g} photons per pixel"
    what = f"""
Cell phantom {cfg['nz']}×{cfg['n_xy']}×{cfg['n_xy']} at {cfg['voxel_size'] * 1000:.0f} nm (simulated on a 2× finer
grid), ROI {cfg['roi_diameter']} µm at {cfg['roi_center']} µm. Interior: {cfg['n_interior']} views; sparse:
{cfg['n_sparse']} full-field views at {cfg['sparse_pixel_factor']:g}× pixel; dense: {cfg['n_interior']} full-field
views. Band-limited (FWHM {OZW_HIGH_RES_UM * 1000:.0f} nm; the low-resolution sparse scan {OZW_LOW_RES_UM * 1000:.0f} nm), {noise};
each scan's model includes its Gaussian PSF (Eq. 11–12).
CGLS ≤ {cfg['iterations']} iterations (the combined one with the voxel-sensitivity preconditioner), oracle stop on
the ROI PSNR, patience 10 (the sparse step of the sinogram extension stops at its best whole-cell PSNR, a
best case for that baseline).
"""
    table = C.table_markdown(rows, ["method", "sparse_scale", "psnr_roi", "psnr_volume", "best_iteration", "seconds"],
                             fmt="{:.2f}")
    notes = """
Every scan's reconstruction model carries its objective's Gaussian PSF (35 nm interior and dense, 60 nm
sparse), for every method alike. Without it the extension is 0.5 dB ahead with consistent data: the
unmodelled blur of the scout views inside the ROI conflicts with the sharp interior views. Measured at the
small size with Poisson noise (2000 incident photons per pixel on every scan; `SIZES['small']['photons']
= 2000`, seed 0): ROI PSNR interior 17.9 dB, sparse 21.9, sinogram extension 25.6, combined 24.8, dense
25.8 dB: with noise the extension, whose exterior is the smooth oracle-stopped scout reconstruction, stays
ahead (see docs/experiments.md).
"""
    return {"what": what, "table": table, "notes": notes}


run = runner(__name__)
