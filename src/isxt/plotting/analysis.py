"""Figures of the analysis tools: the Fig. 11 bow-tie, dose maps and the acquisition plan."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import pyplot

__all__ = ["bowtie_plot", "plot_dose_maps", "plot_plan"]


def bowtie_plot(zone_plate, path, compare=None, radius_px=400, n_u=801, pixel_size_um=0.02, fraction=0.98, convention="paper"):
    """Fig. 11: the OTF-limited bow-tie of ``zone_plate`` and captured power vs views.

    Top: a quadrant of ``log10 |F_otf(k_θ, k_u)|`` for a point at
    ``radius_px`` with the ``fraction`` sampling limit of each lens drawn as a
    box (``k_u ≤ L f_cut``, ``k_θ ≤ N_a``). Bottom: :func:`isxt.sampling.cumulative_power`
    against the number of views over 180° for the lenses in ``compare``.

    Returns
    -------
    dict
        ``{OZW nm: {'f_cut_per_um', 'n_angles', 'power_at_n_angles'}}``.
    """
    from ..optics import XM2_35NM, XM2_60NM, ZonePlate
    from ..sampling import (angles_for_power, cumulative_power, nyquist_angles, otf_zone_plate,
                            radon_spectrum_point)

    plt = pyplot()
    if not isinstance(zone_plate, ZonePlate):
        raise InputError(f"zone_plate must be an isxt.optics.ZonePlate, got {type(zone_plate).__name__}")
    compare = (XM2_60NM, XM2_35NM) if compare is None else tuple(compare)
    n_max = int(np.ceil(1.3 * np.pi * radius_px))
    ideal = radon_spectrum_point(radius_px, n_u, n_max)
    freqs = np.arange(n_u // 2 + 1) / n_u
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    otf = otf_zone_plate(freqs, zone_plate, pixel_size_um, convention)
    shown = np.log10(ideal * otf[None, :] + 1e-6)
    im = ax1.imshow(shown.T, origin="lower", aspect="auto", vmin=-4, vmax=0, extent=(0, n_max, 0, 0.5), cmap="viridis")
    # an inset colour bar keeps both panels the same width, so their view axes line up
    cax = ax1.inset_axes([0.62, 0.93, 0.34, 0.035])
    fig.colorbar(im, cax=cax, orientation="horizontal", label=r"$\log_{10}|F_{otf}|$")
    results = {}
    for i, zp in enumerate(compare):
        f_cut, n_a = angles_for_power(zp, radius_px, pixel_size_um, fraction, convention)
        otf_z = otf_zone_plate(freqs, zp, pixel_size_um, convention)
        cum = cumulative_power(ideal * otf_z[None, :], column_power=otf_z**2)
        label = f"OZW {zp.ozw_um * 1000:.0f} nm"
        color = f"C{i}"
        fp = f_cut * pixel_size_um
        ax1.plot([0, n_a, n_a], [fp, fp, 0], color=color, label=f"{label}: {fraction:.0%} at N={n_a}")
        ax2.plot(np.arange(cum.size), 100 * cum, color=color, label=label)
        ax2.axvline(n_a, color=color, ls=":")
        results[round(zp.ozw_um * 1000)] = {
            "f_cut_per_um": f_cut,
            "n_angles": n_a,
            "power_at_n_angles": float(cum[min(n_a, cum.size - 1)]),
        }
    ax2.axvline(nyquist_angles(radius_px), color="k", ls="--", lw=0.8, label=f"Nyquist πR = {nyquist_angles(radius_px)}")
    ax1.set_ylabel(r"$k_u$ [cycles/pixel]")
    ax1.set_title(f"OTF-limited bow-tie, OZW {zone_plate.ozw_um * 1000:.0f} nm, R = {radius_px} px")
    ax1.legend(loc="center right", fontsize=8)
    ax2.set_xlabel("number of views over 180°")
    ax2.set_ylabel("captured power [%]")
    ax2.set_ylim(0, 101)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return results


def plot_dose_maps(maps, titles, path, slice_index=None, vmax=None, cmap="inferno"):
    """Save dose maps side by side on one colour scale (like the paper's Fig. 4).

    Parameters
    ----------
    maps : sequence of ndarray
        Dose volumes ``(nz, ny, nx)`` (the central slice is shown, or
        ``slice_index``) or 2-D slices, in Gy.
    titles : sequence of str
    path : str or Path
        Output PNG.
    vmax : float, optional
        Top of the colour scale (default: the largest value shown).

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if len(maps) != len(titles):
        raise InputError(f"got {len(maps)} dose maps but {len(titles)} titles")
    slices = []
    for m in maps:
        m = np.asarray(m)
        if m.ndim == 3:
            m = m[m.shape[0] // 2 if slice_index is None else slice_index]
        if m.ndim != 2:
            raise InputError(f"dose maps must be 2-D or 3-D arrays, got shape {m.shape}")
        slices.append(m)
    top = float(max(m.max() for m in slices)) if vmax is None else float(vmax)
    scale = 1e6 if top >= 1e5 else 1.0  # show MGy for typical SXT doses
    unit = "MGy" if scale == 1e6 else "Gy"
    fig = Figure(figsize=(4.2 * len(slices) + 1.0, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(slices), squeeze=False)[0]
    image = None
    for ax, m, title in zip(axes, slices, titles):
        image = ax.imshow(m / scale, cmap=cmap, vmin=0, vmax=top / scale, origin="lower")
        ax.set_title(title)
        ax.set_axis_off()
    fig.colorbar(image, ax=list(axes), label=f"dose ({unit})", shrink=0.85)
    path = Path(path)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def plot_plan(p, path):
    """Dose map, predicted ROI PSNR against N_full, and the angular layout, side by side."""
    from ..planning.core import TOLERANCE_DB
    from ..planning.protocol import MIN_ANCHORS
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax1 = fig.add_subplot(1, 3, 1)
    if p.dose_map is not None:
        scale, unit = (1e6, "MGy") if float(np.max(p.dose_map)) >= 1e5 else (1.0, "Gy")
        im = ax1.imshow(p.dose_map / scale, cmap="inferno", origin="lower")
        fig.colorbar(im, ax=ax1, shrink=0.85, label=f"dose ({unit})")
    ax1.set_title(f"dose, {p.n_interior} interior + {p.n_full} sparse", fontsize=9)
    ax1.set_axis_off()
    ax2 = fig.add_subplot(1, 3, 2)
    if p.sweep:
        ax2.plot([r["n_full"] for r in p.sweep], [r["psnr_roi"] for r in p.sweep], "o-", label="noiseless")
    if p.equal_dose:
        ax2.plot([r["n_full"] for r in p.equal_dose], [r["psnr_roi"] for r in p.equal_dose], "s-", label="equal dose")
    if not math.isnan(p.predicted_full_scan_roi_psnr_db):
        ax2.axhline(p.predicted_full_scan_roi_psnr_db, color="r", ls="--", label="full scan, equal dose")
    dense = p.inputs.get("dense_psnr_noiseless_db", float("nan"))
    if not math.isnan(dense):
        ax2.axhline(dense - TOLERANCE_DB, color="C0", ls=":", label=f"dense − {TOLERANCE_DB} dB")
    ax2.axvline(p.n_full, color="k", ls=":", label=f"N_full = {p.n_full}")
    ax2.axvline(p.n_full_anchors, color="0.6", ls="-.", lw=0.8, label=f"{MIN_ANCHORS} anchors")
    if not (p.sweep or p.equal_dose):
        ax2.text(0.5, 0.5, "--quick: no reconstructions", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_xscale("log")
    ax2.set_xlabel("N_full")
    ax2.set_ylabel("ROI PSNR (dB)")
    ax2.legend(fontsize=7)
    ax2.set_title("predicted quality against N_full", fontsize=9)
    ax3 = fig.add_subplot(1, 3, 3, projection="polar")
    th_i = np.radians(p.interior_angles_deg)
    ax3.vlines(th_i, 0.55, 0.8, color="C0", lw=0.3, label=f"{p.n_interior} interior")
    th_s = np.radians(p.sparse_angles_deg)
    ax3.vlines(th_s, 0.8, 1.0, color="C3", lw=1.5, label=f"{p.n_full} sparse (on interior angles)")
    ax3.set_thetamax(180)
    ax3.set_yticks([])
    ax3.set_ylim(0, 1.0)
    ax3.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, -0.25))
    ax3.set_title("angular layout (180°)", fontsize=9)
    fig.savefig(path, dpi=100)
    return path
