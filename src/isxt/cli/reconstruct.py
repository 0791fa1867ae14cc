"""``isxt reconstruct ACQUISITION.toml``: files in, a quantitative LAC volume out.

Validates the acquisition (all problems at once), refuses to overwrite
without ``--force``, reconstructs with a progress bar, and writes the volume,
a provenance JSON and a quick-look PNG all-or-nothing.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from ..distributed.commands import add_arguments as add_scheduler_arguments
from ..distributed.commands import dispatch
from ..consistency import ConsistencyReport, ConsistencyWarning
from ..errors import InputError

HELP = "reconstruct a LAC volume from an acquisition file (TOML)"


def register(subparsers):
    p = subparsers.add_parser("reconstruct", help=HELP, description=HELP)
    p.add_argument("acquisition", metavar="ACQUISITION.toml", nargs="+",
                   help="the acquisition file (see docs/acquisition.md); several run as a batch (docs/scaling.md)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="output directory (default: [output] dir of the file); a batch writes to DIR/<toml stem>/")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and print the memory and time estimate only (writes nothing, so needs no --force)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_scheduler_arguments(p, slabs=True)
    p.add_argument("--no-shifts", action="store_true",
                   help="do not pick up <scan>_shifts.csv from the output directory or beside the file")
    p.add_argument("--strict", action="store_true",
                   help="a failed consistency check is an error: exit 3 and write nothing (docs/consistency.md)")
    p.set_defaults(func=run)


def output_plan(acq, output_dir=None):
    """``(directory, {'volume': name, 'provenance': name, 'quicklook': name})``."""
    out = acq.output
    directory = Path(output_dir) if output_dir else Path(out["dir"])
    return directory, {k: out[k] for k in ("volume", "provenance", "quicklook")}


def describe(acq, directory, names):
    """Lines summarising an acquisition, with memory and time estimates."""
    v = acq.volume
    mem = acq.memory_estimate()
    est = acq.time_estimate()
    r = acq.reconstruction
    lines = [
        f"acquisition: {acq.path}",
        f"volume: {v.shape[0]} x {v.shape[1]} x {v.shape[2]} voxels (z, y, x) of {v.voxel_size_um:g} µm, "
        f"centre {tuple(round(c, 6) for c in v.center_um)} µm",
    ]
    for s in acq.scans:
        n, rows, cols = s.output_shape()
        psf = f", psf FWHM {s.psf_fwhm_um:g} µm" if s.psf_fwhm_um else ""
        lines.append(
            f"scan {s.name!r}: {s.file.name} ({s.kind}), {n} views x {rows} x {cols} px of "
            f"{s.pixel_size_um * s.bin:g} µm, angles {s.angles_rad.min() * 57.29577951308232:.4g}..."
            f"{s.angles_rad.max() * 57.29577951308232:.4g}°, centre {tuple(round(c, 6) for c in s.center_um)} µm{psf}"
        )
    stop = f", stop {r['stop']}" if r["stop"] != "fixed" else ""
    lines.append(f"reconstruction: {r['method']}, {r['iterations']} iterations{stop}, nonneg={r['nonneg']}, precondition={r['precondition']}, backend {r['backend']}, device {r['device']}")
    avail = f" of {mem['available_gb']:.3g} GB available" if mem["available_gb"] else ""
    lines.append(f"memory estimate: {mem['gb']:.3g} GB{avail}")
    lines.append(f"time estimate: ~{est['seconds']:.3g} s ({est['seconds_per_iteration']:.3g} s per iteration on the "
                 f"{est['device'].upper()}; rough)")
    lines.append(f"outputs: {', '.join(str(directory / n) for n in names.values())}")
    for w in acq.warnings:
        lines.append(f"warning: {w}")
    return lines


STRICT_EXIT = 3


def report_consistency(report, strict=False):
    """Print the consistency table (stdout) and its `warning:` lines (stderr); True when ``strict`` and a check failed."""
    print("consistency (relative residuals; docs/consistency.md):")
    print(ConsistencyReport(**report).table())
    for line in report["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    if strict and report["warnings"]:
        print(f"isxt reconstruct: {len(report['warnings'])} consistency check(s) failed and --strict is set; "
              "nothing was written", file=sys.stderr)
        return True
    return False


def run(args):
    from ..acquisition import load_acquisition, prepare_scans
    from ..distributed.slab_cli import slab_options
    from ..io import OutputTransaction
    from ..io import write_volume_file
    from ..plotting.results import interior_rois
    from ..provenance import provenance_record, write_json, write_quicklook
    from ..reconstruct import reconstruct

    code = dispatch(args, run)
    if code is not None:  # a batch of acquisitions (docs/scaling.md)
        return code
    timings = {}
    t0 = time.perf_counter()
    acq = load_acquisition(args.acquisition, output_dir=args.output, pickup_shifts=not args.no_shifts)
    timings["validate"] = time.perf_counter() - t0
    directory, names = output_plan(acq, args.output)
    tx = OutputTransaction(directory, overwrite=args.force or args.dry_run)
    tx.check(names.values())  # a dry run writes nothing: it checks the directory, not the files in it
    lines = describe(acq, directory, names)
    existing = [n for n in names.values() if (directory / n).exists()]
    if args.dry_run and existing and not args.force:
        lines.append(f"note: {', '.join(existing)} exist in {directory}; the run needs --force to overwrite them")
    slabs = slab_options(args, acq)
    if slabs:
        lines += slabs.describe()
    if args.dry_run:
        print("\n".join(lines))
        print("dry run: the acquisition is valid; nothing was written")
        return 0
    for w in acq.warnings:
        print(f"warning: {w}", file=sys.stderr)
    shifts = _shifts_used(acq)
    for name, used in shifts.items():
        print(f"scan {name!r}: shifts {used['file'] if used['file'] else 'none'}")

    t = time.perf_counter()
    prepared = prepare_scans(acq)
    timings["preprocess"] = time.perf_counter() - t
    for name, rep in prepared.report["scans"].items():
        if rep["clipped_pixels"]:
            print(
                f"scan {name!r}: clipped {rep['clipped_pixels']} of {rep['total_pixels']} transmission values "
                f"to {rep['clip_transmission']:g}", file=sys.stderr,
            )
    cal = prepared.report.get("calibration")
    if cal:
        what = prepared.calibration.describe()
        print(f"calibration: {'applied' if cal['applied'] else 'not applied'} ({what}; {cal['n_pixels']} pixels in "
              f"{cal['n_views']} views): {cal['reason']}")
    r = acq.reconstruction
    t = time.perf_counter()
    solve = slabs.reconstruct if slabs else reconstruct
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConsistencyWarning)  # printed below as `warning:` lines
        volume, info = solve(
            prepared.scans, acq.volume, method=r["method"], iterations=r["iterations"], nonneg=r["nonneg"],
            precondition=r["precondition"],
            stop="discrepancy" if r["stop"] == "discrepancy" else None, backend=r["backend"],
            device=r["device"], n_subsets=r["n_subsets"], progress=not args.no_progress, return_info=True,
            **({"tv_weight": r["tv_weight"], "bounds": tuple(r["bounds"])} if r["method"] == "tv" else {}),
        )
    if r["method"] == "tv":
        print(f"TV weight λ = {info['tv_weight']:.4g} ({info['tv_weight_rule']}); relative primal-dual gap "
              f"{info['tv_gap']:.3g}")
    timings["reconstruct"] = time.perf_counter() - t
    if not (volume.size and (volume == volume).all()):
        raise InputError("the reconstruction produced NaN values; check the data and weights")
    if "consistency" not in info:  # slab runs keep each scan's data on the workers
        print("consistency: not checked (slab-distributed run: the data are never gathered on the client)")
    elif report_consistency(info["consistency"], strict=args.strict):
        return STRICT_EXIT

    t = time.perf_counter()
    parameters = acq.to_dict()
    parameters["output"] = {**parameters["output"], "dir": str(directory)}
    with tx:
        write_volume_file(tx.path(names["volume"]), volume, acq.volume.voxel_size_um, acq.output["format"])
        write_quicklook(tx.path(names["quicklook"]), volume, acq.volume.voxel_size_um, acq.volume.center_um,
                        title=f"{acq.path.name}: {r['method']}, {info['iterations']} iterations",
                        roi=interior_rois(prepared.scans, acq.volume))
        timings["write"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        record = provenance_record(
            acq.input_files(), parameters, result={**info, "volume_unit": "1/um", "volume_shape": list(volume.shape),
                                                   "volume_min": float(volume.min()), "volume_max": float(volume.max())},
            timings=timings, extra={"preprocessing": prepared.report, "shifts": shifts},
        )
        write_json(tx.path(names["provenance"]), record)
    print(
        f"wrote {directory / names['volume']} ({volume.shape[0]} x {volume.shape[1]} x {volume.shape[2]}, "
        f"{acq.volume.voxel_size_um:g} µm voxels, LAC {volume.min():.3g}..{volume.max():.3g} 1/µm) "
        f"in {timings['total']:.1f} s"
    )
    return 0


def _shifts_used(acq):
    """Per scan: the shifts file used (path and SHA-256) or None, for the console and provenance."""
    from ..provenance import sha256

    out = {}
    for s in acq.scans:
        path = s.sources.get("shifts_file")
        out[s.name] = {"file": path, "sha256": sha256(path) if path else None}
    return out
