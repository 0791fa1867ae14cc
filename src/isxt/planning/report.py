"""``plan.md`` (the reasoning, with numbers) and ``plan.png`` (dose map, quality against N_full, angles)."""

from __future__ import annotations

import math

from .core import MIN_TRANSMITTED, TOLERANCE_DB
from .protocol import MIN_ANCHORS

__all__ = ["plan_markdown", "plot_plan"]


def _f(v, fmt="{:.2f}", unit=""):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "NaN"
    return fmt.format(v) + unit


def _sweep_table(p):
    rows = {r["n_full"]: {"noiseless": r["psnr_roi"]} for r in p.sweep}
    for r in p.equal_dose:
        rows.setdefault(r["n_full"], {})["equal_dose"] = r["psnr_roi"]
    lines = ["| N_full | ROI PSNR, noiseless (dB) | ROI PSNR, equal total dose (dB) |", "|---|---|---|"]
    for n in sorted(rows):
        mark = " ←" if n == p.n_full else ""
        lines.append(f"| {n}{mark} | {_f(rows[n].get('noiseless'))} | {_f(rows[n].get('equal_dose'))} |")
    return "\n".join(lines)


def plan_markdown(p, simulated=False):
    """The plan's reasoning as Markdown."""
    inp = p.inputs
    nm = lambda um: f"{um * 1000:.1f} nm"  # noqa: E731
    ratio_p = p.full_pixel_um / p.interior_pixel_um
    out = [
        "# Acquisition plan",
        "",
        f"Cell {inp['cell_diameter_um']:g} µm across ({inp['cell_height_um']:g} µm high), ROI {inp['roi_diameter_um']:g} µm "
        f"at ({inp['roi_center_um'][0]:g}, {inp['roi_center_um'][1]:g}) µm from the cell centre; interior lens "
        f"{inp['interior_resolution_nm']:g} nm, full-field lens {inp['full_resolution_nm']:g} nm (outermost zone widths); "
        f"{inp['energy_ev']:g} eV; phantom `{inp['phantom']}` (seed {inp['seed']}). Computed in {p.seconds:.1f} s.",
        "",
        "## Recommendation",
        "",
        f"- **{p.n_interior} interior views** over 180° at {nm(p.interior_pixel_um)} pixels, "
        f"{_f(p.photons_interior, '{:.4g}')} photons per pixel per view;",
        f"- **{p.n_full} sparse full-field views** at {nm(p.full_pixel_um)} pixels ({ratio_p:.2f}× the interior pixel), "
        f"{_f(p.photons_full, '{:.4g}')} photons per pixel per view, all on interior angles ({p.anchors} alignment anchors);",
        f"- reconstruct with CGLS, voxel preconditioning, {p.iterations} iterations (`acquisition.toml`).",
        "",
        "## 1. Pixels",
        "",
        "Each lens is sampled at Nyquist unless a pixel was given: p = 1/(2 f_c) with f_c the OTF cut-off of the "
        f"convention below. Interior {nm(p.interior_pixel_um)}, full field {nm(p.full_pixel_um)}.",
        "",
        "## 2. Interior views (App. B.3)",
        "",
        f"The ROI's outermost pixel lies R = {inp['roi_radius_px']:g} px from the rotation axis. "
        f"Convention: **{p.convention}**. Nyquist bound ⌊πR⌋ = {p.n_interior_nyquist} views "
        "(every frequency the pixel grid holds). Fewer views than the bound alias the finest frequencies the "
        "lens transmits; more add dose without information.",
        "",
        "## 3. Sparse full-field views",
        "",
    ]
    if p.sweep:
        out += [
            f"Fast noiseless reconstructions of the planned protocol on a slab of the phantom (Fig. 2), so that the "
            f"curve shows what the views add to the sampling, not what their photons add; every N takes its views "
            f"from one dense full-field stack. With dense full-field sampling ({inp['n_full_dense']} views) the ROI "
            f"PSNR is {inp['dense_psnr_noiseless_db']:.2f} dB. From **N_full = {p.n_full_quality}** on, the combined "
            f"protocol stays within {TOLERANCE_DB} dB of it. Fewer views leave the low frequencies of the cell "
            "outside the ROI in the null space of the interior problem, and they leak into the ROI.",
            "",
        ]
    else:
        out += ["`--quick`: no reconstructions; N_full follows from the anchor rule alone.", ""]
    out += [
        f"Alignment (App. B.1, Fig. 9): the interior images are aligned against the sparse views at their angles or "
        f"mirrors; the error stays flat down to about {MIN_ANCHORS} anchors, which needs N_full ≥ {p.n_full_anchors}. "
        f"The sparse angles are taken on the interior grid, so all {p.n_full} are anchors.",
        "",
        f"**N_full = {p.n_full}** = max(quality {p.n_full_quality if p.n_full_quality is not None else '–'}, "
        f"anchors {p.n_full_anchors}).",
        "",
    ]
    if p.equal_dose:
        out += [
            f"Trade against dose (Eq. 13, Fig. 5): at equal total dose every sparse view costs interior photons; the "
            f"noisy sweep peaks at **N_full = {p.n_full_equal_dose_optimum}**.",
            "",
            _sweep_table(p),
            "",
        ]
    budget = inp["dose_budget_gy"]
    out += [
        "## 4. Dose (Eq. 13)",
        "",
        f"The sparse views get the fluence I0 of a full-field scan of {p.n_interior} views "
        f"({_f(p.photons_full_scan, '{:.4g}')} photons per {nm(p.interior_pixel_um)} pixel); the interior views get "
        f"I_ROI = I0 · (D_full/D_ROI) · (N0 − N_full)/N0 with D_full/D_ROI = **{p.dose_ratio_full_to_roi:.2f}** per view "
        "(dose maps of both scans on the slab), so the combined protocol deposits the energy of that full scan.",
        "",
        "| quantity | Gy |",
        "|---|---|",
        f"| D_ROI: interior scan, mean over the cell | {p.dose_roi_gy:.4g} |",
        f"| D_full: sparse scan, mean over the cell | {p.dose_full_gy:.4g} |",
        f"| protocol, mean inside the ROI | {p.dose_in_roi_gy:.4g} |",
        f"| equal-dose full scan, mean over the cell | {p.dose_full_scan_gy:.4g} |",
        "",
    ]
    if budget is not None:
        verdict = "within the budget" if p.budget_ok else f"**exceeds the budget**: {p.budget_advice}"
        out += [f"Budget {budget:.4g} Gy (mean dose inside the ROI): {verdict}. The interior views need at least "
                f"{inp['min_photons_interior']:.3g} photons per pixel ({MIN_TRANSMITTED:g} transmitted at the ROI's "
                f"median transmission {inp['transmission_roi']:.2f}).", ""]
    out += [
        "## 5. Predicted quality",
        "",
        "Noisy data at the planned photons, simulated from a 2× finer phantom through each lens's band limit; CGLS "
        "stopped at the best ROI PSNR (its iteration goes into `acquisition.toml`). FRC against the phantom on the "
        "square inside the ROI, 1/7 threshold.",
        "",
        "| protocol | ROI PSNR (dB) | FRC resolution (nm) |",
        "|---|---|---|",
        f"| combined ({p.n_interior} interior + {p.n_full} sparse) | {_f(p.predicted_roi_psnr_db)} | "
        f"{_f(p.predicted_resolution_nm, '{:.0f}')} |",
        f"| full field, {p.n_interior} views, equal dose | {_f(p.predicted_full_scan_roi_psnr_db)} | "
        f"{_f(p.predicted_full_scan_resolution_nm, '{:.0f}')} |",
        "",
    ]
    if p.notes:
        out += ["## Notes", ""] + [f"- {n}" for n in p.notes] + [""]
    out += ["## Files", "", "`plan.json` (the numbers), `plan.png`, `acquisition.toml`, `interior_angles.txt`, "
            "`sparse_angles.txt` (degrees)" + (", and the simulated `interior.mrc`, `sparse.mrc`, `truth.mrc` of a "
                                                "slab: `isxt reconstruct acquisition.toml` runs as it stands."
                                                if simulated else "."), ""]
    return "\n".join(out)


def plot_plan(p, path):
    """Dose map, predicted ROI PSNR against N_full, and the angular layout, side by side."""
    from ..plotting.analysis import plot_plan as draw

    return draw(p, path)
