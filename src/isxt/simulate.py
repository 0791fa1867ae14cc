"""Image formation: Beer–Lambert, band-limited and depth-dependent PSF projections, noise.

The models of the paper's simulations (§2.2, App. A, App. B.2):

* **Beer–Lambert**: ``I = I0 exp(-y)`` with absorption ``y = ∫ µ dl``.
* **Band-limited projections** (the noiseless study of §2.1): the ideal
  intensity ``exp(-y)`` blurred by a Gaussian whose FWHM is the outer zone
  width, then ``-ln`` again (:func:`band_limit`).
* **Depth-dependent PSF** (Ekman et al 2018, the paper's "linearized
  incoherent model"): every voxel's contribution to the absorption image is
  blurred by the PSF of its own distance from the focal plane,

      y(u, v) = Σ_voxels µ_voxel · (PSF_d(voxel) ⊛ footprint_voxel)(u, v),

  i.e. the PSF is convolved with the *absorption* contributions (the
  linearisation of ``PSF ⊛ exp(-∫µ)`` in ``µ``, which is what lets each depth
  keep its own PSF); intensities then follow by Beer–Lambert.
  :class:`DepthPSFProjector` is the fast version (a few slabs with linearly
  interpolated PSFs), :func:`depth_psf_direct` the thin-slab reference.
* **Poisson noise** with the paper's z-equalising flat field, and the
  **dual-energy** contamination of Eq. 16.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage
from scipy.signal import fftconvolve
from tqdm.auto import tqdm

from .errors import InputError
from .geometry import ScanGeometry, VolumeGeometry
from .operators import Operator, gaussian_kernel
from .optics import ZonePlate
from .projectors import projector

__all__ = [
    "beer_lambert",
    "absorption_from_intensity",
    "band_limit",
    "DepthPSFProjector",
    "depth_psf_direct",
    "slab_depths",
    "poisson_noise",
    "equalising_flat_field",
    "photons_per_pixel",
    "dual_energy_transmission",
    "affine_stray_light",
    "SimulatedProjections",
    "simulate_projections",
]


# --------------------------------------------------------------------------
# Beer–Lambert
# --------------------------------------------------------------------------
def beer_lambert(absorption, i0=1.0):
    """Intensities ``i0 · exp(-absorption)`` (float32).

    Parameters
    ----------
    absorption : array_like
        Line integrals ``y = ∫ µ dl`` (dimensionless).
    i0 : float or array_like
        Incident intensity (broadcast against ``absorption``).
    """
    y = np.asarray(absorption, dtype=np.float64)
    return (np.asarray(i0, dtype=np.float64) * np.exp(-y)).astype(np.float32)


def absorption_from_intensity(intensity, i0=1.0, clip=None):
    """Absorption ``-ln(I/i0)`` (float32), the inverse of :func:`beer_lambert`.

    Parameters
    ----------
    intensity : array_like
        Measured (or simulated) intensity.
    i0 : float or array_like
        Incident intensity (flat field).
    clip : float, optional
        Smallest transmission ``I/i0`` allowed before the logarithm, e.g. one
        photon count ``1/photons``; by default only non-positive values are
        an error.
    """
    t = np.asarray(intensity, dtype=np.float64) / np.asarray(i0, dtype=np.float64)
    if clip is not None:
        t = np.maximum(t, clip)
    elif np.any(t <= 0):
        raise InputError("intensity has zero or negative values; pass clip= (e.g. 1/photons) to take the logarithm")
    return (-np.log(t)).astype(np.float32)


def band_limit(projections, fwhm_um, pixel_size_um):
    """Band-limit absorption projections by a Gaussian blur of the intensity.

    ``-ln(G ⊛ exp(-y))`` per view, with ``G`` a pixel-integrated Gaussian of
    FWHM ``fwhm_um`` (the paper uses FWHM = OZW). The blur acts on intensity
    because the microscope images intensities; detector borders extend the
    edge intensity (``mode='nearest'``) so no false absorption appears there.

    Parameters
    ----------
    projections : ndarray, shape ``(n_angles, rows, cols)``
        Absorption ``y``.
    fwhm_um, pixel_size_um : float
        Gaussian FWHM and detector pixel size in µm.
    """
    y = np.asarray(projections, dtype=np.float64)
    if y.ndim != 3:
        raise InputError(f"projections must be (n_angles, rows, cols), got shape {y.shape}")
    kernel = gaussian_kernel(fwhm_um, pixel_size_um).astype(np.float64)
    blurred = ndimage.convolve(np.exp(-y), kernel[None], mode="nearest")
    return (-np.log(blurred)).astype(np.float32)


# --------------------------------------------------------------------------
# Depth-dependent PSF projector (Ekman et al 2018)
# --------------------------------------------------------------------------
def _depth_map(volume, scan, angle):
    """Depth ``d = -(x-cx) sinθ + (y-cy) cosθ`` (µm) of every voxel column along the beam."""
    cx, cy = scan.center[0], scan.center[1]
    yy, xx = np.meshgrid(volume.coords("y") - cy, volume.coords("x") - cx, indexing="ij")
    return -xx * np.sin(angle) + yy * np.cos(angle)


def _max_depth(volume, scan):
    cx, cy = scan.center[0], scan.center[1]
    yy, xx = np.meshgrid(volume.coords("y") - cy, volume.coords("x") - cx, indexing="ij")
    return float(np.hypot(xx, yy).max())


def slab_depths(volume, scan, n_slabs):
    """Depths (µm, along the beam from the scan centre) of the ``n_slabs`` PSF nodes.

    Evenly spaced over ``[-R, R]`` with ``R`` the largest in-plane distance of
    a voxel centre from the scan centre, so every angle is covered.
    """
    radius = _max_depth(volume, scan)
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
    focus : float
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

    def __init__(
        self,
        volume,
        scan,
        zone_plate,
        n_slabs=None,
        focus=0.0,
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
        self.focus = float(focus)
        self.backend = backend
        self.polychromatic = bool(polychromatic)
        self.progress = bool(progress)
        radius = _max_depth(volume, scan)
        if n_slabs is None:
            n_slabs = int(np.clip(np.ceil(2 * radius / (zone_plate.depth_of_field / 4)) + 1, 2, 64))
        n_slabs = int(n_slabs)
        if n_slabs < 1:
            raise InputError(f"n_slabs must be a positive integer, got {n_slabs}")
        self.n_slabs = n_slabs
        self.depths = slab_depths(volume, scan, n_slabs)
        self.kernels = zone_plate.psf_stack(
            self.depths - self.focus, scan.pixel_size, size=kernel_size, polychromatic=self.polychromatic
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
            self.scan.subset(indices),
            self.zone_plate,
            n_slabs=self.n_slabs,
            focus=self.focus,
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
        model.__dict__.pop("_views", None)
        return model

    @functools.cached_property
    def _views(self):
        """One-view projectors, for backends without a one-pass node projection (built on first use)."""
        return [self._projector.subset([a]) for a in range(self.scan.n_angles)]

    def _weights(self, a):
        return _hat_weights(_depth_map(self.volume, self.scan, self.scan.angles[a]), self.depths)

    def _one_pass(self):
        """Whether the backend projects all node images of a view in one pass (numba)."""
        return hasattr(self._projector, "iter_depth_slabs")

    def _active_nodes(self, a):
        """Nodes whose weight can be non-zero at view ``a`` (at least those :meth:`_weights` returns)."""
        if self.depths.size == 1:
            return [0]
        # depth is linear in the voxel position, so its extremes lie at the corner voxels
        (x0, x1), (y0, y1) = (self.volume.coords(ax)[[0, -1]] for ax in "xy")
        corner_xy = np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]]) - np.asarray(self.scan.center[:2])
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
        with tqdm(total=self.scan.n_angles, desc=desc, disable=not progress, leave=False) as bar:
            if self._one_pass():
                for a, images in self._projector.iter_depth_slabs(x, self.depths, self.scan.center[:2]):
                    yield a, [(s, images[s]) for s in self._active_nodes(a)]
                    bar.update()
                return
            for a in range(self.scan.n_angles):
                yield a, [(s, self._views[a].forward(x * w[None].astype(np.float32))[0]) for s, w in self._weights(a)]
                bar.update()

    def forward(self, x):
        x = np.asarray(x, dtype=np.float32)
        if x.shape != self.domain_shape:
            raise InputError(f"volume has shape {x.shape}, DepthPSFProjector expects {self.domain_shape}")
        out = np.zeros(self.range_shape, dtype=np.float32)
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
        wide = ScanGeometry(g.angles, (g.rows, g.cols + 2 * half), g.pixel_size, g.center, g.shifts)
        model = self._with_scan(wide)
        y = np.zeros(self.range_shape, dtype=np.float32)
        blur = _NodeBlur(model.kernels, (g.rows + 2 * half, wide.cols))
        for a, projections in model._node_projections(x, "depth-PSF simulation", self.progress):
            padded = [(s, np.pad(proj, ((half, half), (0, 0)), mode="edge")) for s, proj in projections]
            y[a] = blur(padded)[half : half + g.rows, half : half + g.cols]
        return y

    def adjoint(self, y):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != self.range_shape:
            raise InputError(f"projections have shape {y.shape}, DepthPSFProjector expects {self.range_shape}")
        views = tqdm(range(self.scan.n_angles), desc="depth-PSF back-projection", disable=not self.progress,
                     leave=False)
        if self._one_pass():
            # correlate with each active node's PSF, then back-project all nodes of all views in one go
            blurred = np.zeros((self.scan.n_angles, self.n_slabs) + self.range_shape[1:], dtype=np.float32)
            for a in views:
                for s in self._active_nodes(a):
                    blurred[a, s] = _convolve(y[a], self.kernels[s][::-1, ::-1])
            return self._projector.adjoint_depth_slabs(blurred, self.depths, self.scan.center[:2])
        out = np.zeros(self.domain_shape, dtype=np.float64)
        for a in views:
            for s, w in self._weights(a):
                blurred = _convolve(y[a], self.kernels[s][::-1, ::-1]).astype(np.float32)
                out += w[None] * self._views[a].adjoint(blurred[None])
        return out.astype(np.float32)


def depth_psf_direct(
    x, volume, scan, zone_plate, focus=0.0, depth_step=None, backend="numba", kernel_size=None, polychromatic=True
):
    """Reference depth-dependent PSF projection with thin slabs at their own depth.

    Voxel columns are binned by depth in bins of ``depth_step`` (default a
    quarter voxel) on a grid shared by all views, and each bin is projected
    and blurred with the PSF at the bin's depth. With a quarter-voxel step the
    PSF depth of every voxel is exact to ±1/8 voxel, so this converges to the
    per-voxel model of Ekman et al (2018); it costs one projection per
    occupied bin and view.

    Returns
    -------
    ndarray, float32, shape ``scan.shape``
    """
    x = np.asarray(x, dtype=np.float32)
    if x.shape != volume.shape:
        raise InputError(f"volume has shape {x.shape}, geometry says {volume.shape}")
    step = volume.voxel_size / 4 if depth_step is None else float(depth_step)
    radius = _max_depth(volume, scan)
    if kernel_size is None:
        poly = polychromatic and zone_plate.monochromaticity is not None
        kernel_size = 2 * zone_plate.kernel_half_width(radius + abs(focus), scan.pixel_size, polychromatic=poly) + 1
    cache = {}
    out = np.zeros(scan.shape, dtype=np.float32)
    for a in range(scan.n_angles):
        view = projector(volume, scan.subset([a]), backend=backend)
        bins = np.rint(_depth_map(volume, scan, scan.angles[a]) / step).astype(np.int64)
        acc = np.zeros(scan.shape[1:])
        for b in np.unique(bins):
            if b not in cache:
                cache[b] = zone_plate.psf_2d(b * step - focus, scan.pixel_size, size=kernel_size, polychromatic=polychromatic)
            proj = view.forward(x * (bins == b)[None])[0]
            acc += _convolve(proj.astype(np.float64), cache[b].astype(np.float64))
        out[a] = acc
    return out


# --------------------------------------------------------------------------
# Noise, flat field, dual energy
# --------------------------------------------------------------------------
def poisson_noise(transmission, photons, seed=0, rng=None):
    """Noisy transmission ``counts / photons`` with ``counts ~ Poisson(photons · T)``.

    Parameters
    ----------
    transmission : array_like
        Noiseless ``I/I0``.
    photons : float or array_like
        Incident photons per pixel (broadcast; e.g. ``photons * flat_field``).
    seed : int
        Seed of ``np.random.default_rng`` when ``rng`` is not given.
    rng : numpy.random.Generator, optional

    Returns
    -------
    ndarray, float32
        Mean ``T`` and variance ``T/photons``; zero counts give 0.
    """
    t = np.asarray(transmission, dtype=np.float64)
    n0 = np.asarray(photons, dtype=np.float64)
    if np.any(~np.isfinite(n0)) or np.any(n0 <= 0):
        raise InputError("photons per pixel must be positive and finite")
    if np.any(t < 0):
        raise InputError("transmission must be non-negative")
    rng = np.random.default_rng(seed) if rng is None else rng
    counts = rng.poisson(n0 * t)
    return (counts / n0).astype(np.float32)


def equalising_flat_field(absorption, statistic="mean_transmission", average_angles=False):
    """The paper's z-equalising flat field: incident intensity per detector row.

    App. A: "taking an ideal Beer–Lambert projection of the sample and then
    averaging all illumination profiles over the mean horizontal absorption".
    Here every detector row (z) of every view gets the incident-intensity
    factor

    * ``statistic='mean_transmission'`` (default): ``1 / mean_cols exp(-y)``,
      so the *mean transmitted count along each row equals the nominal photon
      number* — one Poisson level for all rows;
    * ``statistic='mean_attenuation'``: ``mean_cols exp(+y)`` — the variant in
      the authors' code (slightly larger where a row's absorption varies).

    With ``average_angles=True`` the row statistic is also averaged over views
    (one profile for the whole scan).

    Parameters
    ----------
    absorption : ndarray, shape ``(n_angles, rows, cols)``
        Ideal (noiseless) absorption ``y``.

    Returns
    -------
    ndarray, float64, shape ``(n_angles, rows, 1)`` (broadcasts over columns)
        ≥ 1 where the sample absorbs, 1 for rows of empty field.
    """
    y = np.asarray(absorption, dtype=np.float64)
    if y.ndim != 3:
        raise InputError(f"absorption must be (n_angles, rows, cols), got shape {y.shape}")
    axes = (0, 2) if average_angles else (2,)
    if statistic == "mean_transmission":
        ff = 1.0 / np.mean(np.exp(-y), axis=axes, keepdims=True)
    elif statistic == "mean_attenuation":
        ff = np.mean(np.exp(y), axis=axes, keepdims=True)
    else:
        raise InputError(f"unknown flat-field statistic {statistic!r}; use 'mean_transmission' or 'mean_attenuation'")
    return np.broadcast_to(ff, (y.shape[0], y.shape[1], 1)).copy()


def photons_per_pixel(photons_per_area, pixel_size_um, reference_pixel_um=0.01):
    """Convert a dose like the paper's "150 photons / (10 nm)²" to photons per detector pixel."""
    return float(photons_per_area) * (float(pixel_size_um) / float(reference_pixel_um)) ** 2


def dual_energy_transmission(absorption, phi0, c):
    """Eq. 16: ``Î_B = φ0 Î_A + (1 − φ0) Î_A^c`` with ``Î_A = exp(-absorption)``.

    A fraction ``1 − φ0`` of the beam is a second energy whose LAC is ``c``
    times the first (higher-order light from the monochromator).
    """
    phi0 = float(phi0)
    if not 0.0 <= phi0 <= 1.0:
        raise InputError(f"phi0 is an intensity fraction in [0, 1], got {phi0}")
    ia = np.exp(-np.asarray(absorption, dtype=np.float64))
    return (phi0 * ia + (1.0 - phi0) * ia ** float(c)).astype(np.float32)


def affine_stray_light(transmission, a, b):
    """The affine stray-light alternative to Eq. 16: ``a · T + b``."""
    return (float(a) * np.asarray(transmission, dtype=np.float64) + float(b)).astype(np.float32)


# --------------------------------------------------------------------------
# High level
# --------------------------------------------------------------------------
@dataclass
class SimulatedProjections:
    """Output of :func:`simulate_projections`.

    Attributes
    ----------
    absorption : ndarray, float32
        ``-ln(I/I0)``: what a reconstruction consumes.
    transmission : ndarray, float32
        ``I/I0`` (noisy if photons were given).
    photons : ndarray or None
        Incident photons per pixel used for the noise (flat field included),
        broadcastable to the projections; ``None`` when noiseless.
    ideal_absorption : ndarray, float32
        The plain projection ``A µ`` (no PSF, no noise).
    """

    absorption: np.ndarray
    transmission: np.ndarray
    photons: np.ndarray | None
    ideal_absorption: np.ndarray


def simulate_projections(
    lac,
    volume,
    scan,
    *,
    psf=None,
    photons=None,
    seed=0,
    flat_field="equalise",
    dual_energy=None,
    focus=0.0,
    n_slabs=None,
    backend="numba",
    progress=None,
):
    """Simulate SXT projections of an LAC volume.

    Parameters
    ----------
    lac : ndarray, shape ``volume.shape``
        Linear absorption coefficients in 1/µm.
    volume, scan : VolumeGeometry, ScanGeometry
    psf : None, float, ndarray or ZonePlate
        ``None``: ideal projections. A number: Gaussian FWHM in µm applied to
        the intensity (:func:`band_limit`, the paper's band-limited study). A
        2D odd kernel: the same with that kernel. A :class:`ZonePlate`: the
        depth-dependent linearized model (:class:`DepthPSFProjector`).
    photons : float, optional
        Incident photons per pixel (see :func:`photons_per_pixel`); ``None``
        gives noiseless data.
    seed : int
        Seed for the Poisson noise.
    flat_field : {'equalise', 'flat'}
        ``'equalise'``: the paper's z-equalising illumination
        (:func:`equalising_flat_field` of the ideal projection), else uniform.
    dual_energy : dict, optional
        ``{'phi0': φ0, 'c': c}``: transmission by Eq. 16 instead of Beer–Lambert.
    focus, n_slabs : float, int
        Passed to :class:`DepthPSFProjector`.
    backend : str
        Projector backend.
    progress : bool, optional
        tqdm bars (default: on for large jobs).

    Returns
    -------
    SimulatedProjections
    """
    lac = np.asarray(lac, dtype=np.float32)
    if lac.shape != volume.shape:
        raise InputError(f"LAC volume has shape {lac.shape}, geometry says {volume.shape}")
    if progress is None:
        progress = lac.size * scan.n_angles > 5e8
    ideal = projector(volume, scan, backend=backend).forward(lac)
    if psf is None:
        y = ideal
    elif isinstance(psf, ZonePlate):
        y = DepthPSFProjector(volume, scan, psf, n_slabs=n_slabs, focus=focus, backend=backend, progress=progress).forward(lac)
    elif np.ndim(psf) == 0:
        y = band_limit(ideal, float(psf), scan.pixel_size)
    else:
        kernel = np.asarray(psf, dtype=np.float64)
        if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise InputError(f"psf kernel must be 2D with odd sides, got shape {kernel.shape}")
        y = -np.log(ndimage.convolve(np.exp(-ideal.astype(np.float64)), kernel[None] / kernel.sum(), mode="nearest"))
    if dual_energy is not None:
        try:
            transmission = dual_energy_transmission(y, dual_energy["phi0"], dual_energy["c"])
        except (KeyError, TypeError):
            raise InputError("dual_energy must be a dict with keys 'phi0' and 'c'") from None
    else:
        transmission = beer_lambert(y)
    if photons is None:
        return SimulatedProjections(
            absorption_from_intensity(transmission, clip=np.finfo(np.float32).tiny), transmission, None, ideal
        )
    if flat_field == "equalise":
        ff = equalising_flat_field(ideal)
    elif flat_field == "flat":
        ff = np.ones((1, 1, 1))
    else:
        raise InputError(f"flat_field must be 'equalise' or 'flat', got {flat_field!r}")
    n0 = float(photons) * ff
    noisy = poisson_noise(transmission, n0, seed=seed)
    # a pixel that caught no photon is read as one count, as a detector floor
    absorption = absorption_from_intensity(np.maximum(noisy, 1.0 / n0))
    return SimulatedProjections(absorption, noisy, n0.astype(np.float32), ideal)
