"""The shifts file: one CSV per scan, and a PNG of the shifts against angle.

Columns: ``index,angle_deg,du_um,dv_um,du_px,dv_px,flag``. ``du_um, dv_um``
are what goes into ``ScanGeometry.with_shifts`` (the detector centre moves by
them); ``*_px`` are the same in that scan's detector pixels. ``flag`` is one
of :data:`isxt.align.quality.FLAGS`.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path
from .quality import FLAGS, AlignmentResult

__all__ = ["COLUMNS", "write_shifts_csv", "read_shifts_csv", "plot_shifts"]

COLUMNS = ("index", "angle_deg", "du_um", "dv_um", "du_px", "dv_px", "flag")


@contextlib.contextmanager
def _target(path, overwrite, atomic):
    """The path to write: a temporary one renamed on success, or ``path`` itself (inside a caller's transaction)."""
    if atomic:
        with atomic_path(path, overwrite=overwrite) as tmp:
            yield tmp
    else:
        yield Path(path)


def write_shifts_csv(path, result, overwrite=True, atomic=True, comments=()):
    """Write an :class:`AlignmentResult` as a shifts CSV (atomically).

    Parameters
    ----------
    path : str or Path
    result : AlignmentResult
    overwrite : bool
        Replace an existing file.
    atomic : bool
        Write a temporary file and rename it (False inside an
        :class:`isxt.io.OutputTransaction`, which does that itself).
    comments : sequence of str
        Lines written first, each after ``# `` (e.g. the residual guard's
        comparison); readers skip them.

    Returns
    -------
    Path
    """
    path = Path(path)
    shifts = np.asarray(result.shifts_um, dtype=np.float64)
    px = shifts / result.pixel_size_um
    with _target(path, overwrite, atomic) as tmp:
        with open(tmp, "w", newline="") as fh:
            for line in comments:
                fh.write(f"# {line}\n")
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for i, (a, s, q, flag) in enumerate(zip(result.angles, shifts, px, result.flags)):
                w.writerow([i, f"{np.degrees(a):.6f}", f"{s[0]:.6f}", f"{s[1]:.6f}", f"{q[0]:.4f}", f"{q[1]:.4f}", flag])
    return path


def read_shifts_csv(path, n_angles=None, angles=None, angle_tol_deg=0.01):
    """Read a shifts CSV.

    Parameters
    ----------
    path : str or Path
    n_angles : int, optional
        Expected number of views (checked).
    angles : ndarray, optional
        Expected angles in radians (checked to ``angle_tol_deg``).

    Returns
    -------
    AlignmentResult
        ``shifts`` in µm ordered by ``index``; ``pixel_size`` from the ratio
        of the µm and px columns (NaN when all shifts are zero).
    """
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.lstrip().startswith("#"))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: shifts file lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
        rows = list(reader)
    if not rows:
        raise InputError(f"{path}: shifts file has no rows")
    try:
        index = np.array([int(r["index"]) for r in rows])
        ang = np.radians([float(r["angle_deg"]) for r in rows])
        um = np.array([[float(r["du_um"]), float(r["dv_um"])] for r in rows])
        px = np.array([[float(r["du_px"]), float(r["dv_px"])] for r in rows])
    except ValueError as exc:
        raise InputError(f"{path}: a value is not a number ({exc}); fix the file") from None
    flags = [r["flag"].strip() or "ok" for r in rows]
    if sorted(index.tolist()) != list(range(len(rows))):
        raise InputError(f"{path}: index column must list each view 0..{len(rows) - 1} exactly once")
    if not (np.all(np.isfinite(um)) and np.all(np.isfinite(ang))):
        raise InputError(f"{path}: shifts and angles must be finite numbers")
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise InputError(f"{path}: unknown flag(s) {', '.join(unknown)}; use one of {', '.join(FLAGS)}")
    order = np.argsort(index)
    ang, um, px = ang[order], um[order], px[order]
    flags = [flags[i] for i in order]
    if n_angles is not None and len(rows) != int(n_angles):
        raise InputError(f"{path}: {len(rows)} views in the shifts file, but the scan has {n_angles}")
    if angles is not None:
        angles = np.asarray(angles, dtype=np.float64)
        if angles.shape != ang.shape or np.max(np.abs(np.degrees(angles) - np.degrees(ang))) > angle_tol_deg:
            raise InputError(f"{path}: the angles do not match the scan's; is this the shifts file of another scan?")
    big = np.abs(px) > 1e-9
    pixel = float(np.median(um[big] / px[big])) if np.any(big) else float("nan")
    return AlignmentResult(um, flags, ang, pixel, {"path": str(path)})


def plot_shifts(path, results, anchors_deg=None, title=None, overwrite=True, atomic=True):
    """PNG of ``du`` and ``dv`` (pixels) against angle, anchors and flagged views marked.

    Parameters
    ----------
    path : str or Path
    results : dict of str → AlignmentResult
        E.g. ``{"full-field": ff, "interior": it}``.
    anchors_deg : sequence of float, optional
        Anchor angles (degrees) to mark.
    title : str, optional
    """
    from ..plotting.results import plot_shifts as draw

    with _target(Path(path), overwrite, atomic) as tmp:
        draw(tmp, results, anchors_deg, title)
    return Path(path)
