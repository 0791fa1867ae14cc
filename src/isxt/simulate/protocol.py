"""The scans of a combined acquisition: a dense interior scan and sparse full-field views on its angles.

What ``isxt simulate`` and the alignment study acquire, stated once:

* the interior scan has the ROI's Nyquist number of views over the arc,
  ``⌈π/2 · D/p⌉`` (:func:`isxt.sampling.nyquist_angles`), unless told;
* the sparse views are interior angles spread evenly over the arc, both ends
  included, so that every one is an anchor for the interior alignment (App.
  B.1: an anchor is a full-field view within half an interior step) and no
  chain of interior views runs past the last anchor;
* the interior detector may see only some rows of the sample (a real cell
  continues above and below them); the full field sees every row of the
  volume, plus a margin for a vertical drift, because its alignment relies on
  the whole sample being in view.
"""

from __future__ import annotations

import numpy as np

from ..geometry import ScanGeometry
from ..sampling import nyquist_angles, subset_indices

__all__ = ["interior_views", "combined_scans"]


def interior_views(roi_diameter_um, pixel_size_um):
    """The ROI's Nyquist number of views over 180°: ``⌈π/2 · D/p⌉``.

    >>> interior_views(1.6, 0.05)
    51
    """
    return nyquist_angles(0.5 * float(roi_diameter_um) / float(pixel_size_um))


def combined_scans(volume, roi_diameter_um, roi_center_um, pixel_size_um, *, n_interior=None, n_full=19,
                   sparse_bin=2, rows=None, drift_px=0.0):
    """The interior scan and the sparse full-field scan of a combined acquisition.

    Parameters
    ----------
    volume : VolumeGeometry
        The sample's grid.
    roi_diameter_um : float
    roi_center_um : tuple of float
        ``(x, y)`` of the ROI centre.
    pixel_size_um : float
        Interior pixel; the sparse pixel is ``sparse_bin`` times it.
    n_interior : int, optional
        Interior views (default :func:`interior_views`).
    n_full : int
        Sparse views, on interior angles, both ends of the arc included
        (:func:`isxt.sampling.subset_indices` with ``ends=True``).
    sparse_bin : int
    rows : int, optional
        Interior detector rows (default: the volume's height); centred on it.
    drift_px : float
        Largest vertical displacement to expect (interior pixels): the sparse
        detector gets that many rows more on each side.

    Returns
    -------
    interior, sparse : ScanGeometry
    """
    n_interior = int(n_interior) if n_interior else interior_views(roi_diameter_um, pixel_size_um)
    interior = ScanGeometry.interior(volume, n_interior, pixel_size_um, roi_diameter_um, tuple(roi_center_um),
                                     rows=rows)
    p_full = sparse_bin * pixel_size_um
    margin = int(np.ceil(drift_px / sparse_bin + 1)) if drift_px > 0 else 0
    rows_full = int(np.ceil(volume.extent[2] / p_full - 1e-9)) + 2 * margin
    full = ScanGeometry.full_field(volume, n_interior, p_full, rows=rows_full)
    return interior, full[subset_indices(n_full, n_interior, ends=True)]
