"""Fig. 12: dose fractionation — resolution against the number of views at a fixed total dose.

Full-field scans with ``N_a`` views share a fixed total dose (photons per
pixel summed over all views), for a few dose levels. Data: band-limited
(FWHM 35 nm), Poisson noise, simulated from a 2× finer phantom; CGLS stops at
the best whole-cell PSNR (oracle). Quality: whole-cell PSNR and the in-slice
FRC against the phantom with its 1/7 resolution.

CSV ``fractionation.csv``: ``total_photons,n_angles,photons_per_view,psnr,resolution_nm,best_iteration``.
"""

from __future__ import annotations

import time

import numpy as np
from .._progress import progress_bar

from .. import metrics
from ..geometry import ScanGeometry
from ..reconstruct import Scan
from ..simulate import noisy_absorption
from . import _common as C

NAME = "fractionation"
OZW_UM = 0.035

CONFIGS = {
    "test": dict(nz=2, n_xy=48, voxel_size=0.08, views=(6, 12, 24, 48), totals=(2e4, 2e7), iterations=40),
    "small": dict(nz=4, n_xy=96, voxel_size=0.04, views=(12, 25, 50, 100, 200), totals=(6e4, 6e5, 6e6),
                  iterations=60),
    # the paper: 801 px of 20 nm, 51–881 views, 300·201, 3000·201, 30000·201 photons per pixel in total
    "paper": dict(nz=8, n_xy=801, voxel_size=0.02, views=(51, 101, 201, 499, 881),
                  totals=(300 * 201, 3000 * 201, 30000 * 201), iterations=150),
}


def compute(size="small", progress=True, seed=0):
    cfg = CONFIGS[C.check_size(size)]
    n = cfg["n_xy"]
    setup = C.make_setup(cfg["nz"], n, cfg["voxel_size"], roi_diameter=n * cfg["voxel_size"], seed=seed)
    vol, s = setup.volume, cfg["voxel_size"]
    rows = []
    geoms = {na: ScanGeometry.full_field(vol, na, s) for na in cfg["views"]}
    clean = {na: C.simulate(setup, g, psf=OZW_UM) for na, g in geoms.items()}
    jobs = [(t, na) for t in cfg["totals"] for na in cfg["views"]]
    curves = {}
    for k, (total, na) in enumerate(progress_bar(jobs, desc=NAME, disable=not progress)):
        per_view = total / na
        y = noisy_absorption(np.exp(-clean[na].astype(np.float64)), per_view, seed=seed + k)
        x, info = C.oracle_reconstruct([Scan(geoms[na], y)], setup, cfg["iterations"], mask="volume", patience=5)
        fr = metrics.frc_slices(x, setup.truth, pixel_size_um=s)
        curves[(total, na)] = fr
        rows.append({
            "total_photons": float(total), "n_angles": int(na), "photons_per_view": float(per_view),
            "psnr": setup.psnr_volume(x), "resolution_nm": C.resolution_or_nan(fr),
            "best_iteration": int(info["best_iteration"]),
        })
    return rows, setup, cfg, curves


def evaluate_claims(rows, cfg):
    lo, hi = min(cfg["totals"]), max(cfg["totals"])
    at = lambda t: [r for r in rows if r["total_photons"] == t]  # noqa: E731
    spread_lo = max(r["psnr"] for r in at(lo)) - min(r["psnr"] for r in at(lo))
    v_min, v_max = min(cfg["views"]), max(cfg["views"])
    pick = lambda t, v: next(r for r in at(t) if r["n_angles"] == v)  # noqa: E731
    loss_lo = pick(lo, v_max)["psnr"] - pick(lo, v_min)["psnr"]
    loss_hi = pick(hi, v_max)["psnr"] - pick(hi, v_min)["psnr"]
    # fractionation holds where noise dominates: excluding the sparsest sampling, the views barely matter
    rest = [r["psnr"] for r in at(lo) if r["n_angles"] != v_min]
    return {
        "fractionation_holds_at_low_dose": C.claim(
            max(rest) - min(rest) <= 1.0,
            f"lowest total dose {lo:.3g}: PSNR spread over N_a ∈ {[v for v in cfg['views'] if v != v_min]} "
            f"{max(rest) - min(rest):.2f} dB (need ≤ 1 dB); with N_a = {v_min} included {spread_lo:.2f} dB",
            value=max(rest) - min(rest),
        ),
        "sparse_sampling_matters_at_high_dose": C.claim(
            loss_hi > loss_lo + 1.0,
            f"PSNR(N_a={v_max}) − PSNR(N_a={v_min}): {loss_hi:.2f} dB at total {hi:.3g} vs {loss_lo:.2f} dB at "
            f"{lo:.3g} (need a larger loss at high dose by > 1 dB)",
            value=loss_hi - loss_lo,
        ),
    }


def plot(path, rows, cfg, curves):
    plt = C.pyplot()
    totals = cfg["totals"]
    fig, axes = plt.subplots(1, len(totals) + 1, figsize=(4.2 * (len(totals) + 1), 3.6))
    for ax, t in zip(axes, totals):
        for na in cfg["views"]:
            fr = curves[(t, na)]
            ax.plot(fr.freq_nyquist, fr.frc, label=f"N_a = {na}")
        ax.axhline(1 / 7, color="k", ls=":", lw=0.8)
        ax.set_title(f"total {t:.3g} photons/pixel")
        ax.set_xlabel("frequency (Nyquist)")
        ax.set_ylim(-0.05, 1.02)
    axes[0].set_ylabel("FRC vs phantom")
    axes[0].legend(fontsize=7)
    ax = axes[-1]
    for t in totals:
        rs = [r for r in rows if r["total_photons"] == t]
        ax.plot([r["n_angles"] for r in rs], [r["psnr"] for r in rs], "o-", label=f"{t:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("N_a (views at fixed total dose)")
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=7, title="total photons")
    fig.suptitle("Dose fractionation (paper Fig. 12)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(size="small", out_dir=".", progress=True, force=False):
    """Run the dose-fractionation experiment and write ``fractionation.csv/.png/.md``."""
    C.check_size(size)
    tx = C.prepare_outputs(out_dir, NAME, force)
    t0 = time.perf_counter()
    rows, setup, cfg, curves = compute(size, progress)
    claims = evaluate_claims(rows, cfg)
    seconds = time.perf_counter() - t0
    what = f"""
Cell phantom {cfg['nz']}×{cfg['n_xy']}×{cfg['n_xy']} at {cfg['voxel_size'] * 1000:.0f} nm (2× finer simulation
grid). Full-field scans with N_a ∈ {list(cfg['views'])} views over 180° at total doses
{[f'{t:.3g}' for t in cfg['totals']]} photons per pixel (split evenly over the views), band-limited
(FWHM {OZW_UM * 1000:.0f} nm), Poisson noise, uniform illumination. CGLS ≤ {cfg['iterations']} iterations stopped at
the best whole-cell PSNR (patience 5). FRC: in-slice, against the phantom, 1/7 threshold.
"""
    table = C.table_markdown(rows, fmt="{:.4g}")
    notes = """
The paper (`dose_fractionation.csv`) shows identical FRC curves for 51–881 views at 300·201 photons per
pixel and a loss at the sparsest sampling only at 100× that dose. A resolution of NaN means the FRC never
fell below 1/7 up to the Nyquist frequency: not resolved at this sampling — the resolution is finer than two
voxels and cannot be measured on this grid, so no number is reported.
"""
    md = C.report("Dose fractionation (Fig. 12)", size, what, table, claims, seconds, notes)
    paths = C.write_outputs(tx, NAME, rows, lambda p: plot(p, rows, cfg, curves), md)
    return {"name": NAME, "size": size, "rows": rows, "claims": claims, "seconds": seconds, "outputs": paths}
