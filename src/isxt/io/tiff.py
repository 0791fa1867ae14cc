"""Multi-page TIFF stacks (tifffile) with ImageJ or OME metadata.

Pixel size: the ImageJ ``unit`` with the ``XResolution`` tag (pixels per
unit), or OME ``PhysicalSizeX``/``PhysicalSizeXUnit``. Angles: isxt writes
them as JSON ``{"angles_deg": [...]}`` in the ImageJ ``Info`` field, else an
IMOD ``<stem>.rawtlt``/``<stem>.tlt`` beside the stack (degrees) is read, as
for MRC; other files get their angles from the acquisition file.
"""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET

import numpy as np
import tifffile

from ..errors import InputError
from ._stack import LENGTH_UNITS_UM, Stack, check_dtype, check_ndim
from .angles import sidecar_angles

__all__ = ["read_tiff", "write_tiff", "TIFF_SUFFIXES"]

TIFF_SUFFIXES = (".tif", ".tiff")
# What tifffile raises on a file that is not a valid TIFF (TiffFileError is a ValueError).
_TIFF_ERRORS = (tifffile.TiffFileError, ValueError, OSError, struct.error, EOFError)


def _unit_to_um(unit):
    if unit is None:
        return None
    key = str(unit).strip().lower().replace("\\u00b5", "µ")
    return LENGTH_UNITS_UM.get(key)


def _imagej_pixel_size(tif):
    meta = tif.imagej_metadata or {}
    scale = _unit_to_um(meta.get("unit"))
    if scale is None:
        return None, meta
    try:
        num, den = tif.pages[0].tags["XResolution"].value
    except (KeyError, TypeError, ValueError):
        return None, meta
    if num <= 0 or den <= 0:
        return None, meta
    per_unit = num / den
    # ImageJ writes a resolution of 1 pixel/unit when the size is unknown.
    if per_unit == 1 and meta.get("unit") in (None, "", "pixel"):
        return None, meta
    return scale / per_unit, meta


def _info_angles(meta_ij):
    """Angles (rad) from isxt's JSON ``{"angles_deg": [...]}`` in the ImageJ Info field, or None."""
    info = meta_ij.get("Info") if meta_ij else None
    if not info:
        return None
    try:
        parsed = json.loads(info)
    except (TypeError, ValueError):
        return None  # another program's free-text Info
    if not isinstance(parsed, dict) or "angles_deg" not in parsed:
        return None
    return np.radians(np.asarray(parsed["angles_deg"], dtype=np.float64))


def _ome_pixel_size(tif):
    try:
        root = ET.fromstring(tif.ome_metadata)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.endswith("Pixels") and "PhysicalSizeX" in el.attrib:
            scale = _unit_to_um(el.attrib.get("PhysicalSizeXUnit", "µm"))
            if scale is not None:
                return float(el.attrib["PhysicalSizeX"]) * scale
    return None


def read_tiff(path, mmap=True, volume=False):
    """Read a multi-page TIFF as a stack ``(n_images, rows, cols)``.

    Parameters
    ----------
    path : str or Path
    mmap : bool
        Memory-map uncompressed contiguous files (read-only); others are read.
    volume : bool
        Only affects the wording of errors.
    """
    # Only tifffile's own calls are guarded: what they raise on a file that is
    # not a (valid) TIFF becomes one error line with the cause chained; isxt's
    # metadata parsing below raises its own errors (or bugs) unchanged.
    try:
        tif = tifffile.TiffFile(str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except _TIFF_ERRORS as exc:
        raise InputError(f"{path}: not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
    with tif:
        try:
            series = tif.series[0]
        except (IndexError, *_TIFF_ERRORS) as exc:
            raise InputError(f"{path}: not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
        check_dtype(series.dtype, str(path))
        pixel, meta_ij = _imagej_pixel_size(tif) if tif.is_imagej else (None, {})
        if pixel is None and tif.is_ome:
            pixel = _ome_pixel_size(tif)
        angles = _info_angles(meta_ij) if not volume else None
        data = None
        if mmap:
            try:
                data = tifffile.memmap(str(path), mode="r")
            except (ValueError, OSError):
                data = None  # compressed or non-contiguous: read it
        if data is None:
            try:
                data = series.asarray()
            except _TIFF_ERRORS as exc:
                raise InputError(f"{path}: not a readable TIFF file ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 2:
        data = data[np.newaxis]
    check_ndim(data.shape, str(path), "a volume (nz, ny, nx)" if volume else "a stack of images (n_images, rows, cols)")
    if angles is not None and angles.size != data.shape[0]:
        angles = None
    meta = {"format": "tiff", "path": str(path)}
    if angles is not None:
        meta["angles_source"] = f"{path} (ImageJ Info angles_deg)"
    elif not volume:
        angles, side = sidecar_angles(path)  # an IMOD .rawtlt/.tlt beside the stack, as for MRC
        if angles is not None:
            meta["angles_source"] = side
    return Stack(data=data, pixel_size_um=pixel, angles_rad=angles, meta=meta)


def write_tiff(path, data, pixel_size_um=None, angles_rad=None):
    """Write an ImageJ-compatible multi-page TIFF (float32 unless int8/int16/uint16/uint8).

    The pixel size goes to ``XResolution``/``YResolution`` with ``unit='um'``
    and ``spacing`` (the z step); angles to ``Info`` as ``angles_deg`` JSON.
    """
    data = np.asarray(data)
    if data.dtype not in (np.uint8, np.int16, np.uint16, np.float32):
        data = data.astype(np.float32)
    metadata = {"axes": "ZYX"}
    kwargs = {}
    if pixel_size_um is not None:
        p = float(pixel_size_um)
        metadata.update(unit="um", spacing=p)
        kwargs["resolution"] = (1.0 / p, 1.0 / p)
    if angles_rad is not None:
        metadata["Info"] = json.dumps({"angles_deg": np.degrees(np.asarray(angles_rad, dtype=np.float64)).tolist()})
    tifffile.imwrite(str(path), np.ascontiguousarray(data), imagej=True, metadata=metadata, **kwargs)
