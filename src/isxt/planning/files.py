"""A plan's files: ``plan.json``, ``plan.md``, ``plan.png``, the acquisition file and angle lists.

``acquisition.toml`` describes the planned scans of the whole cell (it names
``interior.mrc`` and ``sparse.mrc``, to be replaced by the measured stacks).
With ``simulate=True`` the stacks are simulated on a slab through the cell
(another phantom seed than the predictions), ``truth.mrc`` is written beside
them, and the acquisition file describes that slab, so
``isxt reconstruct DIR/acquisition.toml`` runs as it stands.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..geometry import VolumeGeometry
from ..io import OutputTransaction, write_angles, write_volume_file
from ..acquisition.schema import acquisition_toml
from ..io.mrc import write_mrc
from . import model as M
from .protocol import planned_scans
from .report import plan_markdown, plot_plan

__all__ = ["OUTPUTS", "SIMULATED", "write_plan", "acquisition_volume", "simulate_plan"]

OUTPUTS = ("plan.json", "plan.md", "plan.png", "acquisition.toml", "interior_angles.txt", "sparse_angles.txt")
SIMULATED = ("interior.mrc", "sparse.mrc", "truth.mrc")
SLAB_ROWS = 2


def acquisition_volume(p, nz=None):
    """The reconstruction grid of plan ``p``: the cell's box at the interior pixel (``nz`` slices or its height)."""
    s = p.interior_pixel_um
    n = int(math.ceil(p.inputs["cell_diameter_um"] * M.MARGIN / s))
    n += n % 2
    if nz is None:
        nz = max(1, int(math.ceil(p.inputs["cell_height_um"] / s - 1e-9)))
    return VolumeGeometry((nz, n, n), s)


def _scans(p, volume):
    return planned_scans(volume, p.n_interior, p.n_full, p.interior_pixel_um, p.full_pixel_um,
                         p.inputs["roi_diameter_um"], tuple(p.inputs["roi_center_um"]))


def simulate_plan(p, seed=None):
    """Simulated transmission stacks of the planned protocol on a slab: ``(slab, {name: (scan, I/I0, photons)})``.

    The phantom and noise use ``seed`` (default: the plan's seed + 1, so
    the files are not the data the predictions were made on).
    """
    inp = p.inputs
    seed = inp["seed"] + 1 if seed is None else int(seed)
    slab = M.build_slab(inp["cell_diameter_um"], inp["roi_diameter_um"], tuple(inp["roi_center_um"]),
                        p.interior_pixel_um, nz=SLAB_ROWS, phantom=inp["phantom"], seed=seed,
                        energy_ev=inp["energy_ev"], phantom_voxel_size=inp.get("phantom_voxel_size_um"))
    interior, sparse = _scans(p, slab.volume)
    out = {}
    for i, (name, g, fwhm, photons) in enumerate((
            ("interior", interior, inp["interior_resolution_nm"] / 1000, p.photons_interior),
            ("sparse", sparse, inp["full_resolution_nm"] / 1000, p.photons_full))):
        sim = M.simulate(slab, g, fwhm, photons, seed=seed * 100 + i)
        out[name] = (g, sim.transmission, photons)
    return slab, out


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def write_plan(p, out_dir, simulate=False, force=False, seed=None):
    """Write plan ``p`` into ``out_dir`` (atomic; existing outputs only with ``force``).

    Returns
    -------
    dict
        ``{file name: Path}`` of what was written.
    """
    names = OUTPUTS + (SIMULATED if simulate else ())
    tx = OutputTransaction(out_dir, overwrite=force)
    tx.check(names)  # before the heavy work
    recon = {"method": "cgls", "iterations": int(p.iterations), "precondition": True}
    if simulate:
        slab, data = simulate_plan(p, seed)
        volume = slab.volume
        scans = [(name, g, photons) for name, (g, _, photons) in data.items()]
        title = "isxt plan --simulate: a slab through the cell, simulated for the planned protocol"
        comments = ("Simulated stacks of the planned protocol on a slab through the cell; truth.mrc is the phantom.",)
    else:
        volume = acquisition_volume(p)
        interior, sparse = _scans(p, volume)
        scans = [("interior", interior, p.photons_interior), ("sparse", sparse, p.photons_full)]
        title = "isxt plan: the planned acquisition"
        comments = ("The planned acquisition of the whole cell: put the measured transmission stacks at",
                    "interior.mrc and sparse.mrc (or change the file keys), then run isxt reconstruct on this file.")
    text = acquisition_toml(volume, scans, title, reconstruction=recon, comments=comments)
    with tx:
        tx.path("plan.json").write_text(json.dumps(p.to_dict(), indent=2, default=_json_default) + "\n")
        tx.path("plan.md").write_text(plan_markdown(p, simulated=simulate))
        plot_plan(p, tx.path("plan.png"))
        tx.path("acquisition.toml").write_text(text)
        for name, g, _ in scans:
            write_angles(tx.path(f"{name}_angles.txt"), g.angles, "deg")
        if simulate:
            for name, (g, trans, _) in data.items():
                write_mrc(tx.path(f"{name}.mrc"), trans, g.pixel_size_um, g.angles)
            write_volume_file(tx.path("truth.mrc"), slab.truth, slab.volume.voxel_size_um, "mrc")
    return {n: tx.directory / n for n in names}
