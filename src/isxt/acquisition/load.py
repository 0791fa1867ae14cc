"""Reading an acquisition file: :func:`load_acquisition` validates it all before any heavy work.

Every stack is opened (memory-mapped) and every value checked; all problems
are collected and reported at once, each with the file, the key or image, and
the fix. The ``[[scan]]`` tables are read by small readers, one per concern:
the stack, angles, pixel size, crop/bin/clip, flats and darks, shifts, and
finally the data values. The format is documented key by key in
``docs/acquisition.md``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from .. import preprocess
from ..errors import InputError
from ..io import detect_format, read_angles, read_shifts, read_stack, to_radians
from ..io.angles import TLT_SUFFIXES, normalize_unit
from ..reconstruct import needs_photons
from .resources import MEMORY_FRACTION, memory_estimate
from .schema import KINDS, SCHEMA, Acquisition, Problems, ScanSpec, check_keys, choice, existing_file, integer, number, triple
from .sections import calibration_table, compute_table, output_table, reconstruction_table, volume_table

__all__ = ["load_acquisition"]


class _ScanReader:
    """The context of one ``[[scan]]`` table: where it is, what it names, what it found so far."""

    def __init__(self, index, table, base, volume, problems):
        self.table, self.base, self.volume, self.problems = table, base, volume, problems
        self.name = table.get("name", f"scan{index}")
        self.label = f"scan[{index}] {self.name!r}" if "name" in table else f"scan[{index}]"
        self.sources = {}
        self.angle_unit = None  # the unit the angles were read in (given, or implied by a .tlt file)

    def add(self, key, message):
        self.problems.add(f"{self.label}.{key}" if key else "", message)

    def file(self, key, what):
        return existing_file(self.table[key], self.base, f"{self.label}.{key}", self.problems, what)


def _read_stack(r):
    """The stack (memory-mapped), or None."""
    if "file" not in r.table:
        r.add("file", "missing; give the projection stack (MRC, TIFF, NeXus or .npy)")
        return None, None
    path = r.file("file", "stack file")
    if path is None:
        return None, None
    try:
        entry = r.table.get("entry")
        if entry is not None and not isinstance(entry, str):
            r.add("entry", f"must be the name of an NXentry group (a string), got {entry!r}")
            return path, None
        return path, read_stack(path, format=detect_format(path, r.table.get("format")), entry=entry)
    except InputError as exc:
        r.add("file", str(exc))
        return path, None


def _angle_unit(r):
    """``'deg'``, ``'rad'`` or None (not given, or wrong)."""
    unit = r.table.get("angle_unit")
    if unit is None:
        return None
    try:
        unit = normalize_unit(unit, f"{r.label}.angle_unit")
    except InputError as exc:
        r.add("", str(exc))
        return None
    if r.table["angle_unit"] not in ("deg", "rad"):
        r.add("angle_unit", f"{r.table['angle_unit']!r}: write 'deg' or 'rad'")
    return unit


def _read_angles(r, path, stack, unit):
    """Angles in radians from the table (file or list) or the stack's metadata; one per image."""
    spec, n = r.table.get("angles"), stack.data.shape[0]
    angles = None
    try:
        if isinstance(spec, str):
            apath = r.file("angles", "angles file")
            if apath is not None and unit is None and apath.suffix.lower() in TLT_SUFFIXES:
                unit = "deg"  # IMOD tilt files are in degrees by definition
            if apath is not None:
                if unit is None:
                    r.add("angle_unit", "required with an angles file; set 'deg' or 'rad' (never guessed)")
                else:
                    angles = read_angles(apath, unit)
                    r.sources["angles_file"] = str(apath)
                    r.angle_unit = unit
        elif isinstance(spec, list):
            if unit is None:
                r.add("angle_unit", "required with a list of angles; set 'deg' or 'rad'")
            elif not all(isinstance(a, int | float) and not isinstance(a, bool) for a in spec):
                r.add("angles", "must be a list of numbers")
            else:
                angles = to_radians(spec, unit, f"{r.label}.angles")
                r.sources["angles"] = "acquisition file"
        elif spec is not None:
            r.add("angles", f"must be a file path or a list of numbers, got {spec!r}")
        elif stack.angles_rad is not None:
            angles = stack.angles_rad
            r.sources["angles"] = stack.meta.get("angles_source", "file metadata")
        elif "angles_without_unit" in stack.meta and unit is not None:
            angles = to_radians(stack.meta["angles_without_unit"], unit, f"{path} rotation_angle")
            r.sources["angles"] = f"{path} (rotation_angle, unit from angle_unit)"
        elif "angles_without_unit" in stack.meta:
            r.add("angle_unit", f"{path.name}'s rotation_angle has no units attribute; set angle_unit = 'deg' or 'rad'")
        else:
            r.add("angles", f"{path.name} has no angle metadata; give angles = \"angles.txt\" and angle_unit")
    except InputError as exc:
        r.add("angles", str(exc))
    if angles is not None and angles.size != n:
        more = "missing" if angles.size < n else "extra"
        r.add("angles", f"{angles.size} angles for {n} images in {path.name} ({abs(angles.size - n)} {more}); "
                        "give exactly one angle per image")
        angles = None
    return angles


def _read_pixel(r, path, stack):
    """Pixel size in µm: the table's (a warning when it overrides the header) or the header's."""
    pixel = None
    if "pixel_size_um" in r.table:
        pixel = number(r.table["pixel_size_um"], f"{r.label}.pixel_size_um", r.problems, positive=True, unit="µm")
        if pixel is not None and stack.pixel_size_um and abs(stack.pixel_size_um / pixel - 1) > 0.01:
            r.problems.warn(f"{r.label}.pixel_size_um", f"{pixel:g} µm overrides the file header's {stack.pixel_size_um:g} µm")
        r.sources["pixel_size"] = "acquisition file"
    elif stack.pixel_size_um:
        pixel = stack.pixel_size_um
        r.sources["pixel_size"] = f"{path.name} header"
    else:
        r.add("pixel_size_um", f"missing and {path.name} has no pixel size; give it in µm")
    v = r.volume
    if pixel is not None and v is not None and not 1 / 20 <= pixel / v.voxel_size_um <= 20:
        r.add("pixel_size_um", f"{pixel:g} µm is {pixel / v.voxel_size_um:.3g}× the voxel size {v.voxel_size_um:g} µm; "
                               "a unit mistake (nm vs µm)? both are in µm")
    return pixel


def _read_crop(r, image_shape):
    """The checked ``crop`` table (``{'rows': [a, b], 'cols': [a, b]}``) or None."""
    crop = r.table.get("crop")
    if crop is None:
        return None
    if not isinstance(crop, dict):
        r.add("crop", "must be a table {rows = [start, stop], cols = [start, stop]}")
        return None
    check_keys(crop, "crop", f"{r.label}.crop", r.problems)
    clean = {}
    for axis, key in enumerate(("rows", "cols")):
        if key in crop:
            pair = (crop[key], None) if axis == 0 else (None, crop[key])
            try:
                clean[key] = list(preprocess.crop_bounds(image_shape, *pair, f"{r.label}.crop")[axis])
            except InputError as exc:
                r.add("", str(exc))
    return clean or None


def _read_clip(r, kind):
    if "clip_transmission" not in r.table:
        return None
    clip = number(r.table["clip_transmission"], f"{r.label}.clip_transmission", r.problems, minimum=1e-12, maximum=0.999999)
    if clip is not None and kind == "absorption":
        r.add("clip_transmission", "only applies to kind = 'transmission' or 'raw'")
    return clip


def _read_flats_darks(r, stack, kind):
    """Flats and darks from the stack file or the table's ``flats``/``darks`` files."""
    found = {"flats": stack.flats, "darks": stack.darks}
    image_shape = stack.data.shape[1:]
    for key in ("flats", "darks"):
        if key not in r.table:
            continue
        fpath = r.file(key, f"{key} file")
        if fpath is None:
            continue
        try:
            other = read_stack(fpath, mmap=False)
        except InputError as exc:
            r.add(key, str(exc))
            continue
        if other.data.shape[1:] != image_shape:
            r.add(key, f"{key} images are {other.data.shape[1:]}, projections {image_shape}")
        else:
            found[key] = np.asarray(other.data)
        r.sources[f"{key}_file"] = str(fpath)
    if kind == "raw" and found["flats"] is None:
        r.add("flats", "kind = 'raw' needs flat-field images: flats = \"flats.mrc\" or an NXtomo file with image_key 1")
    if kind != "raw" and ("flats" in r.table or "darks" in r.table):
        r.add("kind", "flats/darks given but kind is not 'raw'; set kind = 'raw' to normalise")
    return found["flats"], found["darks"]


def _read_shifts(r, n, angles, shift_dirs):
    """Per-view shifts (µm): the table's file, else ``<name>_shifts.csv`` picked up from ``shift_dirs``."""
    spath = None
    value = r.table.get("shifts")
    if isinstance(value, str) and value.strip().lower() == "none":
        r.sources["shifts"] = "none"  # pickup turned off by the user
    elif value is not None:
        spath = r.file("shifts", "shifts file")
    else:
        # `isxt align` writes <name>_shifts.csv into the output directory: pick it up from there or
        # from beside the acquisition file, never from anywhere else (shift_dirs is empty with --no-shifts)
        found = [f for f in (Path(d) / f"{r.name}_shifts.csv" for d in shift_dirs if d) if f.is_file()]
        if found:
            spath = found[0]
            r.problems.warn(r.label, f"using alignment shifts from {spath} (shifts = \"none\" or --no-shifts to turn "
                                     "this off, shifts = \"FILE\" to choose another file)")
    if spath is None:
        return None
    try:
        shifts = read_shifts(spath, n_views=n, angles_rad=angles)
    except InputError as exc:
        r.add("shifts", str(exc))
        return None
    r.sources["shifts_file"] = str(spath)
    return shifts


def _read_psf(value, where, problems):
    """``(spec, fwhm_um)``: zone-plate OZW → Gaussian of FWHM = OZW (paper, Eq. 11–12)."""
    if value is None or value == "none":
        return None, None
    if not isinstance(value, dict):
        problems.add(where, f"must be 'none', {{fwhm_um = ...}} or {{zone_plate_ozw_um = ...}}, got {value!r}")
        return None, None
    check_keys(value, "psf", where, problems)
    given = [k for k in SCHEMA["psf"] if k in value]
    if len(given) != 1:
        problems.add(where, "give exactly one of fwhm_um or zone_plate_ozw_um (µm)")
        return None, None
    fwhm = number(value[given[0]], f"{where}.{given[0]}", problems, positive=True, unit="µm")
    return {given[0]: fwhm}, fwhm


def _scan(index, table, base, volume, problems, shift_dirs=()):
    """One ``[[scan]]`` table → :class:`ScanSpec`, or None (its problems added)."""
    if not isinstance(table, dict):
        problems.add(f"scan[{index}]", "must be a table ([[scan]])")
        return None
    r = _ScanReader(index, table, base, volume, problems)
    check_keys(table, "scan", r.label, problems)
    n_before = len(problems.items)
    kind = choice(table.get("kind", "transmission"), KINDS, f"{r.label}.kind", problems)
    path, stack = _read_stack(r)
    if stack is None:
        return None
    unit = _angle_unit(r)
    angles = _read_angles(r, path, stack, unit)
    pixel = _read_pixel(r, path, stack)
    default_center = list(volume.center_um) if volume is not None else [0.0, 0.0, 0.0]
    center = triple(table.get("center_um", default_center), f"{r.label}.center_um", problems)
    crop = _read_crop(r, stack.data.shape[1:])
    binning = integer(table.get("bin", 1), f"{r.label}.bin", problems)
    clip = _read_clip(r, kind)
    flats, darks = _read_flats_darks(r, stack, kind)
    shifts = _read_shifts(r, stack.data.shape[0], angles, shift_dirs)
    psf_spec, fwhm = _read_psf(table.get("psf"), f"{r.label}.psf", problems)
    weight = number(table.get("weight", 1.0), f"{r.label}.weight", problems, positive=True)
    photons = number(table["photons"], f"{r.label}.photons", problems, positive=True) if "photons" in table else None
    if len(problems.items) == n_before:  # the data values last: everything cheap is right
        _check_values(stack, kind, clip, flats, darks, crop, r.label, path, problems)
    if len(problems.items) > n_before:
        return None
    return ScanSpec(
        name=str(r.name), file=path, kind=kind, stack=stack, angles_rad=np.asarray(angles, dtype=np.float64),
        pixel_size_um=pixel, center_um=center, shifts_um=shifts, psf_fwhm_um=fwhm, psf=psf_spec,
        weight=weight, photons=photons, clip_transmission=clip, crop=crop, bin=binning,
        flats=flats, darks=darks, sources=r.sources, angle_unit=r.angle_unit or unit, format=table.get("format"),
        entry=table.get("entry"),
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
    cx, cy, cz = volume.center_um
    x, y, z = spec.center_um
    if not (abs(x - cx) <= ex / 2 and abs(y - cy) <= ey / 2):
        problems.add(
            f"{label}.center_um",
            f"ROI centre ({x:g}, {y:g}) µm lies outside the volume (x ∈ [{cx - ex / 2:g}, {cx + ex / 2:g}], "
            f"y ∈ [{cy - ey / 2:g}, {cy + ey / 2:g}] µm); move the centre or enlarge the volume",
        )
    geom = spec.geometry()
    half_h = geom.rows * geom.pixel_size_um / 2
    _, vc = geom.detector_center()
    if np.all(vc + half_h <= cz - ez / 2) or np.all(vc - half_h >= cz + ez / 2):
        problems.add(
            f"{label}.center_um",
            f"the detector rows (z ∈ [{z - half_h:g}, {z + half_h:g}] µm) miss the volume (z ∈ [{cz - ez / 2:g}, {cz + ez / 2:g}] µm)",
        )


def _read_toml(path):
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: acquisition file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the acquisition .toml file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file; give the acquisition .toml file") from None


def _scans(tables, base, volume, problems, shift_dirs):
    if not tables or not isinstance(tables, list):
        problems.add("[[scan]]", "no scans; add at least one [[scan]] table with file, kind, angles, pixel_size_um")
        return []
    names = [t.get("name") for t in tables if isinstance(t, dict)]
    dup = sorted({n for n in names if n is not None and names.count(n) > 1})
    if dup:
        problems.add("scan.name", f"duplicate scan names {dup}; give every scan its own name")
    scans = []
    for i, table in enumerate(tables):
        spec = _scan(i, table, base, volume, problems, shift_dirs=shift_dirs)
        if spec is not None and volume is not None:
            _check_roi(spec, volume, f"scan[{i}] {spec.name!r}", problems)
        scans.append(spec)
    _check_shared_data(scans, problems)
    return scans


def _check_shared_data(scans, problems):
    """A warning when two scans read the same data (the same file, and the same NeXus entry)."""
    seen = {}
    for s in scans:
        if s is None:
            continue
        key = (str(Path(s.file).resolve()), s.stack.meta.get("entry"), str(s.crop))
        if key in seen:
            entry = f" (entry {key[1]})" if key[1] else ""
            problems.warn(f"scan {s.name!r}", f"reads the same data as scan {seen[key]!r}: {s.file}{entry}; "
                                              "is a file name (or a NeXus entry) wrong?")
        seen.setdefault(key, s.name)


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
    raw = _read_toml(path)
    base = path.parent
    problems = Problems(path)
    check_keys(raw, "", "", problems)
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            problems.add(key, "must be a string")
    volume = volume_table(raw.get("volume"), problems)
    recon = reconstruction_table(raw.get("reconstruction"), problems)
    compute = compute_table(raw.get("compute"), problems)
    output = output_table(raw.get("output"), base, problems)
    dirs = ((output_dir if output_dir is not None else output.get("dir")), base) if pickup_shifts else ()
    scans = _scans(raw.get("scan"), base, volume, problems, dirs)
    calibration = calibration_table(raw.get("calibration"), scans, problems)
    for option in needs_photons(recon.get("method"), recon.get("stop")):
        for i, s in enumerate(scans):
            if s is not None and s.photons is None:
                problems.add(f"scan[{i}] {s.name!r}.photons",
                             f"{option} needs photons (incident photons per pixel) on every scan")
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
