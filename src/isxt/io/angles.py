"""Projection angles and per-view shifts from text files, with explicit units.

Angles are radians inside isxt. At the file boundary the unit is always
stated (``"deg"`` or ``"rad"``) — never guessed — and likely unit mistakes
are refused (see :func:`check_angle_unit`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["ANGLE_UNITS", "TLT_SUFFIXES", "to_radians", "check_angle_unit", "read_angles", "write_angles", "read_shifts",
           "sidecar_angles"]

#: IMOD tilt-angle files: one angle per line, always in degrees.
TLT_SUFFIXES = (".rawtlt", ".tlt")

ANGLE_UNITS = ("deg", "rad")
_UNIT_ALIASES = {"deg": "deg", "degree": "deg", "degrees": "deg", "rad": "rad", "radian": "rad", "radians": "rad"}
# A tomography scan of >= this many views never spans less than ~6.3°; if
# such angles are labelled "deg" they are almost certainly radians.
_MIN_VIEWS_FOR_DEG_CHECK = 10


def normalize_unit(unit, where="angle_unit"):
    """``'deg'`` or ``'rad'`` from a unit name (also accepts 'degree(s)', 'radian(s)')."""
    if unit is None:
        raise InputError(f"{where}: the angle unit is required; set it to 'deg' or 'rad'")
    key = str(unit).strip().lower()
    if key not in _UNIT_ALIASES:
        raise InputError(f"{where}: unknown angle unit {unit!r}; use 'deg' or 'rad'")
    return _UNIT_ALIASES[key]


def check_angle_unit(values, unit, where="angles"):
    """Refuse angles whose magnitude contradicts their stated unit.

    * ``unit='rad'`` but some ``|angle| > 2π`` → these are degrees.
    * ``unit='deg'``, at least 10 views, all ``|angle| ≤ 2π`` and not all
      equal → a "scan" covering at most 6.3° is really radians.

    Raises
    ------
    InputError
        Naming ``where`` and the unit to use instead.
    """
    values = np.asarray(values, dtype=np.float64)
    unit = normalize_unit(unit, f"{where}: unit")
    if values.size == 0:
        return
    top = float(np.max(np.abs(values)))
    if unit == "rad" and top > 2 * np.pi + 1e-6:
        raise InputError(
            f"{where}: angles up to {top:.4g} are given in 'rad' but exceed 2π; "
            "they look like degrees — set angle_unit = 'deg'"
        )
    span = float(np.ptp(values))
    if unit == "deg" and values.size >= _MIN_VIEWS_FOR_DEG_CHECK and top <= 2 * np.pi + 1e-6 and span > 0:
        raise InputError(
            f"{where}: {values.size} angles given in 'deg' span only {span:.4g}°; "
            "they look like radians — set angle_unit = 'rad'"
        )


def to_radians(values, unit, where="angles"):
    """Angles in radians from ``values`` in ``unit`` (checked with :func:`check_angle_unit`)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"{where}: angle #{bad} is not a finite number")
    check_angle_unit(values, unit, where)
    return np.radians(values) if normalize_unit(unit) == "deg" else values.copy()


def _read_table(path):
    """Rows of a text/CSV file (comma, tab or space separated; '#' comments)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (expected one angle per line or a CSV)") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [c.strip() for c in (line.split(",") if "," in line else line.split())]
        rows.append((lineno, cells))
    return rows


def read_angles(path, unit):
    """Read one angle per image from a text or CSV file.

    Accepted layouts: one number per line (IMOD ``.tlt``/``.rawtlt`` style),
    or a CSV with a header that has a column ``angle``, ``angle_deg`` or
    ``angle_rad`` (a ``_deg``/``_rad`` suffix must agree with ``unit``).

    Parameters
    ----------
    path : str or Path
    unit : {'deg', 'rad'}
        Required: the unit of the numbers in the file.

    Returns
    -------
    ndarray
        float64 angles in radians.
    """
    path = Path(path)
    unit = normalize_unit(unit, f"{path}: angle_unit")
    rows = _read_table(path)
    if not rows:
        raise InputError(f"{path}: no angles found (expected one angle per line)")
    column = 0
    header = rows[0][1]
    if not _is_number(header[0]) or len(header) > 1 and not all(_is_number(c) for c in header):
        names = [h.lower() for h in header]
        for name in ("angle_deg", "angle_rad", "angle", "tilt", "theta"):
            if name in names:
                column = names.index(name)
                break
        else:
            raise InputError(f"{path}: no angle column in header {header}; name it 'angle_deg' or 'angle_rad'")
        suffix = names[column].rsplit("_", 1)[-1]
        if suffix in ("deg", "rad") and suffix != unit:
            raise InputError(f"{path}: the column is '{names[column]}' but angle_unit = '{unit}'; make them agree")
        rows = rows[1:]
    values = []
    for lineno, cells in rows:
        try:
            values.append(float(cells[column]))
        except (ValueError, IndexError):
            raise InputError(f"{path}:{lineno}: {' '.join(cells)!r} is not an angle") from None
    return to_radians(values, unit, where=str(path))


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def sidecar_angles(path):
    """Angles (radians) from an IMOD ``<stem>.rawtlt`` or ``<stem>.tlt`` beside a stack, and that file; else ``(None, None)``."""
    path = Path(path)
    for suffix in TLT_SUFFIXES:
        side = path.with_suffix(suffix)
        if side.exists():
            return read_angles(side, "deg"), str(side)
    return None, None


def write_angles(path, angles_rad, unit="deg"):
    """Write angles one per line in ``unit`` (the inverse of :func:`read_angles`)."""
    unit = normalize_unit(unit)
    values = np.degrees(angles_rad) if unit == "deg" else np.asarray(angles_rad, dtype=np.float64)
    Path(path).write_text("".join(f"{v:.10g}\n" for v in values))


def read_shifts(path, n_views=None, angles_rad=None, angle_tolerance_deg=0.01):
    """Per-view detector shifts ``(du, dv)`` in µm from an alignment CSV.

    The file has a header with at least ``du_um`` and ``dv_um`` (the columns
    ``index, angle_deg, du_um, dv_um, du_px, dv_px, flag`` written by
    ``isxt align``). Rows are in view order.

    Parameters
    ----------
    path : str or Path
    n_views : int, optional
        Required number of rows.
    angles_rad : array_like, optional
        If given and the file has ``angle_deg``, each row's angle must match
        within ``angle_tolerance_deg``.

    Returns
    -------
    ndarray
        ``(n_views, 2)`` float64 shifts in µm.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(line for line in fh if not line.lstrip().startswith("#"))
            fields = [f.strip() for f in (reader.fieldnames or [])]
            rows = list(reader)
    except FileNotFoundError:
        raise InputError(f"{path}: shifts file not found") from None
    missing = [c for c in ("du_um", "dv_um") if c not in fields]
    if missing:
        raise InputError(f"{path}: shifts CSV needs columns du_um and dv_um (µm); missing {', '.join(missing)}")
    out = np.empty((len(rows), 2))
    file_angles = []
    for i, row in enumerate(rows):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        try:
            out[i] = float(row["du_um"]), float(row["dv_um"])
            if "angle_deg" in row and row["angle_deg"]:
                file_angles.append(float(row["angle_deg"]))
        except ValueError:
            raise InputError(f"{path}: row {i + 1} has a non-numeric du_um/dv_um/angle_deg") from None
    if not np.all(np.isfinite(out)):
        raise InputError(f"{path}: shifts contain NaN or inf")
    if n_views is not None and len(rows) != n_views:
        raise InputError(f"{path}: {len(rows)} shift rows for {n_views} images; give one row per image")
    if angles_rad is not None and len(file_angles) == len(rows) and len(rows) == len(angles_rad):
        diff = np.abs(np.asarray(file_angles) - np.degrees(angles_rad))
        if np.any(diff > angle_tolerance_deg):
            i = int(np.argmax(diff))
            raise InputError(
                f"{path}: row {i + 1} is for angle {file_angles[i]:.4g}° but image {i} is at "
                f"{np.degrees(angles_rad[i]):.4g}°; the shifts belong to another scan or order"
            )
    return out
