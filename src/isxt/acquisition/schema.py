"""The acquisition file's schema: valid keys, value checkers, the resolved specs and the TOML writer.

:data:`SCHEMA` lists every valid key by section (docs/acquisition.md follows
it). :class:`Problems` collects what is wrong so that all of it is reported at
once. :class:`ScanSpec` and :class:`Acquisition` are the validated, resolved
file; :func:`to_toml` (and :meth:`Acquisition.to_toml`) writes one back, and
:func:`acquisition_toml` writes the file of scans that isxt itself simulated.
All acquisition files isxt writes go through :func:`dumps`.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import preprocess
from ..errors import InputError
from ..geometry import ScanGeometry, VolumeGeometry

__all__ = ["SCHEMA", "KINDS", "STOPS", "BACKENDS", "Problems", "ScanSpec", "Acquisition", "dumps", "to_toml",
           "acquisition_toml"]

KINDS = ("transmission", "absorption", "raw")
STOPS = ("fixed", "discrepancy")
BACKENDS = ("numba", "astra")

# Every valid key, by section (the documentation in docs/acquisition.md follows this).
SCHEMA = {
    "": ("title", "description", "volume", "scan", "reconstruction", "output", "calibration", "compute"),
    "volume": ("shape", "extent_um", "voxel_size_um", "center_um"),
    "scan": (
        "name", "file", "format", "entry", "kind", "flats", "darks", "angles", "angle_unit", "pixel_size_um",
        "center_um", "shifts", "psf", "weight", "photons", "clip_transmission", "crop", "bin",
    ),
    "psf": ("fwhm_um", "zone_plate_ozw_um"),
    "crop": ("rows", "cols"),
    "reconstruction": ("method", "iterations", "stop", "nonneg", "precondition", "backend", "device", "n_subsets",
                       "slabs", "checkpoint_every", "tv_weight", "bounds"),
    "compute": ("scheduler",),
    "output": ("dir", "volume", "format", "provenance", "quicklook"),
    "calibration": ("reference", "target", "model", "apply", "angle_tolerance_deg"),
}

_UNIT_SUFFIXES = {"_nm": 1e-3, "_mm": 1e3, "_m": 1e6, "_a": 1e-4, "_angstrom": 1e-4, "_micron": 1.0, "_microns": 1.0}


class Problems:
    """Collects validation problems; raises them together as one :class:`InputError`."""

    def __init__(self, source):
        self.source = str(source)
        self.items = []
        self.warnings = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}" if where else message)

    def warn(self, where, message):
        self.warnings.append(f"{where}: {message}")

    def raise_if_any(self):
        if not self.items:
            return
        if len(self.items) == 1:
            raise InputError(f"{self.source}: {self.items[0]}")
        lines = "\n".join(f"  - {p}" for p in self.items)
        raise InputError(f"{self.source}: {len(self.items)} problems:\n{lines}")


# ---------------------------------------------------------------------------
# value checkers: each returns the clean value, or None after adding a problem
# ---------------------------------------------------------------------------
def check_keys(table, section, where, problems):
    """Unknown keys of ``table`` (a ``section`` of :data:`SCHEMA`), with a unit or spelling hint."""
    valid = SCHEMA[section]
    for key in table:
        if key in valid:
            continue
        hint = ""
        low = key.lower()
        for suffix, factor in _UNIT_SUFFIXES.items():
            if low.endswith(suffix):
                stem = key[: -len(suffix)]
                if f"{stem}_um" in valid:
                    hint = f"; lengths are given in µm: use {stem}_um (value × {factor:g})"
                    break
        if not hint:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.add(f"{where}.{key}" if where else key, f"unknown key{hint} (valid: {', '.join(valid)})")


def number(value, where, problems, *, positive=False, unit="", minimum=None, maximum=None):
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(where, f"must be a number{f' in {unit}' if unit else ''}, got {value!r}")
        return None
    value = float(value)
    if not math.isfinite(value):
        problems.add(where, f"must be finite, got {value!r}")
        return None
    if positive and value <= 0:
        problems.add(where, f"must be positive{f' (a length in {unit})' if unit else ''}, got {value:g}")
        return None
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        problems.add(where, f"must be in [{minimum}, {maximum}], got {value:g}")
        return None
    return value


def integer(value, where, problems, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.add(where, f"must be an integer >= {minimum}, got {value!r}")
        return None
    return int(value)


def choice(value, choices, where, problems):
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.add(where, f"{value!r} is not one of {', '.join(map(repr, choices))}{hint}")
        return None
    return value


def triple(value, where, problems, unit="µm"):
    if not isinstance(value, list) or len(value) != 3:
        problems.add(where, f"must be three numbers [x, y, z] in {unit}, got {value!r}")
        return None
    out = [number(v, f"{where}[{i}]", problems, unit=unit) for i, v in enumerate(value)]
    return None if any(v is None for v in out) else tuple(out)


def boolean(value, where, problems):
    if not isinstance(value, bool):
        problems.add(where, f"must be true or false, got {value!r}")
        return None
    return value


def existing_file(value, base, where, problems, what="file"):
    if not isinstance(value, str) or not value:
        problems.add(where, f"must be a {what} path (a string), got {value!r}")
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        problems.add(where, f"{what} {path} not found; check the path (relative paths are relative to the acquisition file)")
        return None
    if path.is_dir():
        problems.add(where, f"{path} is a directory, not a {what}")
        return None
    return path


# ---------------------------------------------------------------------------
# the resolved file
# ---------------------------------------------------------------------------
def _crop_args(crop):
    """``(rows, cols)`` of a scan's ``crop`` table, None for an uncropped axis."""
    return tuple((crop or {}).get(k) for k in ("rows", "cols"))


@dataclass
class ScanSpec:
    """One resolved, validated scan of an acquisition (data still memory-mapped)."""

    name: str
    file: Path
    kind: str
    stack: object
    angles_rad: np.ndarray
    pixel_size_um: float
    center_um: tuple
    shifts_um: np.ndarray | None = None
    psf_fwhm_um: float | None = None
    psf: dict | None = None
    weight: float = 1.0
    photons: float | None = None
    clip_transmission: float | None = None
    crop: dict | None = None
    bin: int = 1
    flats: np.ndarray | None = None
    darks: np.ndarray | None = None
    sources: dict = field(default_factory=dict)
    angle_unit: str | None = None
    format: str | None = None
    entry: str | None = None

    @property
    def crop_args(self):
        """``(rows, cols)`` for :func:`isxt.preprocess.crop`."""
        return _crop_args(self.crop)

    def output_shape(self):
        """``(n_angles, rows, cols)`` after crop and binning."""
        n, rows, cols = self.stack.data.shape
        (r0, r1), (c0, c1) = preprocess.crop_bounds((rows, cols), *self.crop_args)
        return (n, (r1 - r0) // self.bin, (c1 - c0) // self.bin)

    def geometry(self, binned=True):
        """The :class:`ScanGeometry` of the preprocessed data (crop and bin offsets in the shifts)."""
        n, rows, cols = self.stack.data.shape
        du, dv = preprocess.crop_offset((rows, cols), *self.crop_args)
        (r0, r1), (c0, c1) = preprocess.crop_bounds((rows, cols), *self.crop_args)
        rows, cols, pixel = r1 - r0, c1 - c0, self.pixel_size_um
        if binned and self.bin > 1:
            bdu, bdv = preprocess.binned_offset(rows, cols, self.bin)
            du, dv = du + bdu, dv + bdv
            rows, cols, pixel = rows // self.bin, cols // self.bin, pixel * self.bin
        shifts = np.zeros((n, 2)) if self.shifts_um is None else np.array(self.shifts_um, dtype=np.float64)
        shifts += np.array([du, dv]) * self.pixel_size_um
        return ScanGeometry(self.angles_rad, (rows, cols), pixel, self.center_um, shifts)

    def to_dict(self):
        return {
            "name": self.name,
            "file": str(self.file),
            "format": self.stack.meta.get("format"),
            "kind": self.kind,
            "data_shape": list(self.stack.data.shape),
            "data_dtype": str(self.stack.data.dtype),
            "preprocessed_shape": list(self.output_shape()),
            "n_angles": int(self.angles_rad.size),
            "angles_deg": np.degrees(self.angles_rad).round(6).tolist(),
            "pixel_size_um": self.pixel_size_um,
            "center_um": list(self.center_um),
            "shifts_um": None if self.shifts_um is None else np.asarray(self.shifts_um).tolist(),
            "psf": self.psf,
            "psf_fwhm_um_in_model": self.psf_fwhm_um,
            "weight": self.weight,
            "photons": self.photons,
            "clip_transmission": self.clip_transmission,
            "crop": self.crop,
            "bin": self.bin,
            "n_flats": None if self.flats is None else int(len(self.flats)),
            "n_darks": None if self.darks is None else int(len(self.darks)),
            "sources": self.sources,
        }

    def to_table(self, base):
        """The ``[[scan]]`` table that loads back into this spec (paths relative to ``base`` where possible)."""
        t = {"name": self.name, "file": _relative(self.file, base)}
        if self.format is not None:
            t["format"] = self.format
        if self.entry is not None:
            t["entry"] = self.entry
        t["kind"] = self.kind
        for key in ("flats", "darks"):
            if f"{key}_file" in self.sources:
                t[key] = _relative(self.sources[f"{key}_file"], base)
        if "angles_file" in self.sources:
            t["angles"] = _relative(self.sources["angles_file"], base)
        elif self.sources.get("angles") == "acquisition file":
            t["angles"] = [float(a) for a in self.angles_rad]  # radians: exact through repr
        if "angles" in t or "angles_without_unit" in self.stack.meta:
            t["angle_unit"] = "rad" if isinstance(t.get("angles"), list) else self.angle_unit
            if t["angle_unit"] is None:
                del t["angle_unit"]
        if self.sources.get("pixel_size") == "acquisition file":
            t["pixel_size_um"] = float(self.pixel_size_um)
        t["center_um"] = [float(c) for c in self.center_um]
        if self.sources.get("shifts") == "none":
            t["shifts"] = "none"
        elif "shifts_file" in self.sources:
            t["shifts"] = _relative(self.sources["shifts_file"], base)
        if self.psf:
            t["psf"] = dict(self.psf)
        optional = {"weight": (self.weight, 1.0), "photons": (self.photons, None),
                    "clip_transmission": (self.clip_transmission, None), "crop": (self.crop, None), "bin": (self.bin, 1)}
        t.update({k: v for k, (v, default) in optional.items() if v != default})
        return t


@dataclass
class Acquisition:
    """A validated acquisition file."""

    path: Path
    volume: VolumeGeometry
    scans: list
    reconstruction: dict
    output: dict
    calibration: dict | None = None
    warnings: list = field(default_factory=list)
    compute: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def base(self):
        return self.path.parent

    def scan(self, name):
        for s in self.scans:
            if s.name == name:
                return s
        raise InputError(f"{self.path}: no scan named {name!r}")

    def memory_estimate(self):
        from .resources import memory_estimate

        return memory_estimate(self)

    def time_estimate(self):
        from .resources import time_estimate

        return time_estimate(self)

    def input_files(self):
        """Every file the acquisition reads (for hashing in the provenance)."""
        files = [self.path]
        for s in self.scans:
            files.append(s.file)
            files += [Path(p) for k, p in s.sources.items() if k in ("angles_file", "shifts_file", "flats_file", "darks_file")]
        seen, out = set(), []
        for f in files:
            if str(f) not in seen:
                seen.add(str(f))
                out.append(Path(f))
        return out

    def to_dict(self):
        return {
            "acquisition": str(self.path),
            "volume": {**self.volume.to_dict(), "extent_um": list(self.volume.extent)},
            "scans": [s.to_dict() for s in self.scans],
            "reconstruction": dict(self.reconstruction),
            "output": dict(self.output),
            "calibration": self.calibration,
        }

    def to_toml(self, base=None, comments=()):
        """This acquisition as TOML text; see :func:`to_toml`."""
        return to_toml(self, base, comments)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def _relative(path, base):
    path = Path(path)
    try:
        return os.path.relpath(path, base) if base is not None else str(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def _value(v):
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        v = float(v)
        return repr(v) if math.isfinite(v) else ("nan" if v != v else "inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    return "[" + ", ".join(_value(x) for x in v) + "]"


def dumps(doc, comments=()):
    """TOML text of an acquisition document (a dict shaped like the file; None values are left out).

    Top-level strings come first, then ``[volume]``, every ``[[scan]]``, and
    the other sections in :data:`SCHEMA` order; tables inside a section
    (``psf``, ``crop``) are written inline.
    """
    lines = [f"# {c}" for c in comments]
    lines += [f"{k} = {_value(doc[k])}" for k in ("title", "description") if doc.get(k) is not None]
    for section in ("volume", "scan", "calibration", "reconstruction", "compute", "output"):
        tables = doc.get(section)
        if tables is None:
            continue
        for table in tables if section == "scan" else [tables]:
            lines += ["", f"[[{section}]]" if section == "scan" else f"[{section}]"]
            lines += [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def to_toml(acq, base=None, comments=()):
    """The TOML text that :func:`load_acquisition` reads back into an equal :class:`Acquisition`.

    Parameters
    ----------
    acq : Acquisition
    base : str or Path, optional
        Directory the text will be saved in (default the file's own): file
        paths are written relative to it.
    comments : sequence of str
        ``# ...`` lines at the top.

    Examples
    --------
    >>> from isxt.acquisition import load_acquisition
    >>> acq = load_acquisition("examples/combined_small/acquisition.toml")  # doctest: +SKIP
    >>> text = acq.to_toml()  # doctest: +SKIP
    """
    base = acq.base if base is None else Path(base)
    v = acq.volume
    doc = {k: acq.raw.get(k) for k in ("title", "description")}
    doc["volume"] = {"shape": list(v.shape), "voxel_size_um": float(v.voxel_size_um), "center_um": list(map(float, v.center_um))}
    doc["scan"] = [s.to_table(base) for s in acq.scans]
    doc["calibration"] = None if acq.calibration is None else dict(acq.calibration)
    r = dict(acq.reconstruction)
    if r.get("method") == "tv":
        r["tv_weight"] = "auto" if r.get("tv_weight") is None else r["tv_weight"]
        r["bounds"] = ["none" if b is None else b for b in r["bounds"]]
    else:
        r.pop("tv_weight", None), r.pop("bounds", None)
    doc["reconstruction"] = r
    doc["compute"] = {k: x for k, x in acq.compute.items() if x is not None} or None
    o = acq.output
    doc["output"] = {"dir": _relative(o["dir"], base), **{k: o[k] for k in ("volume", "format", "provenance", "quicklook")}}
    return dumps(doc, comments)


def acquisition_toml(volume, scans, title, reconstruction=None, output_dir="recon", comments=()):
    """The acquisition file of scans that isxt simulated (``isxt simulate``, ``isxt plan``).

    Parameters
    ----------
    volume : VolumeGeometry
        The reconstruction grid (``[volume]``).
    scans : sequence of (name, ScanGeometry, photons)
        One ``[[scan]]`` each: transmission stack ``<name>.mrc``, angles in
        ``<name>_angles.txt`` (degrees), pixel size and centre of the
        geometry; ``photons`` (incident photons per pixel, or None) adds the
        noise level and a transmission floor of half a photon.
    title : str
    reconstruction : dict, optional
        Keys of ``[reconstruction]``; default CGLS, 30 iterations.
    output_dir : str
        ``[output] dir``.
    comments : sequence of str
        Lines written as ``# ...`` at the top.

    Returns
    -------
    str
    """
    doc = {"title": title, "volume": {"shape": list(volume.shape), "voxel_size_um": volume.voxel_size_um,
                                      "center_um": list(volume.center_um)}, "scan": []}
    for name, g, photons in scans:
        doc["scan"].append({
            "name": name, "file": f"{name}.mrc", "kind": "transmission", "angles": f"{name}_angles.txt",
            "angle_unit": "deg", "pixel_size_um": g.pixel_size_um, "center_um": list(g.center_um),
            "photons": None if photons is None else float(photons),
            "clip_transmission": None if photons is None else 0.5 / float(photons),
        })
    doc["reconstruction"] = {"method": "cgls", "iterations": 30} if reconstruction is None else dict(reconstruction)
    doc["output"] = {"dir": output_dir}
    return dumps(doc, comments)
