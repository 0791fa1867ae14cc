"""Reading and writing projection stacks and volumes: MRC, TIFF, NeXus/HDF5, ``.npy``.

* :func:`read_stack` — any supported file → :class:`Stack` (memory-mapped
  data, pixel size in µm, angles in radians, flats/darks, metadata).
* :func:`write_volume` — a float32 LAC volume to MRC (default) or TIFF with
  the voxel size in the header, written atomically.
* :func:`read_angles`, :func:`read_shifts` — text/CSV side files with an
  explicit unit.
* :class:`OutputTransaction` — several outputs, all or nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError
from ._stack import Stack, check_dtype
from .angles import read_angles, read_shifts, to_radians, write_angles
from .atomic import OutputTransaction, atomic_path
from .mrc import MRC_SUFFIXES, read_mrc, write_mrc
from .nexus import NEXUS_SUFFIXES, read_nexus, write_nexus
from .npy import NPY_SUFFIXES, read_npy, write_npy
from .tiff import TIFF_SUFFIXES, read_tiff, write_tiff

__all__ = [
    "Stack",
    "FORMATS",
    "VOLUME_FORMATS",
    "detect_format",
    "read_stack",
    "write_stack",
    "read_volume",
    "write_volume",
    "read_angles",
    "write_angles",
    "read_shifts",
    "to_radians",
    "check_dtype",
    "write_volume_file",
    "OutputTransaction",
    "atomic_path",
]

_READERS = {"mrc": read_mrc, "tiff": read_tiff, "nexus": read_nexus, "npy": read_npy}
_WRITERS = {"mrc": write_mrc, "tiff": write_tiff, "nexus": write_nexus, "npy": write_npy}
_SUFFIXES = {"mrc": MRC_SUFFIXES, "tiff": TIFF_SUFFIXES, "nexus": NEXUS_SUFFIXES, "npy": NPY_SUFFIXES}
FORMATS = tuple(_READERS)
VOLUME_FORMATS = ("mrc", "tiff")


def detect_format(path, format=None):
    """The format name for ``path`` from ``format`` or the file suffix."""
    if format is not None:
        fmt = str(format).lower()
        fmt = {"tif": "tiff", "h5": "nexus", "hdf5": "nexus", "nxs": "nexus"}.get(fmt, fmt)
        if fmt not in _READERS:
            raise InputError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    for fmt, suffixes in _SUFFIXES.items():
        if suffix in suffixes:
            return fmt
    known = ", ".join(s for ss in _SUFFIXES.values() for s in ss)
    raise InputError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; use one of {known}")


def read_stack(path, format=None, mmap=True, entry=None):
    """Read a projection stack.

    Parameters
    ----------
    path : str or Path
        ``.mrc/.mrcs/.st/.ali`` (MRC), ``.tif/.tiff``, ``.nxs/.h5/.hdf5``
        (NXtomo) or ``.npy``.
    format : str, optional
        Override the suffix: 'mrc', 'tiff', 'nexus' or 'npy'.
    mmap : bool
        Memory-map the data where the format allows it.
    entry : str, optional
        NeXus only: the NXentry group to read (default: the first NXtomo entry).

    Returns
    -------
    Stack

    Examples
    --------
    >>> stack = read_stack("interior.mrc")  # doctest: +SKIP
    >>> stack.data.shape, stack.pixel_size_um  # doctest: +SKIP
    ((120, 16, 48), 0.04)
    """
    path = Path(path)
    fmt = detect_format(path, format)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a stack file")
    if entry is not None:
        if fmt != "nexus":
            raise InputError(f"{path}: entry = {entry!r} applies to NeXus files only, not {fmt}")
        return _READERS[fmt](path, mmap=mmap, entry=entry)
    return _READERS[fmt](path, mmap=mmap)


def write_stack(path, data, pixel_size_um=None, angles_rad=None, format=None, flats=None, darks=None,
                overwrite=False):
    """Write a projection stack (for tests, examples and exports), atomically.

    ``flats``/``darks`` are stored only by NeXus; the others raise if given.
    """
    fmt = detect_format(path, format)
    if (flats is not None or darks is not None) and fmt != "nexus":
        raise InputError(f"{path}: only NeXus files hold flats and darks; write them to separate files")
    with atomic_path(path, overwrite=overwrite) as tmp:
        if fmt == "nexus":
            write_nexus(tmp, data, pixel_size_um, angles_rad, flats=flats, darks=darks)
        else:
            _WRITERS[fmt](tmp, data, pixel_size_um, angles_rad)


def write_volume(path, volume, voxel_size_um, format=None, overwrite=False):
    """Write a LAC volume (1/µm) as float32 MRC (default) or TIFF, atomically.

    Parameters
    ----------
    path : str or Path
    volume : ndarray
        ``(nz, ny, nx)``.
    voxel_size_um : float
        Stored in the header (MRC: in Å; TIFF: resolution in pixels/µm).
    format : {'mrc', 'tiff'}, optional
        Default from the suffix, else MRC.
    overwrite : bool
        Replace an existing file; otherwise an existing file is an :class:`OutputError`.
    """
    fmt = _volume_format(path, format)
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise InputError(f"a volume must be 3D (nz, ny, nx), got shape {volume.shape}")
    if not (np.isfinite(voxel_size_um) and voxel_size_um > 0):
        raise InputError(f"voxel_size_um must be a positive length in µm, got {voxel_size_um!r}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        write_volume_file(tmp, volume, voxel_size_um, fmt)


def write_volume_file(path, volume, voxel_size_um, fmt):
    """Write without atomicity (inside an :class:`OutputTransaction`)."""
    writer = write_mrc if fmt == "mrc" else write_tiff
    writer(path, np.asarray(volume, dtype=np.float32), voxel_size_um)


def _volume_format(path, format):
    if format is None:
        suffix = Path(path).suffix.lower()
        return "tiff" if suffix in TIFF_SUFFIXES else "mrc"
    fmt = detect_format(path, format)
    if fmt not in VOLUME_FORMATS:
        raise OutputError(f"volumes are written as {' or '.join(VOLUME_FORMATS)}, not {format!r}")
    return fmt


def read_volume(path, format=None, mmap=False):
    """Read a volume: ``(data, voxel_size_um)`` (voxel size None if the file has none)."""
    path = Path(path)
    fmt = detect_format(path, format)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    stack = _READERS[fmt](path, mmap=mmap, volume=True)
    return stack.data, stack.pixel_size_um
