"""Null-space component of a phantom for a measurement operator (paper §2.1, Eq. 8–9).

Any volume splits as ``x0 = x_meas + x_null`` with ``x_meas ∈ range(Aᵀ)`` (the
measurable part) and ``A x_null = 0``. ``x_null`` cannot be recovered from the
data; ``|x_null|/|x0|`` over the volume or the ROI measures how much of the
phantom the scan leaves undetermined (Fig. 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._array import array_module, combine, norm2
from .errors import InputError

__all__ = ["NullSpaceResult", "null_space"]

#: ‖A‖² from a few power iterations is a slight underestimate; stay safely below 2/‖A‖².
STEP_SAFETY = 1.05


@dataclass
class NullSpaceResult:
    """The null-space estimate of :func:`null_space`.

    Attributes
    ----------
    x_null : ndarray, float32
        The null-space component of ``x0``.
    fraction : float
        ``‖x_null‖ / ‖x0‖`` over the volume (Euclidean norms, as in the
        paper's text and Fig. 2 axis).
    fraction_roi : float or None
        The same restricted to ``roi_mask``; None without a mask.
    iterations : int
        Iterations run.
    step : float or None
        Landweber step ``s`` (None for ``method='cgls'``).
    method : str
    energy_fraction, energy_fraction_roi : float or None
        ``‖x_null‖² / ‖x0‖²``: the squared ratios, which is what the paper's
        published table (``interior_nullspace.csv``, ``xnull_*``) contains.
    """

    x_null: np.ndarray
    fraction: float
    fraction_roi: float | None
    iterations: int
    step: float | None
    method: str = "landweber"
    energy_fraction: float | None = None
    energy_fraction_roi: float | None = None


def null_space(A, x0, iterations=200, step=None, method="landweber", roi_mask=None, callback=None, progress=False):
    """Estimate the null-space component of ``x0`` for operator ``A``.

    Parameters
    ----------
    A : Operator or StackedOperator
        The measurement operator (e.g. ``stack([A_roi, A_full])``, Eq. 7).
    x0 : ndarray, shape (nz, ny, nx)
        The phantom.
    iterations : int
        Number of iterations.
    step : float, optional
        Landweber step ``s``; default ``1 / (1.05 ‖A‖²)`` with ``‖A‖²`` from
        :func:`isxt.operators.power_norm`. Convergence needs ``0 < s < 2/‖A‖²``.
    method : {'landweber', 'cgls'}
        ``'landweber'``: the Wilson–Barrett iteration of Eq. 9,
        ``x_{n+1} = (I − s AᵀA) x_n`` from ``x_0 = x0``. Each step shrinks the
        measurable component along singular vector ``v_k`` by ``1 − s σ_k²`` and
        leaves the null component untouched, so the iterate tends to
        ``x_null``; components with small ``σ_k`` decay slowly, so a finite
        run over-estimates ``x_null`` (as in the paper, 200 iterations).
        ``'cgls'``: ``x_null = x0 − x_mn`` where ``x_mn = cgls(A, A x0)``
        started from zero is the minimum-norm solution, which lies in
        ``range(Aᵀ)`` and so is the measurable part; converges much faster
        for the same number of iterations.
    roi_mask : ndarray of bool, optional
        ``(nz, ny, nx)`` or ``(ny, nx)`` mask of the region of interest for
        ``fraction_roi``.
    callback : callable, optional
        ``callback(iteration, x_null, residual_norm)``; True stops. For
        Landweber ``residual_norm`` is ``‖A x_n‖`` (→ 0); for CGLS it is the
        CGLS residual.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    NullSpaceResult
    """
    from .operators import power_norm
    from .solvers._loop import IterationLoop
    from .solvers.cgls import cgls

    xp = array_module(x0)
    x0 = xp.asarray(x0, dtype=np.float32)
    shape = getattr(A, "domain_shape", None)
    if shape is not None and tuple(x0.shape) != tuple(shape):
        raise InputError(f"x0 has shape {tuple(x0.shape)} but the operator's volume is {tuple(shape)}")
    mask = None
    if roi_mask is not None:
        try:
            mask = xp.broadcast_to(xp.asarray(roi_mask, dtype=bool), x0.shape)
        except ValueError:
            raise InputError(
                f"roi_mask of shape {np.shape(roi_mask)} does not fit the volume {tuple(x0.shape)}"
            ) from None

    if method == "landweber":
        if step is None:
            norm_sq = power_norm(A)
            if not norm_sq > 0:
                raise InputError("the operator is zero (‖A‖ = 0): every volume is in its null space")
            step = 1.0 / (STEP_SAFETY * norm_sq)
        step = float(step)
        if not step > 0:
            raise InputError(f"Landweber step must be positive, got {step}")
        loop = IterationLoop(iterations, None, callback, progress, desc="null space")
        x = x0.copy()
        done = 0
        for k in loop:
            ax = A.forward(x)
            x = combine(x, -step, A.adjoint(ax))
            done = k
            if loop.report(k, x, math.sqrt(norm2(ax))):
                break
        x_null = loop.result(x)
    elif method == "cgls":
        step = None
        counter = {"n": 0}

        def count(k, x, r):
            counter["n"] = k
            return bool(callback(k, x0 - x, r)) if callback is not None else False

        x_meas = cgls(A, A.forward(x0), iterations=iterations, callback=count, progress=progress)
        x_null = (x0 - x_meas).astype(np.float32)
        done = counter["n"]
    else:
        raise InputError(f"unknown null-space method {method!r}; use 'landweber' or 'cgls'")

    total = norm2(x0)
    null = norm2(x_null)
    energy = null / total if total > 0 else float("nan")
    energy_roi = None
    if mask is not None:
        total_roi = norm2(x0[mask])
        energy_roi = norm2(x_null[mask]) / total_roi if total_roi > 0 else float("nan")
    return NullSpaceResult(
        x_null=x_null.astype(np.float32, copy=False),
        fraction=math.sqrt(energy),
        fraction_roi=None if energy_roi is None else math.sqrt(energy_roi),
        iterations=done,
        step=step,
        method=method,
        energy_fraction=energy,
        energy_fraction_roi=energy_roi,
    )
