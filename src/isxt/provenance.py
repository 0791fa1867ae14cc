"""Provenance records (JSON) and quick-look images for reconstructions."""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

__all__ = ["sha256", "provenance_record", "write_json", "write_quicklook"]


def sha256(path, chunk=1 << 20):
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def provenance_record(inputs, parameters, result=None, timings=None, argv=None, extra=None):
    """A provenance dictionary.

    Parameters
    ----------
    inputs : list of Path
        Files read; each gets its size and SHA-256.
    parameters : dict
        Every resolved parameter (units in the key names).
    result : dict, optional
        Solver info (iterations, residual history, ...).
    timings : dict, optional
        Seconds per stage.
    argv : list of str, optional
        The command line.
    """
    from . import __version__

    import numpy
    import scipy

    return _jsonable({
        "isxt_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command_line": list(sys.argv if argv is None else argv),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "inputs": [{"path": str(p), "bytes": Path(p).stat().st_size, "sha256": sha256(p)} for p in inputs],
        "parameters": parameters,
        "result": result or {},
        "timings_s": timings or {},
        **(extra or {}),
    })


def write_json(path, record):
    """Write ``record`` as indented JSON (NaN written as null)."""
    text = json.dumps(record, indent=2, allow_nan=False, default=str) if _finite(record) else json.dumps(
        _nan_to_none(record), indent=2, default=str)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _finite(obj):
    if isinstance(obj, float):
        return np.isfinite(obj)
    if isinstance(obj, dict):
        return all(_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_finite(v) for v in obj)
    return True


def _nan_to_none(obj):
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def write_quicklook(path, volume, voxel_size_um, center_um=(0.0, 0.0, 0.0), title=None, roi=None):
    """PNG of the three orthogonal central slices at true aspect, ROIs outlined (:func:`isxt.plotting.results.write_quicklook`)."""
    from .plotting.results import write_quicklook as draw

    return draw(path, volume, voxel_size_um, center_um, title=title, roi=roi)
