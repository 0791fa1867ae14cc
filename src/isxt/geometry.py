"""Volume and scan geometry in physical units (µm, radians).

The contract every projector backend implements:

* Voxel ``(k, j, i)`` of a :class:`VolumeGeometry` has its centre at
  ``x = cx + (i - (nx-1)/2) s``, ``y = cy + (j - (ny-1)/2) s``,
  ``z = cz + (k - (nz-1)/2) s``.
* In a :class:`ScanGeometry` (parallel beam, rotation about z) a point
  ``(x, y, z)`` lands at angle ``θ`` on the detector at
  ``u = x cosθ + y sinθ - u_c(θ)``, ``v = z - v_c(θ)`` with
  ``u_c(θ) = cx cosθ + cy sinθ + du(θ)`` and ``v_c(θ) = cz + dv(θ)``.
* Detector column ``c`` covers ``u ∈ [(c - cols/2) p, (c + 1 - cols/2) p]``,
  row ``r`` likewise in ``v``. A pixel holds the mean over its area of the
  line integrals (µm × 1/µm), so ``Σ pixels · p² = ∫ volume`` for every view.

Both geometries are values: ``==`` compares them with a tolerance on the
floating-point fields (:data:`RTOL`, :data:`ATOL`), and they can be dict keys
and set members.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._deprecate import renamed_fields, renamed_kwargs, warn_deprecated

__all__ = [
    "VolumeGeometry",
    "ScanGeometry",
    "angles_180",
    "angles_360_interleaved",
    "RTOL",
    "ATOL",
]

#: Relative and absolute tolerance (µm, radians) of geometry equality: far below any
#: physical difference, far above the rounding of unit conversions (degrees ↔ radians, nm ↔ µm).
RTOL = 1e-9
ATOL = 1e-9


def _close(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


def _fmt(values):
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def _as_triple(value, name):
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size != 3 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be three finite numbers (x, y, z) in µm, got {value!r}")
    return tuple(float(v) for v in arr)


def _positive(value, name):
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive length in µm, got {value!r}")
    return value


@renamed_fields(voxel_size="voxel_size_um", center="center_um")
@dataclass(frozen=True, eq=False, repr=False)
class VolumeGeometry:
    """A regular voxel grid in µm.

    Parameters
    ----------
    shape : tuple of int
        ``(nz, ny, nx)``; z is the rotation axis.
    voxel_size_um : float
        Edge length of a cubic voxel in µm.
    center_um : tuple of float, optional
        ``(cx, cy, cz)``, the grid centre in µm (default: the origin).

    The names ``voxel_size`` and ``center`` (keywords and attributes) are
    deprecated and go in the next release.

    Two volumes are equal when their shapes are and their voxel sizes and
    centres agree to :data:`RTOL` / :data:`ATOL`; the hash covers the shape
    only, so it agrees with that tolerance.

    Examples
    --------
    >>> vol = VolumeGeometry((4, 64, 64), voxel_size_um=0.04)
    >>> vol.extent
    (2.56, 2.56, 0.16)
    >>> vol == VolumeGeometry((4, 64, 64), 0.04 + 1e-15)
    True
    >>> vol
    VolumeGeometry(shape=(4, 64, 64), voxel_size_um=0.04, center_um=(0, 0, 0))
    """

    shape: tuple
    voxel_size_um: float
    center_um: tuple = (0.0, 0.0, 0.0)

    def __post_init__(self):
        shape = tuple(int(n) for n in np.asarray(self.shape).reshape(-1))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"volume shape must be three positive integers (nz, ny, nx), got {self.shape!r}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "voxel_size_um", _positive(self.voxel_size_um, "voxel_size_um"))
        object.__setattr__(self, "center_um", _as_triple(self.center_um, "volume center_um"))

    def __eq__(self, other):
        if not isinstance(other, VolumeGeometry):
            return NotImplemented
        return (self.shape == other.shape and _close(self.voxel_size_um, other.voxel_size_um)
                and _close(self.center_um, other.center_um))

    def __hash__(self):
        # only the exact fields: a hash of rounded floats would split values that are
        # equal within the tolerance but lie on two sides of a rounding edge
        return hash((VolumeGeometry, self.shape))

    def __reduce__(self):
        # rebuilt through the constructor, by position: validated, independent of field names
        return (type(self), (self.shape, self.voxel_size_um, self.center_um))

    def __repr__(self):
        return f"VolumeGeometry(shape={self.shape}, voxel_size_um={self.voxel_size_um:g}, center_um={_fmt(self.center_um)})"

    @property
    def nz(self):
        return self.shape[0]

    @property
    def ny(self):
        return self.shape[1]

    @property
    def nx(self):
        return self.shape[2]

    @property
    def extent(self):
        """Physical size ``(x, y, z)`` in µm."""
        s = self.voxel_size_um
        return (self.nx * s, self.ny * s, self.nz * s)

    @property
    def voxel_volume(self):
        return self.voxel_size_um**3

    def coords(self, axis):
        """Voxel-centre coordinates (µm) along ``axis`` ∈ {'x', 'y', 'z'}."""
        n = {"x": self.nx, "y": self.ny, "z": self.nz}[axis]
        c = {"x": self.center_um[0], "y": self.center_um[1], "z": self.center_um[2]}[axis]
        return c + (np.arange(n) - (n - 1) / 2.0) * self.voxel_size_um

    def index_of(self, x, y, z):
        """Fractional voxel index ``(k, j, i)`` of the point ``(x, y, z)`` µm."""
        s = self.voxel_size_um
        cx, cy, cz = self.center_um
        return (
            (z - cz) / s + (self.nz - 1) / 2.0,
            (y - cy) / s + (self.ny - 1) / 2.0,
            (x - cx) / s + (self.nx - 1) / 2.0,
        )

    def zeros(self, dtype=np.float32):
        return np.zeros(self.shape, dtype=dtype)

    @renamed_kwargs(radius="radius_um", center_xy="center_xy_um")
    def cylinder_mask(self, radius_um, center_xy_um=None):
        """Boolean mask of voxels within ``radius_um`` of the z-parallel axis through ``center_xy_um``."""
        cx, cy = self.center_um[:2] if center_xy_um is None else center_xy_um
        yy, xx = np.meshgrid(self.coords("y") - cy, self.coords("x") - cx, indexing="ij")
        disk = xx**2 + yy**2 <= radius_um**2
        return np.broadcast_to(disk, self.shape).copy()

    @renamed_kwargs(center_xy="center_xy_um")
    def radial_distance(self, center_xy_um=None):
        """In-plane distance (µm) of each voxel column from ``center_xy_um`` (default: the volume's axis); ``(ny, nx)``."""
        cx, cy = self.center_um[:2] if center_xy_um is None else center_xy_um
        yy, xx = np.meshgrid(self.coords("y") - cy, self.coords("x") - cx, indexing="ij")
        return np.hypot(xx, yy)

    def to_dict(self):
        return {"shape": list(self.shape), "voxel_size_um": self.voxel_size_um, "center_um": list(self.center_um)}


def angles_180(n, endpoint=False):
    """``n`` equally spaced angles (radians) over a half turn ``[0, π)``."""
    return np.linspace(0.0, np.pi, int(n), endpoint=endpoint)


def angles_360_interleaved(n):
    """``n`` angles over a full turn whose mirror views (θ + π) never coincide.

    Parallel-beam views at θ and θ + π measure the same line integrals, so a
    plain ``linspace(0, 2π, n)`` with even ``n`` wastes half the views. Here
    the step is ``2π/n`` and, for even ``n``, the second half is offset by half
    a step so that the mirrored set interleaves with the first (§2.4).
    """
    n = int(n)
    step = 2 * np.pi / n
    angles = np.arange(n) * step
    if n % 2 == 0:
        angles[n // 2 :] += step / 2
    return angles


@renamed_fields(pixel_size="pixel_size_um", center="center_um", shifts="shifts_um")
@dataclass(frozen=True, eq=False, repr=False)
class ScanGeometry:
    """Parallel-beam scan about the z axis.

    Parameters
    ----------
    angles : array_like
        Projection angles in radians.
    det_shape : tuple of int
        ``(rows, cols)`` of the detector (rows run along z).
    pixel_size_um : float
        Detector pixel size in µm (square pixels), at the sample.
    center_um : tuple of float, optional
        ``(cx, cy, cz)`` µm: the point of the sample that projects to the
        detector centre at every angle. For an interior scan this is the
        centre of the region of interest.
    shifts_um : array_like, optional
        ``(n_angles, 2)`` array of ``(du, dv)`` in µm added to the detector
        centre per view, e.g. from alignment.

    The names ``pixel_size``, ``center`` and ``shifts`` (keywords and
    attributes) are deprecated and go in the next release.

    Two scans are equal when their detector shapes and numbers of views are
    and their angles, pixel sizes, centres and shifts agree to :data:`RTOL` /
    :data:`ATOL`; the hash covers the exact fields only (the shape), so it
    agrees with that tolerance. ``scan[idx]`` is the scan of the views
    ``idx`` (an index, a slice, a list or a boolean mask).

    Examples
    --------
    >>> scan = ScanGeometry(angles_180(9), (4, 32), pixel_size_um=0.08)
    >>> scan.shape
    (9, 4, 32)
    >>> scan[::2].n_angles, scan[-1].angles_deg
    (5, array([160.]))
    >>> scan
    ScanGeometry(9 views 0°…160°, det_shape=(4, 32), pixel_size_um=0.08, center_um=(0, 0, 0), no shifts)
    """

    angles: np.ndarray
    det_shape: tuple
    pixel_size_um: float
    center_um: tuple = (0.0, 0.0, 0.0)
    shifts_um: np.ndarray | None = field(default=None)

    def __post_init__(self):
        angles = np.asarray(self.angles, dtype=np.float64).reshape(-1)
        if angles.size == 0 or not np.all(np.isfinite(angles)):
            raise ValueError("angles must be a non-empty array of finite values in radians")
        det = tuple(int(n) for n in np.asarray(self.det_shape).reshape(-1))
        if len(det) != 2 or min(det) < 1:
            raise ValueError(f"det_shape must be two positive integers (rows, cols), got {self.det_shape!r}")
        shifts = np.zeros((angles.size, 2)) if self.shifts_um is None else np.asarray(self.shifts_um, dtype=np.float64)
        if shifts.shape != (angles.size, 2) or not np.all(np.isfinite(shifts)):
            raise ValueError(
                f"shifts_um must be a finite (n_angles, 2) = ({angles.size}, 2) array of (du, dv) in µm, "
                f"got shape {shifts.shape}"
            )
        angles.setflags(write=False)
        shifts = shifts.copy()
        shifts.setflags(write=False)
        object.__setattr__(self, "angles", angles)
        object.__setattr__(self, "det_shape", det)
        object.__setattr__(self, "pixel_size_um", _positive(self.pixel_size_um, "pixel_size_um"))
        object.__setattr__(self, "center_um", _as_triple(self.center_um, "scan center_um"))
        object.__setattr__(self, "shifts_um", shifts)

    # -- value semantics --------------------------------------------------------
    def __eq__(self, other):
        if not isinstance(other, ScanGeometry):
            return NotImplemented
        return (self.det_shape == other.det_shape and self.n_angles == other.n_angles
                and _close(self.pixel_size_um, other.pixel_size_um) and _close(self.center_um, other.center_um)
                and _close(self.angles, other.angles) and _close(self.shifts_um, other.shifts_um))

    def __hash__(self):
        # only the exact fields (see VolumeGeometry.__hash__)
        return hash((ScanGeometry, self.det_shape, self.n_angles))

    def __repr__(self):
        deg = self.angles_deg
        views = f"{self.n_angles} view{'s' if self.n_angles > 1 else ''} {deg[0]:g}°" + (
            f"…{deg[-1]:g}°" if self.n_angles > 1 else "")
        moved = np.abs(self.shifts_um).max()
        shifts = "no shifts" if moved == 0 else f"shifts up to {moved:g} µm"
        return (f"ScanGeometry({views}, det_shape={self.det_shape}, pixel_size_um={self.pixel_size_um:g}, "
                f"center_um={_fmt(self.center_um)}, {shifts})")

    def __reduce__(self):
        # through the constructor, so the arrays come back read-only on a Dask worker too
        return (type(self), (self.angles, self.det_shape, self.pixel_size_um, self.center_um, self.shifts_um))

    def __getitem__(self, idx):
        """The scan of the views ``idx`` (shifts follow): ``scan[3]``, ``scan[::2]``, ``scan[[0, 5]]``, ``scan[mask]``."""
        views = np.atleast_1d(np.arange(self.n_angles)[idx])
        if views.ndim != 1 or views.size == 0:
            raise IndexError(f"scan[{idx!r}] selects no views, or not a 1D set of them; a scan needs at least one view")
        return ScanGeometry(self.angles[views], self.det_shape, self.pixel_size_um, self.center_um, self.shifts_um[views])

    # -- basic shape -------------------------------------------------------
    @property
    def n_angles(self):
        return self.angles.size

    @property
    def angles_deg(self):
        """The angles in degrees (for display and files)."""
        return np.degrees(self.angles)

    @property
    def rows(self):
        return self.det_shape[0]

    @property
    def cols(self):
        return self.det_shape[1]

    @property
    def shape(self):
        """Shape of the projection stack ``(n_angles, rows, cols)``."""
        return (self.n_angles, self.rows, self.cols)

    @property
    def width(self):
        """Detector width in µm."""
        return self.cols * self.pixel_size_um

    # -- the contract ----------------------------------------------------------
    def detector_center(self):
        """``(u_c, v_c)`` per view, in µm: where the detector centre sits."""
        cx, cy, cz = self.center_um
        uc = cx * np.cos(self.angles) + cy * np.sin(self.angles) + self.shifts_um[:, 0]
        vc = cz + self.shifts_um[:, 1]
        return uc, vc

    def project_point(self, x, y, z):
        """Detector coordinates ``(u, v)`` µm of a point at every angle."""
        uc, vc = self.detector_center()
        u = x * np.cos(self.angles) + y * np.sin(self.angles) - uc
        v = z - vc
        return u, v

    def pixel_of(self, x, y, z):
        """Fractional ``(row, col)`` of a point at every angle (pixel centres at ``n + 0.5``)."""
        u, v = self.project_point(x, y, z)
        return v / self.pixel_size_um + self.rows / 2.0, u / self.pixel_size_um + self.cols / 2.0

    def rows_covering(self, volume):
        """The first and last detector row of each view that sees ``volume``'s z range.

        A row counts when more than half of its height lies inside the volume.

        Returns
        -------
        first, last : ndarray of int, ``(n_angles,)``
            Clipped to the detector; ``first > last`` for a view that sees none of it.
        """
        _, vc = self.detector_center()
        half = volume.extent[2] / 2.0
        # fractional row coordinates of the volume's bottom and top faces
        lo = (volume.center_um[2] - half - vc) / self.pixel_size_um + self.rows / 2.0
        hi = (volume.center_um[2] + half - vc) / self.pixel_size_um + self.rows / 2.0
        first = np.clip(np.floor(lo + 0.5), 0, self.rows).astype(np.int64)
        last = np.clip(np.ceil(hi - 0.5) - 1, -1, self.rows - 1).astype(np.int64)
        return first, last

    # -- derived scans --------------------------------------------------------
    def subset(self, indices):
        """Deprecated alias of ``scan[indices]`` (goes in the next release)."""
        warn_deprecated("ScanGeometry.subset(indices) is deprecated; use scan[indices]")
        return self[np.asarray(indices)]

    @renamed_kwargs(shifts="shifts_um")
    def with_shifts(self, shifts_um):
        """A copy with per-view ``(du, dv)`` shifts in µm, ``(n_angles, 2)``."""
        return ScanGeometry(self.angles, self.det_shape, self.pixel_size_um, self.center_um, shifts_um)

    def zeros(self, dtype=np.float32):
        return np.zeros(self.shape, dtype=dtype)

    def to_dict(self):
        return {
            "n_angles": self.n_angles,
            "angles_deg": np.degrees(self.angles).tolist(),
            "det_shape": list(self.det_shape),
            "pixel_size_um": self.pixel_size_um,
            "center_um": list(self.center_um),
            "shifts_um": self.shifts_um.tolist(),
        }

    # -- constructors -----------------------------------------------------------
    @classmethod
    @renamed_kwargs(pixel_size="pixel_size_um")
    def full_field(cls, volume, n_angles, pixel_size_um, *, arc="180", margin=1.0, rows=None):
        """A scan whose detector sees the whole volume cross-section at every angle.

        Parameters
        ----------
        volume : VolumeGeometry
        n_angles : int
        pixel_size_um : float
            Detector pixel in µm (e.g. 2× the voxel for a sparse scan).
        arc : {'180', '360'}
            Half turn, or full turn with interleaved mirror views.
        margin : float
            Extra width factor (>= 1, no unit).
        rows : int, optional
            Detector rows; default covers the volume height.
        """
        angles = angles_180(n_angles) if str(arc) == "180" else angles_360_interleaved(n_angles)
        diag = np.hypot(volume.extent[0], volume.extent[1]) * margin
        cols = int(np.ceil(diag / pixel_size_um))
        if rows is None:
            rows = int(np.ceil(volume.extent[2] / pixel_size_um - 1e-9))
        return cls(angles, (rows, cols), pixel_size_um, center_um=volume.center_um)

    @classmethod
    @renamed_kwargs(pixel_size="pixel_size_um", roi_diameter="roi_diameter_um", roi_center="roi_center_um")
    def interior(cls, volume, n_angles, pixel_size_um, roi_diameter_um, roi_center_um=(0.0, 0.0), *, arc="180",
                 rows=None):
        """A truncated scan whose narrow detector follows the ROI centre.

        ``roi_diameter_um`` sets the detector width; ``roi_center_um`` is the
        ``(x, y)`` point in µm the detector centre follows.
        """
        angles = angles_180(n_angles) if str(arc) == "180" else angles_360_interleaved(n_angles)
        cols = int(round(roi_diameter_um / pixel_size_um))
        if rows is None:
            rows = int(np.ceil(volume.extent[2] / pixel_size_um - 1e-9))
        center = (float(roi_center_um[0]), float(roi_center_um[1]), volume.center_um[2])
        return cls(angles, (rows, cols), pixel_size_um, center_um=center)
