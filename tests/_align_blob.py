"""The blob-phantom combined acquisition with known drift used by tests/test_align.py.

(Formerly in ``isxt.experiments.alignment``; the study there now runs on the physical cell phantom.)
"""

import numpy as np
from scipy.ndimage import gaussian_filter

from isxt.align import remove_gauge, simulate_drift
from isxt.errors import InputError
from isxt.geometry import ScanGeometry, VolumeGeometry
from isxt.projectors import projector

INTERIOR_STEP_DEG = 2.0
N_INTERIOR = 92


def blob_cell_phantom(volume, seed=0, n_blobs=40):
    """A textured ellipsoidal 'cell' with organelle-like Gaussian blobs, LAC in 1/µm.

    It fits inside the volume with a margin on every side (also along z), so
    that full-field views see the whole sample.
    """
    rng = np.random.default_rng(seed)
    z = volume.coords("z")[:, None, None] - volume.center_um[2]
    y = volume.coords("y")[None, :, None] - volume.center_um[1]
    x = volume.coords("x")[None, None, :] - volume.center_um[0]
    ex, ey, ez = volume.extent
    rx, ry, rz = 0.40 * ex, 0.34 * ey, 0.32 * ez
    r = np.sqrt((x / rx) ** 2 + (y / ry) ** 2 + (z / rz) ** 2)
    cell = 1.0 / (1.0 + np.exp((r - 1.0) / 0.03))  # soft membrane
    texture = gaussian_filter(rng.normal(size=volume.shape), 1.5)
    texture /= texture.std()
    lac = cell * (0.25 + 0.04 * texture)
    for _ in range(n_blobs):
        c = rng.uniform(-1, 1, 3)
        while np.sum(c**2) > 0.7:
            c = rng.uniform(-1, 1, 3)
        s = rng.uniform(0.05, 0.18)
        a = rng.uniform(0.2, 0.6)
        d2 = (x - c[0] * rx) ** 2 + (y - c[1] * ry) ** 2 + (z - c[2] * rz) ** 2
        lac = lac + a * np.exp(-d2 / (2 * s * s)) * cell
    return lac.astype(np.float32)


def sparse_angle_indices(n_views, arc="180", n_grid=90):
    """Sparse-scan angles on the interior grid, as ``(grid_index, mirrored)`` per view.

    ``arc='180'``: ``n_views`` grid angles spread over the half turn.
    ``arc='360'``: half the views on the grid, the other half at grid angles
    + 180° placed between the first half's (interleaved mirrors).
    ``n_grid`` is the number of grid steps in a half turn (90 for 2°).
    """
    n_views = int(n_views)
    if arc == "180":
        return [(int(k), False) for k in np.round(np.arange(n_views) * n_grid / n_views)]
    if arc != "360":
        raise InputError(f"arc must be '180' or '360', got {arc!r}")
    n1 = (n_views + 1) // 2
    n2 = n_views - n1
    direct = [(int(k), False) for k in np.round(np.arange(n1) * n_grid / n1)]
    mirror = [(int(k), True) for k in np.round((np.arange(n2) + 0.5) * n_grid / max(n2, 1))]
    return direct + mirror


def _noisy(y, photons, rng):
    if photons is None:
        return y
    counts = rng.poisson(photons * np.exp(-np.asarray(y, dtype=np.float64)))
    return (-np.log(np.maximum(counts, 1) / photons)).astype(np.float32)


def simulate_combined(
    n_sparse=19,
    arc="180",
    *,
    volume_shape=(32, 128, 128),
    voxel_size=0.04,
    roi_center=(0.3, -0.2),
    interior_cols=64,
    interior_rows=40,
    sparse_binning=2,
    sparse_rows=20,
    interior_drift=(0.02, 0.015),
    sparse_drift=(0.04, 0.03),
    photons=None,
    seed=0,
    phantom=None,
):
    """A combined acquisition with known drift.

    Parameters
    ----------
    n_sparse : int
        Views of the sparse full-field scan.
    arc : {'180', '360'}
        See :func:`sparse_angle_indices`.
    volume_shape, voxel_size : tuple, float
        The phantom grid (µm).
    roi_center : (float, float)
        Interior ROI centre (µm).
    interior_cols, interior_rows : int
        Interior detector (pixel = voxel).
    sparse_binning : int
        Sparse pixel = ``sparse_binning`` × voxel.
    sparse_rows : int
        Sparse detector rows (more than the sample height: it stays in view).
    interior_drift, sparse_drift : (float, float)
        ``(step_um, jitter_um)`` of :func:`isxt.align.simulate_drift`. The
        sparse walk's step is for 19 views and scales as ``sqrt(19 / n_sparse)``
        (a scan of the same duration drifts as far whatever its view count);
        the sparse truth is put into the full-field gauge (:func:`remove_gauge`).
    photons : float, optional
        Incident photons per pixel (Poisson noise); None: noise free.
    seed : int
    phantom : ndarray, optional
        A LAC volume to use instead of :func:`blob_cell_phantom`.

    Returns
    -------
    dict
        ``volume, phantom, interior_scan, interior_data, interior_true,
        sparse_scan, sparse_data, sparse_true`` (true shifts in µm).
    """
    rng = np.random.default_rng(seed + 1000)
    volume = VolumeGeometry(volume_shape, voxel_size)
    x = blob_cell_phantom(volume, seed) if phantom is None else np.asarray(phantom, dtype=np.float32)
    grid = np.radians(INTERIOR_STEP_DEG * np.arange(N_INTERIOR))
    interior = ScanGeometry(
        grid, (interior_rows, interior_cols), voxel_size, center_um=(roi_center[0], roi_center[1], volume.center_um[2])
    )
    it_true = simulate_drift(N_INTERIOR, *interior_drift, seed=seed)
    views = sparse_angle_indices(n_sparse, arc)
    angles = np.array([grid[k] + (np.pi if m else 0.0) for k, m in views])
    p = sparse_binning * voxel_size
    cols = int(np.ceil(np.hypot(volume.extent[0], volume.extent[1]) / p))
    sparse = ScanGeometry(angles, (sparse_rows, cols), p, center_um=volume.center_um)
    step = sparse_drift[0] * np.sqrt(19.0 / len(angles))
    sp_true = remove_gauge(simulate_drift(len(angles), step, sparse_drift[1], seed=seed + 500), angles)
    it_data = _noisy(projector(volume, interior.with_shifts(it_true)).forward(x), photons, rng)
    sp_data = _noisy(projector(volume, sparse.with_shifts(sp_true)).forward(x), photons, rng)
    return {
        "volume": volume,
        "phantom": x,
        "interior_scan": interior,
        "interior_data": it_data,
        "interior_true": it_true,
        "sparse_scan": sparse,
        "sparse_data": sp_data,
        "sparse_true": sp_true,
    }


def rms_px(estimate, truth, pixel_size, rows=None):
    """RMS over views of ``|estimate − truth|`` (L2 over du, dv) in pixels."""
    d = (np.asarray(estimate) - np.asarray(truth)) / pixel_size
    if rows is not None:
        d = d[rows]
    return float(np.sqrt(np.mean(np.sum(d * d, axis=1))))
