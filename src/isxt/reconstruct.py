"""Scans (geometry + data) and the combined reconstruction ``[A_roi; A_full] x = y``.

This is the workflow layer's entry point: it turns scans into operators
(projector, optional detector PSF, weights), stacks them (Eq. 7) and hands
them to a solver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ._array import like, to_numpy
from .errors import InputError
from .geometry import ScanGeometry, VolumeGeometry
from .operators import convolve_detector, crop_detector, extend_rows, gaussian_kernel, stack
from .projectors import projector

__all__ = ["Scan", "reconstruct", "build_operator", "resolve_device", "METHODS", "DEVICES"]

METHODS = ("cgls", "sirt", "mlem", "osem", "pwls", "tv")
DEVICES = ("auto", "cpu", "gpu")


@dataclass(eq=False)  # a measurement, not a value: compared and hashed by identity
class Scan:
    """One measured scan: its geometry and its absorption data ``−ln(I/I0)``.

    Parameters
    ----------
    geometry : ScanGeometry
    data : ndarray
        ``(n_angles, rows, cols)`` absorption (dimensionless).
    name : str, optional
        A label for tables and provenance (e.g. ``"interior"``, ``"sparse"``).
    weights : float or ndarray, optional
        Least-squares weight of the scan (scalar) or of every measurement.
    psf : float or ndarray, optional
        Detector PSF for the reconstruction model (Eq. 11–12): a Gaussian FWHM
        in µm, or a 2D kernel in detector pixels with odd sides.
    photons : float or ndarray, optional
        Incident photons per pixel; gives Poisson weights for ``method="pwls"``
        and the noise level for the discrepancy stopping rule.
    """

    geometry: ScanGeometry
    data: np.ndarray
    name: str | None = None
    weights: object = None
    psf: object = None
    photons: object = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.geometry, ScanGeometry):
            raise InputError(f"scan {self.label}: geometry must be an isxt.ScanGeometry")
        data = np.asarray(self.data)
        if data.shape != self.geometry.shape:
            raise InputError(
                f"scan {self.label}: data shape {data.shape} does not match the geometry "
                f"{self.geometry.shape} (n_angles, rows, cols)"
            )
        if not np.all(np.isfinite(data)):
            raise InputError(f"scan {self.label}: data contain NaN or inf; clean or mask them first")
        self.data = data.astype(np.float32, copy=False)

    @property
    def label(self):
        return self.name or "(unnamed)"

    def kernel(self):
        """The PSF as a detector kernel, or None."""
        if self.psf is None:
            return None
        if np.isscalar(self.psf):
            return gaussian_kernel(float(self.psf), self.geometry.pixel_size)
        return np.asarray(self.psf, dtype=np.float32)


def build_operator(scan, volume, backend="numba"):
    """The forward model of one scan: projector, then the detector PSF if any.

    With a PSF the projection is computed on a detector wider by the kernel's
    half-width on every side, blurred, and cropped to the real detector: a
    truncated (interior) detector receives light blurred in from just outside
    its edges, which zero padding at the edge would model as missing. Rows
    above and below the volume repeat the nearest row that sees it
    (:func:`isxt.operators.extend_rows`): a slab of a sample that continues in
    z blurs in light from that sample, not from empty space.
    """
    kernel = scan.kernel()
    if kernel is None:
        return projector(volume, scan.geometry, backend=backend)
    g = scan.geometry
    margins = (kernel.shape[0] // 2, kernel.shape[1] // 2)
    wide = ScanGeometry(g.angles, (g.rows + 2 * margins[0], g.cols + 2 * margins[1]), g.pixel_size, g.center, g.shifts)
    op = projector(volume, wide, backend=backend)
    first, last = wide.rows_covering(volume)
    if margins[0] and np.all(first <= last) and (np.any(first > 0) or np.any(last < wide.rows - 1)):
        op = extend_rows(op, first, last)
    return crop_detector(convolve_detector(op, kernel), margins)


def resolve_device(device, backend):
    """``'cpu'`` or ``'gpu'`` for a ``device`` argument (see :func:`reconstruct`)."""
    if device not in DEVICES:
        raise InputError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu" or (device == "auto" and backend != "astra"):
        return "cpu"
    from .projectors.astra import astra_available, cuda_problem

    problem = None
    if backend != "astra":
        problem = f"device='gpu' needs backend='astra' (ASTRA's CUDA projectors), not {backend!r}"
    elif not astra_available():
        problem = "device='gpu' needs the ASTRA toolbox: pip install 'isxt[astra]'"
    elif (why := cuda_problem()) is not None:
        problem = f"device='gpu' needs a CUDA build of ASTRA and a visible GPU: {why} (use device='cpu')"
    else:
        try:
            import cupy  # noqa: F401
        except ImportError:
            problem = "device='gpu' needs cupy for the GPU arrays: pip install cupy-cuda12x (or the build for your CUDA)"
    if problem is None:
        return "gpu"
    if device == "gpu":
        raise InputError(problem)
    return "cpu"


def _as_scans(scans):
    if isinstance(scans, Scan):
        return [scans]
    scans = list(scans)
    if not scans or not all(isinstance(s, Scan) for s in scans):
        raise InputError("reconstruct() needs one or more isxt.Scan objects")
    return scans


def reconstruct(
    scans,
    volume,
    method="cgls",
    iterations=50,
    *,
    nonneg=False,
    precondition=False,
    x0=None,
    stop=None,
    backend="numba",
    device="auto",
    n_subsets=8,
    tv_weight=None,
    bounds=(0.0, None),
    tv_isotropic=True,
    warm_start=5,
    callback=None,
    progress=False,
    return_info=False,
    check=True,
):
    """Reconstruct a LAC volume (1/µm) from one or more scans jointly.

    Parameters
    ----------
    scans : Scan or sequence of Scan
        E.g. ``[interior, sparse]``: they are stacked into one operator (Eq. 7).
    volume : VolumeGeometry
    method : {'cgls', 'sirt', 'mlem', 'osem', 'pwls', 'tv'}
        ``cgls`` is the paper's CGNE; ``pwls`` weights each measurement by its
        expected photon count (needs ``Scan.photons`` or ``Scan.weights``);
        ``tv`` minimises ``½‖W^{1/2}(A x − y)‖² + λ TV(x)`` within ``bounds``
        (:func:`isxt.solvers.tv_pdhg`, ``W`` the scans' weights).
    iterations : int
        Maximum number of iterations (a ``stop`` rule may end earlier).
    nonneg : bool
        Enforce ``x ≥ 0`` (cgls, sirt, pwls).
    precondition : bool
        cgls and pwls only: precondition by the voxel sensitivity
        (``D = (Aᵀ1)^(-1/2)``, see :func:`isxt.solvers.cgls`). Recommended
        for noisy combined scans: the few full views' parts of the volume
        then converge at the pace of the ROI, before noise stops the
        iteration (see docs/experiments.md, ``dose``).
    x0 : ndarray, optional
        Starting volume.
    stop : object, optional
        A stopping rule from :mod:`isxt.solvers.stopping`, or ``"discrepancy"``
        to use the discrepancy principle with the scans' photon counts.
    backend : {'numba', 'astra'}
        Projector backend. ``'astra'`` uses ASTRA's CUDA projectors when a GPU
        is present.
    device : {'auto', 'cpu', 'gpu'}
        Where the solver's arrays live. ``'gpu'`` keeps data, iterates and
        work arrays on the GPU as cupy arrays (needs ``backend='astra'``, a
        CUDA build of ASTRA and cupy), so no volume crosses the PCI bus per
        iteration; ``'auto'`` picks it whenever that is possible. The result
        is returned as a numpy array either way.
    n_subsets : int
        Ordered subsets for ``osem``.
    tv_weight : float or None
        ``tv`` only: the TV weight λ. None chooses it: by the discrepancy
        principle when every scan has ``photons`` (the weighted residual
        meets the Poisson noise level), else at the corner of the L-curve
        (:mod:`isxt.solvers.tv_weight`). The choice is printed with
        ``progress=True`` and returned in ``info``.
    bounds : (lo, hi)
        ``tv`` only: box constraint on the LAC, None for an open side
        (default ``x ≥ 0``).
    tv_isotropic : bool
        ``tv`` only: isotropic (default) or anisotropic TV.
    warm_start : int
        ``tv`` only: start from this many preconditioned CGLS iterations
        (0: from zeros or ``x0``).
    callback : callable, optional
        ``callback(iteration, x, residual_norm)``; return True to stop. On the
        GPU ``x`` is a cupy array (``x.get()`` copies it to the host).
    progress : bool
        Show a progress bar.
    return_info : bool
        Also return a dict with the residual history, iterations and timing,
        and under ``'consistency'`` the consistency report (a dict).
    check : bool
        Check the result against the data (:func:`isxt.consistency.check_consistency`):
        every scan's residual at the first and final iterate, and for several
        scans whether each predicts the others. Every failed check is issued as
        an :class:`isxt.consistency.ConsistencyWarning` naming the scan and the
        likely cause (swapped files, a reversed angle file, a wrong centre or
        pixel size).

    Returns
    -------
    x : ndarray, float32, ``volume.shape``
        The LAC volume in 1/µm.
    info : dict
        Only with ``return_info=True``.
    """
    from . import solvers

    scans = _as_scans(scans)
    if not isinstance(volume, VolumeGeometry):
        raise InputError("volume must be an isxt.VolumeGeometry")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "tv" and isinstance(stop, str):
        raise InputError("method 'tv' has no stop rule by name; it stops at its gap tolerance "
                         "(tv_weight=None uses the discrepancy principle to choose λ)")
    if precondition and method not in ("cgls", "pwls"):
        raise InputError(f"precondition=True applies to methods 'cgls' and 'pwls', not {method!r}")
    if int(iterations) < 1:
        raise InputError(f"iterations must be a positive integer, got {iterations!r}")
    device = resolve_device(device, backend)
    ops = [build_operator(s, volume, backend) for s in scans]
    if device == "gpu":
        import cupy

        data = [cupy.asarray(s.data) for s in scans]
        x0 = None if x0 is None else cupy.asarray(x0, dtype=np.float32)
    else:
        data = [s.data for s in scans]

    if method == "pwls":
        weights = []
        for s, d in zip(scans, data):
            if s.weights is not None:
                weights.append(like(s.weights, d))
            elif s.photons is not None:
                weights.append(solvers.poisson_weights(d, like(s.photons, d)))
            else:
                raise InputError(f"scan {s.label}: method 'pwls' needs photons= or weights= on every scan")
    else:
        weights = [like(s.weights, d) for s, d in zip(scans, data)]
    A = stack(ops, weights=None if all(w is None for w in weights) else weights)

    if isinstance(stop, str):
        if stop != "discrepancy":
            raise InputError(f"unknown stopping rule {stop!r}; use 'discrepancy' or a stopping object")
        if any(s.photons is None for s in scans):
            raise InputError("stop='discrepancy' needs photons= (incident photons per pixel) on every scan")
        variance = [solvers.poisson_variance(d, like(s.photons, d)) for s, d in zip(scans, data)]
        if method == "pwls":
            variance = float(sum(v.size for v in variance))  # weighted residuals have unit variance
        stop = solvers.Discrepancy(variance)

    history = []
    first = []

    def _callback(iteration, x, residual):
        history.append(float(residual))
        if check and not first:
            first.append(to_numpy(x).copy())
        return bool(callback(iteration, x, residual)) if callback is not None else False

    common = dict(x0=x0, stop=stop, callback=_callback, progress=progress)
    t0 = time.perf_counter()
    if method == "cgls":
        x = solvers.cgls(A, A.weigh(data), iterations=iterations, nonneg=nonneg, precondition=precondition or None,
                         **common)
    elif method == "pwls":
        x = solvers.pwls(stack(ops), data, weights, iterations=iterations, nonneg=nonneg,
                         precondition=precondition or None, **common)
    elif method == "sirt":
        x = solvers.sirt(A, A.weigh(data), iterations=iterations, nonneg=nonneg, **common)
    elif method == "mlem":
        x = solvers.mlem(A, A.weigh(data), iterations=iterations, **common)
    elif method == "tv":
        x, tv_info = _tv(A, data, scans, iterations, tv_weight, bounds, tv_isotropic, warm_start, common)
    else:
        subsets = solvers.make_subsets(stack(ops), data, n_subsets)
        x = solvers.osem(subsets, iterations=iterations, **common)
    x = to_numpy(x)
    elapsed = time.perf_counter() - t0
    report = None
    if check:
        report = _check(scans, volume, x, first[0] if first else None, history, backend)
    if not return_info:
        return x
    info = {
        "method": method,
        "precondition": bool(precondition),
        "iterations": len(history),
        "residual_history": history,
        "seconds": elapsed,
        "backend": backend,
        "device": device,
        "scans": [s.label for s in scans],
        "best_iteration": getattr(stop, "best_iteration", None),
    }
    if method == "tv":
        info.update(tv_info)
    if report is not None:
        info["consistency"] = report.to_dict()
    return x, info


def _tv(A, data, scans, iterations, tv_weight, bounds, isotropic, warm_start, common):
    """The ``method='tv'`` branch: warm start, λ (given or chosen), PDHG; returns ``(x, info)``."""
    from . import solvers

    y = A.weigh(data)
    bounds = solvers.check_bounds(bounds)
    x0, progress = common["x0"], common["progress"]
    if warm_start and x0 is None:
        x0 = solvers.cgls(A, y, iterations=int(warm_start), precondition=True)
    # one power-method estimate of ‖A‖ for every solve
    kwargs = dict(bounds=bounds, isotropic=isotropic, operator_norm_estimate=solvers.operator_norm(A, y))
    info = {"tv_bounds": list(bounds), "tv_isotropic": bool(isotropic), "warm_start": int(warm_start)}
    if tv_weight is None:
        if all(s.photons is not None for s in scans):
            w = A.ls_weights or [None] * len(scans)
            variance = [solvers.poisson_variance(d, like(s.photons, d)) * (1 if wi is None else wi)
                        for s, d, wi in zip(scans, data, w)]
            tv_weight, x0, rule = solvers.discrepancy_tv_weight(A, y, variance, x0=x0, iterations=iterations,
                                                                progress=progress, **kwargs)
        else:
            tv_weight, x0, rule = solvers.lcurve_tv_weight(A, y, x0=x0, iterations=iterations, progress=progress,
                                                           **kwargs)
        info["tv_weight_rule"] = rule["rule"]
        info["tv_weight_trials"] = [list(t) for t in rule["trials"]]
        if progress:
            print(f"isxt: TV weight λ = {tv_weight:.4g} ({rule['rule']} rule, {len(rule['trials'])} trial solves)")
    else:
        info["tv_weight_rule"] = "given"
    common = dict(common, x0=x0)
    x, pd = solvers.tv_pdhg(A, y, float(tv_weight), iterations=iterations, return_info=True, **kwargs, **common)
    info.update(tv_weight=float(tv_weight), tv_gap=pd["gap"][-1] if pd["gap"] else float("nan"),
                tv_converged=pd["converged"])
    return x, info


def _check(scans, volume, x, x_first, history, backend):
    """The consistency report of a result; each failed check also as a warning."""
    import warnings

    from .consistency import ConsistencyWarning, check_consistency

    report = check_consistency(scans, volume, x, x_first, history=history, backend=backend)
    for line in report.warnings:
        warnings.warn(line, ConsistencyWarning, stacklevel=3)
    return report
