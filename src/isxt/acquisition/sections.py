"""Readers of the acquisition file's tables other than ``[[scan]]``.

Each reader takes the raw TOML table and a :class:`~isxt.acquisition.schema.Problems`
and returns the clean, resolved values (defaults filled in); what is wrong is
added to the problems, never raised, so that every problem is reported at once.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import InputError
from ..geometry import VolumeGeometry
from ..reconstruct import DEVICES, METHODS, TV_ONLY_OPTIONS, option_problems
from .schema import BACKENDS, STOPS, boolean, check_keys, choice, integer, number, triple

__all__ = ["volume_table", "reconstruction_table", "compute_table", "output_table", "calibration_table"]


def volume_table(table, problems):
    """``[volume]`` → :class:`VolumeGeometry` (None when wrong)."""
    if not isinstance(table, dict):
        problems.add("[volume]", "missing; give shape = [nz, ny, nx] (or extent_um) and voxel_size_um")
        return None
    check_keys(table, "volume", "volume", problems)
    voxel = None
    if "voxel_size_um" not in table:
        problems.add("volume.voxel_size_um", "missing; give the voxel edge length in µm, e.g. voxel_size_um = 0.04")
    else:
        voxel = number(table["voxel_size_um"], "volume.voxel_size_um", problems, positive=True, unit="µm")
    center = triple(table.get("center_um", [0.0, 0.0, 0.0]), "volume.center_um", problems)
    shape = None
    if ("shape" in table) == ("extent_um" in table):
        problems.add("volume", "give exactly one of shape = [nz, ny, nx] (voxels) or extent_um = [x, y, z] (µm)")
    elif "shape" in table:
        s = table["shape"]
        if not isinstance(s, list) or len(s) != 3 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in s):
            problems.add("volume.shape", f"must be three positive integers [nz, ny, nx], got {s!r}")
        else:
            shape = tuple(s)
    else:
        ext = triple(table["extent_um"], "volume.extent_um", problems)
        if ext is not None and voxel:
            if min(ext) <= 0:
                problems.add("volume.extent_um", f"must be positive lengths [x, y, z] in µm, got {list(ext)}")
            else:
                shape = tuple(max(1, math.ceil(e / voxel - 1e-9)) for e in (ext[2], ext[1], ext[0]))
    if shape is None or voxel is None or center is None:
        return None
    return VolumeGeometry(shape, voxel, center)


def _table(table, name, problems):
    table = {} if table is None else table
    if not isinstance(table, dict):
        problems.add(f"[{name}]", "must be a table")
        table = {}
    check_keys(table, name, name, problems)
    return table


def reconstruction_table(table, problems):
    """``[reconstruction]`` → dict of every option (defaults filled in); the rules are :mod:`isxt.reconstruct`'s."""
    table = _table(table, "reconstruction", problems)
    out = {
        "method": choice(table.get("method", "cgls"), METHODS, "reconstruction.method", problems),
        "iterations": integer(table.get("iterations", 50), "reconstruction.iterations", problems),
        "stop": choice(table.get("stop", "fixed"), STOPS, "reconstruction.stop", problems),
        "nonneg": boolean(table.get("nonneg", False), "reconstruction.nonneg", problems),
        "precondition": boolean(table.get("precondition", False), "reconstruction.precondition", problems),
        "backend": choice(table.get("backend", "numba"), BACKENDS, "reconstruction.backend", problems),
        "device": choice(table.get("device", "auto"), DEVICES, "reconstruction.device", problems),
        "n_subsets": integer(table.get("n_subsets", 8), "reconstruction.n_subsets", problems),
        "slabs": integer(table.get("slabs", 1), "reconstruction.slabs", problems),
        "checkpoint_every": integer(table.get("checkpoint_every", 10), "reconstruction.checkpoint_every", problems),
        **_tv_keys(table, problems),
    }
    if out["backend"] == "astra":
        try:
            import astra  # noqa: F401
        except ImportError:
            problems.add("reconstruction.backend", "'astra' needs the astra-toolbox package; install it or use 'numba'")
    given = [k for k in TV_ONLY_OPTIONS if k in table]
    for key, message in option_problems(table.get("method", "cgls"), precondition=out["precondition"] is True,
                                        options=given):
        problems.add(f"reconstruction.{key}", message)
    if out["device"] == "gpu" and out["backend"] in BACKENDS:
        from ..reconstruct import resolve_device

        try:
            resolve_device("gpu", out["backend"])
        except InputError as e:
            problems.add("reconstruction.device", str(e))
    return out


def _tv_keys(table, problems):
    """``tv_weight`` ("auto" or a number ≥ 0) and ``bounds`` ([lo, hi], "none" for an open side)."""
    out = {}
    weight = table.get("tv_weight", "auto")
    out["tv_weight"] = None if weight == "auto" else number(weight, "reconstruction.tv_weight", problems, minimum=0)
    bounds = table.get("bounds", [0.0, "none"])
    if not isinstance(bounds, list) or len(bounds) != 2:
        problems.add("reconstruction.bounds", f'must be [lo, hi] with "none" for an open side, got {bounds!r}')
        bounds = [0.0, "none"]
    out["bounds"] = [None if b == "none" else number(b, f"reconstruction.bounds[{i}]", problems)
                     for i, b in enumerate(bounds)]
    if None not in out["bounds"] and out["bounds"][0] >= out["bounds"][1]:
        problems.add("reconstruction.bounds", f"needs lo < hi, got {bounds!r}")
    return out


def compute_table(table, problems):
    """``[compute] scheduler = 'local:N' | ADDRESS`` (docs/scaling.md)."""
    if table is not None and not isinstance(table, dict):
        problems.add("[compute]", "must be a table")
        return {"scheduler": None}
    table = _table(table, "compute", problems)
    scheduler = table.get("scheduler")
    if scheduler is not None:
        from ..distributed.cluster import parse_scheduler

        try:
            parse_scheduler(scheduler, "compute.scheduler")
        except InputError as e:
            problems.add("compute.scheduler", str(e).partition(": ")[2])
    return {"scheduler": scheduler}


def output_table(table, base, problems):
    """``[output]`` → dict: directory (absolute), file names and the volume format."""
    table = _table(table, "output", problems)
    fmt = table.get("format")
    volume = table.get("volume")
    if fmt is not None:
        fmt = choice(fmt, ("mrc", "tiff"), "output.format", problems)
    if volume is None:
        volume = "volume.tif" if fmt == "tiff" else "volume.mrc"
    out = {"dir": None, "volume": volume, "format": fmt, "provenance": table.get("provenance", "provenance.json"),
           "quicklook": table.get("quicklook", "quicklook.png")}
    for key in ("volume", "provenance", "quicklook"):
        v = out[key]
        if not isinstance(v, str) or not v or Path(v).name != v or v in (".", ".."):
            problems.add(f"output.{key}", f"must be a plain file name (no directories), got {v!r}; use output.dir for the directory")
    suffix = Path(str(out["volume"])).suffix.lower()
    inferred = "tiff" if suffix in (".tif", ".tiff") else "mrc" if suffix in (".mrc", ".rec", ".map") else None
    if inferred is None:
        problems.add("output.volume", f"{out['volume']!r} must end in .mrc or .tif/.tiff")
    elif fmt is not None and fmt != inferred:
        problems.add("output.format", f"format = {fmt!r} but the volume file ends in {suffix!r}; make them agree")
    out["format"] = fmt or inferred
    d = table.get("dir", "recon")
    if not isinstance(d, str) or not d:
        problems.add("output.dir", f"must be a directory path, got {d!r}")
    else:
        p = Path(d).expanduser()
        out["dir"] = str(p if p.is_absolute() else base / p)
    return out


def calibration_table(table, scans, problems):
    """``[calibration]`` → dict (None without the table); reference and target must name scans."""
    if table is None:
        return None
    if not isinstance(table, dict):
        problems.add("[calibration]", "must be a table")
        return None
    check_keys(table, "calibration", "calibration", problems)
    names = [s.name for s in scans if s is not None]
    out = {}
    for key in ("reference", "target"):
        if key not in table:
            problems.add(f"calibration.{key}", f"missing; name a scan ({', '.join(map(repr, names))})")
        elif table[key] not in names:
            problems.add(f"calibration.{key}", f"{table[key]!r} is not a scan name; choose one of {', '.join(map(repr, names))}")
        else:
            out[key] = table[key]
    if out.get("reference") and out.get("reference") == out.get("target"):
        problems.add("calibration", "reference and target must be different scans")
    from ..calibration import MODELS

    out["model"] = choice(table.get("model", "auto"), MODELS, "calibration.model", problems)
    out["apply"] = boolean(table.get("apply", False), "calibration.apply", problems)
    out["angle_tolerance_deg"] = number(table.get("angle_tolerance_deg", 0.1), "calibration.angle_tolerance_deg",
                                        problems, positive=True)
    return out
