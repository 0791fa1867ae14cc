"""Shared pieces of the paper's experiments: phantom set-up, simulation, oracle reconstruction, claims.

The runner (:mod:`._runner`) writes every experiment's ``NAME.csv``,
``NAME.png`` and ``NAME.md`` atomically; its helpers are re-exported here.

Sizes: ``'test'`` (seconds, for the test suite), ``'small'`` (the default, a
few minutes on 2 CPU cores) and ``'paper'`` (the paper's sizes;
6-25 minutes each on 2 CPU cores).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import metrics
from ..errors import InputError
from ..geometry import VolumeGeometry
from ..plotting.experiments import resolution_text
from ..reconstruct import reconstruct
from ..simulate import simulate_projections
from ..solvers import Oracle
from ._runner import (SIZES, check_size, claims_markdown, csv_text, prepare_outputs, report, sweep_map,
                      table_markdown, verdict, write_outputs)

__all__ = [
    "SIZES",
    "check_size",
    "Setup",
    "make_setup",
    "simulate",
    "simulate_zone_plate",
    "simulate_job",
    "zone_plate_data",
    "oracle_reconstruct",
    "claim",
    "sweep_map",
    "prepare_outputs",
    "write_outputs",
    "csv_text",
    "claims_markdown",
    "table_markdown",
    "Timer",
    "report",
    "verdict",
    "resolution_or_nan",
    "resolution_text",
]


@dataclass
class Setup:
    """A phantom on the reconstruction grid and on a 2× finer simulation grid.

    Data are simulated from ``truth_fine`` on ``fine`` so that the
    reconstruction grid does not share the simulation's discretisation (no
    inverse crime); ``truth`` is its 2×2×2 block mean, the reference.
    """

    volume: VolumeGeometry
    fine: VolumeGeometry
    truth: np.ndarray
    truth_fine: np.ndarray
    roi_center: tuple
    roi_diameter: float
    roi_mask: np.ndarray
    cell_mask: np.ndarray
    peak: float
    info: dict = field(default_factory=dict)

    def psnr_roi(self, x):
        return metrics.psnr(x, self.truth, mask=self.roi_mask, data_range=self.peak)

    def psnr_volume(self, x):
        return metrics.psnr(x, self.truth, mask=self.cell_mask, data_range=self.peak)


def make_setup(nz, n_xy, voxel_size, roi_diameter, roi_center=(0.0, 0.0), seed=0, phantom="cell", roi_margin=2):
    """Build the volume, the 2× fine grid, the phantom and the ROI/cell masks.

    Parameters
    ----------
    nz, n_xy : int
        Slices and in-plane size of the reconstruction grid.
    voxel_size : float
        µm.
    roi_diameter : float
        Interior ROI diameter in µm; ``roi_mask`` is the cylinder
        ``roi_margin`` voxels inside it (the detector edge itself is not
        part of the ROI).
    roi_center : (float, float)
        µm.
    phantom : {'cell', 'bacteria'}
        :func:`isxt.phantoms.cell_phantom` or ``bacteria_phantom``.
    """
    from ..phantoms import fine_and_coarse

    vol = VolumeGeometry((nz, n_xy, n_xy), voxel_size)
    if phantom not in ("cell", "bacteria"):
        raise InputError(f"unknown phantom {phantom!r}; use 'cell' or 'bacteria'")
    ph = fine_and_coarse(phantom, vol, seed=seed)
    fine, truth_fine, truth = ph.fine, ph.lac_fine, ph.lac
    roi_mask = vol.cylinder_mask(roi_diameter / 2 - roi_margin * voxel_size, roi_center)
    cell_mask = np.broadcast_to(truth.max(axis=0) > 0, vol.shape).copy()
    return Setup(
        vol, fine, truth, truth_fine, tuple(roi_center), float(roi_diameter), roi_mask, cell_mask,
        metrics.data_range(truth), {"phantom": phantom, "seed": seed},
    )


def simulate(setup, scan, psf=None, photons=None, seed=0, flat_field="flat"):
    """Absorption data of ``scan`` simulated from the fine phantom (see :func:`isxt.simulate.simulate_projections`)."""
    sim = simulate_projections(setup.truth_fine, setup.fine, scan, psf=psf, photons=photons, seed=seed,
                               flat_field=flat_field)
    return sim.absorption


def simulate_zone_plate(setup, scan, zone_plate, photons=None, seed=0, progress=False):
    """:func:`zone_plate_data` from the setup's fine phantom."""
    return zone_plate_data(setup.fine, setup.truth_fine, scan, zone_plate, photons=photons, seed=seed,
                           progress=progress)


def simulate_job(job):
    """One simulation as a sweep item: ``(setup, scan, psf[, photons, seed, progress])``.

    ``psf`` a :class:`~isxt.optics.ZonePlate` simulates through its
    depth-dependent PSF (:func:`simulate_zone_plate`, with a bar over the
    views when ``progress``), anything else through :func:`simulate`; the
    noise comes from the item's own ``seed``.
    """
    from ..optics import ZonePlate

    setup, scan, psf, *rest = job
    photons, seed, progress = [*rest, *(None, 0, False)[len(rest):]]
    if isinstance(psf, ZonePlate):
        return simulate_zone_plate(setup, scan, psf, photons=photons, seed=seed, progress=progress)
    return simulate(setup, scan, psf=psf, photons=photons, seed=seed)


def zone_plate_data(fine, truth_fine, scan, zone_plate, photons=None, seed=0, progress=False):
    """Absorption data through the depth-dependent zone-plate PSF (:meth:`DepthPSFProjector.simulate`).

    The experiments use thin slabs (a few slices) while the PSF reaches tens
    of pixels along the detector rows, and interior detectors are truncated:
    ``simulate`` loses no light at the detector's edges, where the linear
    model's zero boundary would lose 30–40 % of it on 2–8 rows. With
    ``photons``, Poisson noise is added; ``progress`` shows a bar over the
    views (minutes at the paper's sizes).
    """
    from ..simulate import DepthPSFProjector, beer_lambert, noisy_absorption

    y = DepthPSFProjector(fine, scan, zone_plate, progress=progress).simulate(truth_fine)
    if photons is None:
        return y
    return noisy_absorption(beer_lambert(y), photons, seed=seed)


def oracle_reconstruct(scans, setup, iterations, mask="roi", patience=None, progress=False, nonneg=False, method="cgls",
                       precondition=False):
    """CGLS stopped at the best PSNR against the phantom (the paper's oracle rule).

    Parameters
    ----------
    scans : list of Scan
    setup : Setup
    iterations : int
        Maximum iterations.
    mask : {'roi', 'volume'} or ndarray
        Where the oracle measures the PSNR.
    patience : int, optional
        Stop after this many iterations without improvement (noisy data).
    method : {'cgls', 'pwls'}
        ``pwls`` weights each measurement by its expected photon count
        (the scans need ``photons``), so scans of different dose combine well.
    precondition : bool
        Voxel-sensitivity preconditioning of cgls/pwls (see :func:`isxt.reconstruct`).

    Returns
    -------
    x : ndarray
    info : dict
        ``best_iteration``, ``best_psnr``, ``seconds``.
    """
    if isinstance(mask, str):
        mask = {"roi": setup.roi_mask, "volume": setup.cell_mask}[mask]
    peak = setup.peak

    def metric(x, t):
        return metrics.psnr(x, t, data_range=peak)

    oracle = Oracle(setup.truth, metric=metric, mask=mask, patience=patience)
    t0 = time.perf_counter()
    # check=False: the oracle judges against the known truth; the data-consistency
    # report is for measured data (and would flag the deliberate mismatches here).
    x = reconstruct(scans, setup.volume, method=method, iterations=iterations, stop=oracle,
                    progress=progress, nonneg=nonneg, precondition=precondition, check=False)
    return x, {"best_iteration": oracle.best_iteration, "best_psnr": oracle.best_value,
               "seconds": time.perf_counter() - t0}


def claim(passed, detail, value=None):
    """One checked claim: ``{"passed": bool or None, "detail": str, "value": float}``.

    ``value`` is the claim's number (what the tests compare with the paper's).

    ``passed=None`` means *undecided*: the numbers it compares could not be
    measured (e.g. an FRC that never crosses its threshold), so the claim is
    neither confirmed nor refuted.
    """
    value = math.nan if value is None else float(value)
    return {"passed": None if passed is None else bool(passed), "detail": str(detail), "value": value}


def resolution_or_nan(frc_result):
    """The FRC 1/7 resolution in nm, or NaN when the curve never crosses (not resolved at this sampling)."""
    res = frc_result.resolution("1/7")
    return float(res) if res is not None else math.nan


class Timer:
    """``with Timer() as t: ...; t.seconds``."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        return False
