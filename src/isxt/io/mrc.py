"""MRC stacks and volumes (mrcfile): IMOD / NCXT-style projection stacks and float32 volumes.

The MRC header stores the voxel size in Å; isxt converts to and from µm.
Tilt angles are read from an FEI extended header (``Alpha tilt``, degrees,
as written by :func:`write_mrc`) or from an IMOD sidecar file
``<stem>.rawtlt`` / ``<stem>.tlt`` (degrees, one per line).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import mrcfile
import numpy as np
from mrcfile.dtypes import get_ext_header_dtype

from ..errors import InputError
from ._stack import Stack, check_dtype, check_ndim
from .angles import sidecar_angles

__all__ = ["read_mrc", "write_mrc", "MRC_SUFFIXES"]

MRC_SUFFIXES = (".mrc", ".mrcs", ".st", ".ali", ".rec", ".map", ".preali")
_UM_PER_ANGSTROM = 1e-4


def _open(path, mmap):
    opener = mrcfile.mmap if mmap else mrcfile.open
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return opener(str(path), mode="r", permissive=False)
        except FileNotFoundError:
            raise InputError(f"{path}: file not found") from None
        except (ValueError, OSError, EOFError, TypeError) as exc:
            raise InputError(f"{path}: not a valid MRC file ({exc}); is it truncated or of another format?") from None


def _check_size(path, mrc):
    """Header size × dtype must match the bytes on disk (catches truncated files)."""
    h = mrc.header
    expected = 1024 + int(h.nsymbt) + int(h.nx) * int(h.ny) * int(h.nz) * mrc.data.dtype.itemsize
    actual = Path(path).stat().st_size
    if actual < expected:
        raise InputError(
            f"{path}: truncated MRC file: the header announces {expected} bytes but the file has {actual}"
        )


def read_mrc(path, mmap=True, volume=False):
    """Read an MRC stack or volume.

    Parameters
    ----------
    path : str or Path
    mmap : bool
        Memory-map the data (read-only) instead of reading it.
    volume : bool
        The file is a volume ``(nz, ny, nx)``; angles are not looked for.

    Returns
    -------
    Stack
        ``pixel_size_um`` from the header (None if the header says 0);
        ``angles_rad`` from an FEI extended header or an IMOD ``.rawtlt``/``.tlt``.
    """
    mrc = _open(path, mmap)
    try:
        if mrc.data is None:
            raise InputError(f"{path}: MRC file has no data block")
        check_dtype(mrc.data.dtype, str(path))
        _check_size(path, mrc)
        data = mrc.data
        if data.ndim == 2:
            data = data[np.newaxis]
        check_ndim(data.shape, str(path), "a volume (nz, ny, nx)" if volume else "a stack of images (n_images, rows, cols)")
        vx = float(mrc.voxel_size.x)
        pixel = vx * _UM_PER_ANGSTROM if vx > 0 else None
        meta = {"format": "mrc", "path": str(path), "mode": int(mrc.header.mode)}
        angles = None
        if not volume:
            exttyp = bytes(mrc.header.exttyp).strip(b"\0 ")
            ext = mrc.indexed_extended_header if exttyp in (b"FEI1", b"FEI2") else None
            if ext is not None and len(ext) >= data.shape[0] and "Alpha tilt" in ext.dtype.names:
                angles = np.radians(np.asarray(ext["Alpha tilt"][: data.shape[0]], dtype=np.float64))
                meta["angles_source"] = f"{path} (FEI extended header, Alpha tilt)"
            else:
                angles, side = sidecar_angles(path)
                if angles is not None:
                    meta["angles_source"] = side
        if not mmap:
            data = np.array(data)
    finally:
        # A memory map stays valid after close for as long as ``data`` lives.
        mrc.close()
    return Stack(data=data, pixel_size_um=pixel, angles_rad=angles, meta=meta)


def write_mrc(path, data, pixel_size_um=None, angles_rad=None):
    """Write ``data`` (cast to float32 unless it is int8/int16/uint16) to an MRC file.

    Parameters
    ----------
    path : str or Path
        Written directly; use :class:`isxt.io.OutputTransaction` for atomicity.
    pixel_size_um : float, optional
        Stored in the header in Å.
    angles_rad : array_like, optional
        Stored per image as ``Alpha tilt`` (degrees) in an FEI1 extended header.
    """
    data = np.asarray(data)
    if data.dtype not in (np.int8, np.int16, np.uint16, np.float32):
        data = data.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mrcfile.new(str(path), overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(data))
            if pixel_size_um is not None:
                mrc.voxel_size = float(pixel_size_um) / _UM_PER_ANGSTROM
            if angles_rad is not None:
                angles_rad = np.asarray(angles_rad, dtype=np.float64).reshape(-1)
                if angles_rad.size != data.shape[0]:
                    raise InputError(f"{angles_rad.size} angles for {data.shape[0]} images")
                ext = np.zeros(angles_rad.size, dtype=get_ext_header_dtype(b"FEI1"))
                ext["Metadata size"] = ext.dtype.itemsize
                ext["Metadata version"] = 0
                ext["Alpha tilt"] = np.degrees(angles_rad)
                mrc.set_extended_header(ext)
                mrc.header.exttyp = b"FEI1"
            mrc.update_header_stats()
            # mrcfile's default label holds the creation time; a fixed one keeps files reproducible.
            from .. import __version__

            mrc.header.label[0] = f"isxt {__version__}".encode()
            mrc.header.nlabl = 1
