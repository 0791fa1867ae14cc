"""``isxt align ACQUISITION.toml [-o DIR]``: per-view shifts of every scan (App. B.1).

The full-field scan (the widest field of view, or ``--full NAME``) is aligned
first; every other scan is an interior scan aligned against it as anchors,
then refined against the combined model (``--refine N``). A residual guard
compares the combined reconstruction's misfit with the new and the input
shifts: an estimate that does not lower it is rejected, the input shifts are
written as ``<name>_shifts.csv`` and the estimate as
``<name>_shifts.rejected.csv``. One CSV per scan (``index,angle_deg,du_um,
dv_um,du_px,dv_px,flag``, the guard's comparison in ``#`` header lines),
``alignment_shifts.png`` and ``alignment_provenance.json`` are written.
``isxt reconstruct -o DIR`` picks ``<name>_shifts.csv`` up from DIR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..distributed.commands import add_arguments as add_scheduler_arguments
from ..distributed.commands import dispatch

HELP = "align the full-field stack, then interior stacks against it (shifts CSV per scan)"
PLOT = "alignment_shifts.png"
PROVENANCE = "alignment_provenance.json"


def register(subparsers):
    p = subparsers.add_parser("align", help=HELP, description=HELP)
    p.add_argument("acquisition", metavar="ACQUISITION.toml", nargs="+",
                   help="acquisition file; several run as a batch, with -o DIR each to DIR/<toml stem>/")
    p.add_argument("-o", "--output", metavar="DIR", help="output directory (default: [output] dir of the file)")
    p.add_argument("--full", metavar="NAME", help="the full-field scan (default: the widest field of view)")
    p.add_argument("--no-mirrors", action="store_true", help="do not use full-field views at θ+180° as anchors")
    p.add_argument("--iterations", type=int, default=3, help="projection-matching rounds for the full-field stack")
    p.add_argument("--refine", type=int, default=4, metavar="N",
                   help="rounds of refinement against the combined model (default 4; 0: off)")
    p.add_argument("--no-guard", action="store_true", help="write the new shifts even if they fit the data worse")
    p.add_argument("--truth", metavar="DIR", help="directory with truth_<scan>_shifts.csv: print each scan's error")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    add_scheduler_arguments(p)
    p.set_defaults(func=run)


def _pick_full(scans, name, source):
    from ..errors import InputError

    if name is not None:
        for s in scans:
            if s.name == name:
                return s
        raise InputError(f"{source}: --full {name!r} is not a scan name; names: {', '.join(s.name for s in scans)}")
    return max(scans, key=lambda s: s.geometry.width)


def run(args):
    import dataclasses

    from ..acquisition import load_acquisition, prepare_scans
    from ..align import plot_shifts, write_shifts_csv
    from ..align.pipeline import align_acquisition, guard_line
    from ..align.quality import AlignmentResult
    from ..errors import InputError
    from ..io import OutputTransaction
    from ..provenance import provenance_record, write_json

    code = dispatch(args, run)
    if code is not None:  # a batch of acquisitions (docs/scaling.md)
        return code
    acq = load_acquisition(args.acquisition, check_memory=False)
    if args.iterations < 0:
        raise InputError("--iterations must be 0 or more")
    if args.refine < 0:
        raise InputError("--refine must be 0 or more")
    truth_dir = Path(args.truth) if args.truth else None
    if truth_dir is not None and not truth_dir.is_dir():
        raise InputError(f"--truth {args.truth}: not a directory; give the directory isxt simulate wrote")
    scans = prepare_scans(acq, calibrate=False).scans
    full = _pick_full(scans, args.full, acq.path)
    names = {s.name: f"{s.name}_shifts.csv" for s in scans}
    rejected = {s.name: f"{s.name}_shifts.rejected.csv" for s in scans}
    directory = Path(args.output) if args.output else Path(acq.output["dir"])
    tx = OutputTransaction(directory, overwrite=args.force)
    tx.check([*names.values(), PLOT, PROVENANCE])
    interiors = [s for s in scans if s is not full]

    results, guard = align_acquisition(full, interiors, volume=acq.volume, full_iterations=args.iterations,
                                       refine=args.refine, guard=not args.no_guard,
                                       use_mirrors=not args.no_mirrors, progress=True)
    estimate = guard["estimate"]
    line = guard_line(guard)
    comments = [line]
    anchors_deg = None
    for s in interiors:
        anchors_deg = np.degrees(estimate[s.name].info["anchor_angles"])

    def file_result(s, res):
        # the file holds what goes under `shifts =`; the acquisition adds crop/bin offsets itself
        offsets = np.asarray(s.geometry.shifts_um) - _file_shifts(acq, s.name, s.geometry.n_angles)
        return AlignmentResult(res.shifts_um - offsets, res.flags, res.angles, res.pixel_size_um, res.info)

    with tx:
        for s in scans:
            write_shifts_csv(tx.path(names[s.name]), file_result(s, results[s.name]), atomic=False, comments=comments)
            if not guard["accepted"]:
                write_shifts_csv(tx.path(rejected[s.name]), file_result(s, estimate[s.name]), atomic=False,
                                 comments=comments + ["rejected by the residual guard: not used by isxt reconstruct"])
        plot_shifts(tx.path(PLOT), estimate, anchors_deg=anchors_deg, title=acq.path.name, atomic=False)
        record = provenance_record(
            acq.input_files(), {"acquisition": str(acq.path), "full": full.name, "iterations": args.iterations,
                                "refine": args.refine, "guard": not args.no_guard, "mirrors": not args.no_mirrors},
            result={"guard": {k: guard[k] for k in ("residual_input", "residual_aligned", "accepted")},
                    "shifts_files": {s.name: names[s.name] for s in scans}},
        )
        write_json(tx.path(PROVENANCE), record)

    for s in scans:
        res = results[s.name]
        role = "full-field" if s is full else "interior"
        rms = np.sqrt(np.mean(np.sum(estimate[s.name].shifts_px ** 2, axis=1)))
        print(f"{s.name} ({role}, {s.geometry.n_angles} views): shifts RMS {rms:.2f} px → {directory / names[s.name]}")
        for flagged in res.report():
            print(f"  flagged {flagged}")
    print(line)
    if not guard["accepted"]:
        print(f"the new estimate is in {', '.join(str(directory / rejected[s.name]) for s in scans)}")
    if truth_dir is not None:
        for text in truth_errors(truth_dir, full, scans, estimate):
            print(text)
    print(f"plot: {directory / PLOT}")
    print(f"next: isxt reconstruct {acq.path} -o {directory} (picks these files up)")
    return 0


def truth_errors(truth_dir, full, scans, estimate):
    """One line per scan: RMS error (px) of the estimate against ``truth_<scan>_shifts.csv`` after the gauge.

    The gauge (object translation) is fitted between the full-field estimate
    and its truth on the full-field ``ok`` views and applied to every scan.
    """
    from ..align import gauge_difference, gauge_shifts, read_shifts_csv
    from ..errors import InputError

    truth = {}
    for s in scans:
        path = truth_dir / f"truth_{s.name}_shifts.csv"
        if not path.is_file():
            raise InputError(f"--truth: {path} not found; isxt simulate --drift writes truth_<scan>_shifts.csv")
        truth[s.name] = read_shifts_csv(path, n_angles=s.geometry.n_angles, angles=s.geometry.angles)
    ok = np.array([f == "ok" for f in estimate[full.name].flags])
    g = gauge_difference(estimate[full.name].shifts_um, truth[full.name].shifts_um, full.geometry.angles, ok)
    lines = []
    for s in scans:
        t = truth[s.name].shifts_um + gauge_shifts(g, s.geometry.angles)
        d = (estimate[s.name].shifts_um - t) / s.geometry.pixel_size_um
        usable = np.array([f not in ("blank",) for f in truth[s.name].flags])
        err = float(np.sqrt(np.mean(np.sum(d[usable] ** 2, axis=1))))
        lines.append(f"truth {s.name}: RMS error {err:.3f} px after the gauge ({int(usable.sum())} views)")
    return lines


def _file_shifts(acq, name, n):
    spec = acq.scan(name)
    return np.zeros((n, 2)) if spec.shifts_um is None else np.asarray(spec.shifts_um, dtype=np.float64)
