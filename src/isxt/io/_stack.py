"""The :class:`Stack` record every reader returns, and the checks they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Stack", "check_dtype", "check_ndim", "LENGTH_UNITS_UM"]

# Length units found in file metadata, to µm.
LENGTH_UNITS_UM = {
    "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
    "m": 1e6, "meter": 1e6, "metre": 1e6,
    "a": 1e-4, "å": 1e-4, "angstrom": 1e-4,
}


@dataclass
class Stack:
    """A projection stack (or a volume) read from a file.

    Attributes
    ----------
    data : ndarray
        ``(n_images, rows, cols)``; a read-only memory map where the format
        allows it (uncompressed MRC, TIFF, ``.npy``, contiguous HDF5).
    pixel_size_um : float or None
        Pixel (or voxel) size in µm from the file's metadata, if any.
    angles_rad : ndarray or None
        One angle per image in radians from the file's metadata, if any.
    flats, darks : ndarray or None
        Flat-field (open beam) and dark images, ``(n, rows, cols)``.
    meta : dict
        Format-specific details (format, path, source of each field).
    """

    data: np.ndarray
    pixel_size_um: float | None = None
    angles_rad: np.ndarray | None = None
    flats: np.ndarray | None = None
    darks: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def path(self):
        return self.meta.get("path")


def check_dtype(dtype, where):
    """Accept real numbers (int, uint, float); refuse complex, bool, text and records."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fiu" and dtype.fields is None:
        return dtype
    kind = {"c": "complex", "b": "boolean", "U": "text", "S": "bytes", "O": "object", "V": "record"}.get(
        dtype.kind, dtype.kind
    )
    raise InputError(
        f"{where}: data type {dtype} ({kind}) is not supported; projections must be real numbers "
        "(float32, float64, int16, uint16, ...)"
    )


def check_ndim(shape, where, what="a stack of images (n_images, rows, cols)"):
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"{where}: data shape {tuple(shape)} is not {what}")


def where(path):
    return str(Path(path))
