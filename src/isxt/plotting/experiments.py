"""The figures of ``isxt experiment NAME`` (``NAME.png``) and ``isxt demo`` (``demo.png``).

Each takes the numbers its experiment computed; none computes any itself.
"""

from __future__ import annotations

import numpy as np

from . import pyplot

__all__ = ["alignment_figure", "nullspace_figure", "dof_figure", "dose_figure", "fractionation_figure", "baselines_figure", "tv_figure",
           "plot_demo"]


def resolution_text(nm):
    """A resolution for a figure or report: ``'61 nm'``, or why there is none."""
    return "not resolved at this sampling" if not np.isfinite(nm) else f"{nm:.0f} nm"


def nullspace_figure(path, rows, paper=None):
    """Fig. 2: PSNR and null-space fraction against N_full (the paper's table overlaid when given)."""
    plt = pyplot()
    comb = [r for r in rows if r["method"] == "combined"]
    dense = next(r for r in rows if r["method"] == "dense")
    interior = next(r for r in rows if r["method"] == "interior")
    n = [r["n_full"] for r in comb]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot(n, [r["psnr_roi"] for r in comb], "o-", label="combined, ROI")
    a1.plot(n, [r["psnr_volume"] for r in comb], "s-", label="combined, cell")
    a1.axhline(dense["psnr_roi"], color="C0", ls="--", label="dense full, ROI")
    a1.axhline(dense["psnr_volume"], color="C1", ls="--", label="dense full, cell")
    a1.axhline(interior["psnr_roi"], color="C2", ls=":", label="interior only, ROI")
    a1.set_xscale("log")
    a1.xaxis.set_minor_formatter(plt.NullFormatter())
    a1.set_xlabel("N_full (sparse full-field views)")
    a1.set_ylabel("PSNR (dB)")
    a1.legend(fontsize=8)
    a2.plot(n, [r["null_roi"] for r in comb], "o-", label="combined, ROI (isxt)")
    a2.plot(n, [r["null_volume"] for r in comb], "s-", label="combined, volume (isxt)")
    a2.axhline(dense["null_roi"], color="C0", ls="--", label="dense full, ROI (isxt)")
    if paper:
        a2.plot([p["n_full"] for p in paper], [p["xnull_mv_roi"] for p in paper], "o:", color="C0", alpha=0.5,
                label="combined, ROI (paper)")
        a2.plot([p["n_full"] for p in paper], [p["xnull_mv"] for p in paper], "s:", color="C1", alpha=0.5,
                label="combined, volume (paper)")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel("N_full")
    a2.set_ylabel("|x_null|² / |x0|²")
    a2.legend(fontsize=7)
    fig.suptitle("Null space and PSNR vs number of sparse full-field views (paper Fig. 2)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def dof_figure(path, summary, centres, setup, recons):
    """Fig. 3: radial PSNR_rel per method, and the central slices side by side."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.2, 2]})
    ref = summary["ideal35"]["profile"]
    for m in summary:  # in the experiment's order
        axes[0].plot(2 * centres, summary[m]["profile"] - ref, "o-", label=f"{m} ({resolution_text(summary[m]['resolution_nm'])})")
    axes[0].set_xlabel("ROI width 2r (µm)")
    axes[0].set_ylabel("PSNR_rel vs ideal 35 nm (dB)")
    axes[0].legend(fontsize=7)
    axes[0].set_title("radial PSNR (Eq. 10)")
    vol = setup.volume
    k = vol.nz // 2
    strip = np.concatenate([setup.truth[k]] + [recons[m][k] for m in ("full35", "full60", "interior", "combined")], axis=1)
    axes[1].imshow(strip, cmap="gray", origin="lower", vmin=0, vmax=float(np.percentile(setup.truth, 99.5)) * 1.1)
    axes[1].set_title("truth | full 35 | full 60 | interior | combined")
    axes[1].set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def dose_figure(path, rows, maps, cfg):
    """Figs. 4–5: dose maps on one scale, and ROI PSNR against N_full at equal total dose."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(4.0 * (len(maps) + 1), 3.8))
    top = max(float(m.max()) for m in maps.values())
    for ax, (title, m) in zip(axes, maps.items()):
        im = ax.imshow(m[m.shape[0] // 2] / 1e6, cmap="inferno", vmin=0, vmax=top / 1e6, origin="lower")
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    fig.colorbar(im, ax=list(axes[:-1]), shrink=0.8, label="dose (MGy)")
    ax = axes[-1]
    for p, style in (("full_equal_dose", "o-"), ("combined", "s-"), ("combined_deconv", "^-"),
                     ("combined_unpreconditioned", "x:"), ("combined_tv", "d-")):
        rs = sorted((r for r in rows if r["protocol"] == p), key=lambda r: r["n_full"])
        ax.plot([r["n_full"] for r in rs], [r["psnr_roi"] for r in rs], style, label=p)
    for p, ls in (("full_reference", "--"), ("full_reference_deconv", ":")):
        r = next(r for r in rows if r["protocol"] == p)
        ax.axhline(r["psnr_roi"], color="r", ls=ls, label=f"{p} (N0 = {cfg['n0']})")
    ax.set_xscale("log")
    ax.set_xlabel("N_full")
    ax.set_ylabel("ROI PSNR (dB)")
    ax.legend(fontsize=6)
    ax.set_title("equal total dose (Fig. 5)", fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def fractionation_figure(path, rows, cfg, curves):
    """Fig. 12: FRC curves per total dose, and PSNR against the number of views."""
    plt = pyplot()
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


def baselines_figure(path, setup, recons):
    """The central slice of every baseline, the ROI outlined, with its ROI PSNR."""
    plt = pyplot()
    vol = setup.volume
    k = vol.nz // 2
    names = ["truth"] + list(recons)
    images = [setup.truth[k]] + [recons[n][k] for n in recons]
    vmax = float(np.percentile(setup.truth, 99.5)) * 1.15
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4))
    t = np.linspace(0, 2 * np.pi, 200)
    (rx, ry), r = setup.roi_center, setup.roi_diameter / 2
    ext = [vol.coords("x")[0], vol.coords("x")[-1], vol.coords("y")[0], vol.coords("y")[-1]]
    for ax, img, name in zip(axes, images, names):
        ax.imshow(img, origin="lower", cmap="gray", vmin=0, vmax=vmax, extent=ext)
        ax.plot(rx + r * np.cos(t), ry + r * np.sin(t), "y--", lw=0.8)
        title = name if name == "truth" else f"{name}\nROI {setup.psnr_roi(recons[name]):.1f} dB"
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tv_figure(path, rows, cfg):
    """ROI PSNR of oracle CGLS and TV per case, and the TV λ sweep around the automatic weight."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    cases = list(dict.fromkeys(r["case"] for r in rows))
    for i, m in enumerate(("cgls_oracle", "tv_auto")):
        vals = [next(r["psnr_roi"] for r in rows if r["case"] == c and r["method"] == m) for c in cases]
        a1.bar([j + 0.4 * i for j in range(len(cases))], vals, width=0.4, label=m)
    a1.set_xticks([j + 0.2 for j in range(len(cases))], cases, fontsize=7)
    a1.set_ylabel("ROI PSNR (dB)")
    a1.legend(fontsize=8)
    sweep = sorted((r for r in rows if r["method"].startswith("tv_sweep")), key=lambda r: r["tv_weight"])
    if sweep:
        a2.semilogx([r["tv_weight"] for r in sweep], [r["psnr_roi"] for r in sweep], "o-", label="sweep")
        auto = next(r for r in rows if r["case"] == sweep[0]["case"] and r["method"] == "tv_auto")
        a2.axvline(auto["tv_weight"], color="r", ls="--", label="automatic λ")
        a2.set_xlabel("λ")
        a2.set_ylabel("ROI PSNR (dB)")
        a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_demo(result, path):
    """A Fig. 2-like panel: phantom and reconstructions, with a line profile through the ROI."""
    plt = pyplot()
    vol, cfg = result.volume, result.config
    k = vol.nz // 2
    names = ["truth", "interior", "sparse", "combined"]
    images = [result.truth[k]] + [result.reconstructions[n][k] for n in names[1:]]
    vmin, vmax = 0.0, float(np.percentile(result.truth, 99.5)) * 1.15
    extent = [vol.coords("x")[0], vol.coords("x")[-1], vol.coords("y")[0], vol.coords("y")[-1]]
    fig, axes = plt.subplots(2, 4, figsize=(14, 7), gridspec_kw={"height_ratios": [3, 1.4]})
    theta = np.linspace(0, 2 * np.pi, 200)
    rx, ry = cfg.roi_center_um
    r = cfg.roi_diameter_um / 2
    for ax, img, name in zip(axes[0], images, names):
        im = ax.imshow(img, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, extent=extent)
        ax.plot(rx + r * np.cos(theta), ry + r * np.sin(theta), "y--", lw=0.8)
        ax.set_title(name)
        ax.set_xlabel("x (µm)")
    axes[0][0].set_ylabel("y (µm)")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="LAC (1/µm)")
    j = int(round(vol.index_of(0, ry, 0)[1]))
    xs = vol.coords("x")
    gs = axes[1][0].get_gridspec()
    for ax in axes[1]:
        ax.remove()
    prof = fig.add_subplot(gs[1, :])
    for img, name in zip(images, names):
        prof.plot(xs, img[j], label=name, lw=1.2 if name != "truth" else 2, color="k" if name == "truth" else None)
    prof.axvspan(rx - r, rx + r, color="y", alpha=0.15, label="ROI")
    prof.set_xlabel("x (µm)")
    prof.set_ylabel("LAC (1/µm)")
    prof.legend(ncol=5, fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def alignment_figure(path, rows):
    """Interior and full-field error, and the ROI PSNR lost against the true shifts, by ROI offset."""
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for displaced, marker in ((False, "o"), (True, "s")):
        sel = [r for r in rows if r["displaced"] == displaced]
        off = [np.hypot(r["offset_x"], r["offset_y"]) for r in sel]
        label = "displaced" if displaced else "undisplaced"
        ax[0].plot(off, [r["err_interior_px"] for r in sel], marker, label=f"interior, {label}")
        ax[0].plot(off, [r["err_full_px"] for r in sel], marker, mfc="none", label=f"full field, {label}")
        ax[1].plot(off, [r["psnr_true"] - r["psnr_aligned"] for r in sel], marker, label=label)
    ax[0].axhline(0.5, color="k", lw=0.5)
    ax[0].axhline(0.2, color="k", lw=0.5, ls=":")
    ax[0].set(xlabel="ROI offset / cell radius", ylabel="RMS error after the gauge (px)")
    ax[1].axhline(0.5, color="k", lw=0.5)
    ax[1].set(xlabel="ROI offset / cell radius", ylabel="ROI PSNR loss vs true shifts (dB)")
    for a in ax:
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
