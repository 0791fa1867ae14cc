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
from ..geometry import ScanGeometry, VolumeGeometry
from ..nullspace import null_space
from ..optics import ZonePlate
from ..operators import stack
from ..projectors import projector
from ..reconstruct import Scan, reconstruct
from ..simulate import band_limit, simulate_projections
from ..solvers import Oracle
from ._common import zone_plate_data

__all__ = ["DemoConfig", "DemoResult", "cell_slab", "run_demo", "plot_demo"]


@dataclass
class DemoConfig:
    """Sizes of the demo problem (µm and counts)."""

    nz: int = 4
    n_xy: int = 200
    voxel_size: float = 0.05
    roi_diameter: float = 4.0
    roi_center: tuple = (0.8, -0.6)
    n_interior: int = 180
    n_sparse: int = 9
    sparse_pixel_factor: float = 2.0
    n_dense: int = 180
    iterations: int = 150
    null_iterations: int = 40
    patience: int = 20  # stop once the ROI PSNR has not improved for this many iterations
    phantom: str = "auto"  # 'auto'/'cell' (physical cell phantom) or 'slab'
    psf: str = "zoneplate"  # 'zoneplate' (in-focus XM-2 PSF), 'depth' (depth-dependent), 'gaussian', 'none'
    ozw_interior: float = 0.035  # µm, the high-resolution objective
    ozw_sparse: float = 0.060  # µm, the low-resolution objective
    seed: int = 0
    tv: bool = False  # also the combined reconstruction with TV and an automatic λ (method='tv')
    tv_iterations: int = 60

    @classmethod
    def small(cls):
        """A few-second variant for tests."""
        return cls(nz=2, n_xy=96, voxel_size=0.1, roi_diameter=3.6, roi_center=(0.9, -0.5),
                   n_interior=90, n_sparse=9, n_dense=90, iterations=100, null_iterations=40)


def cell_slab(volume, seed=0):
    """A synthetic cell slab: LAC (1/µm) ellipses for cytoplasm, nucleus, organelles.

    Values follow typical water-window LACs (cytoplasm ≈ 0.25, nucleus ≈ 0.3,
    lipid droplets ≈ 0.6 1/µm); fine texture makes the interior detail matter.
    """
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(volume.coords("z"), volume.coords("y"), volume.coords("x"), indexing="ij")
    cx, cy, _ = volume.center
    x, y = x - cx, y - cy
    half = 0.45 * min(volume.extent[0], volume.extent[1])

    def ellipse(x0, y0, a, b, phi=0.0):
        c, s = np.cos(phi), np.sin(phi)
        xr, yr = (x - x0) * c + (y - y0) * s, -(x - x0) * s + (y - y0) * c
        return (xr / a) ** 2 + (yr / b) ** 2 <= 1.0

    lac = np.zeros(volume.shape, dtype=np.float32)
    cell = ellipse(0, 0, half, 0.85 * half, 0.3)
    lac[cell] = 0.25
    lac[ellipse(-0.25 * half, 0.1 * half, 0.42 * half, 0.33 * half, -0.4)] = 0.31  # nucleus
    lac[ellipse(-0.3 * half, 0.05 * half, 0.1 * half, 0.08 * half)] = 0.38  # nucleolus
    for _ in range(18):  # mitochondria and vesicles, inside the cytoplasm
        r, t = 0.75 * half * np.sqrt(rng.random()), 2 * np.pi * rng.random()
        a = half * rng.uniform(0.03, 0.12)
        shape = ellipse(r * np.cos(t), r * np.sin(t), a, a * rng.uniform(0.3, 1.0), rng.uniform(0, np.pi))
        lac[shape & cell] = rng.choice([0.33, 0.36, 0.6, 0.18])
    texture = rng.standard_normal(volume.shape[1:]).astype(np.float32)
    from scipy.ndimage import gaussian_filter

    texture = gaussian_filter(texture, 1.0)
    lac += np.where(cell, 0.02 * texture / texture.std(), 0.0).astype(np.float32)
    lac *= (1.0 + 0.05 * np.cos(2 * np.pi * z / max(volume.extent[2], 1e-6))).astype(np.float32)
    return np.clip(lac, 0, None).astype(np.float32)


def _phantom(config, volume):
    if config.phantom in ("auto", "cell"):
        # The cell phantom ships with isxt: a failing import is a bug to surface,
        # not a reason to quietly image another sample.
        from ..phantoms import cell_phantom

        return np.asarray(cell_phantom(volume, seed=config.seed).lac, dtype=np.float32)
    return cell_slab(volume, seed=config.seed)


def _simulate(config, fine, scan, truth_fine, ozw):
    """Noiseless projections of the fine phantom through the chosen optics model."""
    if config.psf == "none":
        return projector(fine, scan).forward(truth_fine)
    if config.psf == "gaussian":  # the paper's band-limited study: intensity blur, FWHM = OZW
        return band_limit(projector(fine, scan).forward(truth_fine), ozw, scan.pixel_size)
    if config.psf == "zoneplate":  # the in-focus, polychromatic XM-2 zone-plate PSF, on intensities
        kernel = ZonePlate.xm2(round(ozw * 1000)).psf_2d(0.0, scan.pixel_size)
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
    s = config.voxel_size
    vol = VolumeGeometry((config.nz, config.n_xy, config.n_xy), s)
    fine = VolumeGeometry((2 * config.nz, 2 * config.n_xy, 2 * config.n_xy), s / 2)
    interior = ScanGeometry.interior(vol, config.n_interior, s, config.roi_diameter, config.roi_center)
    sparse = ScanGeometry.full_field(vol, config.n_sparse, config.sparse_pixel_factor * s)
    dense = ScanGeometry.full_field(vol, config.n_dense, s)
    return vol, fine, {"interior": interior, "sparse": sparse, "dense": dense}


def run_demo(config=None, progress=True):
    """Run the demo; returns a :class:`DemoResult` with the table rows.

    Each row: method, ROI PSNR, whole-cell PSNR, ROI null-space fraction,
    best iteration and seconds.
    """
    config = config or DemoConfig()
    vol, fine, scans = _geometries(config)
    truth_fine = _phantom(config, fine)
    # the reference at the reconstruction grid: 2×2×2 block mean of the fine phantom
    truth = truth_fine.reshape(vol.nz, 2, vol.ny, 2, vol.nx, 2).mean(axis=(1, 3, 5)).astype(np.float32)
    ozw = {"interior": config.ozw_interior, "sparse": config.ozw_sparse, "dense": config.ozw_interior}
    data = {name: _simulate(config, fine, geom, truth_fine, ozw[name]) for name, geom in scans.items()}
    roi_mask = vol.cylinder_mask(config.roi_diameter / 2 - 2 * config.voxel_size, config.roi_center)
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
                                  iterations=config.tv_iterations, progress=progress, return_info=True)
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vol, cfg = result.volume, result.config
    k = vol.nz // 2
    names = ["truth", "interior", "sparse", "combined"]
    images = [result.truth[k]] + [result.reconstructions[n][k] for n in names[1:]]
    vmin, vmax = 0.0, float(np.percentile(result.truth, 99.5)) * 1.15
    extent = [vol.coords("x")[0], vol.coords("x")[-1], vol.coords("y")[0], vol.coords("y")[-1]]
    fig, axes = plt.subplots(2, 4, figsize=(14, 7), gridspec_kw={"height_ratios": [3, 1.4]})
    theta = np.linspace(0, 2 * np.pi, 200)
    rx, ry = cfg.roi_center
    r = cfg.roi_diameter / 2
    for ax, img, name in zip(axes[0], images, names):
        im = ax.imshow(img, origin="lower", cmap="gray", vmin=vmin, vmax=vmax, extent=extent)
        ax.plot(rx + r * np.cos(theta), ry + r * np.sin(theta), "y--", lw=0.8)
        ax.set_title(name)
        ax.set_xlabel("x (µm)")
    axes[0][0].set_ylabel("y (µm)")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="LAC (1/µm)")
    j = int(round(vol.index_of(0, ry, 0)[1]))
    xs = vol.coords("x")
    gs = axes[1][0].get_gridspec()
    for ax in axes[1]:
        ax.remove()
    prof = fig.add_subplot(gs[1, :])
    for img, name in zip(images, names):
        prof.plot(xs, img[j], label=name, lw=1.2 if name != "truth" else 2, color="k" if name == "truth" else None)
    prof.axvspan(rx - r, rx + r, color="y", alpha=0.15, label="ROI")
    prof.set_xlabel("x (µm)")
    prof.set_ylabel("LAC (1/µm)")
    prof.legend(ncol=5, fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
