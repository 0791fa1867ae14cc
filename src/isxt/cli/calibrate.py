"""``isxt calibrate ACQUISITION.toml``: fit the absorption calibration (App. B.2) and plot it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HELP = "fit the dual-energy / stray-light absorption calibration between two scans"

NAMES = {"fit": "calibration.json", "residuals": "calibration_residuals.csv", "plot": "calibration.png"}


def register(subparsers):
    p = subparsers.add_parser("calibrate", help=HELP, description=HELP)
    p.add_argument("acquisition", metavar="ACQUISITION.toml", help="acquisition file with a [calibration] section")
    p.add_argument("-o", "--output", metavar="DIR", help="output directory (default: [output] dir of the file)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=run)


def _residual_table(result, bins=40):
    """CSV text: residuals of both models binned by I_A (count, mean, rms)."""
    edges = np.linspace(result.ia.min(), result.ia.max(), bins + 1)
    which = np.clip(np.digitize(result.ia, edges) - 1, 0, bins - 1)
    rd, ra = result.residuals("dual_energy"), result.residuals("affine")
    lines = ["ia_low,ia_high,count,dual_energy_mean,dual_energy_rms,affine_mean,affine_rms"]
    for k in range(bins):
        m = which == k
        if not m.any():
            continue
        lines.append(
            f"{edges[k]:.6g},{edges[k + 1]:.6g},{int(m.sum())},{rd[m].mean():.6g},{np.sqrt(np.mean(rd[m] ** 2)):.6g},"
            f"{ra[m].mean():.6g},{np.sqrt(np.mean(ra[m] ** 2)):.6g}"
        )
    return "\n".join(lines) + "\n"





def run(args):
    from ..acquisition import load_acquisition, run_calibration
    from ..calibration import plot_calibration
    from ..errors import InputError
    from ..io import OutputTransaction
    from ..provenance import provenance_record, write_json

    acq = load_acquisition(args.acquisition)
    if not acq.calibration:
        raise InputError(
            f"{acq.path}: no [calibration] section; add reference = \"<sparse scan>\" and target = \"<interior scan>\""
        )
    directory = Path(args.output) if args.output else Path(acq.output["dir"])
    tx = OutputTransaction(directory, overwrite=args.force)
    tx.check(NAMES.values())
    result = run_calibration(acq)
    with tx:
        record = provenance_record(acq.input_files(), {"calibration": acq.calibration}, result=result.to_dict())
        write_json(tx.path(NAMES["fit"]), record)
        Path(tx.path(NAMES["residuals"])).write_text(_residual_table(result))
        plot_calibration(result, tx.path(NAMES["plot"]))
    for name in ("none", "affine", "dual_energy"):
        fit = result.none if name == "none" else getattr(result, name)
        print(f"{result.describe(name)}; RSS = {fit['rss']:.4g}, BIC = {fit['bic']:.1f}")
    print(f"chosen by BIC: {result.model} ({result.n_pixels} pixels in {len(result.views)} matched views); "
          f"wrote {', '.join(str(directory / n) for n in NAMES.values())}")
    return 0
