"""Figures of a reconstruction run: the quick-look slices and the calibration fit."""

from __future__ import annotations

import numpy as np

from . import pyplot

__all__ = ["write_quicklook", "plot_calibration", "interior_rois", "plot_shifts"]


def interior_rois(scans, volume):
    """``[(center_xy_um, diameter_um), ...]`` of the truncated scans among ``scans`` (``Scan`` or ``ScanGeometry``).

    A scan is truncated when its detector is narrower than the volume's
    in-plane diagonal; its ROI is the disc its detector covers at every angle.
    """
    diag = float(np.hypot(volume.extent[0], volume.extent[1]))
    out = []
    for s in scans:
        g = getattr(s, "geometry", s)
        if g.width < diag - 1e-9:
            out.append(((float(g.center_um[0]), float(g.center_um[1])), float(g.width)))
    return out


def _colour_limits(vol):
    """The 0.5–99.5th percentile window and, when it clips values, a sentence that says so."""
    lo, hi = np.percentile(vol, [0.5, 99.5]) if vol.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1e-6
    note = ""
    if vol.size and (vol.min() < lo or vol.max() > hi):
        note = (f"colour limits {lo:.3g}…{hi:.3g} 1/µm (0.5–99.5th percentile); data range "
                f"{float(vol.min()):.3g}…{float(vol.max()):.3g} clipped")
    return float(lo), float(hi), note


def write_quicklook(path, volume, voxel_size_um, center_um=(0.0, 0.0, 0.0), title=None, roi=None):
    """PNG of the three orthogonal central slices (xy, xz, yz) at true aspect, with a colour bar in 1/µm.

    The side views sit beside the xy view (xz below it, yz to its right, z
    across), each panel sized by its extent in µm, so a thin slab looks thin. Values outside
    the colour window (the 0.5–99.5th percentiles) are clipped, and the figure
    says so with the window and the data range.

    Parameters
    ----------
    path : str or Path
    volume : ndarray ``(nz, ny, nx)``
    voxel_size_um : float
    center_um : (x, y, z)
    title : str, optional
    roi : list of ((x, y), diameter), optional
        Interior ROIs in µm (:func:`interior_rois`), outlined on every view.
    """
    plt = pyplot()
    vol = np.asarray(volume, dtype=np.float32)
    nz, ny, nx = vol.shape
    s = voxel_size_um
    cx, cy, cz = center_um
    ex = (cx - nx * s / 2, cx + nx * s / 2)
    ey = (cy - ny * s / 2, cy + ny * s / 2)
    ez = (cz - nz * s / 2, cz + nz * s / 2)
    lo, hi, note = _colour_limits(vol)
    lx, ly, lz = nx * s, ny * s, nz * s
    # side panels get at least 12 % of the xy view, so a thin slab stays visible; imshow keeps the true aspect
    side_w, side_h = max(lz, 0.12 * lx), max(lz, 0.12 * ly)
    k = 6.0 / max(lx + side_w, ly + side_h)  # inches per µm, the same on every panel
    left, gap, bottom, top, right = 0.8, 0.7, 0.6, 1.0, 1.6
    width, height = left + k * (lx + side_w) + gap + right, bottom + k * (ly + side_h) + gap + top
    fig = plt.figure(figsize=(width, height))

    def box(x0, y0, w, h):  # inches → figure fraction
        return [x0 / width, y0 / height, w / width, h / height]

    y_xy = bottom + k * side_h + gap
    axy = fig.add_axes(box(left, y_xy, k * lx, k * ly))
    axz = fig.add_axes(box(left, bottom, k * lx, k * side_h), anchor="N")
    ayz = fig.add_axes(box(left + k * lx + gap, y_xy, k * side_w, k * ly), anchor="W")
    z0 = cz + (nz // 2 - (nz - 1) / 2) * s
    kw = dict(origin="lower", cmap="gray", vmin=lo, vmax=hi, aspect="equal")
    im = axy.imshow(vol[nz // 2], extent=(*ex, *ey), **kw)
    axz.imshow(vol[:, ny // 2, :], extent=(*ex, *ez), **kw)
    ayz.imshow(vol[:, :, nx // 2].T, extent=(*ez, *ey), **kw)  # z along x, so y lines up with the xy view
    axy.set_title(f"xy, z = {z0:.3g} µm", fontsize=9)
    axy.set_ylabel("y (µm)")
    axz.set_xlabel("x (µm)")
    axz.set_ylabel("z (µm)")
    axz.set_title("xz", fontsize=8)
    ayz.set_xlabel("z (µm)")
    ayz.set_ylabel("y (µm)")
    ayz.set_title("yz", fontsize=8)
    axz.locator_params(axis="y", nbins=3)
    ayz.locator_params(axis="x", nbins=2)
    ayz.tick_params(axis="x", labelrotation=90)
    for ax in (axz, ayz):
        ax.tick_params(labelsize=7)
    t = np.linspace(0, 2 * np.pi, 200)
    for n, ((rx, ry), d) in enumerate(roi or ()):
        r = d / 2
        label = "interior ROI" if n == 0 else None
        axy.plot(rx + r * np.cos(t), ry + r * np.sin(t), "y--", lw=0.9, label=label)
        for a in (rx - r, rx + r):
            axz.axvline(a, color="y", ls="--", lw=0.8)
        for a in (ry - r, ry + r):
            ayz.axhline(a, color="y", ls="--", lw=0.8)
    if roi:
        axy.legend(fontsize=7, loc="upper right")
    cax = fig.add_axes(box(left + k * (lx + side_w) + 2 * gap - 0.3, y_xy, 0.2, k * ly))
    fig.colorbar(im, cax=cax, label="LAC (1/µm)")
    if title or note:
        fig.suptitle("\n".join(x for x in (title, note) if x), fontsize=9)
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)


def plot_calibration(result, path):
    """Fig. 10-style plot: every matched pixel ``(I_A, I_B)``, the fitted curves, and binned residuals."""
    plt = pyplot()
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(10, 4.2))
    lo = float(min(result.ia.min(), result.ib.min()))
    hi = float(max(result.ia.max(), result.ib.max()))
    ax.scatter(result.ia, result.ib, s=2, c="0.3", alpha=min(1.0, max(0.05, 300 / result.ia.size)), lw=0,
               rasterized=True, label=f"{result.n_pixels} matched pixels, {len(result.views)} views")
    grid = np.linspace(max(lo, 1e-6), hi, 200)
    for name, style in (("dual_energy", "C1"), ("affine", "C0--"), ("none", ":")):
        fit = result.none if name == "none" else getattr(result, name)
        chosen = " (chosen)" if name == result.model else ""
        ax.plot(grid, result.predict(grid, name), style, lw=2 if chosen else 1,
                label=f"{result.describe(name)}, BIC {fit['bic']:.0f}{chosen}")
    ax.set_xlabel("sparse transmission I_A")
    ax.set_ylabel("interior transmission I_B")
    ax.set_title(f"chosen: {result.model}")
    ax.legend(fontsize=7, loc="upper left")
    edges = np.linspace(lo, hi, 31)
    centres = 0.5 * (edges[1:] + edges[:-1])
    which = np.digitize(result.ia, edges) - 1
    for name, style in (("dual_energy", "C1"), ("affine", "C0"), ("none", "0.5")):
        r = result.residuals(name)
        means = [r[which == k].mean() if np.any(which == k) else np.nan for k in range(30)]
        axr.plot(centres, means, color=style, marker=".", label=name)
    axr.axhline(0, color="0.5", lw=1)
    axr.set_xlabel("I_A")
    axr.set_ylabel("mean residual model(I_A) − I_B")
    axr.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def plot_shifts(path, results, anchors_deg=None, title=None):
    """PNG of ``du`` and ``dv`` (pixels) against angle, anchors and flagged views marked.

    Parameters
    ----------
    path : str or Path
        Written as it is (:func:`isxt.align.plot_shifts` writes atomically).
    results : dict of str → AlignmentResult
        E.g. ``{"full-field": ff, "interior": it}``.
    anchors_deg : sequence of float, optional
        Anchor angles (degrees) to mark.
    title : str, optional
    """
    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for name, res in results.items():
        deg = np.degrees(res.angles)
        px = res.shifts_px
        order = np.argsort(deg)
        for k, ax in enumerate(axes):
            ax.plot(deg[order], px[order, k], ".-", ms=3, lw=0.8, label=f"{name} ({res.pixel_size_um:g} µm px)")
            bad = [i for i in res.flagged]
            if bad:
                ax.plot(deg[bad], px[bad, k], "x", color="red", ms=7)
    for ax, lab in zip(axes, ("du (px)", "dv (px)")):
        if anchors_deg is not None and len(anchors_deg):
            for a in anchors_deg:
                ax.axvline(a, color="0.8", lw=0.6, zorder=0)
            ax.plot(anchors_deg, np.full(len(anchors_deg), ax.get_ylim()[0]), "^", color="k", ms=5, label="anchors")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    axes[1].set_xlabel("angle (deg)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
