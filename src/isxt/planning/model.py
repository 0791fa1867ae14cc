"""The slab model a plan is computed on: phantom, scans, noisy data, dose per unit fluence.

A plan's numbers come from a thin slab (a few slices) through the middle of
the cell. When the planned interior pixel would make the slab larger than
``max_px`` voxels across, the slab is computed on a coarser grid of ``k``
interior pixels per voxel (the *model grid*): lengths stay physical, pixel
ratios stay those of the plan, the interior views become ``N_interior / k``
(still dense for that grid) and the photons per pixel follow the fluence.
Predicted PSNRs are then those of the model grid; the report says so.

Data are simulated from a 2× finer phantom with each lens's band limit
(Gaussian of FWHM = OZW on the intensity) and Poisson noise, never with the
operator that reconstructs them.
"""

from __future__ import annotations

import numpy as np

from .. import dose as D
from .. import metrics
from ..errors import InputError
from ..experiments._common import Setup
from ..geometry import VolumeGeometry
from ..reconstruct import reconstruct
from ..simulate import simulate_projections
from ..solvers import Oracle
from .protocol import planned_scans

__all__ = ["Slab", "build_slab", "scans_on", "simulate", "simulate_scan", "fit", "unit_doses", "frc_resolution_nm"]

#: the cell fills 1/1.12 of the slab's width: room for its rough membrane
MARGIN = 1.12


#: a slab on a reconstruction grid and on a 2× finer simulation grid: the experiments' Setup
Slab = Setup


def _file_slab(path, fine, voxel_size=None):
    """A user's LAC volume resampled onto ``fine`` (central slices, centred in xy)."""
    from scipy import ndimage

    from ..phantoms import load_phantom

    ph = load_phantom(path, voxel_size)  # positional: the keyword is voxel_size_um on newer main
    lac = np.asarray(ph.lac, dtype=np.float32)
    if lac.ndim != 3:
        raise InputError(f"--phantom {path}: need a 3D LAC volume, got {lac.ndim}D")
    zoom = ph.geometry.voxel_size_um / fine.voxel_size_um
    nz_src = max(1, int(round(fine.nz / zoom)))
    z0 = max(0, lac.shape[0] // 2 - nz_src // 2)
    src = lac[z0:z0 + nz_src]
    res = ndimage.zoom(src, (fine.nz / src.shape[0], zoom, zoom), order=1, grid_mode=True, mode="nearest")
    res = np.clip(res, 0, None)
    out = np.zeros(fine.shape, np.float32)
    for axis_out, axis_in in ((1, 1), (2, 2)):
        if res.shape[axis_in] > out.shape[axis_out]:
            a = (res.shape[axis_in] - out.shape[axis_out]) // 2
            res = np.take(res, np.arange(a, a + out.shape[axis_out]), axis=axis_in)
    oy = (out.shape[1] - res.shape[1]) // 2
    ox = (out.shape[2] - res.shape[2]) // 2
    out[: res.shape[0], oy:oy + res.shape[1], ox:ox + res.shape[2]] = res[: out.shape[0]]
    return out


def _bacteria(fine, diameter, seed, energy_ev):
    """A bacteria cluster lying in the slab (no tilt) over the cell's disc.

    About a third of the disc is covered (≈ 1.5 µm² a bacterium); fewer
    cells where the slab cannot hold them.
    """
    from .. import phantoms

    n = max(2, int(0.3 * np.pi * diameter**2 / 4 / 1.5))
    while True:
        try:
            return phantoms.bacteria_phantom(fine, n_cells=n, seed=seed, energy_ev=energy_ev, max_tilt_deg=0.0).lac
        except InputError:
            if n <= 2:
                raise
            n = max(2, n // 2)


def build_slab(cell_diameter, roi_diameter, roi_center, voxel_size, nz=2, phantom="cell", seed=0,
               energy_ev=517.0, phantom_voxel_size=None, roi_margin=2):
    """The slab of ``phantom`` for a cell of ``cell_diameter`` µm on a grid of ``voxel_size``.

    ``roi_center`` is relative to the cell centre (µm). ``phantom``: ``'cell'``
    (isxt's cell scaled to the diameter), ``'bacteria'`` (a cluster filling
    the slab) or a LAC volume file (its central slices).
    """
    from .. import phantoms

    n = int(np.ceil(cell_diameter * MARGIN / voxel_size))
    n += n % 2
    vol = VolumeGeometry((nz, n, n), voxel_size)
    fine = VolumeGeometry((2 * nz, 2 * n, 2 * n), voxel_size / 2)
    if phantom == "cell":
        truth_fine = phantoms.cell_phantom(fine, seed=seed, energy_ev=energy_ev, cell_diameter_um=cell_diameter).lac
    elif phantom == "bacteria":
        truth_fine = _bacteria(fine, cell_diameter, seed, energy_ev)
    else:
        truth_fine = _file_slab(phantom, fine, phantom_voxel_size)
    truth_fine = np.asarray(truth_fine, dtype=np.float32)
    truth = truth_fine.reshape(nz, 2, n, 2, n, 2).mean(axis=(1, 3, 5)).astype(np.float32)
    if not truth.any():
        raise InputError(f"the phantom {phantom!r} is empty in the slab through the cell's centre")
    roi_mask = vol.cylinder_mask(roi_diameter / 2 - roi_margin * voxel_size, roi_center)
    cell_mask = truth > 0
    return Slab(vol, fine, truth, truth_fine, tuple(roi_center), float(roi_diameter), roi_mask, cell_mask,
                metrics.data_range(truth), {"phantom": str(phantom), "seed": int(seed)})


def scans_on(slab, n_interior, n_full, interior_pixel, full_pixel):
    """:func:`isxt.planning.protocol.planned_scans` on the slab's grid."""
    return planned_scans(slab.volume, n_interior, n_full, interior_pixel, full_pixel, slab.roi_diameter,
                         slab.roi_center)


def simulate(slab, scan, fwhm_um, photons=None, seed=0):
    """:class:`~isxt.simulate.SimulatedProjections` of ``scan`` from the fine phantom, band-limited by the
    lens (Gaussian of FWHM = OZW), with Poisson noise for ``photons`` per pixel."""
    return simulate_projections(slab.truth_fine, slab.fine, scan, psf=fwhm_um, photons=photons, seed=seed,
                                flat_field="flat")


def simulate_scan(slab, scan, fwhm_um, photons=None, seed=0):
    """Absorption data ``−ln(I/I0)`` of :func:`simulate`."""
    return simulate(slab, scan, fwhm_um, photons, seed).absorption


def fit(slab, scans, iterations, patience=None, precondition=True):
    """CGLS stopped at the best ROI PSNR: ``(x, best_psnr_db, best_iteration)``."""
    peak = slab.peak
    oracle = Oracle(slab.truth, metric=lambda x, t: metrics.psnr(x, t, data_range=peak), mask=slab.roi_mask,
                    patience=patience)
    x = reconstruct(scans, slab.volume, method="cgls", iterations=iterations, stop=oracle, precondition=precondition,
                    check=False)  # judged against the phantom
    return x, float(oracle.best_value), int(oracle.best_iteration)


def unit_doses(slab, scan, energy_ev):
    """Dose map (Gy) of ``scan`` per view at unit fluence (1 photon/µm²)."""
    photons = scan.pixel_size_um**2  # one photon per µm²
    return D.dose_map(slab.truth, slab.volume, scan, photons, energy_ev=energy_ev, progress=False) / scan.n_angles


def frc_resolution_nm(x, slab, sampling_limited=False):
    """FRC (1/7 threshold) of the central slice against the truth on the square inside the ROI.

    Returns ``(nm, note)``. When the curve stays above the threshold up to
    the grid's Nyquist frequency, the reconstruction resolves all the grid
    holds: with ``sampling_limited`` (the grid is the planned pixel) the
    resolution is the Nyquist period, 2 pixels; otherwise (a coarser model
    grid) it cannot be measured and is NaN. The note says which.
    """
    vol = slab.volume
    s = vol.voxel_size_um
    half = int(np.floor(slab.roi_diameter / (2 * np.sqrt(2)) / s))
    if half < 4:
        return float("nan"), "the ROI spans too few voxels of the model grid for an FRC"
    cy, cx = (int(round(v)) for v in vol.index_of(slab.roi_center[0], slab.roi_center[1], vol.center_um[2])[1:])
    k = vol.nz // 2
    sl = (k, slice(cy - half, cy + half), slice(cx - half, cx + half))
    res = metrics.frc(x[sl], slab.truth[sl], pixel_size_um=s).resolution("1/7")
    if res is not None:
        return float(res), ""
    if sampling_limited:
        return 2 * s * 1000, f"FRC above 1/7 up to Nyquist: sampling-limited, the pixel's Nyquist period {2 * s * 1000:.0f} nm"
    return float("nan"), (f"FRC stays above 1/7 up to the model grid's Nyquist period ({2 * s * 1000:.0f} nm): "
                          "finer than the model can show, not measurable")
