"""``isxt simulate``: write a simulated combined acquisition (interior + sparse scans) to files.

The output directory gets ``interior.mrc`` and ``sparse.mrc`` (transmission
``I/I0``, float32, pixel size and angles in the header), ``interior_angles.txt``
and ``sparse_angles.txt`` (degrees), ``truth.mrc`` (the phantom on the
reconstruction grid, LAC in 1/µm) and ``acquisition.toml``, which
``isxt reconstruct`` reads directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

HELP = "simulate a combined acquisition (dense interior + sparse full-field scans) to files"

SIZES = {
    # nz, n_xy, voxel (µm), default roi diameter (µm)
    "test": (2, 48, 0.1, 2.0),
    "small": (12, 128, 0.04, 2.0),  # 12 rows: enough for isxt align to register the interior images
    "paper": (32, 801, 0.02, 6.0),
}
OUTPUTS = ("interior.mrc", "sparse.mrc", "interior_angles.txt", "sparse_angles.txt", "truth.mrc", "acquisition.toml")
TRUTH = ("truth_interior_shifts.csv", "truth_sparse_shifts.csv")


def register(sub):
    p = sub.add_parser("simulate", help=HELP, description=HELP + ". Data are simulated from a 2x finer phantom.")
    p.add_argument("--phantom", default="cell", help="cell (default), bacteria, or a LAC volume file (MRC/TIFF/NPY)")
    p.add_argument("--voxel-size", type=float, default=None, help="voxel size in µm of a phantom FILE without one")
    p.add_argument("--size", default="small", choices=tuple(SIZES), help="grid size (default small)")
    p.add_argument("--n-full", type=int, default=19, help="sparse full-field views (default 19)")
    p.add_argument("--n-interior", type=int, default=None, help="interior views (default: dense for the ROI)")
    p.add_argument("--roi-diameter", type=float, default=None, help="ROI diameter in µm")
    p.add_argument("--roi-center", type=float, nargs=2, default=(0.0, 0.0), metavar=("X", "Y"),
                   help="ROI centre in µm (default 0 0)")
    p.add_argument("--sparse-bin", type=int, default=2, help="sparse pixel = this × voxel size (default 2)")
    p.add_argument("--photons", type=float, default=None, help="incident photons per pixel (default: noiseless)")
    p.add_argument("--out", "-o", default="simulated", help="output directory (default: simulated)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--seed", type=int, default=0, help="phantom and noise seed (default 0)")
    p.add_argument("--rows", type=int, default=None,
                   help="detector rows of the interior scan, centred on a slab of 2×N slices (a sample continues "
                        "above and below them; the sparse scan sees all of it). Default: the --size's slices, all "
                        "seen by both scans (12 for small). isxt align needs at least 9; 24 aligns well")
    p.add_argument("--drift", type=float, default=0.0, metavar="PX",
                   help="displace every stack by a seeded random walk reaching PX pixels (default 0)")
    p.add_argument("--jitter", type=float, default=0.0, metavar="PX", help="plus per-view jitter within ±PX pixels")
    p.add_argument("--jumps", type=int, default=0, metavar="N", help="N interior views moved by a 10-pixel stage jump")
    p.add_argument("--blank", type=int, default=0, metavar="N", help="N interior views without sample (beam lost)")
    p.set_defaults(func=run)


def _phantom(args, size):
    from .. import phantoms
    from ..geometry import VolumeGeometry

    nz, n, s, _ = SIZES[size]
    # the interior rows see the middle half of a slab twice as tall: a real sample continues above and below them
    nz = nz if args.rows is None else 2 * int(args.rows)
    if args.phantom in ("cell", "bacteria"):
        ph = phantoms.fine_and_coarse(args.phantom, VolumeGeometry((nz, n, n), s), seed=args.seed)
        return ph.volume, ph.fine, ph.lac_fine, ph.lac
    path = Path(args.phantom)
    if not path.exists():
        raise InputError(f"--phantom {args.phantom!r}: not 'cell', 'bacteria' or an existing file")
    ph = phantoms.load_phantom(path, voxel_size_um=args.voxel_size)
    lac = np.asarray(ph.lac, dtype=np.float32)
    vol = ph.geometry
    return vol, vol, lac, lac  # a user volume is simulated on its own grid


def run(args):
    from ..io import OutputTransaction, write_angles, write_volume_file
    from ..acquisition.schema import acquisition_toml
    from ..io.mrc import write_mrc
    from ..simulate import simulate_projections
    from ..simulate.protocol import combined_scans, interior_views

    for flag, value in (("--n-full", args.n_full), ("--n-interior", args.n_interior), ("--sparse-bin", args.sparse_bin)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be a positive integer, got {value}")
    for flag, value in (("--rows", args.rows),):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be a positive integer, got {value}")
    for flag, value in (("--drift", args.drift), ("--jitter", args.jitter), ("--jumps", args.jumps), ("--blank", args.blank)):
        if not value >= 0:
            raise InputError(f"{flag} must be 0 or more, got {value}")
    if args.photons is not None and not args.photons > 0:
        raise InputError(f"--photons must be positive (incident photons per pixel), got {args.photons}")
    out = Path(args.out)
    tx = OutputTransaction(out, overwrite=args.force)
    displaced = bool(args.drift or args.jitter or args.jumps or args.blank)
    tx.check(OUTPUTS + (TRUTH if displaced else ()))  # before the heavy work

    vol, fine, lac_fine, truth = _phantom(args, args.size)
    s = vol.voxel_size_um
    roi = args.roi_diameter if args.roi_diameter is not None else SIZES[args.size][3]
    if not 0 < roi <= min(vol.extent[:2]):
        raise InputError(f"--roi-diameter must be in (0, {min(vol.extent[:2]):g}] µm for this volume, got {roi}")
    rx, ry = args.roi_center
    if abs(rx - vol.center_um[0]) > vol.extent[0] / 2 or abs(ry - vol.center_um[1]) > vol.extent[1] / 2:
        raise InputError(f"--roi-center ({rx}, {ry}) µm lies outside the volume's xy extent {vol.extent[:2]} µm")
    n_interior = args.n_interior or interior_views(roi, s)
    if args.n_full > n_interior:
        raise InputError(f"--n-full {args.n_full} is more than the {n_interior} interior views: the sparse views sit "
                         f"on interior angles; use --n-full {n_interior} or fewer, or more --n-interior")
    # Nyquist views for the ROI; sparse views on interior angles (anchors for isxt align), rows for the drift
    interior, sparse = combined_scans(vol, roi, (vol.center_um[0] + rx, vol.center_um[1] + ry), s,
                                      n_interior=n_interior, n_full=args.n_full, sparse_bin=args.sparse_bin,
                                      rows=args.rows, drift_px=args.drift + args.jitter)
    data = {}
    truth_shifts = _without_gauge({name: (_displacement(args, g, name, displaced), g)
                                   for name, g in (("interior", interior), ("sparse", sparse))})
    for i, (name, (disp, g)) in enumerate(truth_shifts.items()):
        sim = simulate_projections(lac_fine, fine, g.with_shifts(disp.shifts_px * g.pixel_size_um),
                                   photons=args.photons, seed=args.seed + i, flat_field="flat")
        data[name] = _blank(sim.transmission, disp.blank, args.photons, args.seed + 10 + i)
    with tx:
        for name, g in (("interior", interior), ("sparse", sparse)):
            write_mrc(tx.path(f"{name}.mrc"), data[name], g.pixel_size_um, g.angles)
            write_angles(tx.path(f"{name}_angles.txt"), g.angles, "deg")
        write_volume_file(tx.path("truth.mrc"), truth, s, "mrc")
        scans = [("interior", interior, args.photons), ("sparse", sparse, args.photons)]
        text = acquisition_toml(vol, scans, "isxt simulate: interior + sparse full-field scans")
        tx.path("acquisition.toml").write_text(text)
        if displaced:
            from ..align import AlignmentResult, write_shifts_csv

            for name, (disp, g) in truth_shifts.items():
                res = AlignmentResult(disp.shifts_px * g.pixel_size_um, disp.flags, g.angles, g.pixel_size_um)
                write_shifts_csv(tx.path(f"truth_{name}_shifts.csv"), res, atomic=False)
    print(f"interior: {interior.n_angles} views x {interior.rows} x {interior.cols} px of {interior.pixel_size_um:g} µm; "
          f"sparse: {sparse.n_angles} views x {sparse.rows} x {sparse.cols} px of {sparse.pixel_size_um:g} µm")
    written = OUTPUTS + (TRUTH if displaced else ())
    print(f"wrote {', '.join(written)} to {out}/; next: isxt reconstruct {out / 'acquisition.toml'}")
    if displaced:
        d = truth_shifts["interior"][0]
        print(f"displaced: drift {args.drift:g} px, jitter ±{args.jitter:g} px; interior jumps at views {d.jumps}, "
              f"blank views {d.blank}; true shifts in truth_<scan>_shifts.csv (isxt align ... --truth {out})")
    return 0


def _displacement(args, g, name, displaced):
    """The true shifts of one scan: drift and jitter on every scan, jumps and blanks on the interior one."""
    from ..align.displace import Displacement, make_displacement

    if not displaced:
        return Displacement(np.zeros((g.n_angles, 2)), [], [], ["ok"] * g.n_angles)
    interior = name == "interior"
    jumps, blank = (args.jumps, args.blank) if interior else (0, 0)
    if jumps + blank > max((g.n_angles - 3) // 3, 0):
        raise InputError(f"--jumps {args.jumps} + --blank {args.blank}: too many for {g.n_angles} {name} views; "
                         f"at most {max((g.n_angles - 3) // 3, 0)} (one in three views)")
    return make_displacement(g.n_angles, args.drift, args.jitter, jumps=jumps, blank=blank,
                             seed=args.seed + (100 if interior else 200))


def _without_gauge(truth):
    """The displacements less the object translation they hold (``isxt.align``'s gauge, fixed on the sparse scan).

    A random walk moves the sample as a whole too: ``du = a cosθ + b sinθ`` and a common ``dv`` are a
    translation of the object, which no alignment can tell from the sample's position. Taking it out of
    the truth (i.e. placing the phantom there) puts the true shifts in the frame ``isxt align`` reports
    in, so a reconstruction with the aligned shifts is directly comparable with ``truth.mrc``.
    """
    import dataclasses

    from ..align import gauge_difference, gauge_shifts

    disp, g = truth["sparse"]
    px = np.asarray(disp.shifts_px, dtype=np.float64)
    ok = np.array([f == "ok" for f in disp.flags])
    if not px.any() or ok.sum() < 3:
        return truth
    p = gauge_difference(px * g.pixel_size_um, np.zeros_like(px), g.angles, ok)
    return {name: (dataclasses.replace(d, shifts_px=d.shifts_px - gauge_shifts(p, geo.angles) / geo.pixel_size_um), geo)
            for name, (d, geo) in truth.items()}


def _blank(transmission, views, photons, seed):
    """Views without sample: a flat field (with its Poisson noise when ``photons`` is set)."""
    out = np.array(transmission, dtype=np.float32, copy=True)
    rng = np.random.default_rng(seed)
    for i in views:
        flat = np.ones(out.shape[1:], np.float32)
        out[i] = flat if photons is None else (rng.poisson(photons, size=flat.shape) / photons).astype(np.float32)
    return out
