"""Use a volume from a file (MRC, TIFF, NumPy) as a phantom."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._deprecate import renamed_kwargs
from ..errors import InputError
from ..geometry import VolumeGeometry
from .base import LABELS
from .base import Phantom
from .materials import DEFAULT_MATERIALS

__all__ = ["load_phantom"]

_ANGSTROM_PER_UM = 1e4


def _mrc_voxel_size(path):
    import mrcfile

    with mrcfile.open(path, permissive=True) as mrc:
        data = np.asarray(mrc.data)
        vs = mrc.voxel_size
        sizes = np.array([float(vs.x), float(vs.y), float(vs.z)])
    # MRC stores the voxel size in Å; 0 means "not set".
    if np.all(sizes > 0):
        if not np.allclose(sizes, sizes[0], rtol=1e-4):
            raise InputError(f"{path}: voxels are not cubic ({sizes} Å); resample to cubic voxels first")
        return data, sizes[0] / _ANGSTROM_PER_UM
    return data, None


def _tiff_voxel_size(path):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        data = tif.asarray()
        voxel = None
        meta = tif.imagej_metadata or {}
        unit = str(meta.get("unit", "")).lower().replace("\\u00b5", "µ")
        tags = tif.pages[0].tags
        if unit in ("micron", "um", "µm", "microns") and "XResolution" in tags:
            num, den = tags["XResolution"].value
            if num > 0:
                voxel = den / num  # pixels per µm -> µm per pixel
    return data, voxel


@renamed_kwargs(voxel_size="voxel_size_um", center="center_um")
def load_phantom(path, voxel_size_um=None, energy_ev=517.0, center_um=(0.0, 0.0, 0.0)):
    """Read a LAC volume (values in 1/µm) from a file.

    Parameters
    ----------
    path : str or Path
        ``.mrc``/``.rec``/``.map`` (voxel size from the header, Å → µm),
        ``.tif``/``.tiff`` (voxel size from ImageJ metadata in µm, if present)
        or ``.npy``.
    voxel_size_um : float, optional
        Voxel edge in µm; overrides the file's header (``voxel_size=`` is the deprecated name). Required for ``.npy``
        and for files whose header has none.
    energy_ev : float
        Photon energy the LAC values belong to (recorded, not used).
    center_um : tuple of float
        ``(cx, cy, cz)`` of the volume in µm (``center=`` is the deprecated name).

    Returns
    -------
    Phantom
        Labels are ``sample`` where the LAC is non-zero, ``background`` elsewhere.
        A 2-D image becomes a single slice ``(1, ny, nx)``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"phantom file {path} does not exist")
    suffix = path.suffix.lower()
    header_voxel = None
    try:
        if suffix in (".mrc", ".rec", ".map", ".st"):
            data, header_voxel = _mrc_voxel_size(path)
        elif suffix in (".tif", ".tiff"):
            data, header_voxel = _tiff_voxel_size(path)
        elif suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            raise InputError(f"{path}: unknown phantom format {suffix!r}; use .mrc, .tif/.tiff or .npy")
    except InputError:
        raise
    except Exception as exc:  # a corrupt file: report it as bad input
        raise InputError(f"{path}: cannot be read as a volume ({exc})") from exc

    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3-D volume (nz, ny, nx) or a 2-D slice, got an array of shape {data.shape}")
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise InputError(f"{path}: expected real numbers (LAC in 1/µm), got dtype {data.dtype}")
    data = data.astype(np.float32)
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path}: the volume contains NaN or infinite values")

    voxel_size = header_voxel if voxel_size_um is None else voxel_size_um
    if voxel_size is None:
        raise InputError(
            f"{path}: no voxel size in the file; pass voxel_size_um, e.g. load_phantom(path, voxel_size_um=0.02)"
        )
    voxel_size = float(voxel_size)
    if not np.isfinite(voxel_size) or voxel_size <= 0:
        raise InputError(f"{path}: voxel size must be a positive length in µm, got {voxel_size}")

    geometry = VolumeGeometry(data.shape, voxel_size, center_um)
    labels = np.where(data != 0, LABELS["sample"], LABELS["background"]).astype(np.uint8)
    return Phantom(
        lac=np.ascontiguousarray(data),
        labels=labels,
        label_names={LABELS["background"]: "background", LABELS["sample"]: "sample"},
        geometry=geometry,
        energy_ev=float(energy_ev),
        materials={"sample": DEFAULT_MATERIALS["sample"]},
        info={"kind": "file", "path": str(path)},
    )
