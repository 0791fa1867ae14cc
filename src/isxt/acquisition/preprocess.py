"""From a validated acquisition to :class:`isxt.Scan` objects: :func:`prepare_scans`.

Per scan: crop → flat/dark normalisation (raw) → (absorption calibration of
the target scan, App. B.2) → absorption ``-ln T`` with the clip rule →
binning; the crop and bin offsets go into the scan's geometry
(:meth:`ScanSpec.geometry`, :func:`isxt.preprocess.crop_offset`). The array
operations themselves are :mod:`isxt.preprocess`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import preprocess
from ..calibration import run_calibration
from ..errors import InputError
from ..scan import Scan

__all__ = ["PreparedScans", "prepare_scans", "transmission", "absorption", "to_scan"]


@dataclass
class PreparedScans:
    """The scans ready for :func:`isxt.reconstruct`, and what preprocessing did."""

    scans: list
    report: dict
    calibration: object = None


def transmission(spec):
    """Cropped float32 transmission of a scan (flat/dark-normalised when raw); None for absorption data."""
    return preprocess.scan_transmission(spec.stack.data, spec.kind, *spec.crop_args, flats=spec.flats,
                                        darks=spec.darks, where=spec.name)


def absorption(spec, t):
    """Binned absorption data of a scan from its transmission ``t`` (None: its absorption file), and the clip report."""
    if t is None:
        data, _ = preprocess.crop(spec.stack.data, *spec.crop_args)
        y = np.asarray(data, dtype=np.float32)
        clip = preprocess.ClipReport(0, y.size, None)
    else:
        y, clip = preprocess.absorption(t, spec.clip_transmission, where=f"scan {spec.name!r}")
    y, _ = preprocess.bin_images(y, spec.bin, where=f"scan {spec.name!r}")
    return y, clip


def to_scan(spec, y):
    """The :class:`isxt.Scan` of a spec and its preprocessed absorption data."""
    return Scan(spec.geometry(), y, name=spec.name, weights=None if spec.weight == 1.0 else spec.weight,
                psf=spec.psf_fwhm_um, photons=spec.photons, meta={"file": str(spec.file)})


def prepare_scans(acq, calibrate=True):
    """Preprocess every scan of ``acq`` into an :class:`isxt.Scan`.

    Steps per scan: crop → flat/dark normalisation (raw) → absorption
    ``-ln T`` with the clip rule → binning. If the acquisition has a
    ``[calibration]`` with ``apply = true`` (and ``calibrate``), the target
    scan's transmission is corrected first (App. B.2), but only when the
    correction lowers the cross-scan inconsistency.

    Returns
    -------
    PreparedScans
    """
    trans = {s.name: transmission(s) for s in acq.scans}
    report = {"scans": {}}
    result = None
    cal = acq.calibration
    if calibrate and cal and cal.get("apply"):
        result = run_calibration(acq, trans)
        target = acq.scan(cal["target"])
        decision = _calibration_decision(acq, result, trans)
        if decision["applied"]:
            trans[target.name] = result.correct(trans[target.name])
        report["calibration"] = {**result.to_dict(), **decision}
    scans = []
    for spec in acq.scans:
        y, clip = absorption(spec, trans[spec.name])
        scans.append(to_scan(spec, y))
        report["scans"][spec.name] = clip.to_dict()
    return PreparedScans(scans, report, result)


def _calibration_decision(acq, result, trans):
    """Apply a calibration only when it lowers the cross-scan inconsistency (never one that fits worse)."""
    from ..consistency import cross_residuals

    if result.model == "none":
        return {"applied": False, "reason": "the criterion chose 'none': no correction earns its parameters"}
    ref, target = acq.scan(acq.calibration["reference"]), acq.scan(acq.calibration["target"])
    corrected = result.correct(trans[target.name])
    try:
        candidates = [to_scan(target, absorption(target, t)[0]) for t in (trans[target.name], corrected)]
    except InputError as exc:
        return {"applied": False, "reason": f"the corrected data cannot be used: {exc}"}
    before, after = cross_residuals(to_scan(ref, absorption(ref, trans[ref.name])[0]), candidates, acq.volume,
                                    backend=acq.reconstruction["backend"])
    out = {"cross_before": before, "cross_after": after}
    if not np.isfinite(before) or not np.isfinite(after):
        return {**out, "applied": False, "reason": f"scan {ref.name!r} cannot predict {target.name!r}'s data, so "
                "the gain of the correction cannot be checked"}
    if after >= before:
        return {**out, "applied": False, "reason": f"it does not lower the cross-scan residual ({before:.4f} → "
                f"{after:.4f})"}
    return {**out, "applied": True, "reason": f"it lowers the cross-scan residual from {before:.4f} to {after:.4f}"}
