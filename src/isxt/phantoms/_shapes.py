"""Rasterisation helpers for the phantoms: smooth noise, ellipsoids, capsules.

Everything is defined in physical coordinates (µm), so a phantom keeps its
structure when rendered at another voxel size. Small objects are painted on
their own bounding box only, which keeps large volumes fast.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import gaussian_filter


def random_rotation(rng):
    """A uniformly random 3×3 rotation matrix (columns are the body axes)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotation_z(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _lerp_axis(arr, axis, coarse, fine):
    """Linear interpolation of ``arr`` along ``axis`` from ``coarse`` to ``fine`` coordinates."""
    pos = np.interp(fine, coarse, np.arange(coarse.size, dtype=np.float64))
    i0 = np.clip(np.floor(pos).astype(np.intp), 0, coarse.size - 2)
    frac = (pos - i0).astype(arr.dtype)
    shape = [1] * arr.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return np.take(arr, i0, axis=axis) * (1 - frac) + np.take(arr, i0 + 1, axis=axis) * frac


class SmoothNoise:
    """Gaussian random field of unit variance with a given correlation length.

    The field lives on a coarse grid (spacing ``correlation_length / 2``)
    covering the box ``[lo, hi]`` (µm, ``(x, y, z)``) and is interpolated
    trilinearly, so evaluating it on a fine voxel grid is cheap.
    """

    def __init__(self, rng, lo, hi, correlation_length):
        h = correlation_length / 2.0
        lo = np.asarray(lo, dtype=np.float64) - 3 * h
        hi = np.asarray(hi, dtype=np.float64) + 3 * h
        n = np.maximum(np.ceil((hi - lo) / h).astype(int) + 1, 2)
        self.axes = [lo[d] + h * np.arange(n[d]) for d in range(3)]  # x, y, z
        field = gaussian_filter(rng.standard_normal((n[2], n[1], n[0])), sigma=1.0, mode="wrap")
        field /= field.std() + 1e-12
        self.values = field.astype(np.float32)  # (z, y, x)
        self._interp = RegularGridInterpolator(
            (self.axes[2], self.axes[1], self.axes[0]), self.values, bounds_error=False, fill_value=None
        )

    def at(self, points):
        """Field at ``points`` (N, 3) given as ``(x, y, z)`` µm."""
        pts = np.atleast_2d(points)
        return self._interp(pts[:, ::-1])

    def on_grid(self, z, y, x):
        """Field on the grid spanned by coordinate vectors ``z, y, x`` (µm): shape ``(nz, ny, nx)``."""
        out = _lerp_axis(self.values, 2, self.axes[0], np.asarray(x, dtype=np.float64))
        out = _lerp_axis(out, 1, self.axes[1], np.asarray(y, dtype=np.float64))
        return _lerp_axis(out, 0, self.axes[2], np.asarray(z, dtype=np.float64))


class Ellipsoid:
    """An ellipsoid ``|R^T (p - c) / a| <= 1`` with a noise-perturbed surface.

    ``level(p)`` is the normalised radius plus ``roughness · noise(p)``; the
    body is ``level <= 1`` and a shell of thickness ``t`` µm is about
    ``1 - t/a_min < level <= 1``.
    """

    def __init__(self, center, radii, rotation=None, noise=None, roughness=0.0):
        self.center = np.asarray(center, dtype=np.float64)
        self.radii = np.asarray(radii, dtype=np.float64)
        self.rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
        self.noise = noise
        self.roughness = float(roughness)

    @property
    def bounding_half_size(self):
        """Half extent of an axis-aligned box containing the body (with noise margin)."""
        half = np.sqrt((self.rotation**2) @ (self.radii**2))
        return half * (1 + 3 * self.roughness)

    def level(self, points):
        q = (np.atleast_2d(points) - self.center) @ self.rotation
        g = np.sqrt(np.sum((q / self.radii) ** 2, axis=1))
        if self.noise is not None and self.roughness:
            g = g + self.roughness * self.noise.at(points)
        return g

    def level_on_grid(self, z, y, x):
        """``level`` on the grid spanned by ``z, y, x`` (µm), float32 ``(nz, ny, nx)``."""
        dz = (np.asarray(z) - self.center[2]).astype(np.float32)[:, None, None]
        dy = (np.asarray(y) - self.center[1]).astype(np.float32)[None, :, None]
        dx = (np.asarray(x) - self.center[0]).astype(np.float32)[None, None, :]
        g = np.zeros((dz.shape[0], dy.shape[1], dx.shape[2]), dtype=np.float32)
        for axis in range(3):
            r = self.rotation[:, axis].astype(np.float32)
            g += ((dx * r[0] + dy * r[1] + dz * r[2]) / np.float32(self.radii[axis])) ** 2
        np.sqrt(g, out=g)
        if self.noise is not None and self.roughness:
            g += np.float32(self.roughness) * self.noise.on_grid(z, y, x)
        return g


def box_slices(geometry, lo, hi):
    """Index slices ``(sz, sy, sx)`` of the voxels whose centres lie in the box ``[lo, hi]`` (x, y, z µm).

    Returns ``None`` when the box misses the volume.
    """
    s = geometry.voxel_size_um
    out = []
    cx, cy, cz = geometry.center_um
    axes = ((2, geometry.nz, cz), (1, geometry.ny, cy), (0, geometry.nx, cx))
    for d, n, c in axes:
        start = int(np.ceil((lo[d] - c) / s + (n - 1) / 2.0 - 1e-9))
        stop = int(np.floor((hi[d] - c) / s + (n - 1) / 2.0 + 1e-9)) + 1
        start, stop = max(start, 0), min(stop, n)
        if stop <= start:
            return None
        out.append(slice(start, stop))
    return tuple(out)


def grid_coords(geometry, slices):
    """Voxel-centre coordinate vectors ``(z, y, x)`` of a box given by ``slices``."""
    sz, sy, sx = slices
    return geometry.coords("z")[sz], geometry.coords("y")[sy], geometry.coords("x")[sx]


def allowed_lut(labels):
    lut = np.zeros(256, dtype=bool)
    lut[list(labels)] = True
    return lut


def paint_capsules(volume_labels, geometry, starts, ends, radii, label, allowed):
    """Paint the union of capsules (segments thickened by ``radii``) with ``label``.

    Only voxels currently carrying one of the ``allowed`` labels change, so
    objects painted earlier are kept. A capsule with ``start == end`` is a ball.
    Returns the number of voxels painted.
    """
    lut = allowed_lut(allowed)
    starts = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    ends = np.atleast_2d(np.asarray(ends, dtype=np.float64))
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (starts.shape[0],))
    painted = 0
    for a, b, r in zip(starts, ends, radii):
        sl = box_slices(geometry, np.minimum(a, b) - r, np.maximum(a, b) + r)
        if sl is None:
            continue
        z, y, x = grid_coords(geometry, sl)
        pz = (z - a[2])[:, None, None]
        py = (y - a[1])[None, :, None]
        px = (x - a[0])[None, None, :]
        d = b - a
        dd = float(d @ d)
        if dd > 0:
            t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / dd, 0.0, 1.0)
            dist2 = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2
        else:
            dist2 = px**2 + py**2 + pz**2
        local = volume_labels[sl]
        hit = (dist2 <= r * r) & lut[local]
        local[hit] = label
        painted += int(hit.sum())
    return painted


def paint_level_set(volume_labels, geometry, level_fn, lo, hi, lower, upper, label, allowed):
    """Paint voxels in the box ``[lo, hi]`` where ``lower < level_fn(z, y, x) <= upper``."""
    sl = box_slices(geometry, lo, hi)
    if sl is None:
        return 0
    z, y, x = grid_coords(geometry, sl)
    g = level_fn(z, y, x)
    local = volume_labels[sl]
    hit = (g > lower) & (g <= upper) & allowed_lut(allowed)[local]
    local[hit] = label
    return int(hit.sum())


def random_unit_vectors(rng, n):
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def worm_path(rng, start, length, step, persistence_length):
    """Points of a smooth random curve (worm-like chain) of a given length, shape ``(m, 3)``."""
    n = max(int(np.ceil(length / step)), 1)
    kicks = rng.standard_normal((n, 3)) * np.sqrt(2.0 * step / persistence_length)
    d = random_unit_vectors(rng, 1)[0]
    pts = [np.asarray(start, dtype=np.float64)]
    for k in range(n):
        d = d + kicks[k]
        d /= np.linalg.norm(d)
        pts.append(pts[-1] + step * d)
    return np.array(pts)


def truncate_path(points, inside):
    """The leading run of ``points`` for which ``inside`` is true."""
    bad = np.flatnonzero(~inside)
    return points if bad.size == 0 else points[: bad[0]]
