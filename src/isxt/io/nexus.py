"""HDF5 / NeXus NXtomo files (h5py): projections, flats and darks by ``image_key``.

Layout read and written (NXtomo application definition)::

    /entry                         NXentry, definition = "NXtomo"
      instrument/detector/data     (n, rows, cols) images
      instrument/detector/image_key (n,) 0 projection, 1 flat, 2 dark, 3 invalid
      instrument/detector/x_pixel_size  with a "units" attribute
      sample/rotation_angle        (n,) with "units" = "degree" or "rad"
      data/                        NXdata with links to the above

The images are read from ``<entry>/instrument/detector/data`` (else
``<entry>/data/data``), ``image_key`` from beside them, the angles from
``<entry>/sample/rotation_angle`` (else ``<entry>/data/rotation_angle``) and
the pixel size from ``<entry>/instrument/detector/x_pixel_size``. The entry is
the one named (``entry=``; the acquisition key ``entry``), else the first
NXentry with ``definition = "NXtomo"``, else the first NXentry. Angles or pixel
sizes without a ``units`` attribute are not guessed: they are left to the
acquisition file (``angle_unit``/``pixel_size_um``).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._stack import LENGTH_UNITS_UM, Stack, check_dtype, check_ndim
from .angles import normalize_unit

__all__ = ["read_nexus", "write_nexus", "NEXUS_SUFFIXES", "IMAGE_KEY"]

NEXUS_SUFFIXES = (".nxs", ".nx", ".h5", ".hdf5", ".hdf")
IMAGE_KEY = {"projection": 0, "flat": 1, "dark": 2, "invalid": 3}


def _attr_str(obj, name):
    value = obj.attrs.get(name)
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
        value = value.decode() if isinstance(value, bytes) else value
    return value


def _find_entry(f, path, name=None):
    entries = [k for k, v in f.items() if _attr_str(v, "NX_class") == "NXentry"] if hasattr(f, "items") else []
    if name is not None:
        group = f.get(str(name).strip("/") or "/")
        if group is None or not hasattr(group, "items"):
            listed = ", ".join(entries) or "none"
            raise InputError(f"{path}: no group {name!r} to read as the NXentry (NXentry groups: {listed}); "
                             "set entry to one of them")
        return group
    for name in entries:
        if _attr_str(f[name], "definition") == "NXtomo":
            return f[name]
    if entries:
        return f[entries[0]]
    if "entry" in f:
        return f["entry"]
    raise InputError(f"{path}: no NXentry group found; expected an NXtomo file (/entry/instrument/detector/data)")


def _first(group, *names):
    for name in names:
        if name in group:
            return group[name]
    return None


def _memmap_or_read(ds, path, index):
    """Projections ``ds[index]``: memory-mapped when the dataset is contiguous and uncompressed."""
    contiguous = ds.chunks is None and ds.compression is None
    offset = ds.id.get_offset() if contiguous else None
    if offset is not None and index.size:
        mm = np.memmap(path, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)
        if np.array_equal(index, np.arange(index[0], index[-1] + 1)):
            return mm[index[0] : index[-1] + 1]
        return np.asarray(mm[index])
    return ds[np.sort(index)] if index.size else np.empty((0,) + ds.shape[1:], ds.dtype)


def read_nexus(path, mmap=True, volume=False, entry=None):
    """Read an NXtomo file: projections (``image_key`` 0), flats (1) and darks (2).

    ``entry`` names the NXentry group to read (default: the first NXtomo entry).

    Returns
    -------
    Stack
        With ``flats``/``darks`` when present, ``angles_rad`` of the
        projections (if the angles have units) and ``pixel_size_um`` (if
        ``x_pixel_size`` has units).
    """
    import h5py

    try:
        f = h5py.File(str(path), "r")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5/NeXus file ({exc})") from None
    with f:
        entry = _find_entry(f, path, entry)
        det = entry.get("instrument/detector")
        groups = [g for g in (det, entry.get("data")) if g is not None]
        ds = next((g["data"] for g in groups if "data" in g), None)
        if ds is None or not hasattr(ds, "dtype"):
            raise InputError(f"{path}: no image data at {entry.name}/instrument/detector/data or {entry.name}/data/data")
        check_dtype(ds.dtype, str(path))
        check_ndim(ds.shape, str(path))
        key_ds = next((g["image_key"] for g in groups if "image_key" in g), None)
        keys = np.zeros(ds.shape[0], dtype=int) if key_ds is None else np.asarray(key_ds[()]).astype(int).reshape(-1)
        if keys.size != ds.shape[0]:
            raise InputError(f"{path}: image_key has {keys.size} entries for {ds.shape[0]} images")
        bad = np.setdiff1d(np.unique(keys), [0, 1, 2, 3])
        if bad.size:
            raise InputError(f"{path}: unknown image_key values {bad.tolist()} (0 projection, 1 flat, 2 dark, 3 invalid)")
        proj = np.flatnonzero(keys == 0)
        if proj.size == 0:
            raise InputError(f"{path}: no projections (image_key == 0) in the file")
        try:
            data = _memmap_or_read(ds, str(path), proj) if mmap else ds[proj]
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the image data ({exc}); is the file truncated?") from None
        flats = ds[np.flatnonzero(keys == 1)] if np.any(keys == 1) else None
        darks = ds[np.flatnonzero(keys == 2)] if np.any(keys == 2) else None
        meta = {"format": "nexus", "path": str(path), "entry": entry.name, "n_flats": int(np.sum(keys == 1)),
                "n_darks": int(np.sum(keys == 2))}

        angles = None
        ang_ds = _first(entry, "sample/rotation_angle", "data/rotation_angle")
        if ang_ds is not None:
            values = np.asarray(ang_ds[()], dtype=np.float64).reshape(-1)
            if values.size == keys.size:
                values = values[proj]
            unit = _attr_str(ang_ds, "units")
            if values.size != proj.size:
                raise InputError(f"{path}: rotation_angle has {values.size} entries for {proj.size} projections")
            if unit is None:
                meta["angles_without_unit"] = values.tolist()
            else:
                try:
                    angles = np.radians(values) if normalize_unit(unit) == "deg" else values
                except InputError:
                    raise InputError(f"{path}: rotation_angle has unknown units {unit!r}; use 'degree' or 'rad'") from None
                meta["angles_source"] = f"{path}:{ang_ds.name}"

        pixel = None
        px_ds = _first(det, "x_pixel_size") if det is not None else None
        if px_ds is not None:
            unit = _attr_str(px_ds, "units")
            scale = LENGTH_UNITS_UM.get(str(unit).strip().lower()) if unit is not None else None
            if scale is not None:
                pixel = float(np.asarray(px_ds[()]).reshape(-1)[0]) * scale
    return Stack(data=data, pixel_size_um=pixel, angles_rad=angles, flats=flats, darks=darks, meta=meta)


def write_nexus(path, data, pixel_size_um=None, angles_rad=None, flats=None, darks=None):
    """Write an NXtomo file: darks, flats, then projections (uncompressed, so it can be memory-mapped)."""
    import h5py

    data = np.asarray(data)
    parts = [np.asarray(a) for a in (darks, flats) if a is not None] + [data]
    keys = ([2] * len(darks) if darks is not None else []) + ([1] * len(flats) if flats is not None else [])
    keys += [0] * len(data)
    images = np.concatenate([p.astype(data.dtype, copy=False) for p in parts])
    with h5py.File(str(path), "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["definition"] = "NXtomo"
        det = entry.create_group("instrument/detector")
        entry["instrument"].attrs["NX_class"] = "NXinstrument"
        det.attrs["NX_class"] = "NXdetector"
        det.create_dataset("data", data=images)
        det.create_dataset("image_key", data=np.asarray(keys, dtype=np.int32))
        if pixel_size_um is not None:
            for name in ("x_pixel_size", "y_pixel_size"):
                det.create_dataset(name, data=float(pixel_size_um)).attrs["units"] = "um"
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        if angles_rad is not None:
            angles = np.zeros(len(keys))
            angles[len(keys) - len(data) :] = np.degrees(np.asarray(angles_rad, dtype=np.float64))
            sample.create_dataset("rotation_angle", data=angles).attrs["units"] = "degree"
        nxdata = entry.create_group("data")
        nxdata.attrs["NX_class"] = "NXdata"
        nxdata.attrs["signal"] = "data"
        nxdata["data"] = det["data"]
        nxdata["image_key"] = det["image_key"]
        if angles_rad is not None:
            nxdata["rotation_angle"] = sample["rotation_angle"]
