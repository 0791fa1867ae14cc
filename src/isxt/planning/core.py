"""``isxt.plan``: from a cell, an ROI and a dose budget to a recommended protocol and its predicted quality.

The steps (each explained in ``plan.md``):

1. Pixels: Nyquist sampling of each lens unless given.
2. ``N_interior``: band-limited sampling of the ROI (App. B.3, :mod:`.protocol`).
3. ``N_full``: the smallest number of sparse views from which on the
   noiseless ROI PSNR stays within 0.2 dB of dense full-field sampling (fast
   reconstructions on a slab, Fig. 2), raised to give at least 10 alignment
   anchors (Fig. 9).
4. Dose (Eq. 13, Fig. 5): the sparse views get the fluence ``I0`` of the
   equal-dose full-field scan (``N_interior`` views at ``I0``); the interior
   views get ``I_ROI = I0 · (D_full/D_ROI) · (N0 − N_full)/N0``, so the
   combined protocol deposits the same energy as that full scan. ``I0`` comes
   from ``photons`` or from the budget (mean dose in the ROI = budget).
5. Predicted ROI PSNR and FRC resolution of the combined protocol and of the
   equal-dose full scan, from noisy data; the equal-dose sweep over
   ``N_full`` gives the optimum of Fig. 5.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from .._progress import progress_bar

from .. import dose as D
from .._deprecate import renamed_kwargs
from ..errors import InputError
from ..geometry import ScanGeometry
from ..reconstruct import Scan
from . import model as M
from .protocol import MIN_ANCHORS, count_anchors, interior_sampling, lens, nyquist_pixel, sparse_indices

__all__ = ["Plan", "plan", "PAPER_FLUENCE", "MIN_TRANSMITTED", "TOLERANCE_DB"]

#: the paper's exposure, 150 photons per (10 nm)², in photons/µm²
PAPER_FLUENCE = 150.0 / 0.01**2
#: fewest transmitted photons per interior pixel for usable −ln(I/I0) (Poisson error ≈ 30 %)
MIN_TRANSMITTED = 10.0
#: N_full: ROI PSNR within this of dense full-field sampling
TOLERANCE_DB = 0.2
#: the slab model is at most this many voxels across
MAX_MODEL_PX = 80
_CANDIDATES = (2, 3, 4, 6, 8, 10, 12, 15, 19, 24, 30, 38, 48, 60)
_NOISY_CANDIDATES = (4, 8, 16, 32)
_ITERATIONS = 60


@dataclass
class Plan:
    """A recommended protocol, its dose and its predicted quality (see :func:`plan`).

    Doses are means over the cell in the slab through its centre, in Gy:
    ``dose_roi_gy`` what the interior scan deposits, ``dose_full_gy`` what
    the sparse scan deposits, ``dose_in_roi_gy`` the protocol's mean dose
    inside the ROI (what a budget limits). ``dose_ratio_full_to_roi`` is
    ``D_full/D_ROI`` per view at equal fluence (Eq. 13). Photons are
    incident per pixel per view. A NaN number has its reason in ``notes``.
    """

    n_interior: int
    n_full: int
    interior_pixel_um: float
    full_pixel_um: float
    dose_roi_gy: float
    dose_full_gy: float
    dose_ratio_full_to_roi: float
    dose_in_roi_gy: float
    dose_full_scan_gy: float
    photons_interior: float
    photons_full: float
    photons_full_scan: float
    predicted_roi_psnr_db: float
    predicted_full_scan_roi_psnr_db: float
    predicted_resolution_nm: float
    predicted_full_scan_resolution_nm: float
    convention: str
    n_interior_nyquist: int
    f_cut_per_um: float
    n_full_quality: int | None
    n_full_anchors: int
    n_full_equal_dose_optimum: int | None
    anchors: int
    iterations: int
    full_scan_iterations: int
    budget_ok: bool | None
    budget_advice: str
    inputs: dict
    model: dict
    sweep: list = field(default_factory=list)
    equal_dose: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    interior_angles_deg: list = field(default_factory=list)
    sparse_angles_deg: list = field(default_factory=list)
    seconds: float = 0.0
    #: central slice of the protocol's dose map (Gy) on the model grid, for the figure (not in JSON)
    dose_map: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self):
        """JSON-ready dict (NaN stays NaN; ``json.dumps`` writes it as ``NaN``); without the dose map."""
        d = asdict(self)
        d.pop("dose_map")
        return d


def _positive(name, value):
    if value is None or not np.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_inputs(cell_diameter, cell_height, roi_diameter, roi_center, phantom, photons, dose_budget):
    cell_diameter = _positive("--cell-diameter (µm)", cell_diameter)
    cell_height = cell_diameter if cell_height is None else _positive("--cell-height (µm)", cell_height)
    roi_diameter = _positive("--roi-diameter (µm)", roi_diameter)
    if roi_diameter > cell_diameter:
        raise InputError(f"--roi-diameter {roi_diameter:g} µm is larger than the cell ({cell_diameter:g} µm); "
                         "an interior scan images a region inside the cell: give a smaller ROI")
    cx, cy = (float(v) for v in roi_center)
    off = float(np.hypot(cx, cy))
    if off + roi_diameter / 2 > cell_diameter / 2 * 1.001:
        raise InputError(f"--roi-center ({cx:g}, {cy:g}) µm puts the ROI (radius {roi_diameter / 2:g} µm) outside the "
                         f"cell (radius {cell_diameter / 2:g} µm): keep |centre| ≤ {(cell_diameter - roi_diameter) / 2:g} µm")
    if phantom not in ("cell", "bacteria"):
        from pathlib import Path

        if not Path(str(phantom)).is_file():
            raise InputError(f"--phantom {phantom!r}: not 'cell', 'bacteria' or an existing LAC volume file")
    if photons is not None:
        _positive("--photons (incident photons per pixel)", photons)
    if dose_budget is not None:
        _positive("--dose-budget (Gy)", dose_budget)
    return cell_diameter, cell_height, roi_diameter, (cx, cy)


def _transmission(slab, scan, fwhm):
    """Median transmission through the cell of the interior views (noiseless)."""
    y = M.simulate_scan(slab, scan, fwhm)
    inside = y > 1e-3
    return float(np.exp(-np.median(y[inside]))) if inside.any() else 1.0


@renamed_kwargs(cell_diameter="cell_diameter_um", roi_diameter="roi_diameter_um", cell_height="cell_height_um",
                roi_center="roi_center_um", interior_pixel="interior_pixel_um", full_pixel="full_pixel_um",
                phantom_voxel_size="phantom_voxel_size_um")
def plan(cell_diameter_um, roi_diameter_um, interior_resolution_nm, full_resolution_nm, *, cell_height_um=None,
         roi_center_um=(0.0, 0.0), energy_ev=517.0, dose_budget=None, photons=None, phantom="cell",
         interior_pixel_um=None, full_pixel_um=None, convention="paper", power=0.98, quick=False, seed=0,
         phantom_voxel_size_um=None, progress=None):
    """Recommend a combined protocol for a cell and predict its quality.

    Parameters
    ----------
    cell_diameter_um, roi_diameter_um : float
        µm; the ROI must lie inside the cell.
    interior_resolution_nm, full_resolution_nm : float
        Outermost zone widths of the interior and full-field objectives.
    cell_height_um : float, optional
        µm (default: the diameter); sets the reconstruction volume's height.
    roi_center_um : (float, float)
        ROI centre relative to the cell centre, µm.
    energy_ev : float
    dose_budget : float, optional
        Gy: the protocol's mean dose inside the ROI; sets the exposure.
    photons : float, optional
        Incident photons per pixel per view of the equal-dose full-field scan
        (interior pixel; the paper's ``I0``). Default: the paper's
        150 photons per (10 nm)². With ``dose_budget`` too, the dose is
        checked against the budget instead of derived from it.
    phantom : {'cell', 'bacteria'} or path
        The sample model; a file is a LAC volume (e.g. an earlier
        reconstruction of this cell).
    interior_pixel_um, full_pixel_um : float, optional
        µm; default Nyquist sampling of each lens.
    convention : {'paper', 'ideal', 'nyquist'}
        How ``N_interior`` is counted (:mod:`isxt.planning.protocol`).
    power : float
        OTF power fraction for ``N_interior``.
    quick : bool
        Analytic steps and dose only: ``N_full`` from the anchor rule, no
        reconstructions, predicted qualities NaN.
    seed : int
        Phantom and noise seed of the predictions.
    phantom_voxel_size_um : float, optional
        Voxel edge (µm) of a ``phantom`` file without one in its header.
    progress : bool, optional
        ``False`` turns the progress bar off.

    The names without ``_um`` (``cell_diameter``, ``roi_diameter``,
    ``cell_height``, ``roi_center``, ``interior_pixel``, ``full_pixel``,
    ``phantom_voxel_size``) are deprecated and go in the next release.

    Returns
    -------
    Plan
    """
    t0 = time.perf_counter()
    cell_diameter, cell_height, roi_diameter, roi_center = _check_inputs(
        cell_diameter_um, cell_height_um, roi_diameter_um, roi_center_um, phantom, photons, dose_budget)
    energy_ev = _positive("--energy (eV)", energy_ev)
    lens_i, lens_f = lens(interior_resolution_nm, energy_ev), lens(full_resolution_nm, energy_ev)
    p_i = (nyquist_pixel(lens_i, convention) if interior_pixel_um is None
           else _positive("--interior-pixel (µm)", interior_pixel_um))
    p_f = nyquist_pixel(lens_f, convention) if full_pixel_um is None else _positive("--full-pixel (µm)", full_pixel_um)
    sampling = interior_sampling(lens_i, roi_diameter, p_i, convention, power)
    n0 = sampling.n_interior
    notes = []

    # -- the slab model -------------------------------------------------------------
    k = max(1, int(np.ceil(cell_diameter * M.MARGIN / p_i / MAX_MODEL_PX)))
    k = max(1, min(k, int(roi_diameter / p_i / 12)))  # a small ROI keeps >= 12 model voxels across
    s = p_i * k
    pf_m = p_f * k
    n0_m = max(8, int(np.ceil(n0 / k)))
    slab = M.build_slab(cell_diameter, roi_diameter, roi_center, s, phantom=phantom, seed=seed, energy_ev=energy_ev,
                        phantom_voxel_size=phantom_voxel_size_um)
    if not slab.roi_mask.any():
        raise InputError(f"the ROI ({roi_diameter:g} µm) is under 5 model voxels ({s:g} µm) across; use a larger ROI")
    if k > 1:
        notes.append(f"Predictions on a model grid of {s * 1000:.1f} nm ({k}× the interior pixel, "
                     f"{slab.volume.nx} voxels across) with {n0_m} interior views; PSNR and FRC refer to that grid.")
    model = {"k": k, "voxel_um": s, "shape": list(slab.volume.shape), "n_interior": n0_m, "full_pixel_um": pf_m,
             "phantom": str(phantom), "seed": int(seed)}
    fw_i, fw_f = lens_i.ozw_um, lens_f.ozw_um
    n_dense = max(2, min(n0_m, int(np.ceil(np.pi * cell_diameter * M.MARGIN / 2 / pf_m))))

    def scans(n_full, model_n0=n0_m):
        return M.scans_on(slab, model_n0, n_full, s, pf_m)

    # -- dose per view at unit fluence (Eq. 13's ratio) --------------------------------
    interior_m, _ = scans(1)
    full24 = ScanGeometry.full_field(slab.volume, 24, pf_m)
    d_int1 = M.unit_doses(slab, interior_m, energy_ev)
    d_full1 = M.unit_doses(slab, full24, energy_ev)
    cell, roi = slab.cell_mask, slab.roi_mask & slab.cell_mask
    if not roi.any():
        raise InputError(f"the phantom {phantom!r} has no material inside the ROI at ({roi_center[0]:g}, "
                         f"{roi_center[1]:g}) µm in the slab through the cell's centre; move --roi-center onto the sample")
    ratio = D.mean_dose(d_full1, cell) / D.mean_dose(d_int1, cell)
    t_roi = _transmission(slab, interior_m, fw_i)
    f_min = MIN_TRANSMITTED / (t_roi * p_i**2)  # smallest useful interior fluence
    one_view = D.mean_dose(d_int1, roi) * f_min
    if dose_budget is not None and dose_budget < one_view:
        raise InputError(f"--dose-budget {dose_budget:g} Gy is below the dose of one interior view at the minimum "
                         f"exposure ({one_view:.3g} Gy for {MIN_TRANSMITTED:g} transmitted photons per pixel); "
                         f"raise it to at least {one_view:.3g} Gy")

    # -- anchors (Fig. 9) and the exposure (Eq. 13) ----------------------------------------
    grid = np.linspace(0.0, np.pi, n0, endpoint=False)
    n_anchor = next(n for n in range(1, n0 + 1)
                    if count_anchors(grid[sparse_indices(n, n0)], grid) >= min(MIN_ANCHORS, n0))
    d_sparse1 = {}

    def sparse_unit(n):
        if n not in d_sparse1:
            d_sparse1[n] = M.unit_doses(slab, scans(min(n, n0_m))[1], energy_ev)
        return d_sparse1[n]

    def exposure(n):
        """``(I0, I_ROI, mean dose in the ROI)`` for ``n`` sparse views (fluences in photons/µm²)."""
        share = ratio * (n0 - n) / n0
        roi_per_i0 = D.mean_dose(d_int1, roi) * n0 * share + D.mean_dose(sparse_unit(n), roi) * n
        if photons is None and dose_budget is not None:
            i0 = dose_budget / roi_per_i0
        else:
            i0 = PAPER_FLUENCE if photons is None else photons / p_i**2
        return i0, i0 * share, roi_per_i0 * i0

    # -- N_full: quality against dense sampling (noiseless, Fig. 2) ---------------------------
    sweep, equal_dose, n_quality, n_opt, best = [], [], None, None, float("nan")
    nan = float("nan")
    pred = {"combined": (nan, nan, 0), "full": (nan, nan, 0)}
    if quick:
        n_full = n_anchor
        notes.append("--quick: N_full from the anchor rule alone; no reconstructions, predicted qualities are NaN.")
    else:
        cands = sorted({n for n in _CANDIDATES if n < n_dense} | {n_dense})
        noisy = [c for c in _NOISY_CANDIDATES if c < n0_m]
        bar = progress_bar(total=len(cands) + len(noisy) + 3, desc="plan", disable=progress is False)
        rng = seed * 1000 + 17
        # noiseless data, so that the curve shows what the views add to the sampling (the null space),
        # not what their photons add; every N takes its views from one dense stack
        y_int = M.simulate_scan(slab, interior_m, fw_i)
        dense = scans(n0_m)[1]
        all_full = ScanGeometry(np.linspace(0, np.pi, n0_m, endpoint=False), dense.det_shape, pf_m, dense.center_um)
        y_full = M.simulate_scan(slab, all_full, fw_f)
        for n in cands:
            g = scans(n)[1]
            _, psnr, it = M.fit(slab, [Scan(interior_m, y_int), Scan(g, y_full[sparse_indices(n, n0_m)])],
                                _ITERATIONS, patience=10)
            sweep.append({"n_full": int(n), "psnr_roi": psnr, "best_iteration": it})
            bar.update()
        # the reference: dense full-field sampling, N_dense sparse views (in Fig. 2 it matches the dense
        # full scan the sparse views replace to 0.005 dB)
        best = sweep[-1]["psnr_roi"]
        # the smallest N from which on every larger N stays within the tolerance (robust to the small
        # ups and downs of early-stopped reconstructions)
        n_quality = None
        for r in reversed(sweep):
            if r["psnr_roi"] < best - TOLERANCE_DB:
                break
            n_quality = r["n_full"]
        if n_quality is None:
            n_quality = n_dense
            notes.append(f"the noiseless ROI PSNR of N_dense = {n_dense} views ({best:.2f} dB) is not the highest of the "
                         f"sweep; N_full = {n_dense}")
        n_full = max(n_quality, n_anchor)
        if n_full > max(n0 // 2, n_anchor):
            notes.append(f"N_full capped at {max(n0 // 2, n_anchor)}, half the interior views: at equal dose (Eq. 13) "
                         "more sparse views leave the interior scan too few photons")
            n_full = max(n0 // 2, n_anchor)

        # -- predicted quality at equal dose (Fig. 5) ------------------------------------------
        def combined(n):
            i0_n, f_roi_n, _ = exposure(n)
            y_i = M.simulate_scan(slab, interior_m, fw_i, f_roi_n * s**2, rng + 2 + n)
            y_f = M.simulate_scan(slab, scans(n)[1], fw_f, i0_n * pf_m**2, rng + 500 + n)
            return M.fit(slab, [Scan(interior_m, y_i, photons=f_roi_n * s**2),
                                Scan(scans(n)[1], y_f, photons=i0_n * pf_m**2)], _ITERATIONS, patience=5)

        noisy = sorted(set(noisy) | {min(n_full, n0_m)})
        bar.total = len(cands) + len(noisy) + 2
        for n in noisy:
            x, psnr, it = combined(n)
            equal_dose.append({"n_full": int(n), "psnr_roi": psnr, "best_iteration": it,
                               "photons_interior": exposure(n)[1] * p_i**2})
            if n == min(n_full, n0_m):
                res, why = M.frc_resolution_nm(x, slab, sampling_limited=k == 1)
                pred["combined"] = (psnr, res, it)
                if why:
                    notes.append(f"combined protocol: {why}")
            bar.update()
        n_opt = max(equal_dose, key=lambda r: r["psnr_roi"])["n_full"]
        i0, _, _ = exposure(n_full)
        ref = ScanGeometry.full_field(slab.volume, n0_m, s)
        y = M.simulate_scan(slab, ref, fw_i, i0 * s**2, rng + 999)
        x, psnr, it = M.fit(slab, [Scan(ref, y, photons=i0 * s**2)], _ITERATIONS, patience=5)
        res, why = M.frc_resolution_nm(x, slab, sampling_limited=k == 1)
        pred["full"] = (psnr, res, it)
        if why:
            notes.append(f"equal-dose full scan: {why}")
        bar.update(2)
        bar.close()
        if pred["combined"][0] < pred["full"][0]:
            notes.append(f"warning: the combined protocol ({pred['combined'][0]:.2f} dB) does not beat the equal-dose "
                         f"full scan ({pred['full'][0]:.2f} dB) for this cell and exposure")
    n_full = min(n_full, n0)

    # -- the dose split and the budget ----------------------------------------------------
    i0, f_roi, dose_in_roi = exposure(n_full)
    budget_ok, advice = None, ""
    if dose_budget is not None:
        if f_roi < f_min:
            f = f_min / f_roi
            budget_ok = False
            advice = (f"the budget leaves {f_roi * p_i**2:.3g} photons per interior pixel per view, below the "
                      f"{f_min * p_i**2:.3g} needed for {MIN_TRANSMITTED:g} transmitted photons: raise --dose-budget "
                      f"×{f:.2f} to {dose_budget * f:.3g} Gy, or take {int(n0 / f)} interior views (below the sampling "
                      f"above), or a {np.sqrt(f):.2f}× larger --interior-pixel ({p_i * np.sqrt(f) * 1000:.1f} nm)")
        elif dose_in_roi > dose_budget * 1.001:
            f = dose_in_roi / dose_budget
            budget_ok = False
            advice = (f"the protocol puts {dose_in_roi:.3g} Gy into the ROI, ×{f:.2f} the budget: lower --photons to "
                      f"{photons / f:.3g}, or drop --photons and let the budget set the exposure")
        else:
            budget_ok = True
    d_sparse = sparse_unit(n_full)
    doses = {
        "dose_roi_gy": D.mean_dose(d_int1, cell) * n0 * f_roi,
        "dose_full_gy": D.mean_dose(d_sparse, cell) * n_full * i0,
        "dose_full_scan_gy": D.mean_dose(d_full1, cell) * n0 * i0,
    }
    interior_angles = np.linspace(0.0, 180.0, n0, endpoint=False)
    sparse_angles = interior_angles[sparse_indices(n_full, n0)]
    return Plan(
        n_interior=int(n0), n_full=int(n_full), interior_pixel_um=float(p_i), full_pixel_um=float(p_f),
        dose_roi_gy=float(doses["dose_roi_gy"]), dose_full_gy=float(doses["dose_full_gy"]),
        dose_ratio_full_to_roi=float(ratio), dose_in_roi_gy=float(dose_in_roi),
        dose_full_scan_gy=float(doses["dose_full_scan_gy"]),
        photons_interior=float(f_roi * p_i**2), photons_full=float(i0 * p_f**2), photons_full_scan=float(i0 * p_i**2),
        predicted_roi_psnr_db=float(pred["combined"][0]), predicted_full_scan_roi_psnr_db=float(pred["full"][0]),
        predicted_resolution_nm=float(pred["combined"][1]), predicted_full_scan_resolution_nm=float(pred["full"][1]),
        convention=sampling.describe(), n_interior_nyquist=int(sampling.n_nyquist), f_cut_per_um=sampling.f_cut_per_um,
        n_full_quality=n_quality, n_full_anchors=int(n_anchor), n_full_equal_dose_optimum=n_opt,
        anchors=int(count_anchors(np.radians(sparse_angles), np.radians(interior_angles))),
        iterations=int(max(pred["combined"][2], 1) if not quick else 30),
        full_scan_iterations=int(max(pred["full"][2], 1) if not quick else 30), budget_ok=budget_ok, budget_advice=advice,
        inputs={"cell_diameter_um": cell_diameter, "cell_height_um": cell_height, "roi_diameter_um": roi_diameter,
                "roi_center_um": list(roi_center), "interior_resolution_nm": float(interior_resolution_nm),
                "full_resolution_nm": float(full_resolution_nm), "energy_ev": energy_ev, "dose_budget_gy": dose_budget,
                "photons": photons, "phantom": str(phantom), "convention": convention, "power": power,
                "quick": bool(quick), "seed": int(seed), "phantom_voxel_size_um": phantom_voxel_size_um,
                "transmission_roi": t_roi,
                "min_photons_interior": float(f_min * p_i**2), "roi_radius_px": sampling.radius_px, "n_full_dense": int(n_dense),
                "dense_psnr_noiseless_db": float(best)},
        model=model, sweep=sweep, equal_dose=equal_dose, notes=notes,
        interior_angles_deg=interior_angles.tolist(), sparse_angles_deg=sparse_angles.tolist(),
        seconds=time.perf_counter() - t0,
        dose_map=(d_int1 * n0 * f_roi + d_sparse * n_full * i0)[slab.volume.nz // 2].astype(np.float32),
    )
