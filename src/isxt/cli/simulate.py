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
    "small": (8, 128, 0.04, 2.0),
    "paper": (32, 801, 0.02, 6.0),
}
OUTPUTS = ("interior.mrc", "sparse.mrc", "interior_angles.txt", "sparse_angles.txt", "truth.mrc", "acquisition.toml")


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
    p.set_defaults(func=run)


def _phantom(args, size):
    from .. import phantoms
    from ..geometry import VolumeGeometry

    nz, n, s, _ = SIZES[size]
    if args.phantom in ("cell", "bacteria"):
        vol = VolumeGeometry((nz, n, n), s)
        fine = VolumeGeometry((2 * nz, 2 * n, 2 * n), s / 2)
        maker = phantoms.cell_phantom if args.phantom == "cell" else phantoms.bacteria_phantom
        lac_fine = np.asarray(maker(fine, seed=args.seed).lac, dtype=np.float32)
        truth = lac_fine.reshape(nz, 2, n, 2, n, 2).mean(axis=(1, 3, 5)).astype(np.float32)
        return vol, fine, lac_fine, truth
    path = Path(args.phantom)
    if not path.exists():
        raise InputError(f"--phantom {args.phantom!r}: not 'cell', 'bacteria' or an existing file")
    ph = phantoms.load_phantom(path, voxel_size_um=args.voxel_size)
    lac = np.asarray(ph.lac, dtype=np.float32)
    vol = ph.geometry
    return vol, vol, lac, lac  # a user volume is simulated on its own grid


def run(args):
    from ..geometry import ScanGeometry
    from ..io import OutputTransaction, write_angles, write_volume_file
    from ..io.acquisition_toml import acquisition_toml
    from ..io.mrc import write_mrc
    from ..simulate import simulate_projections

    for flag, value in (("--n-full", args.n_full), ("--n-interior", args.n_interior), ("--sparse-bin", args.sparse_bin)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be a positive integer, got {value}")
    if args.photons is not None and not args.photons > 0:
        raise InputError(f"--photons must be positive (incident photons per pixel), got {args.photons}")
    out = Path(args.out)
    tx = OutputTransaction(out, overwrite=args.force)
    tx.check(OUTPUTS)  # before the heavy work

    vol, fine, lac_fine, truth = _phantom(args, args.size)
    s = vol.voxel_size
    roi = args.roi_diameter if args.roi_diameter is not None else SIZES[args.size][3]
    if not 0 < roi <= min(vol.extent[:2]):
        raise InputError(f"--roi-diameter must be in (0, {min(vol.extent[:2]):g}] µm for this volume, got {roi}")
    rx, ry = args.roi_center
    if abs(rx - vol.center[0]) > vol.extent[0] / 2 or abs(ry - vol.center[1]) > vol.extent[1] / 2:
        raise InputError(f"--roi-center ({rx}, {ry}) µm lies outside the volume's xy extent {vol.extent[:2]} µm")
    n_interior = args.n_interior or int(np.ceil(np.pi * roi / (2 * s)))  # π R views: dense for the ROI
    interior = ScanGeometry.interior(vol, n_interior, s, roi, (vol.center[0] + rx, vol.center[1] + ry))
    sparse = ScanGeometry.full_field(vol, args.n_full, args.sparse_bin * s)
    data = {}
    for i, (name, g) in enumerate((("interior", interior), ("sparse", sparse))):
        sim = simulate_projections(lac_fine, fine, g, photons=args.photons, seed=args.seed + i, flat_field="flat")
        data[name] = sim.transmission
    with tx:
        for name, g in (("interior", interior), ("sparse", sparse)):
            write_mrc(tx.path(f"{name}.mrc"), data[name], g.pixel_size, g.angles)
            write_angles(tx.path(f"{name}_angles.txt"), g.angles, "deg")
        write_volume_file(tx.path("truth.mrc"), truth, s, "mrc")
        scans = [("interior", interior, args.photons), ("sparse", sparse, args.photons)]
        text = acquisition_toml(vol, scans, "isxt simulate: interior + sparse full-field scans")
        tx.path("acquisition.toml").write_text(text)
    print(f"interior: {interior.n_angles} views x {interior.rows} x {interior.cols} px of {interior.pixel_size:g} µm; "
          f"sparse: {sparse.n_angles} views x {sparse.rows} x {sparse.cols} px of {sparse.pixel_size:g} µm")
    print(f"wrote {', '.join(OUTPUTS)} to {out}/; next: isxt reconstruct {out / 'acquisition.toml'}")
    return 0
