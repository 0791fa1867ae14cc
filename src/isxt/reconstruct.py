"""The combined reconstruction ``[A_roi; A_full] x = y`` of scans, and the rules of its options.

This is the workflow layer's entry point: it turns scans
(:class:`isxt.scan.Scan`) into operators (projector, optional detector PSF,
weights), stacks them (Eq. 7) and hands them to a solver. The rules on which
options go together (:func:`option_problems`, :func:`needs_photons`) are stated
here once; the acquisition file's validation applies the same functions.
"""

from __future__ import annotations

import time

import numpy as np

from ._array import like, to_numpy
from .errors import InputError
from .geometry import VolumeGeometry
from .operators import stack
from .scan import Scan, build_operator

__all__ = ["Scan", "reconstruct", "build_operator", "resolve_device", "option_problems", "needs_photons", "METHODS",
           "DEVICES", "PRECONDITIONED_METHODS", "TV_ONLY_OPTIONS"]

METHODS = ("cgls", "sirt", "mlem", "osem", "pwls", "tv")
DEVICES = ("auto", "cpu", "gpu")
#: Methods that accept ``precondition=True``.
PRECONDITIONED_METHODS = ("cgls", "pwls")
#: Options of ``method='tv'`` only.
TV_ONLY_OPTIONS = ("tv_weight", "bounds")


def option_problems(method, precondition=False, options=()):
    """Options that do not go with ``method``: a list of ``(option, message)``.

    Parameters
    ----------
    method : str
    precondition : bool
        Whether preconditioning was asked for.
    options : sequence of str
        Other options set explicitly (checked against :data:`TV_ONLY_OPTIONS`).

    Examples
    --------
    >>> option_problems("sirt", precondition=True)
    [('precondition', "applies to methods 'cgls' and 'pwls', not 'sirt'")]
    """
    out = []
    if precondition and method not in PRECONDITIONED_METHODS:
        names = " and ".join(repr(m) for m in PRECONDITIONED_METHODS)
        out.append(("precondition", f"applies to methods {names}, not {method!r}"))
    if method != "tv":
        out += [(key, f"applies to method = 'tv' only, not {method!r}") for key in options if key in TV_ONLY_OPTIONS]
    return out


def needs_photons(method, stop=None):
    """The options (``"key = 'value'"``) that need photons (incident photons per pixel) on every scan.

    Examples
    --------
    >>> needs_photons("pwls", "discrepancy")
    ["stop = 'discrepancy'", "method = 'pwls'"]
    """
    return [k for k, on in (("stop = 'discrepancy'", stop == "discrepancy"), ("method = 'pwls'", method == "pwls"))
            if on]


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
    for option, message in option_problems(method, precondition):
        raise InputError(f"{option}=True {message}")
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
            raise InputError(f"{needs_photons(method, stop)[0]} needs photons= (incident photons per pixel) on every scan")
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
        # a started run (x0, TV's CGLS warm start) has no from-zero first iterate: its fit ratio would
        # judge the warm start, not whether the scans fit, so that check is left out (NaN)
        started = x0 is not None or (method == "tv" and warm_start)
        report = _check(scans, volume, x, None if started or not first else first[0], history, backend)
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
