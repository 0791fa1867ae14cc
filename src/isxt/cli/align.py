"""``isxt align ACQUISITION.toml [-o DIR]``: per-view shifts of every scan (App. B.1).

The full-field scan (the widest field of view, or ``--full NAME``) is aligned
first; every other scan is an interior scan aligned against it as anchors.
One CSV per scan (``<name>_shifts.csv``: ``index,angle_deg,du_um,dv_um,
du_px,dv_px,flag``) and ``alignment_shifts.png`` are written. ``isxt
reconstruct`` picks ``<name>_shifts.csv`` up from the output directory (or the
acquisition file's directory) for every scan without a ``shifts`` key.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..distributed.commands import add_arguments as add_scheduler_arguments
from ..distributed.commands import dispatch

HELP = "align the full-field stack, then interior stacks against it (shifts CSV per scan)"
PLOT = "alignment_shifts.png"


def register(subparsers):
    p = subparsers.add_parser("align", help=HELP, description=HELP)
    p.add_argument("acquisition", metavar="ACQUISITION.toml", nargs="+",
                   help="acquisition file; several run as a batch, with -o DIR each to DIR/<toml stem>/")
    p.add_argument("-o", "--output", metavar="DIR", help="output directory (default: [output] dir of the file)")
    p.add_argument("--full", metavar="NAME", help="the full-field scan (default: the widest field of view)")
    p.add_argument("--no-mirrors", action="store_true", help="do not use full-field views at θ+180° as anchors")
    p.add_argument("--iterations", type=int, default=3, help="projection-matching rounds for the full-field stack")
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
    from ..acquisition import load_acquisition, prepare_scans
    from ..align import align_full_field, align_interior, plot_shifts, write_shifts_csv
    from ..align.quality import AlignmentResult
    from ..errors import InputError
    from ..io import OutputTransaction

    code = dispatch(args, run)
    if code is not None:  # a batch of acquisitions (docs/scaling.md)
        return code
    acq = load_acquisition(args.acquisition, check_memory=False)
    if args.iterations < 0:
        raise InputError("--iterations must be 0 or more")
    scans = prepare_scans(acq, calibrate=False).scans
    full = _pick_full(scans, args.full, acq.path)
    names = {s.name: f"{s.name}_shifts.csv" for s in scans}
    directory = Path(args.output) if args.output else Path(acq.output["dir"])
    tx = OutputTransaction(directory, overwrite=args.force)
    tx.check([*names.values(), PLOT])

    results = {full.name: align_full_field(full.geometry, full.data, iterations=args.iterations, progress=True)}
    full_aligned = full.geometry.with_shifts(results[full.name].shifts)
    anchors_deg = None
    for s in scans:
        if s is full:
            continue
        results[s.name] = align_interior(
            s.geometry, s.data, full_aligned, full.data, full_flags=results[full.name].flags,
            use_mirrors=not args.no_mirrors, progress=True,
        )
        anchors_deg = np.degrees(results[s.name].info["anchor_angles"])

    with tx:
        for s in scans:
            res = results[s.name]
            # the file holds what goes under `shifts =`; the acquisition adds crop/bin offsets itself
            offsets = np.asarray(s.geometry.shifts) - _file_shifts(acq, s.name, s.geometry.n_angles)
            out = AlignmentResult(res.shifts - offsets, res.flags, res.angles, res.pixel_size, res.info)
            write_shifts_csv(tx.path(names[s.name]), out, atomic=False)
        plot_shifts(tx.path(PLOT), results, anchors_deg=anchors_deg, title=acq.path.name, atomic=False)

    for s in scans:
        res = results[s.name]
        role = "full-field" if s is full else "interior"
        rms = np.sqrt(np.mean(np.sum(res.shifts_px**2, axis=1)))
        print(f"{s.name} ({role}, {s.geometry.n_angles} views): shifts RMS {rms:.2f} px → {directory / names[s.name]}")
        for line in res.report():
            print(f"  flagged {line}")
    print(f"plot: {directory / PLOT}")
    print("isxt reconstruct picks these files up from the output directory for scans without a shifts key")
    return 0


def _file_shifts(acq, name, n):
    spec = acq.scan(name)
    return np.zeros((n, 2)) if spec.shifts_um is None else np.asarray(spec.shifts_um, dtype=np.float64)
