"""The main job on built-in data: interior-only vs sparse-only vs combined (paper Fig. 2).

A synthetic cell slab is scanned twice: a dense interior scan (narrow detector,
fine pixel, following an off-centre ROI) and a sparse full-field scan (few
views, 2× pixel). Data are simulated from a phantom at twice the
reconstruction resolution, so the reconstruction does not share the
simulation's discretisation (no inverse crime), through the XM-2 zone-plate
optics (35 nm objective for the interior scan, 60 nm for the sparse one; the
in-focus PSF by default, the depth-dependent model with ``psf="depth"``). Each reconstruction stops at
its best PSNR against the phantom (the paper's oracle rule).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import metrics
from .._deprecate import renamed_fields
from ..geometry import ScanGeometry, VolumeGeometry
from ..nullspace import null_space
from ..optics import OZW_HIGH_RES_UM, OZW_LOW_RES_UM, ZonePlate
from ..operators import stack
from ..phantoms import cell_slab, fine_and_coarse  # noqa: F401  (cell_slab: its old home)
from ..projectors import projector
from ..reconstruct import Scan, reconstruct
from ..simulate import band_limit, simulate_projections
from ..solvers import Oracle
from ._common import zone_plate_data

__all__ = ["DemoConfig", "DemoResult", "cell_slab", "run_demo", "plot_demo"]


@renamed_fields(voxel_size="voxel_size_um", roi_diameter="roi_diameter_um", roi_center="roi_center_um",
                ozw_interior="ozw_interior_um", ozw_sparse="ozw_sparse_um")
@dataclass
class DemoConfig:
    """Sizes of the demo problem (µm and counts).

    ``voxel_size``, ``roi_diameter``, ``roi_center``, ``ozw_interior`` and
    ``ozw_sparse`` are the deprecated names of the ``_um`` fields.
    """

    nz: int = 4
    n_xy: int = 200
    voxel_size_um: float = 0.05
    roi_diameter_um: float = 4.0
    roi_center_um: tuple = (0.8, -0.6)
    n_interior: int = 180
    n_sparse: int = 9
    sparse_pixel_factor: float = 2.0
    n_dense: int = 180
    iterations: int = 150
    null_iterations: int = 40
    patience: int = 20  # stop once the ROI PSNR has not improved for this many iterations
    phantom: str = "auto"  # 'auto'/'cell' (physical cell phantom) or 'slab'
    psf: str = "zoneplate"  # 'zoneplate' (in-focus XM-2 PSF), 'depth' (depth-dependent), 'gaussian', 'none'
    ozw_interior_um: float = OZW_HIGH_RES_UM  # the high-resolution objective
    ozw_sparse_um: float = OZW_LOW_RES_UM  # the low-resolution objective
    seed: int = 0
    tv: bool = False  # also the combined reconstruction with TV and an automatic λ (method='tv')
    tv_iterations: int = 60

    @classmethod
    def small(cls):
        """A few-second variant for tests."""
        return cls(nz=2, n_xy=96, voxel_size_um=0.1, roi_diameter_um=3.6, roi_center_um=(0.9, -0.5),
                   n_interior=90, n_sparse=9, n_dense=90, iterations=100, null_iterations=40)


def _phantom(config, volume):
    """The phantom on the 2× finer simulation grid and its block mean on ``volume``."""
    # 'auto' is the cell phantom that ships with isxt: a failing import is a bug to
    # surface, not a reason to quietly image another sample
    name = "cell" if config.phantom in ("auto", "cell") else "slab"
    return fine_and_coarse(name, volume, seed=config.seed)


def _simulate(config, fine, scan, truth_fine, ozw):
    """Noiseless projections of the fine phantom through the chosen optics model."""
    if config.psf == "none":
        return projector(fine, scan).forward(truth_fine)
    if config.psf == "gaussian":  # the paper's band-limited study: intensity blur, FWHM = OZW
        return band_limit(projector(fine, scan).forward(truth_fine), ozw, scan.pixel_size_um)
    if config.psf == "zoneplate":  # the in-focus, polychromatic XM-2 zone-plate PSF, on intensities
        kernel = ZonePlate.xm2(round(ozw * 1000)).psf_2d(0.0, scan.pixel_size_um)
        return simulate_projections(truth_fine, fine, scan, psf=kernel).absorption
    if config.psf == "depth":  # depth-dependent PSF of the XM-2 zone plate, focus on the axis
        return zone_plate_data(fine, truth_fine, scan, ZonePlate.xm2(round(ozw * 1000)))
    raise ValueError(f"unknown psf model {config.psf!r}; use 'zoneplate', 'depth', 'gaussian' or 'none'")


@dataclass
class DemoResult:
    config: DemoConfig
    volume: VolumeGeometry
    truth: np.ndarray
    roi_mask: np.ndarray
    reconstructions: dict = field(default_factory=dict)
    table: list = field(default_factory=list)


def _geometries(config):
    s = config.voxel_size_um
    vol = VolumeGeometry((config.nz, config.n_xy, config.n_xy), s)
    interior = ScanGeometry.interior(vol, config.n_interior, s, config.roi_diameter_um, config.roi_center_um)
    sparse = ScanGeometry.full_field(vol, config.n_sparse, config.sparse_pixel_factor * s)
    dense = ScanGeometry.full_field(vol, config.n_dense, s)
    return vol, {"interior": interior, "sparse": sparse, "dense": dense}


def run_demo(config=None, progress=True):
    """Run the demo; returns a :class:`DemoResult` with the table rows.

    Each row: method, ROI PSNR, whole-cell PSNR, ROI null-space fraction,
    best iteration and seconds.
    """
    config = config or DemoConfig()
    vol, scans = _geometries(config)
    ph = _phantom(config, vol)  # the reference on the reconstruction grid is the fine phantom's block mean
    fine, truth_fine, truth = ph.fine, ph.lac_fine, ph.lac
    ozw = {"interior": config.ozw_interior_um, "sparse": config.ozw_sparse_um, "dense": config.ozw_interior_um}
    data = {name: _simulate(config, fine, geom, truth_fine, ozw[name]) for name, geom in scans.items()}
    roi_mask = vol.cylinder_mask(config.roi_diameter_um / 2 - 2 * config.voxel_size_um, config.roi_center_um)
    cell_mask = np.broadcast_to(truth.max(axis=0) > 0, vol.shape)
    rng_peak = metrics.data_range(truth)
    result = DemoResult(config, vol, truth, roi_mask)

    setups = {
        "interior": ["interior"],
        "sparse": ["sparse"],
        "combined": ["interior", "sparse"],
        "dense": ["dense"],
    }
    if config.tv:
        setups["combined_tv"] = ["interior", "sparse"]
    for method, names in setups.items():
        t0 = time.perf_counter()
        if method == "combined_tv":  # no oracle: λ by the L-curve (noiseless data, no photon counts)
            x, info = reconstruct([Scan(scans[n], data[n], name=n) for n in names], vol, method="tv",
                                  iterations=config.tv_iterations, progress=progress, return_info=True,
                                  check=False)  # judged against the phantom
            result.reconstructions[method] = x
            result.table.append({"method": method, "psnr_roi": metrics.psnr(x, truth, mask=roi_mask, data_range=rng_peak),
                                 "psnr_cell": metrics.psnr(x, truth, mask=cell_mask, data_range=rng_peak),
                                 **{k: next(r[k] for r in result.table if r["method"] == "combined")
                                    for k in ("null_roi", "null_volume")},
                                 "best_iteration": info["iterations"], "seconds": time.perf_counter() - t0})
            continue
        oracle = Oracle(truth, metric=lambda x, t: metrics.psnr(x, t, mask=roi_mask, data_range=rng_peak),
                        patience=config.patience)
        x = reconstruct(
            [Scan(scans[n], data[n], name=n) for n in names],
            vol,
            method="cgls",
            iterations=config.iterations,
            stop=oracle,
            progress=progress,
            check=False,  # simulated data judged against the truth (see oracle_reconstruct)
        )
        seconds = time.perf_counter() - t0
        A = stack([projector(vol, scans[n]) for n in names])
        ns = null_space(A, truth, iterations=config.null_iterations, method="cgls", roi_mask=roi_mask)
        result.reconstructions[method] = x
        result.table.append(
            {
                "method": method,
                "psnr_roi": metrics.psnr(x, truth, mask=roi_mask, data_range=rng_peak),
                "psnr_cell": metrics.psnr(x, truth, mask=cell_mask, data_range=rng_peak),
                "null_roi": ns.fraction_roi,
                "null_volume": ns.fraction,
                "best_iteration": oracle.best_iteration,
                "seconds": seconds,
            }
        )
    return result


def format_table(rows):
    header = f"{'method':<10} {'ROI PSNR':>9} {'cell PSNR':>10} {'ROI null':>9} {'vol null':>9} {'iter':>5} {'time':>7}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['method']:<10} {r['psnr_roi']:>8.2f}  {r['psnr_cell']:>9.2f}  {r['null_roi']:>9.4f} "
            f"{r['null_volume']:>9.4f} {r['best_iteration']:>5d} {r['seconds']:>6.1f}s"
        )
    return "\n".join(lines)


def plot_demo(result, path):
    """A Fig. 2-like panel: phantom and reconstructions, with a line profile through the ROI."""
    from ..plotting.experiments import plot_demo as draw

    return draw(result, path)
