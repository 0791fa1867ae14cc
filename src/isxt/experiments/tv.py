"""TV with bounds and the automatic weight against oracle-stopped CGLS, on a noisy cell.

A cell (simulated on a 2× finer grid, Gaussian detector PSF of FWHM = 35 nm,
Poisson noise) is scanned by the combined protocol — a dense interior scan
plus ``N_full = 3`` full-field views — at the default dose (150 photons per
(10 nm)², both scans) and at a quarter of it, and by a dense full-field scan
of as many views as the interior scan. Each data set is reconstructed

* by CGLS with the voxel-sensitivity preconditioner, stopped at the best ROI
  PSNR against the phantom (the oracle: an upper bound on what any stopping
  rule achieves with CGLS), and
* by TV with ``x ≥ 0`` (:func:`isxt.solvers.tv_pdhg` via
  ``reconstruct(method="tv")``) with the automatic weight: the discrepancy
  principle for the known photon counts, no knowledge of the phantom.

At ``N_full = 3`` and the default dose, TV is also run for a 7-point sweep of
λ (the automatic λ times 1/8 … 8) to see how far the automatic λ is from the
best one.

CSV ``tv.csv``: ``case,method,tv_weight,psnr_roi,psnr_volume,iterations,seconds``.
"""

from __future__ import annotations

import time


from ..geometry import ScanGeometry
from ..optics import OZW_HIGH_RES_UM
from ..reconstruct import Scan, reconstruct
from .._progress import progress_bar
from . import _common as C
from ._runner import runner, sweep_map

NAME = "tv"
TITLE = "TV with the automatic weight vs oracle-stopped CGLS"
SWEEP = (1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0)

SIZES = {
    "test": dict(nz=2, n_xy=40, voxel_size=0.05, roi_diameter=1.0, roi_center=(0.2, -0.15), n_interior=30,
                 n_full=3, photons_per_100nm2=150.0, cgls_iterations=30, tv_iterations=30, sweep=False),
    "small": dict(nz=2, n_xy=64, voxel_size=0.04, roi_diameter=1.2, roi_center=(0.2, -0.15), n_interior=60,
                  n_full=3, photons_per_100nm2=150.0, cgls_iterations=60, tv_iterations=100, sweep=True),
    "paper": dict(nz=4, n_xy=128, voxel_size=0.04, roi_diameter=1.92, roi_center=(0.4, -0.3), n_interior=120,
                  n_full=3, photons_per_100nm2=150.0, cgls_iterations=80, tv_iterations=150, sweep=True),
}


def _cases(setup, cfg, seed):
    """``{case: [Scan, ...]}``: combined at the default and a quarter dose, dense full scan at the default dose."""
    vol, s = setup.volume, cfg["voxel_size"]
    i0 = cfg["photons_per_100nm2"] * (s / 0.01) ** 2
    interior = ScanGeometry.interior(vol, cfg["n_interior"], s, cfg["roi_diameter"], cfg["roi_center"])
    full = ScanGeometry.full_field(vol, cfg["n_full"], s)
    dense = ScanGeometry.full_field(vol, cfg["n_interior"], s)

    def scan(g, photons, k, name):
        y = C.simulate(setup, g, psf=OZW_HIGH_RES_UM, photons=photons, seed=seed + k)
        return Scan(g, y, name=name, photons=photons)

    cases = {}
    for label, p, k in ((f"combined N_full={cfg['n_full']}", i0, 1), (f"combined N_full={cfg['n_full']}, dose/4",
                                                                         i0 / 4, 3)):
        cases[label] = [scan(interior, p, k, "interior"), scan(full, p, k + 1, "sparse")]
    cases["dense full scan"] = [scan(dense, i0, 7, "dense")]
    return cases, i0


def tv_reconstruct(scans, setup, iterations):
    """``reconstruct(method="tv")`` with the automatic λ, as the other experiments' TV row; ``(x, info)``.

    ``info`` has ``best_iteration`` (the PDHG iterations of the final solve),
    ``tv_weight``, ``tv_weight_rule`` and ``seconds``, like
    :func:`~isxt.experiments._common.oracle_reconstruct`'s.
    """
    t0 = time.perf_counter()
    x, info = reconstruct(scans, setup.volume, method="tv", iterations=iterations, return_info=True,
                          check=False)  # judged against the phantom
    return x, {"best_iteration": info["iterations"], "tv_weight": info["tv_weight"],
               "tv_weight_rule": info["tv_weight_rule"], "seconds": time.perf_counter() - t0}


def _case(job):
    """The rows of one case: oracle CGLS, TV with the automatic λ and, where asked, the λ sweep around it."""
    case, scans, setup, cfg, progress = job
    rows = []

    def row(method, x, lam, iterations, seconds):
        rows.append({"case": case, "method": method, "tv_weight": float(lam), "psnr_roi": setup.psnr_roi(x),
                     "psnr_volume": setup.psnr_volume(x), "iterations": int(iterations), "seconds": float(seconds)})

    x, info = C.oracle_reconstruct(scans, setup, cfg["cgls_iterations"], patience=5, precondition=True)
    row("cgls_oracle", x, float("nan"), info["best_iteration"], info["seconds"])
    t0 = time.perf_counter()
    x, info = reconstruct(scans, setup.volume, method="tv", iterations=cfg["tv_iterations"], return_info=True,
                          check=False)
    row("tv_auto", x, info["tv_weight"], info["iterations"], time.perf_counter() - t0)
    if cfg["sweep"] and case.startswith("combined") and "dose/4" not in case:
        lam = info["tv_weight"]  # the sweep brackets this case's automatic λ, so it stays inside the item
        for f in progress_bar(SWEEP, desc="λ sweep", disable=not progress, leave=False):
            t0 = time.perf_counter()
            x, inf = reconstruct(scans, setup.volume, method="tv", iterations=cfg["tv_iterations"],
                                 tv_weight=lam * f, return_info=True, check=False)
            row(f"tv_sweep×{f:g}", x, lam * f, inf["iterations"], time.perf_counter() - t0)
    return rows


def compute(size="small", progress=True, seed=0):
    """The three cases, one sweep item each."""
    cfg = SIZES[C.check_size(size)]
    setup = C.make_setup(cfg["nz"], cfg["n_xy"], cfg["voxel_size"], cfg["roi_diameter"], cfg["roi_center"], seed=seed)
    cases, i0 = _cases(setup, cfg, seed)
    parts = sweep_map(_case, [(c, scans, setup, cfg, progress) for c, scans in cases.items()], progress, NAME)
    return {"rows": [r for part in parts for r in part], "setup": setup, "cfg": cfg, "i0": i0}


def claims(result):
    rows, cfg = result["rows"], result["cfg"]
    get = {(r["case"], r["method"]): r for r in rows}
    comb, quarter = f"combined N_full={cfg['n_full']}", f"combined N_full={cfg['n_full']}, dose/4"
    gain = {c: get[(c, "tv_auto")]["psnr_roi"] - get[(c, "cgls_oracle")]["psnr_roi"]
            for c in (comb, quarter, "dense full scan")}
    claims = {
        "tv_beats_cgls_at_n_full_3": C.claim(
            gain[comb] >= 2.0, f"ROI PSNR TV (auto λ) − oracle CGLS at N_full = {cfg['n_full']}: {gain[comb]:+.2f} dB "
            f"({get[(comb, 'tv_auto')]['psnr_roi']:.2f} vs {get[(comb, 'cgls_oracle')]['psnr_roi']:.2f}; need ≥ +2 dB)"),
        "tv_beats_cgls_at_quarter_dose": C.claim(
            gain[quarter] >= 1.5, f"at a quarter of the dose: {gain[quarter]:+.2f} dB "
            f"({get[(quarter, 'tv_auto')]['psnr_roi']:.2f} vs {get[(quarter, 'cgls_oracle')]['psnr_roi']:.2f}; "
            "need ≥ +1.5 dB)"),
        "tv_no_worse_on_dense_data": C.claim(
            gain["dense full scan"] >= -0.5, f"dense full scan: {gain['dense full scan']:+.2f} dB "
            f"({get[('dense full scan', 'tv_auto')]['psnr_roi']:.2f} vs "
            f"{get[('dense full scan', 'cgls_oracle')]['psnr_roi']:.2f}; need ≥ −0.5 dB)"),
    }
    sweep = [r for r in rows if r["case"] == comb and r["method"].startswith("tv_sweep")]
    if sweep:
        best = max(sweep, key=lambda r: r["psnr_roi"])
        behind = best["psnr_roi"] - get[(comb, "tv_auto")]["psnr_roi"]
        claims["auto_weight_within_1dB_of_sweep"] = C.claim(
            behind <= 1.0, f"best of the 7-point sweep {best['psnr_roi']:.2f} dB at λ = {best['tv_weight']:.3g} "
            f"({best['method']}); automatic λ = {get[(comb, 'tv_auto')]['tv_weight']:.3g} is {behind:.2f} dB "
            "behind (need ≤ 1 dB)")
    return claims


def plot(path, result):
    from ..plotting.experiments import tv_figure

    tv_figure(path, result["rows"], result["cfg"])


def describe(result):
    rows, cfg, i0 = result["rows"], result["cfg"], result["i0"]
    what = f"""
Cell phantom {cfg['nz']}×{cfg['n_xy']}×{cfg['n_xy']} at {cfg['voxel_size'] * 1000:.0f} nm (2× finer simulation grid),
ROI {cfg['roi_diameter']} µm at {cfg['roi_center']} µm; interior scan of {cfg['n_interior']} views plus
N_full = {cfg['n_full']} full views, at I0 = {i0:.0f} photons per pixel and at I0/4; dense full scan of
{cfg['n_interior']} views at I0. Gaussian PSF (FWHM {OZW_HIGH_RES_UM * 1000:.0f} nm) and Poisson noise in the data, not in the
model. CGLS: sensitivity-preconditioned, ≤ {cfg['cgls_iterations']} iterations, oracle stop on the ROI PSNR.
TV: `reconstruct(method="tv")`, x ≥ 0, {cfg['tv_iterations']} PDHG iterations per solve, λ by the discrepancy
principle.
"""
    return {"what": what, "table": C.table_markdown(rows, fmt="{:.4g}")}


run = runner(__name__)
