"""``isxt plan``: a recommended protocol for a cell, its dose and predicted quality, and an acquisition file."""

from __future__ import annotations

import math

HELP = "plan an acquisition: interior and sparse views, dose split, predicted quality, acquisition file"


def register(sub):
    p = sub.add_parser("plan", help=HELP, description=HELP + ". See docs/planning.md.")
    p.add_argument("--cell-diameter", type=float, required=True, metavar="UM", help="cell diameter in µm")
    p.add_argument("--cell-height", type=float, default=None, metavar="UM", help="cell height in µm (default: diameter)")
    p.add_argument("--roi-diameter", type=float, required=True, metavar="UM", help="region of interest diameter in µm")
    p.add_argument("--roi-center", type=float, nargs=2, default=(0.0, 0.0), metavar=("X", "Y"),
                   help="ROI centre in µm from the cell centre (default 0 0)")
    p.add_argument("--interior-resolution", type=float, required=True, metavar="NM",
                   help="interior objective's outermost zone width in nm (e.g. 35)")
    p.add_argument("--full-resolution", type=float, required=True, metavar="NM",
                   help="full-field objective's outermost zone width in nm (e.g. 60)")
    p.add_argument("--interior-pixel", type=float, default=None, metavar="UM",
                   help="interior pixel in µm (default: Nyquist sampling of the lens)")
    p.add_argument("--full-pixel", type=float, default=None, metavar="UM",
                   help="full-field pixel in µm (default: Nyquist sampling of the lens)")
    p.add_argument("--energy", type=float, default=517.0, metavar="EV", help="photon energy in eV (default 517)")
    exposure = p.add_mutually_exclusive_group()
    exposure.add_argument("--dose-budget", type=float, default=None, metavar="GY",
                          help="dose budget in Gy (mean dose inside the ROI); sets the exposure")
    exposure.add_argument("--photons", type=float, default=None, metavar="N",
                          help="incident photons per interior-size pixel per view of the equal-dose full scan "
                               "(default: 150 per (10 nm)², the paper's)")
    p.add_argument("--phantom", default="cell", help="cell (default), bacteria, or a LAC volume file (MRC/TIFF/NPY)")
    p.add_argument("--voxel-size", type=float, default=None, metavar="UM", help="voxel size of a phantom FILE without one")
    p.add_argument("--convention", default="paper", choices=("paper", "ideal", "nyquist"),
                   help="how interior views are counted: 98%% OTF power with the paper's cut-off 1.22/OZW (default), "
                        "the ideal cut-off 1/OZW, or the Nyquist bound πR")
    p.add_argument("--quick", action="store_true", help="analytic steps and dose only (seconds), no reconstructions")
    p.add_argument("--simulate", action="store_true",
                   help="also write simulated stacks of a slab, so that isxt reconstruct DIR/acquisition.toml runs")
    p.add_argument("--seed", type=int, default=0, help="phantom and noise seed of the predictions (default 0)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output directory")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=run)


def run(args):
    from ..io import OutputTransaction
    from ..planning import plan, write_plan
    from ..planning.files import OUTPUTS, SIMULATED

    # existing outputs are refused before the minutes of work
    OutputTransaction(args.out, overwrite=args.force).check(OUTPUTS + (SIMULATED if args.simulate else ()))
    p = plan(args.cell_diameter, args.roi_diameter, args.interior_resolution, args.full_resolution,
             cell_height_um=args.cell_height, roi_center_um=tuple(args.roi_center), energy_ev=args.energy,
             dose_budget=args.dose_budget, photons=args.photons, phantom=args.phantom,
             interior_pixel_um=args.interior_pixel, full_pixel_um=args.full_pixel, convention=args.convention,
             quick=args.quick, seed=args.seed, phantom_voxel_size_um=args.voxel_size)
    write_plan(p, args.out, simulate=args.simulate, force=args.force)
    psnr = lambda v: "NaN (--quick)" if math.isnan(v) else f"{v:.2f} dB"  # noqa: E731
    print(f"interior: {p.n_interior} views at {p.interior_pixel_um * 1000:.1f} nm ({p.convention}); "
          f"sparse: {p.n_full} views at {p.full_pixel_um * 1000:.1f} nm ({p.anchors} anchors)")
    print(f"dose: D_ROI {p.dose_roi_gy:.3g} Gy, D_full {p.dose_full_gy:.3g} Gy (mean over the cell), "
          f"{p.dose_in_roi_gy:.3g} Gy in the ROI; D_full/D_ROI per view {p.dose_ratio_full_to_roi:.2f}")
    print(f"predicted ROI PSNR: combined {psnr(p.predicted_roi_psnr_db)}, "
          f"equal-dose full scan {psnr(p.predicted_full_scan_roi_psnr_db)}")
    for note in p.notes:
        if note.startswith("warning"):
            print(note)
    if p.budget_ok is False:
        print(f"warning: over the dose budget: {p.budget_advice}")
    print(f"wrote {args.out}/plan.md (the reasoning); next: "
          + (f"isxt reconstruct {args.out}/acquisition.toml" if args.simulate else
             f"acquire, put the stacks beside {args.out}/acquisition.toml and run isxt reconstruct on it"))
    return 1 if p.budget_ok is False else 0  # the plan is written, with the advice, but does not fit
