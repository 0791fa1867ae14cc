"""Generate the shipped example: a small combined (interior + sparse) acquisition.

    python examples/make_example.py            # rewrites examples/combined_small/
    python examples/make_example.py OUT_DIR    # writes elsewhere

Deterministic: a seeded generator, analytic ellipsoid phantom, the core
projector, and Gaussian photon noise (continuous in the signal, so float
round-off cannot flip a sample). The interior scan is contaminated with a
second energy (App. B.2, φ0 = 0.85, c = 0.4) and the acquisition asks for the
absorption calibration to undo it.

Only the core engine is used (geometry + projector); the function
:func:`generate` is also used by the tests with smaller sizes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from isxt.acquisition import dumps
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.io import write_angles, write_stack
from isxt.projectors import projector

NAME = "combined_small"

# (centre x, y, z) µm, semi-axes (a, b, c) µm, LAC 1/µm added: a cell with organelles.
ELLIPSOIDS = (
    ((0.0, 0.0, 0.0), (1.55, 1.2, 0.9), 0.22),
    ((0.45, -0.25, 0.0), (0.35, 0.28, 0.5), 0.25),
    ((-0.6, 0.35, 0.05), (0.25, 0.4, 0.4), 0.35),
    ((0.7, 0.45, -0.05), (0.12, 0.12, 0.2), 0.3),
    ((-0.2, -0.6, 0.0), (0.3, 0.15, 0.3), 0.15),
)


def phantom(volume, ellipsoids=ELLIPSOIDS, supersample=3):
    """Axis-aligned ellipsoids on ``volume``, voxel-averaged by ``supersample``³ sub-points (1/µm, float32)."""
    s = volume.voxel_size_um
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    out = np.zeros(volume.shape, dtype=np.float64)
    z0, y0, x0 = (volume.coords(a) for a in "zyx")
    for dz in offsets:
        for dy in offsets:
            for dx in offsets:
                z, y, x = np.meshgrid(z0 + dz * s, y0 + dy * s, x0 + dx * s, indexing="ij")
                for (cx, cy, cz), (a, b, c), mu in ellipsoids:
                    inside = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + ((z - cz) / c) ** 2 <= 1
                    out += mu * inside
    return (out / supersample**3).astype(np.float32)


def dual_energy(trans, phi0, c):
    """Eq. 16 contamination of a monochromatic transmission."""
    return phi0 * trans + (1 - phi0) * np.power(trans, c)


def _noisy(trans, photons, rng):
    return (trans + np.sqrt(np.maximum(trans, 0) / photons) * rng.standard_normal(trans.shape)).astype(np.float32)


def generate(out_dir, *, volume_shape=(16, 96, 96), voxel_um=0.04, n_interior=120, interior_cols=48,
             roi_center_um=(0.4, -0.2), n_sparse=12, sparse_pixel_um=0.08, photons=20000.0,
             dual=(0.85, 0.4), formats=("mrc", "mrc"), iterations=30, seed=0, write_phantom=True,
             calibration=True):
    """Write a combined acquisition (stacks, angle files, acquisition.toml) to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
    volume_shape : tuple
        ``(nz, ny, nx)`` of the reconstruction grid (voxel ``voxel_um``).
    n_interior, interior_cols : int
        Interior views over 180° and detector width (pixel = voxel).
    n_sparse : int
        Sparse full-field views over 180° with ``sparse_pixel_um`` pixels;
        ``n_interior`` should be a multiple so that angles match (calibration).
    photons : float or None
        Incident photons per pixel for the noise (None: noise free).
    dual : tuple or None
        ``(φ0, c)`` contamination of the interior scan.
    formats : (str, str)
        File formats of the interior and sparse stacks ('mrc', 'tiff', 'nexus', 'npy').

    Returns
    -------
    dict
        Paths and the arrays written (for tests).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    volume = VolumeGeometry(volume_shape, voxel_um)
    x = phantom(volume)
    rows = volume_shape[0]
    interior = ScanGeometry.interior(volume, n_interior, voxel_um, interior_cols * voxel_um,
                                     roi_center_um=roi_center_um, rows=rows)
    sparse = ScanGeometry.full_field(volume, n_sparse, sparse_pixel_um)
    t_int = np.exp(-projector(volume, interior).forward(x).astype(np.float64))
    t_sp = np.exp(-projector(volume, sparse).forward(x).astype(np.float64))
    if dual is not None:
        t_int = dual_energy(t_int, *dual)
    if photons:
        t_int = _noisy(t_int, photons, rng)
        t_sp = _noisy(t_sp, photons, rng)
    t_int = t_int.astype(np.float32)
    t_sp = t_sp.astype(np.float32)
    ext = {"mrc": ".mrc", "tiff": ".tif", "nexus": ".nxs", "npy": ".npy"}
    files = {"interior": f"interior{ext[formats[0]]}", "sparse": f"sparse{ext[formats[1]]}"}
    for name, data, geom in (("interior", t_int, interior), ("sparse", t_sp, sparse)):
        write_stack(out / files[name], data, pixel_size_um=geom.pixel_size_um, overwrite=True)
        write_angles(out / f"{name}_angles.txt", geom.angles, "deg")
    if write_phantom:
        from isxt.io import write_volume

        write_volume(out / "phantom.mrc", x, voxel_um, overwrite=True)
    level = float(photons) if photons else 1e6
    doc = {
        "title": "combined_small: interior ROI scan + sparse full-field scan",
        "volume": {"shape": list(volume_shape), "voxel_size_um": voxel_um, "center_um": [0.0, 0.0, 0.0]},
        "scan": [
            {"name": "interior", "file": files["interior"], "kind": "transmission", "angles": "interior_angles.txt",
             "angle_unit": "deg", "pixel_size_um": voxel_um,
             "center_um": [roi_center_um[0], roi_center_um[1], volume.center_um[2]], "photons": level},
            {"name": "sparse", "file": files["sparse"], "kind": "transmission", "angles": "sparse_angles.txt",
             "angle_unit": "deg", "pixel_size_um": sparse_pixel_um, "photons": level},
        ],
        # sparse: the monochromatic low-resolution scan (A); interior: the high-resolution scan with a harmonic (B)
        "calibration": {"reference": "sparse", "target": "interior", "model": "auto", "apply": True} if calibration else None,
        "reconstruction": {"method": "cgls", "iterations": iterations, "nonneg": False, "backend": "numba"},
        "output": {"dir": "recon", "volume": "volume.mrc"},
    }
    toml = dumps(doc, comments=("A combined interior + sparse acquisition (simulated; see README.md).",
                                "Generated by examples/make_example.py — edit that script, not this file.",
                                "calibration: reference = the monochromatic sparse scan (A), target = the "
                                "interior scan with a harmonic (B)."))
    (out / "acquisition.toml").write_text(toml)
    (out / ".gitignore").write_text("recon/\n")
    return {"dir": out, "files": files, "phantom": x, "volume": volume, "interior": (interior, t_int),
            "sparse": (sparse, t_sp)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=str(Path(__file__).parent / NAME))
    args = parser.parse_args(argv)
    info = generate(args.out_dir)
    print(f"wrote the example to {info['dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
