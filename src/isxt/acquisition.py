"""Acquisition files (TOML): a combined experiment, validated before any heavy work.

:func:`load_acquisition` reads the file, opens every stack (memory-mapped),
and checks everything a reconstruction needs; all problems are collected and
reported at once, each with the file, the key or image, and the fix.
:func:`prepare_scans` then turns the acquisition into :class:`isxt.Scan`
objects (preprocessing, optional absorption calibration). The format is
documented key by key in ``docs/acquisition.md``.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import preprocess
from .errors import InputError
from .geometry import ScanGeometry, VolumeGeometry
from .io import detect_format, read_angles, read_shifts, read_stack, to_radians
from .io.angles import normalize_unit
from .reconstruct import DEVICES, METHODS, Scan

__all__ = [
    "Acquisition",
    "ScanSpec",
    "PreparedScans",
    "load_acquisition",
    "prepare_scans",
    "memory_estimate",
    "time_estimate",
    "available_memory",
    "SCHEMA",
]

KINDS = ("transmission", "absorption", "raw")
STOPS = ("fixed", "discrepancy")
BACKENDS = ("numba", "astra")

# Every valid key, by section (the documentation in docs/acquisition.md follows this).
SCHEMA = {
    "": ("title", "description", "volume", "scan", "reconstruction", "output", "calibration", "compute"),
    "volume": ("shape", "extent_um", "voxel_size_um", "center_um"),
    "scan": (
        "name", "file", "format", "kind", "flats", "darks", "angles", "angle_unit", "pixel_size_um",
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

# Work arrays per solver, in volumes and data copies (float32), besides x and the data.
_WORK = {"cgls": (4, 2), "sirt": (3, 3), "mlem": (3, 2), "osem": (3, 2), "pwls": (5, 3), "tv": (16, 4)}
MEMORY_FRACTION = 0.8
# Forward + adjoint projection throughput of the numba backend, voxel·views per
# second per CPU core, measured on a 16×96×96 volume with 120 views (2 cores:
# ~7e7/s within CGLS). Used only for the --dry-run estimate.
THROUGHPUT_PER_CORE = 3.5e7
# The same on a GPU (ASTRA CUDA, device arrays): one combined CGLS iteration of a
# 512³ volume with 499 + 23 views took 0.29 s on an H200 (docs/benchmarks.md).
THROUGHPUT_GPU = 2.4e11

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

    def output_shape(self):
        """``(n_angles, rows, cols)`` after crop and binning."""
        n, rows, cols = self.stack.data.shape
        if self.crop:
            if self.crop.get("rows"):
                rows = self.crop["rows"][1] - self.crop["rows"][0]
            if self.crop.get("cols"):
                cols = self.crop["cols"][1] - self.crop["cols"][0]
        return (n, rows // self.bin, cols // self.bin)

    def geometry(self, binned=True):
        """The :class:`ScanGeometry` of the preprocessed data (crop and bin offsets in the shifts)."""
        n, rows, cols = self.stack.data.shape
        du = dv = 0.0
        if self.crop:
            _, (du, dv) = preprocess.crop(np.empty((1, rows, cols), np.uint8), self.crop.get("rows"), self.crop.get("cols"))
            rows = rows if not self.crop.get("rows") else self.crop["rows"][1] - self.crop["rows"][0]
            cols = cols if not self.crop.get("cols") else self.crop["cols"][1] - self.crop["cols"][0]
        pixel = self.pixel_size_um
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
        return memory_estimate(self)

    def time_estimate(self):
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


# ---------------------------------------------------------------------------
# value checks
# ---------------------------------------------------------------------------
def _check_keys(table, section, where, problems):
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


def _number(value, where, problems, *, positive=False, unit="", minimum=None, maximum=None):
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


def _integer(value, where, problems, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.add(where, f"must be an integer >= {minimum}, got {value!r}")
        return None
    return int(value)


def _choice(value, choices, where, problems):
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.add(where, f"{value!r} is not one of {', '.join(map(repr, choices))}{hint}")
        return None
    return value


def _triple(value, where, problems, unit="µm"):
    if not isinstance(value, list) or len(value) != 3:
        problems.add(where, f"must be three numbers [x, y, z] in {unit}, got {value!r}")
        return None
    out = [_number(v, f"{where}[{i}]", problems, unit=unit) for i, v in enumerate(value)]
    return None if any(v is None for v in out) else tuple(out)


def _bool(value, where, problems):
    if not isinstance(value, bool):
        problems.add(where, f"must be true or false, got {value!r}")
        return None
    return value


def _file(value, base, where, problems, what="file"):
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


def available_memory():
    """Bytes of memory available to this process (MemAvailable, else physical pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _memory(volume_shape, data_shapes, method):
    n_vol = float(np.prod(volume_shape))
    n_data = float(sum(np.prod(s) for s in data_shapes))
    kv, kd = _WORK.get(method, _WORK["pwls"])
    # x itself, the work arrays, the data, and one raw float32 copy while preprocessing.
    return 4.0 * (n_vol * (1 + kv) + n_data * (2 + kd))


def memory_estimate(acq):
    """``{'bytes', 'gb', 'available_gb', 'fraction'}`` for reconstructing ``acq``."""
    need = _memory(acq.volume.shape, [s.output_shape() for s in acq.scans], acq.reconstruction["method"])
    avail = available_memory()
    return {
        "bytes": need,
        "gb": need / 1e9,
        "available_gb": None if avail is None else avail / 1e9,
        "fraction": None if not avail else need / avail,
    }


def time_estimate(acq):
    """Rough seconds for the reconstruction: voxel·views × iterations / throughput."""
    from .reconstruct import resolve_device

    n_vol = float(np.prod(acq.volume.shape))
    views = sum(s.output_shape()[0] for s in acq.scans)
    r = acq.reconstruction
    device = resolve_device(r.get("device", "auto"), r["backend"])
    throughput = THROUGHPUT_GPU if device == "gpu" else THROUGHPUT_PER_CORE * (os.cpu_count() or 1)
    per_iteration = n_vol * views / throughput
    return {"seconds": per_iteration * r["iterations"], "seconds_per_iteration": per_iteration,
            "throughput_voxel_views_per_s": throughput, "device": device}


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------
def _volume(table, problems):
    if not isinstance(table, dict):
        problems.add("[volume]", "missing; give shape = [nz, ny, nx] (or extent_um) and voxel_size_um")
        return None
    _check_keys(table, "volume", "volume", problems)
    voxel = None
    if "voxel_size_um" not in table:
        problems.add("volume.voxel_size_um", "missing; give the voxel edge length in µm, e.g. voxel_size_um = 0.04")
    else:
        voxel = _number(table["voxel_size_um"], "volume.voxel_size_um", problems, positive=True, unit="µm")
    center = _triple(table.get("center_um", [0.0, 0.0, 0.0]), "volume.center_um", problems)
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
        ext = _triple(table["extent_um"], "volume.extent_um", problems)
        if ext is not None and voxel:
            if min(ext) <= 0:
                problems.add("volume.extent_um", f"must be positive lengths [x, y, z] in µm, got {list(ext)}")
            else:
                shape = tuple(max(1, math.ceil(e / voxel - 1e-9)) for e in (ext[2], ext[1], ext[0]))
    if shape is None or voxel is None or center is None:
        return None
    return VolumeGeometry(shape, voxel, center)


def _psf(value, where, problems):
    """``(spec, fwhm_um)``: zone-plate OZW → Gaussian of FWHM = OZW (paper, Eq. 11–12)."""
    if value is None or value == "none":
        return None, None
    if not isinstance(value, dict):
        problems.add(where, f"must be 'none', {{fwhm_um = ...}} or {{zone_plate_ozw_um = ...}}, got {value!r}")
        return None, None
    _check_keys(value, "psf", where, problems)
    given = [k for k in SCHEMA["psf"] if k in value]
    if len(given) != 1:
        problems.add(where, "give exactly one of fwhm_um or zone_plate_ozw_um (µm)")
        return None, None
    fwhm = _number(value[given[0]], f"{where}.{given[0]}", problems, positive=True, unit="µm")
    return {given[0]: fwhm}, fwhm


def _scan(index, table, base, volume, problems, shift_dirs=()):
    label = f"scan[{index}]"
    if not isinstance(table, dict):
        problems.add(label, "must be a table ([[scan]])")
        return None
    name = table.get("name", f"scan{index}")
    label = f"scan[{index}] {name!r}" if "name" in table else label
    _check_keys(table, "scan", label, problems)
    n_before = len(problems.items)
    sources = {}

    kind = _choice(table.get("kind", "transmission"), KINDS, f"{label}.kind", problems)
    path = None
    if "file" not in table:
        problems.add(f"{label}.file", "missing; give the projection stack (MRC, TIFF, NeXus or .npy)")
    else:
        path = _file(table["file"], base, f"{label}.file", problems, "stack file")
    stack = None
    if path is not None:
        try:
            fmt = detect_format(path, table.get("format"))
            stack = read_stack(path, format=fmt)
        except InputError as exc:
            problems.add(f"{label}.file", str(exc))
    if stack is None:
        return None
    n, rows, cols = stack.data.shape

    # -- angles ------------------------------------------------------------
    angles = None
    unit = table.get("angle_unit")
    if unit is not None:
        try:
            unit = normalize_unit(unit, f"{label}.angle_unit")
            if table["angle_unit"] not in ("deg", "rad"):
                problems.add(f"{label}.angle_unit", f"{table['angle_unit']!r}: write 'deg' or 'rad'")
        except InputError as exc:
            problems.add("", str(exc))
            unit = None
    spec = table.get("angles")
    try:
        if isinstance(spec, str):
            apath = _file(spec, base, f"{label}.angles", problems, "angles file")
            if apath is not None:
                if unit is None:
                    problems.add(f"{label}.angle_unit", "required with an angles file; set 'deg' or 'rad' (never guessed)")
                else:
                    angles = read_angles(apath, unit)
                    sources["angles_file"] = str(apath)
        elif isinstance(spec, list):
            if unit is None:
                problems.add(f"{label}.angle_unit", "required with a list of angles; set 'deg' or 'rad'")
            elif not all(isinstance(a, int | float) and not isinstance(a, bool) for a in spec):
                problems.add(f"{label}.angles", "must be a list of numbers")
            else:
                angles = to_radians(spec, unit, f"{label}.angles")
                sources["angles"] = "acquisition file"
        elif spec is not None:
            problems.add(f"{label}.angles", f"must be a file path or a list of numbers, got {spec!r}")
        elif stack.angles_rad is not None:
            angles = stack.angles_rad
            sources["angles"] = stack.meta.get("angles_source", "file metadata")
        elif "angles_without_unit" in stack.meta and unit is not None:
            angles = to_radians(stack.meta["angles_without_unit"], unit, f"{path} rotation_angle")
            sources["angles"] = f"{path} (rotation_angle, unit from angle_unit)"
        else:
            problems.add(f"{label}.angles", f"{path.name} has no angle metadata; give angles = \"angles.txt\" and angle_unit")
    except InputError as exc:
        problems.add(f"{label}.angles", str(exc))
    if angles is not None and angles.size != n:
        more = "missing" if angles.size < n else "extra"
        problems.add(
            f"{label}.angles",
            f"{angles.size} angles for {n} images in {path.name} ({abs(angles.size - n)} {more}); give exactly one angle per image",
        )
        angles = None

    # -- pixel size ----------------------------------------------------------
    pixel = None
    if "pixel_size_um" in table:
        pixel = _number(table["pixel_size_um"], f"{label}.pixel_size_um", problems, positive=True, unit="µm")
        if pixel is not None and stack.pixel_size_um and abs(stack.pixel_size_um / pixel - 1) > 0.01:
            problems.warn(f"{label}.pixel_size_um", f"{pixel:g} µm overrides the file header's {stack.pixel_size_um:g} µm")
        sources["pixel_size"] = "acquisition file"
    elif stack.pixel_size_um:
        pixel = stack.pixel_size_um
        sources["pixel_size"] = f"{path.name} header"
    else:
        problems.add(f"{label}.pixel_size_um", f"missing and {path.name} has no pixel size; give it in µm")
    if pixel is not None and volume is not None and not 1 / 20 <= pixel / volume.voxel_size <= 20:
        problems.add(
            f"{label}.pixel_size_um",
            f"{pixel:g} µm is {pixel / volume.voxel_size:.3g}× the voxel size {volume.voxel_size:g} µm; "
            "a unit mistake (nm vs µm)? both are in µm",
        )

    # -- centre / ROI ----------------------------------------------------------
    default_center = list(volume.center) if volume is not None else [0.0, 0.0, 0.0]
    center = _triple(table.get("center_um", default_center), f"{label}.center_um", problems)

    # -- preprocessing ----------------------------------------------------------
    crop = table.get("crop")
    if crop is not None:
        if not isinstance(crop, dict):
            problems.add(f"{label}.crop", "must be a table {rows = [start, stop], cols = [start, stop]}")
            crop = None
        else:
            _check_keys(crop, "crop", f"{label}.crop", problems)
            clean = {}
            for key, size in (("rows", rows), ("cols", cols)):
                if key in crop:
                    try:
                        clean[key] = list(preprocess._range(crop[key], size, key, f"{label}.crop"))
                    except InputError as exc:
                        problems.add("", str(exc))
            crop = clean or None
    binning = _integer(table.get("bin", 1), f"{label}.bin", problems)
    clip = None
    if "clip_transmission" in table:
        clip = _number(table["clip_transmission"], f"{label}.clip_transmission", problems, minimum=1e-12, maximum=0.999999)
        if clip is not None and kind == "absorption":
            problems.add(f"{label}.clip_transmission", "only applies to kind = 'transmission' or 'raw'")

    # -- flats and darks ----------------------------------------------------------
    flats, darks = stack.flats, stack.darks
    for key in ("flats", "darks"):
        if key in table:
            fpath = _file(table[key], base, f"{label}.{key}", problems, f"{key} file")
            if fpath is not None:
                try:
                    other = read_stack(fpath, mmap=False)
                    if other.data.shape[1:] != (rows, cols):
                        problems.add(f"{label}.{key}", f"{key} images are {other.data.shape[1:]}, projections {(rows, cols)}")
                    elif key == "flats":
                        flats = np.asarray(other.data)
                    else:
                        darks = np.asarray(other.data)
                    sources[f"{key}_file"] = str(fpath)
                except InputError as exc:
                    problems.add(f"{label}.{key}", str(exc))
    if kind == "raw" and flats is None:
        problems.add(f"{label}.flats", "kind = 'raw' needs flat-field images: flats = \"flats.mrc\" or an NXtomo file with image_key 1")
    if kind != "raw" and ("flats" in table or "darks" in table):
        problems.add(f"{label}.kind", "flats/darks given but kind is not 'raw'; set kind = 'raw' to normalise")

    # -- shifts ---------------------------------------------------------------
    shifts = None
    spath = None
    if isinstance(table.get("shifts"), str) and table["shifts"].strip().lower() == "none":
        sources["shifts"] = "none"  # pickup turned off by the user
    elif "shifts" in table:
        spath = _file(table["shifts"], base, f"{label}.shifts", problems, "shifts file")
    else:
        # `isxt align` writes <name>_shifts.csv into the output directory: pick it up from there or
        # from beside the acquisition file, never from anywhere else (shift_dirs is empty with --no-shifts)
        found = [Path(d) / f"{name}_shifts.csv" for d in shift_dirs if d]
        found = [f for f in found if f.is_file()]
        if found:
            spath = found[0]
            problems.warn(label, f"using alignment shifts from {spath} (shifts = \"none\" or --no-shifts to turn "
                                 "this off, shifts = \"FILE\" to choose another file)")
    if spath is not None:
        try:
            shifts = read_shifts(spath, n_views=n, angles_rad=angles)
            sources["shifts_file"] = str(spath)
        except InputError as exc:
            problems.add(f"{label}.shifts", str(exc))

    psf_spec, fwhm = _psf(table.get("psf"), f"{label}.psf", problems)
    weight = _number(table.get("weight", 1.0), f"{label}.weight", problems, positive=True)
    photons = None
    if "photons" in table:
        photons = _number(table["photons"], f"{label}.photons", problems, positive=True)

    # -- data values (after everything cheap) -------------------------------------
    if len(problems.items) == n_before:
        _check_values(stack, kind, clip, flats, darks, crop, label, path, problems)
    if len(problems.items) > n_before:
        return None
    return ScanSpec(
        name=str(name), file=path, kind=kind, stack=stack, angles_rad=np.asarray(angles, dtype=np.float64),
        pixel_size_um=pixel, center_um=center, shifts_um=shifts, psf_fwhm_um=fwhm, psf=psf_spec,
        weight=weight, photons=photons, clip_transmission=clip, crop=crop, bin=binning,
        flats=flats, darks=darks, sources=sources,
    )


def _check_values(stack, kind, clip, flats, darks, crop, label, path, problems):
    """NaN/inf; non-positive transmission unless clipped — in the cropped region, image by image."""
    rows, cols = (crop or {}).get("rows"), (crop or {}).get("cols")
    data, _ = preprocess.crop(stack.data, rows, cols)
    if flats is not None:
        flats, _ = preprocess.crop(np.asarray(flats), rows, cols)
    if darks is not None:
        darks, _ = preprocess.crop(np.asarray(darks), rows, cols)
    where = f"{label} ({path.name})"
    first_bad, n_bad, first_nonpos, n_nonpos = None, 0, None, 0
    try:
        if kind == "raw":
            for name, arr in (("flats", flats), ("darks", darks)):
                if arr is not None:
                    preprocess.check_finite(np.asarray(arr), f"{label} {name}")
        for i in range(data.shape[0]):
            img = np.asarray(data[i])
            bad = ~np.isfinite(img) if img.dtype.kind == "f" else np.zeros(img.shape, bool)
            if bad.any():
                n_bad += int(bad.sum())
                first_bad = i if first_bad is None else first_bad
            if kind == "absorption" or clip is not None:
                continue
            t = preprocess.normalize(img[np.newaxis], flats, darks, where=where)[0] if kind == "raw" else img
            nonpos = (t <= 0) & ~bad
            if nonpos.any():
                n_nonpos += int(nonpos.sum())
                first_nonpos = i if first_nonpos is None else first_nonpos
    except InputError as exc:
        problems.add("", str(exc))
        return
    if n_bad:
        problems.add(f"{where} image {first_bad}",
                     f"{n_bad} NaN/inf values in the stack; mask or interpolate them before reconstruction")
    if n_nonpos:
        problems.add(
            f"{where} image {first_nonpos}",
            f"{n_nonpos} transmission values are <= 0 (-ln undefined); "
            "set clip_transmission = 1e-3 in the scan to clip them (the count is reported)",
        )


def _check_roi(spec, volume, label, problems):
    """The scan must look at the volume: its centre inside the xy extent, its rows overlapping z."""
    ex, ey, ez = volume.extent
    cx, cy, cz = volume.center
    x, y, z = spec.center_um
    if not (abs(x - cx) <= ex / 2 and abs(y - cy) <= ey / 2):
        problems.add(
            f"{label}.center_um",
            f"ROI centre ({x:g}, {y:g}) µm lies outside the volume (x ∈ [{cx - ex / 2:g}, {cx + ex / 2:g}], "
            f"y ∈ [{cy - ey / 2:g}, {cy + ey / 2:g}] µm); move the centre or enlarge the volume",
        )
    geom = spec.geometry()
    half_h = geom.rows * geom.pixel_size / 2
    _, vc = geom.detector_center()
    if np.all(vc + half_h <= cz - ez / 2) or np.all(vc - half_h >= cz + ez / 2):
        problems.add(
            f"{label}.center_um",
            f"the detector rows (z ∈ [{z - half_h:g}, {z + half_h:g}] µm) miss the volume (z ∈ [{cz - ez / 2:g}, {cz + ez / 2:g}] µm)",
        )


def _reconstruction(table, problems):
    table = {} if table is None else table
    if not isinstance(table, dict):
        problems.add("[reconstruction]", "must be a table")
        table = {}
    _check_keys(table, "reconstruction", "reconstruction", problems)
    out = {
        "method": _choice(table.get("method", "cgls"), METHODS, "reconstruction.method", problems),
        "iterations": _integer(table.get("iterations", 50), "reconstruction.iterations", problems),
        "stop": _choice(table.get("stop", "fixed"), STOPS, "reconstruction.stop", problems),
        "nonneg": _bool(table.get("nonneg", False), "reconstruction.nonneg", problems),
        "precondition": _bool(table.get("precondition", False), "reconstruction.precondition", problems),
        "backend": _choice(table.get("backend", "numba"), BACKENDS, "reconstruction.backend", problems),
        "device": _choice(table.get("device", "auto"), DEVICES, "reconstruction.device", problems),
        "n_subsets": _integer(table.get("n_subsets", 8), "reconstruction.n_subsets", problems),
        "slabs": _integer(table.get("slabs", 1), "reconstruction.slabs", problems),
        "checkpoint_every": _integer(table.get("checkpoint_every", 10), "reconstruction.checkpoint_every", problems),
        **_tv_keys(table, problems),
    }
    if out["backend"] == "astra":
        try:
            import astra  # noqa: F401
        except ImportError:
            problems.add("reconstruction.backend", "'astra' needs the astra-toolbox package; install it or use 'numba'")
    if out["precondition"] is True and out["method"] not in ("cgls", "pwls"):
        problems.add("reconstruction.precondition", f"applies to methods 'cgls' and 'pwls', not {out['method']!r}")
    if out["device"] == "gpu" and out["backend"] in BACKENDS:
        from .reconstruct import resolve_device

        try:
            resolve_device("gpu", out["backend"])
        except InputError as e:
            problems.add("reconstruction.device", str(e))
    return out


def _compute(table, problems):
    """``[compute] scheduler = 'local:N' | ADDRESS`` (docs/scaling.md)."""
    table = {} if table is None else table
    if not isinstance(table, dict):
        problems.add("[compute]", "must be a table")
        return {"scheduler": None}
    _check_keys(table, "compute", "compute", problems)
    scheduler = table.get("scheduler")
    if scheduler is not None:
        from .distributed.cluster import parse_scheduler

        try:
            parse_scheduler(scheduler, "compute.scheduler")
        except InputError as e:
            problems.add("compute.scheduler", str(e).partition(": ")[2])
    return {"scheduler": scheduler}

def _tv_keys(table, problems):
    """``tv_weight`` ("auto" or a number ≥ 0; method 'tv' only) and ``bounds`` ([lo, hi], "none" for an open side)."""
    out = {}
    weight = table.get("tv_weight", "auto")
    out["tv_weight"] = None if weight == "auto" else _number(weight, "reconstruction.tv_weight", problems, minimum=0)
    bounds = table.get("bounds", [0.0, "none"])
    if not isinstance(bounds, list) or len(bounds) != 2:
        problems.add("reconstruction.bounds", f'must be [lo, hi] with "none" for an open side, got {bounds!r}')
        bounds = [0.0, "none"]
    out["bounds"] = [None if b == "none" else _number(b, f"reconstruction.bounds[{i}]", problems)
                     for i, b in enumerate(bounds)]
    if None not in out["bounds"] and out["bounds"][0] >= out["bounds"][1]:
        problems.add("reconstruction.bounds", f"needs lo < hi, got {bounds!r}")
    if table.get("method") != "tv":
        for key in ("tv_weight", "bounds"):
            if key in table:
                problems.add(f"reconstruction.{key}", f"applies to method = 'tv' only, not {table.get('method', 'cgls')!r}")
    return out


def _output(table, base, problems):
    table = {} if table is None else table
    if not isinstance(table, dict):
        problems.add("[output]", "must be a table")
        table = {}
    _check_keys(table, "output", "output", problems)
    fmt = table.get("format")
    volume = table.get("volume")
    if fmt is not None:
        fmt = _choice(fmt, ("mrc", "tiff"), "output.format", problems)
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


def _calibration(table, scans, problems):
    if table is None:
        return None
    if not isinstance(table, dict):
        problems.add("[calibration]", "must be a table")
        return None
    _check_keys(table, "calibration", "calibration", problems)
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
    from .calibration import MODELS

    out["model"] = _choice(table.get("model", "auto"), MODELS, "calibration.model", problems)
    out["apply"] = _bool(table.get("apply", False), "calibration.apply", problems)
    out["angle_tolerance_deg"] = _number(table.get("angle_tolerance_deg", 0.1), "calibration.angle_tolerance_deg",
                                         problems, positive=True)
    return out


def load_acquisition(path, check_memory=True, output_dir=None, pickup_shifts=True):
    """Read and validate an acquisition file; every problem is reported at once.

    Parameters
    ----------
    path : str or Path
        The TOML file. Relative paths inside it are relative to its directory.
    check_memory : bool
        Refuse volumes whose estimated memory exceeds 80 % of what is available.
    output_dir : str or Path, optional
        The output directory actually used (``-o DIR``; default the file's
        ``[output] dir``): ``<scan>_shifts.csv`` written there by ``isxt
        align`` is picked up for scans without a ``shifts`` key, else the one
        beside the acquisition file; no other directory is looked in.
    pickup_shifts : bool
        False: no pickup (``--no-shifts``); explicit ``shifts = "FILE"`` keys still apply.

    Returns
    -------
    Acquisition

    Raises
    ------
    InputError
        One line per problem: the file, the key or image, and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: acquisition file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the acquisition .toml file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file; give the acquisition .toml file") from None
    base = path.parent
    problems = Problems(path)
    _check_keys(raw, "", "", problems)
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            problems.add(key, "must be a string")
    volume = _volume(raw.get("volume"), problems)
    recon = _reconstruction(raw.get("reconstruction"), problems)
    compute = _compute(raw.get("compute"), problems)
    output = _output(raw.get("output"), base, problems)
    tables = raw.get("scan")
    scans = []
    if not tables or not isinstance(tables, list):
        problems.add("[[scan]]", "no scans; add at least one [[scan]] table with file, kind, angles, pixel_size_um")
    else:
        names = [t.get("name") for t in tables if isinstance(t, dict)]
        dup = sorted({n for n in names if n is not None and names.count(n) > 1})
        if dup:
            problems.add("scan.name", f"duplicate scan names {dup}; give every scan its own name")
        for i, table in enumerate(tables):
            dirs = ((output_dir if output_dir is not None else output.get("dir")), base) if pickup_shifts else ()
            spec = _scan(i, table, base, volume, problems, shift_dirs=dirs)
            if spec is not None and volume is not None:
                label = f"scan[{i}] {spec.name!r}"
                _check_roi(spec, volume, label, problems)
            scans.append(spec)
    calibration = _calibration(raw.get("calibration"), scans, problems)
    if recon.get("stop") == "discrepancy":
        for i, s in enumerate(scans):
            if s is not None and s.photons is None:
                problems.add(f"scan[{i}] {s.name!r}.photons", "stop = 'discrepancy' needs photons (incident photons per pixel) on every scan")
    if recon.get("method") == "pwls":
        for i, s in enumerate(scans):
            if s is not None and s.photons is None:
                problems.add(f"scan[{i}] {s.name!r}.photons", "method = 'pwls' needs photons on every scan")
    problems.raise_if_any()
    acq = Acquisition(path=path, volume=volume, scans=scans, reconstruction=recon, output=output,
                      calibration=calibration, warnings=problems.warnings, raw=raw, compute=compute)
    if check_memory:
        mem = memory_estimate(acq)
        if mem["fraction"] is not None and mem["fraction"] > MEMORY_FRACTION:
            raise InputError(
                f"{path}: the reconstruction needs about {mem['gb']:.3g} GB but only {mem['available_gb']:.3g} GB "
                f"of memory is available (limit {MEMORY_FRACTION:.0%}); bin the data (bin = 2), crop it, "
                "or use a smaller volume / larger voxel_size_um"
            )
    return acq


# ---------------------------------------------------------------------------
# preprocessing into Scans
# ---------------------------------------------------------------------------
@dataclass
class PreparedScans:
    """The scans ready for :func:`isxt.reconstruct`, and what preprocessing did."""

    scans: list
    report: dict
    calibration: object = None


def _transmission(spec):
    """Cropped transmission (float32) of a scan, or None for absorption data; and the crop offset."""
    data, _ = preprocess.crop(spec.stack.data, *(spec.crop.get(k) if spec.crop else None for k in ("rows", "cols")))
    flats = darks = None
    if spec.kind == "raw":
        flats, _ = preprocess.crop(np.asarray(spec.flats), *(spec.crop.get(k) if spec.crop else None for k in ("rows", "cols")))
        if spec.darks is not None:
            darks, _ = preprocess.crop(np.asarray(spec.darks), *(spec.crop.get(k) if spec.crop else None for k in ("rows", "cols")))
        return preprocess.normalize(data, flats, darks, where=spec.name)
    if spec.kind == "transmission":
        return np.asarray(data, dtype=np.float32)
    return None


def prepare_scans(acq, calibrate=True):
    """Preprocess every scan of ``acq`` into an :class:`isxt.Scan`.

    Steps per scan: crop → flat/dark normalisation (raw) → absorption
    ``-ln T`` with the clip rule → binning. If the acquisition has a
    ``[calibration]`` with ``apply = true`` (and ``calibrate``), the target
    scan's transmission is corrected first (App. B.2).

    Returns
    -------
    PreparedScans
    """
    trans = {s.name: _transmission(s) for s in acq.scans}
    report = {"scans": {}}
    result = None
    cal = acq.calibration
    if calibrate and cal and cal.get("apply"):
        result = run_calibration(acq, trans)
        target = acq.scan(cal["target"])
        decision = _calibration_decision(acq, result, trans)
        if decision["applied"]:
            trans[target.name] = result.correct(trans[target.name])
        report["calibration"] = {**result.to_dict(), **decision}
    scans = []
    for spec in acq.scans:
        y, clip = _absorption(spec, trans[spec.name])
        scans.append(_to_scan(spec, y))
        report["scans"][spec.name] = clip.to_dict()
    return PreparedScans(scans, report, result)


def _absorption(spec, t):
    """Binned absorption data of a scan from its transmission (or its absorption file), and the clip report."""
    if t is None:
        data, _ = preprocess.crop(spec.stack.data, *(spec.crop.get(k) if spec.crop else None for k in ("rows", "cols")))
        y = np.asarray(data, dtype=np.float32)
        clip = preprocess.ClipReport(0, y.size, None)
    else:
        y, clip = preprocess.absorption(t, spec.clip_transmission, where=f"scan {spec.name!r}")
    y, _ = preprocess.bin_images(y, spec.bin, where=f"scan {spec.name!r}")
    return y, clip


def _to_scan(spec, y):
    return Scan(spec.geometry(), y, name=spec.name, weights=None if spec.weight == 1.0 else spec.weight,
                psf=spec.psf_fwhm_um, photons=spec.photons, meta={"file": str(spec.file)})


def _calibration_decision(acq, result, trans):
    """Apply a calibration only when it lowers the cross-scan inconsistency (never one that fits worse)."""
    from .consistency import cross_residuals

    if result.model == "none":
        return {"applied": False, "reason": "the criterion chose 'none': no correction earns its parameters"}
    ref, target = acq.scan(acq.calibration["reference"]), acq.scan(acq.calibration["target"])
    corrected = result.correct(trans[target.name])
    try:
        candidates = [_to_scan(target, _absorption(target, t)[0]) for t in (trans[target.name], corrected)]
    except InputError as exc:
        return {"applied": False, "reason": f"the corrected data cannot be used: {exc}"}
    before, after = cross_residuals(_to_scan(ref, _absorption(ref, trans[ref.name])[0]), candidates, acq.volume,
                                    backend=acq.reconstruction["backend"])
    out = {"cross_before": before, "cross_after": after}
    if not np.isfinite(before) or not np.isfinite(after):
        return {**out, "applied": False, "reason": f"scan {ref.name!r} cannot predict {target.name!r}'s data, so "
                "the gain of the correction cannot be checked"}
    if after >= before:
        return {**out, "applied": False, "reason": f"it does not lower the cross-scan residual ({before:.4f} → "
                f"{after:.4f})"}
    return {**out, "applied": True, "reason": f"it lowers the cross-scan residual from {before:.4f} to {after:.4f}"}
    return PreparedScans(scans, report, result)


def run_calibration(acq, trans=None):
    """Fit the absorption calibration between the ``[calibration]`` scans (unbinned, cropped data)."""
    from .calibration import calibrate as _calibrate

    cal = acq.calibration
    if not cal:
        raise InputError(f"{acq.path}: no [calibration] section; add reference = \"sparse\", target = \"interior\"")
    ref, target = acq.scan(cal["reference"]), acq.scan(cal["target"])
    if trans is None:
        trans = {}
    t = {}
    for spec in (ref, target):
        tt = trans.get(spec.name) if spec.name in trans else _transmission(spec)
        if tt is None:
            data, _ = preprocess.crop(spec.stack.data, *(spec.crop.get(k) if spec.crop else None for k in ("rows", "cols")))
            tt = preprocess.transmission(data)
        t[spec.name] = tt
    return _calibrate(t[ref.name], ref.geometry(binned=False), t[target.name], target.geometry(binned=False),
                      model=cal["model"], angle_tolerance_deg=cal["angle_tolerance_deg"])
