"""Acquisition files (TOML): a combined experiment, validated before any heavy work.

:func:`load_acquisition` reads the file, opens every stack (memory-mapped),
and checks everything a reconstruction needs; all problems are collected and
reported at once, each with the file, the key or image, and the fix.
:func:`prepare_scans` then turns the acquisition into :class:`isxt.Scan`
objects (preprocessing, optional absorption calibration), and
:meth:`Acquisition.to_toml` writes one back. The format is documented key by
key in ``docs/acquisition.md``.

Modules: :mod:`.schema` (keys, checkers, specs, the TOML writer),
:mod:`.sections` and :mod:`.load` (reading), :mod:`.resources` (memory and
time estimates), :mod:`.preprocess` (specs to scans).
"""

from __future__ import annotations

from ..calibration import run_calibration
from .load import load_acquisition
from .preprocess import PreparedScans, prepare_scans
from .resources import MEMORY_FRACTION, available_memory, memory_estimate, time_estimate
from .schema import BACKENDS, KINDS, SCHEMA, STOPS, Acquisition, Problems, ScanSpec, acquisition_toml, dumps, to_toml

__all__ = [
    "Acquisition",
    "ScanSpec",
    "PreparedScans",
    "Problems",
    "load_acquisition",
    "prepare_scans",
    "run_calibration",
    "memory_estimate",
    "time_estimate",
    "available_memory",
    "to_toml",
    "acquisition_toml",
    "dumps",
    "SCHEMA",
    "KINDS",
    "STOPS",
    "BACKENDS",
    "MEMORY_FRACTION",
]
