"""Projection with a depth-dependent PSF (Ekman et al 2018): the linearized incoherent model.

Every voxel's contribution to the absorption image is blurred by the PSF of
its own distance from the focal plane,

    y(u, v) = Σ_voxels µ_voxel · (PSF_d(voxel) ⊛ footprint_voxel)(u, v),

i.e. the PSF is convolved with the *absorption* contributions (the
linearisation of ``PSF ⊛ exp(-∫µ)`` in ``µ``, which is what lets each depth keep
its own PSF). :class:`DepthPSFProjector` is the fast version: a few depth nodes
with linearly interpolated ("hat") weights, each blurred with its own PSF;
:func:`isxt.simulate.depth_psf_direct` is the thin-slab reference.

The numba kernels here project one view into one image per depth node in a
single pass (:meth:`isxt.projectors.numba_cpu.NumbaProjector.iter_depth_slabs`):
each voxel's footprint is computed once and added, times its two hat weights,
to the images of the two nodes around its depth.
"""

from __future__ import annotations

import copy
import functools

import numba
import numpy as np
from scipy import fft as sp_fft
from scipy.signal import fftconvolve
from .._progress import progress_bar

from ..errors import InputError
from ..geometry import ScanGeometry, VolumeGeometry
from .._deprecate import renamed_kwargs
from ..operators import Operator, write_into
from ..optics import ZonePlate
from . import projector
from ._kernels import backproject_row, project_row, row_footprints, use_window, voxel_range

__all__ = ["DepthPSFProjector", "slab_depths", "depth_map", "max_depth"]


# --------------------------------------------------------------------------
# One view split over depth nodes (numba kernels)
# --------------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def _node_hats(d_row, d_step, i0, n, node, node_step, hat):
    """``hat[q]``: linear-interpolation weight on ``node`` of voxel ``i0 + q`` at depth ``d_row + i d_step``."""
    for q in range(n):
        d = d_row + (i0 + q) * d_step
        hat[q] = np.float32(max(0.0, 1.0 - abs(d - node) / node_step))


@numba.njit(cache=True, inline="always")
def _weigh_taps(w, hat, n_taps, n, w_node):
    """``w_node[m, q] = w[m, q] * hat[q]``: footprint weights times the voxels' hat weights on one node.

    ``w_node`` needs at least 3 rows, those from ``n_taps`` on zero (the register window reads 3).
    """
    for m in range(n_taps):
        for q in range(n):
            w_node[m, q] = w[m, q] * hat[q]


@numba.njit(parallel=True, fastmath=True, cache=True)
def forward_depth_inplane(vol_t, t_row, step, footprint, n_taps, pad, d_rows, d_step, nodes, starts, stops, out):
    """In-plane projection of one view into one image per depth node: ``out[s, c, k, l]``.

    Voxel ``(j, i)``, ``starts[j, s] ≤ i < stops[j, s]``, lies between nodes
    ``s`` and ``s + 1`` and adds its footprint to both images with its hat
    weights, so each voxel is read and its footprint computed once. The
    intervals run in parallel, first the even ones, then the odd ones: two
    intervals of one pass never write to the same image.
    """
    ny, nx, _, _ = vol_t.shape
    n_nodes, cols_pad, _, _ = out.shape
    cols = cols_pad - 2 * pad
    hw = np.float64(footprint[0])
    node_step = nodes[1] - nodes[0]
    windowed = use_window(n_taps, step)
    for parity in range(2):
        for p in numba.prange((n_nodes - parity) // 2):
            s = 2 * p + parity
            first = np.empty(nx, dtype=np.uint64)
            w = np.empty((n_taps, nx), dtype=np.float32)
            # _window_row reads 3 tap rows: the unused one stays zero
            w_node = np.zeros((max(n_taps, 3), nx), dtype=np.float32)
            offset = np.empty(nx, dtype=np.float32)
            left_cdf = np.empty(nx, dtype=np.float32)
            hat = np.empty(nx, dtype=np.float32)
            for j in range(ny):
                i0, i1 = voxel_range(t_row[j], step, hw, cols, nx)
                i0 = max(i0, starts[j, s])
                n = min(i1, stops[j, s]) - i0
                if n <= 0:
                    continue
                row_footprints(t_row[j], step, i0, n, footprint, n_taps, pad, first, w, offset, left_cdf)
                for node in range(s, s + 2):
                    _node_hats(d_rows[j], d_step, i0, n, nodes[node], node_step, hat)
                    _weigh_taps(w, hat, n_taps, n, w_node)
                    project_row(vol_t, j, i0, n, first, w_node, out, node, n_taps, windowed)


@numba.njit(parallel=True, fastmath=True, cache=True)
def adjoint_depth_inplane(sino, t_row, step, footprint, n_taps, pad, d_rows, d_step, nodes, starts, stops, out):
    """Transpose of :func:`forward_depth_inplane`, added to ``out``; rows run in parallel."""
    n_nodes, cols_pad, _, _ = sino.shape
    ny, nx, _, _ = out.shape
    cols = cols_pad - 2 * pad
    hw = np.float64(footprint[0])
    node_step = nodes[1] - nodes[0]
    windowed = use_window(n_taps, step)
    for j in numba.prange(ny):
        first = np.empty(nx, dtype=np.uint64)
        w = np.empty((n_taps, nx), dtype=np.float32)
        w_node = np.zeros((max(n_taps, 3), nx), dtype=np.float32)
        offset = np.empty(nx, dtype=np.float32)
        left_cdf = np.empty(nx, dtype=np.float32)
        hat = np.empty(nx, dtype=np.float32)
        i_lo, i_hi = voxel_range(t_row[j], step, hw, cols, nx)
        for s in range(n_nodes - 1):
            i0 = max(i_lo, starts[j, s])
            n = min(i_hi, stops[j, s]) - i0
            if n <= 0:
                continue
            row_footprints(t_row[j], step, i0, n, footprint, n_taps, pad, first, w, offset, left_cdf)
            for node in range(s, s + 2):
                _node_hats(d_rows[j], d_step, i0, n, nodes[node], node_step, hat)
                _weigh_taps(w, hat, n_taps, n, w_node)
                backproject_row(sino, j, i0, n, first, w_node, out, node, n_taps, windowed)


def check_nodes(nodes):
    """Depth nodes as float64, checked: increasing and evenly spaced."""
    nodes = np.asarray(nodes, dtype=np.float64)
    if nodes.ndim != 1 or nodes.size == 0 or not np.all(np.isfinite(nodes)):
        raise ValueError(f"depth nodes must be a non-empty 1D array of finite depths (µm), got shape {nodes.shape}")
    if nodes.size > 1:
        step = nodes[1] - nodes[0]
        if not step > 0 or not np.allclose(np.diff(nodes), step, rtol=1e-6, atol=0.0):
            raise ValueError("depth nodes must be increasing and evenly spaced")
    return nodes


def node_intervals(d_rows, d_step, nodes, nx):
    """Voxels ``[starts[j, s], stops[j, s])`` of row ``j`` that lie between nodes ``s`` and ``s + 1``.

    The depth of voxel ``(j, i)`` is ``d_rows[j] + i * d_step``, monotone
    along the row, so each interval is a run of voxels; the runs partition
    the row. Depths beyond the end nodes (rounding) join the end intervals.
    """
    ny, n_int = d_rows.size, nodes.size - 1
    starts = np.zeros((ny, n_int), dtype=np.int64)
    stops = np.zeros((ny, n_int), dtype=np.int64)
    if d_step == 0.0:  # constant depth along the rows: each row in one interval
        s = np.clip(np.floor((d_rows - nodes[0]) / (nodes[1] - nodes[0])), 0, n_int - 1).astype(np.int64)
        stops[np.arange(ny), s] = nx
        return starts, stops
    # position (in voxels) where each row crosses each inner node
    u = (nodes[None, 1:-1] - d_rows[:, None]) / d_step
    if d_step > 0:  # voxels from ceil(u) on are at or beyond the node
        edges = np.clip(np.ceil(u), 0, nx).astype(np.int64)
        bounds = np.concatenate([starts[:, :1], edges, np.full((ny, 1), nx)], axis=1)
        return bounds[:, :-1].copy(), bounds[:, 1:].copy()
    # depth falls along the row: voxels up to floor(u) are at or beyond the node
    edges = np.clip(np.floor(u) + 1, 0, nx).astype(np.int64)
    bounds = np.concatenate([np.full((ny, 1), nx), edges, starts[:, :1]], axis=1)
    return bounds[:, 1:].copy(), bounds[:, :-1].copy()



# --------------------------------------------------------------------------
# The depth-dependent PSF projector
# --------------------------------------------------------------------------
def depth_map(volume, scan, angle):
    """Depth ``d = -(x-cx) sinθ + (y-cy) cosθ`` (µm) of every voxel column along the beam."""
    cx, cy = scan.center_um[0], scan.center_um[1]
    yy, xx = np.meshgrid(volume.coords("y") - cy, volume.coords("x") - cx, indexing="ij")
    return -xx * np.sin(angle) + yy * np.cos(angle)


def max_depth(volume, scan):
    cx, cy = scan.center_um[0], scan.center_um[1]
    yy, xx = np.meshgrid(volume.coords("y") - cy, volume.coords("x") - cx, indexing="ij")
    return float(np.hypot(xx, yy).max())


def slab_depths(volume, scan, n_slabs):
    """Depths (µm, along the beam from the scan centre) of the ``n_slabs`` PSF nodes.

    Evenly spaced over ``[-R, R]`` with ``R`` the largest in-plane distance of
    a voxel centre from the scan centre, so every angle is covered.
    """
    radius = max_depth(volume, scan)
    if n_slabs == 1 or radius == 0:
        return np.zeros(1)
    return np.linspace(-radius, radius, int(n_slabs))


def _hat_weights(depth, nodes):
    """Linear-interpolation weights of ``depth`` on ``nodes``: list of ``(s, weight map)``.

    The weights of one voxel sum to 1, so without a PSF the slabs add up to
    the plain projection exactly.
    """
    if nodes.size == 1:
        return [(0, np.ones_like(depth))]
    step = nodes[1] - nodes[0]
    out = []
    for s, c in enumerate(nodes):
        w = np.clip(1.0 - np.abs(depth - c) / step, 0.0, None)
        if np.any(w > 0):
            out.append((s, w))
    return out


def _convolve(img, kernel):
    return fftconvolve(img, kernel, mode="same")


class _NodeBlur:
    """``Σ_s kernels[s] ⊛ images[s]`` for images of one shape (like ``fftconvolve(mode='same')``, zero boundary).

    Summed in the Fourier domain with the kernels' spectra computed once, so a
    view costs one forward FFT per node image and one inverse FFT, instead of
    three FFTs per node image.
    """

    def __init__(self, kernels, shape):
        kh, kw = kernels.shape[-2:]
        self.shape = tuple(shape)
        self.fshape = tuple(sp_fft.next_fast_len(n + k - 1, real=True) for n, k in zip(self.shape, (kh, kw)))
        self.spectra = sp_fft.rfft2(kernels, self.fshape)
        self.start = ((kh - 1) // 2, (kw - 1) // 2)

    def __call__(self, images):
        """``images``: list of ``(s, image)``; returns the float64 sum of the blurred images."""
        if not images:
            return np.zeros(self.shape)
        nodes = [s for s, _ in images]
        spec = sp_fft.rfft2(np.stack([img for _, img in images]).astype(np.float64), self.fshape, workers=-1)
        total = sp_fft.irfft2(np.einsum("sij,sij->ij", spec, self.spectra[nodes]), self.fshape, workers=-1)
        (r0, c0), (rows, cols) = self.start, self.shape
        return total[r0 : r0 + rows, c0 : c0 + cols]


class DepthPSFProjector(Operator):
    """Projector with a depth-dependent PSF: the linearized incoherent model, fast.

    For every view the volume is split along the beam into ``n_slabs``
    overlapping slabs: a voxel at depth ``d`` (from the scan centre, along the
    beam) belongs to the two PSF nodes around it with linear-interpolation
    ("hat") weights. Each weighted volume is projected with the ordinary
    projector for that view, blurred with the PSF at its node's defocus
    ``d_s − focus``, and the slabs are summed. So the PSF varies piecewise
    linearly with depth instead of exactly; :func:`depth_psf_direct` is the
    exact-depth reference and ``docs/optics.md`` gives the accuracy.

    With the numba backend each view is projected into all slab images in one
    pass over the volume (each voxel adds its footprint to the images of its
    two nodes), about the cost of two projections; other backends project the
    weighted volume once per slab. The blurred slabs are summed in the Fourier
    domain (one FFT per slab image, one inverse FFT per view).

    The adjoint applies the same steps transposed (correlation, back-projection,
    weights), so it is exact.

    The detector is zero beyond its edges, so light the PSF spreads past an
    edge is lost and none comes in. For a thin slab of a taller object, or a
    truncated (interior) detector, simulate a taller volume / wider detector
    and crop: :meth:`simulate` does that.

    Parameters
    ----------
    volume : VolumeGeometry
    scan : ScanGeometry
    zone_plate : ZonePlate
        Objective lens; its polychromatic PSF is used unless
        ``polychromatic=False``.
    n_slabs : int, optional
        PSF nodes along the beam; default: spacing at most a quarter of the
        depth of field (at least 2, at most 64).
    focus_um : float
        Depth (µm) of the focal plane relative to the scan centre, along the
        beam direction ``(-sinθ, cosθ)``.
    backend : str
        Projector backend (see :func:`isxt.projectors.projector`).
    kernel_size : int, optional
        Odd side of the PSF kernels (default: covers the worst defocus).
    polychromatic : bool
        Average the PSF over the spectrum with chromatic focal shifts.
    progress : bool
        Show a tqdm bar over views.
    """

    @renamed_kwargs(focus="focus_um")
    def __init__(
        self,
        volume,
        scan,
        zone_plate,
        n_slabs=None,
        focus_um=0.0,
        backend="numba",
        kernel_size=None,
        polychromatic=True,
        progress=False,
    ):
        if not isinstance(volume, VolumeGeometry) or not isinstance(scan, ScanGeometry):
            raise InputError("DepthPSFProjector needs an isxt VolumeGeometry and ScanGeometry")
        if not isinstance(zone_plate, ZonePlate):
            raise InputError(f"zone_plate must be an isxt.optics.ZonePlate, got {type(zone_plate).__name__}")
        self.volume = volume
        self.scan = scan
        self.zone_plate = zone_plate
        self.focus = float(focus_um)
        self.backend = backend
        self.polychromatic = bool(polychromatic)
        self.progress = bool(progress)
        radius = max_depth(volume, scan)
        if n_slabs is None:
            n_slabs = int(np.clip(np.ceil(2 * radius / (zone_plate.depth_of_field / 4)) + 1, 2, 64))
        n_slabs = int(n_slabs)
        if n_slabs < 1:
            raise InputError(f"n_slabs must be a positive integer, got {n_slabs}")
        self.n_slabs = n_slabs
        self.depths = slab_depths(volume, scan, n_slabs)
        self.kernels = zone_plate.psf_stack(
            self.depths - self.focus, scan.pixel_size_um, size=kernel_size, polychromatic=self.polychromatic
        ).astype(np.float64)
        self.domain_shape = volume.shape
        self.range_shape = scan.shape
        self._projector = projector(volume, scan, backend=backend)

    def __repr__(self):
        return (
            f"DepthPSFProjector(volume={self.volume.shape}, scan={self.scan.shape}, "
            f"OZW={self.zone_plate.ozw_um * 1000:.0f} nm, n_slabs={self.n_slabs}, focus={self.focus} µm)"
        )

    def subset(self, indices):
        """The same model restricted to the views ``indices``."""
        return DepthPSFProjector(
            self.volume,
            self.scan[indices],
            self.zone_plate,
            n_slabs=self.n_slabs,
            focus_um=self.focus,
            backend=self.backend,
            kernel_size=self.kernels.shape[-1],
            polychromatic=self.polychromatic,
        )

    def _with_scan(self, scan):
        """This model on another detector with the same centre and pixel size: same nodes and kernels."""
        model = copy.copy(self)
        model.scan = scan
        model.range_shape = scan.shape
        model._projector = projector(self.volume, scan, backend=self.backend)
        for cached in ("_views", "T"):  # built for the old scan
            model.__dict__.pop(cached, None)
        return model

    @functools.cached_property
    def _views(self):
        """One-view projectors, for backends without a one-pass node projection (built on first use)."""
        return [self._projector.subset([a]) for a in range(self.scan.n_angles)]

    def _weights(self, a):
        return _hat_weights(depth_map(self.volume, self.scan, self.scan.angles[a]), self.depths)

    def _one_pass(self):
        """Whether the backend projects all node images of a view in one pass (numba)."""
        return hasattr(self._projector, "iter_depth_slabs")

    def _active_nodes(self, a):
        """Nodes whose weight can be non-zero at view ``a`` (at least those :meth:`_weights` returns)."""
        if self.depths.size == 1:
            return [0]
        # depth is linear in the voxel position, so its extremes lie at the corner voxels
        (x0, x1), (y0, y1) = (self.volume.coords(ax)[[0, -1]] for ax in "xy")
        corner_xy = np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]]) - np.asarray(self.scan.center_um[:2])
        theta = self.scan.angles[a]
        d = -corner_xy[:, 0] * np.sin(theta) + corner_xy[:, 1] * np.cos(theta)
        step = self.depths[1] - self.depths[0]
        return [s for s, c in enumerate(self.depths) if d.min() - step < c < d.max() + step]

    def _node_projections(self, x, desc, progress):
        """Per view ``a``: ``(a, [(s, P_a(hat_s · x)), …])`` over the nodes with weight at that view.

        One pass over the volume per view where the backend supports it
        (:meth:`isxt.projectors.numba_cpu.NumbaProjector.iter_depth_slabs`),
        else one projection per node.
        """
        with progress_bar(total=self.scan.n_angles, desc=desc, disable=not progress, leave=False) as bar:
            if self._one_pass():
                for a, images in self._projector.iter_depth_slabs(x, self.depths, self.scan.center_um[:2]):
                    yield a, [(s, images[s]) for s in self._active_nodes(a)]
                    bar.update()
                return
            for a in range(self.scan.n_angles):
                yield a, [(s, self._views[a].forward(x * w[None].astype(np.float32))[0]) for s, w in self._weights(a)]
                bar.update()

    def forward(self, x, out=None):
        x = np.asarray(x, dtype=np.float32)
        if x.shape != self.domain_shape:
            raise InputError(f"volume has shape {x.shape}, DepthPSFProjector expects {self.domain_shape}")
        if out is None:
            out = np.empty(self.range_shape, dtype=np.float32)
        blur = _NodeBlur(self.kernels, self.range_shape[1:])
        for a, projections in self._node_projections(x, "depth-PSF projection", self.progress):
            out[a] = blur(projections)
        return out

    def simulate(self, x):
        """Noiseless absorption as the microscope records it, for simulating data.

        :meth:`forward` is the linear model with a zero detector boundary (what
        the adjoint transposes). Real data lose no light at the detector's
        edges: here each slab image is extended along the rows by repeating
        its edge rows (a sample continuing above and below a thin slab), and
        the detector is simulated wider by the PSF's reach and cropped, so a
        truncated detector receives what is blurred in from just outside it.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.shape != self.domain_shape:
            raise InputError(f"volume has shape {x.shape}, DepthPSFProjector expects {self.domain_shape}")
        size = self.kernels.shape[-1]
        half = size // 2
        g = self.scan
        # same centre, so the wide detector's column c + half is this detector's column c
        wide = ScanGeometry(g.angles, (g.rows, g.cols + 2 * half), g.pixel_size_um, g.center_um, g.shifts_um)
        model = self._with_scan(wide)
        y = np.zeros(self.range_shape, dtype=np.float32)
        blur = _NodeBlur(model.kernels, (g.rows + 2 * half, wide.cols))
        for a, projections in model._node_projections(x, "depth-PSF simulation", self.progress):
            padded = [(s, np.pad(proj, ((half, half), (0, 0)), mode="edge")) for s, proj in projections]
            y[a] = blur(padded)[half : half + g.rows, half : half + g.cols]
        return y

    def adjoint(self, y, out=None):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != self.range_shape:
            raise InputError(f"projections have shape {y.shape}, DepthPSFProjector expects {self.range_shape}")
        views = progress_bar(range(self.scan.n_angles), desc="depth-PSF back-projection", disable=not self.progress,
                     leave=False)
        if self._one_pass():
            # correlate with each active node's PSF, then back-project all nodes of all views in one go
            blurred = np.zeros((self.scan.n_angles, self.n_slabs) + self.range_shape[1:], dtype=np.float32)
            for a in views:
                for s in self._active_nodes(a):
                    blurred[a, s] = _convolve(y[a], self.kernels[s][::-1, ::-1])
            return write_into(self._projector.adjoint_depth_slabs(blurred, self.depths, self.scan.center_um[:2]), out)
        acc = np.zeros(self.domain_shape, dtype=np.float64)
        for a in views:
            for s, w in self._weights(a):
                blurred = _convolve(y[a], self.kernels[s][::-1, ::-1]).astype(np.float32)
                acc += w[None] * self._views[a].adjoint(blurred[None])
        return write_into(acc.astype(np.float32), out)

