"""NumPy ``.npy`` stacks: data only (pixel size and angles come from the acquisition file)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._stack import Stack, check_dtype, check_ndim

__all__ = ["read_npy", "write_npy", "NPY_SUFFIXES"]

NPY_SUFFIXES = (".npy",)


def read_npy(path, mmap=True, volume=False):
    """Read a ``.npy`` array (memory-mapped read-only by default)."""
    try:
        data = np.load(str(path), mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a valid .npy file ({exc}); is it truncated?") from None
    check_dtype(data.dtype, str(path))
    if data.ndim == 2:
        data = data[np.newaxis]
    check_ndim(data.shape, str(path), "a volume (nz, ny, nx)" if volume else "a stack of images (n_images, rows, cols)")
    return Stack(data=data, meta={"format": "npy", "path": str(path)})


def write_npy(path, data, pixel_size_um=None, angles_rad=None):
    """Write ``data`` as ``.npy`` (pixel size and angles are not stored)."""
    with open(path, "wb") as fh:
        np.save(fh, np.asarray(data))
