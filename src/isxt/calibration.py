"""Absorption calibration between a sparse (A) and an interior (B) scan (App. B.2).

With a harmonic of the monochromator focused by the high-resolution zone
plate, the interior scan sees two energies. With ``Î_A = exp(-μL)`` the
monochromatic sparse transmission and ``μ₁ = c μ₀``, the interior
transmission is (Eq. 16)

    Î_B = φ₀ Î_A + (1 − φ₀) Î_A^c.

The alternative is stray light, ``I_B = a I_A + b``; and the third model is
*none*, ``I_B = I_A``. All are fitted to the pairs ``(I_A, I_B)`` at matching
pixels of every usable view pair: views of the two scans at the same angle or
at its mirror (θ + 180°, the detector flipped), A interpolated at B's pixel
centres using both scans' geometry and shifts. A fit needs at least
:data:`MIN_VIEWS` matched views and :data:`MIN_PIXELS` matched pixels.

The model is chosen by the Bayesian information criterion
``BIC = n ln(RSS/n) + k ln n`` (k = 0 for none, 2 for the others), which
penalises the extra parameters; each parameter's uncertainty is a view-wise
jackknife standard error (pixels of one view are correlated, so the
least-squares covariance would understate it). The correction inverts the
chosen model to turn the interior transmission into what the monochromatic
scan would have measured; the acquisition workflow applies it only when it
lowers the cross-scan inconsistency (:mod:`isxt.consistency`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, optimize

from .errors import InputError

__all__ = [
    "MODELS",
    "dual_energy_model",
    "affine_model",
    "match_pixels",
    "fit_dual_energy",
    "fit_affine",
    "fit_none",
    "MIN_VIEWS",
    "MIN_PIXELS",
    "CalibrationResult",
    "calibrate",
    "calibrate_pairs",
    "run_calibration",
    "plot_calibration",
]

MODELS = ("auto", "none", "dual_energy", "affine")
#: A calibration needs at least this many matched views and pixels.
MIN_VIEWS = 3
MIN_PIXELS = 200


def dual_energy_model(ia, phi0, c):
    """Eq. 16: ``φ₀ I_A + (1 − φ₀) I_A^c``."""
    ia = np.asarray(ia, dtype=np.float64)
    return phi0 * ia + (1.0 - phi0) * np.power(np.clip(ia, 0.0, None), c)


def affine_model(ia, a, b):
    """Stray light: ``a I_A + b``."""
    return a * np.asarray(ia, dtype=np.float64) + b


def match_pixels(ref_trans, ref_geometry, target_trans, target_geometry, angle_tolerance_deg=0.1,
                 match_resolution=True, flat_fraction=0.5):
    """Pairs ``(I_A, I_B)`` of transmissions seen along the same rays.

    For each target view, the reference view at the same angle, or else at its
    mirror θ + 180° (nearest within ``angle_tolerance_deg``; other views are
    skipped) is interpolated
    (linear) at the target's pixel centres: a pixel centre ``(u_B, v_B)``
    sees the in-plane coordinate ``s = u_B + u_cB(θ)`` and height
    ``z = v_B + v_cB(θ)``, which the reference detector records at
    ``u_A = s − u_cA(θ)``, ``v_A = z − v_cA(θ)`` (at the mirror view
    ``u_A = −s − u_cA``). Target pixels outside the reference detector are
    dropped.

    Parameters
    ----------
    ref_trans, target_trans : ndarray
        Transmission stacks ``(n_angles, rows, cols)``.
    ref_geometry, target_geometry : ScanGeometry
    angle_tolerance_deg : float
    match_resolution : bool
        Blur the target with a Gaussian so that both sides of a pair have the
        same resolution: the interpolated reference has a variance of about
        ``p_A²/12`` (its pixel) ``+ p_A²/6`` (linear interpolation, averaged
        over sub-pixel positions), the target ``p_B²/12``.
    flat_fraction : float
        Keep only this fraction of the matched pixels of each view, those
        where the interpolated reference varies least (smallest gradient):
        at edges any remaining resolution mismatch dominates the difference.

    Returns
    -------
    ia, ib : ndarray
        float64 1-D arrays of matched transmissions.
    views : list of tuple
        ``(target_view, reference_view)`` pairs used.
    view_index : ndarray of int
        For every pair, its index in ``views`` (for the jackknife).
    """
    ref_trans = np.asarray(ref_trans)
    target_trans = np.asarray(target_trans)
    ref_angles = np.asarray(ref_geometry.angles)
    uc_a, vc_a = ref_geometry.detector_center()
    uc_b, vc_b = target_geometry.detector_center()
    pa, pb = ref_geometry.pixel_size_um, target_geometry.pixel_size_um
    ratio = pa / pb
    sigma = np.sqrt(max(ratio**2 / 4 - 1 / 12, 0.0)) if match_resolution and ratio > 1 else 0.0
    cols_b = (np.arange(target_geometry.cols) + 0.5 - target_geometry.cols / 2) * pb
    rows_b = (np.arange(target_geometry.rows) + 0.5 - target_geometry.rows / 2) * pb
    vv, uu = np.meshgrid(rows_b, cols_b, indexing="ij")
    ia_all, ib_all, views, index = [], [], [], []
    tol = np.radians(angle_tolerance_deg)
    for i, theta in enumerate(target_geometry.angles):
        diff = np.abs(np.angle(np.exp(1j * (ref_angles - theta))))
        mirror = np.abs(np.angle(np.exp(1j * (ref_angles - theta - np.pi))))
        j = int(np.argmin(diff))
        sign = 1.0
        if diff[j] > tol:
            j = int(np.argmin(mirror))
            sign = -1.0
            if mirror[j] > tol:
                continue
        u_a = sign * (uu + uc_b[i]) - uc_a[j]
        v_a = vv + vc_b[i] - vc_a[j]
        col = u_a / pa + ref_geometry.cols / 2 - 0.5  # pixel-centre index
        row = v_a / pa + ref_geometry.rows / 2 - 0.5
        inside = (col >= 0) & (col <= ref_geometry.cols - 1) & (row >= 0) & (row <= ref_geometry.rows - 1)
        if sigma > 0:
            # Drop a margin where the blur reaches past the target's edge.
            half = int(np.ceil(2 * sigma))
            inside[:, :half] = inside[:, -half:] = False
            if target_geometry.rows > 2 * half:
                inside[:half, :] = inside[-half:, :] = False
        if not inside.any():
            continue
        ref = np.asarray(ref_trans[j], dtype=np.float64)
        ia = ndimage.map_coordinates(ref, [row[inside], col[inside]], order=1)
        ib_img = np.asarray(target_trans[i], dtype=np.float64)
        if sigma > 0:
            ib_img = ndimage.gaussian_filter(ib_img, sigma, mode="nearest")
        ib = ib_img[inside]
        if flat_fraction < 1:
            grad = np.hypot(*np.gradient(ndimage.gaussian_filter(ref, 0.7, mode="nearest")))
            g = ndimage.map_coordinates(grad, [row[inside], col[inside]], order=1)
            keep = g <= np.quantile(g, flat_fraction)
            ia, ib = ia[keep], ib[keep]
        ia_all.append(ia)
        ib_all.append(ib)
        index.append(np.full(ia.size, len(views)))
        views.append((i, j))
    if not views:
        raise InputError(
            "calibration: no interior view has a sparse view at the same angle or its mirror "
            f"(tolerance {angle_tolerance_deg}°); acquire them on a common angular grid or raise angle_tolerance_deg"
        )
    return np.concatenate(ia_all), np.concatenate(ib_all), views, np.concatenate(index)


def _bic(rss, n, k=2):
    return float(n * np.log(max(rss, 1e-300) / n) + k * np.log(n))


def fit_none(ia, ib):
    """The identity model ``I_B = I_A`` (nothing to fit): ``{'rss', 'bic'}``."""
    rss = float(np.sum((np.asarray(ib, np.float64) - np.asarray(ia, np.float64)) ** 2))
    return {"rss": rss, "bic": _bic(rss, np.size(ia), 0)}


def fit_dual_energy(ia, ib):
    """Least-squares fit of Eq. 16: ``{'phi0', 'c', 'rss', 'bic'}``."""
    ia = np.asarray(ia, dtype=np.float64)
    ib = np.asarray(ib, dtype=np.float64)

    def residual(p):
        return dual_energy_model(ia, p[0], p[1]) - ib

    best = None
    for start in ((0.9, 0.5), (0.5, 0.2), (0.7, 2.0)):
        res = optimize.least_squares(residual, start, bounds=([0.0, 1e-4], [1.0, 20.0]), x_scale="jac")
        if best is None or res.cost < best.cost:
            best = res
    rss = float(np.sum(best.fun**2))
    return {"phi0": float(best.x[0]), "c": float(best.x[1]), "rss": rss, "bic": _bic(rss, ia.size)}


def fit_affine(ia, ib):
    """Least-squares fit of ``I_B = a I_A + b``: ``{'a', 'b', 'rss', 'bic'}``."""
    ia = np.asarray(ia, dtype=np.float64)
    ib = np.asarray(ib, dtype=np.float64)
    design = np.stack([ia, np.ones_like(ia)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, ib, rcond=None)
    rss = float(np.sum((a * ia + b - ib) ** 2))
    return {"a": float(a), "b": float(b), "rss": rss, "bic": _bic(rss, ia.size)}


@dataclass
class CalibrationResult:
    """The fits of every model, the chosen one, uncertainties and the matched pairs."""

    dual_energy: dict
    affine: dict
    model: str
    n_pixels: int
    views: list = field(default_factory=list)
    ia: np.ndarray | None = field(default=None, repr=False)
    ib: np.ndarray | None = field(default=None, repr=False)
    none: dict = field(default_factory=dict)
    view_index: np.ndarray | None = field(default=None, repr=False)

    def parameters(self, model=None):
        """``{name: value}`` of a model (default: the chosen one); empty for ``'none'``."""
        model = model or self.model
        if model == "dual_energy":
            return {"phi0": self.dual_energy["phi0"], "c": self.dual_energy["c"]}
        if model == "affine":
            return {"a": self.affine["a"], "b": self.affine["b"]}
        return {}

    def describe(self, model=None):
        """``'dual_energy: phi0 = 0.851 ± 0.004, c = 0.41 ± 0.02'``.

        The ± is the reported uncertainty: two view-wise jackknife standard
        errors (≈ 95 % interval).
        """
        model = model or self.model
        fit = getattr(self, model) if model != "none" else self.none
        sigma = fit.get("sigma", {})
        parts = [f"{k} = {v:.4g}" + (f" ± {2 * sigma[k]:.2g}" if np.isfinite(sigma.get(k, np.nan)) else "")
                 for k, v in self.parameters(model).items()]
        return f"{model}: " + (", ".join(parts) if parts else "I_B = I_A")

    def predict(self, ia, model=None):
        """``I_B`` predicted from ``I_A`` by ``model`` (default: the chosen one)."""
        model = model or self.model
        if model == "dual_energy":
            return dual_energy_model(ia, self.dual_energy["phi0"], self.dual_energy["c"])
        if model == "none":
            return np.asarray(ia, dtype=np.float64)
        return affine_model(ia, self.affine["a"], self.affine["b"])

    def residuals(self, model=None):
        """``model(I_A) − I_B`` at the matched pixels."""
        return self.predict(self.ia, model) - self.ib

    def correct(self, target_trans):
        """Invert the chosen model: the monochromatic transmission for a measured ``I_B``.

        The dual-energy model is monotone in ``I_A`` (``φ₀ ∈ [0, 1]``,
        ``c > 0``), so it is inverted by interpolation in a dense table on
        ``I_A ∈ [10⁻⁶, 2]``; the affine model analytically; ``'none'`` returns
        the data unchanged. Results may be ≤ 0 where the data are noisier than
        the model; the acquisition's clip rule then applies.
        """
        tb = np.asarray(target_trans, dtype=np.float64)
        if self.model == "none":
            return tb.astype(np.float32)
        if self.model == "dual_energy":
            grid = np.concatenate([np.geomspace(1e-6, 1.0, 8192), np.linspace(1.0, 2.0, 1025)[1:]])
            table = self.predict(grid, "dual_energy")
            out = np.interp(tb, table, grid)
        else:
            a, b = self.affine["a"], self.affine["b"]
            if a <= 0:
                raise InputError(f"calibration: the affine fit has slope a = {a:.3g} <= 0 and cannot be inverted")
            out = (tb - b) / a
        return out.astype(np.float32)

    def to_dict(self):
        return {
            "model": self.model,
            "parameters": self.parameters(),
            "none": self.none,
            "dual_energy": self.dual_energy,
            "affine": self.affine,
            "n_pixels": self.n_pixels,
            "n_views": len(self.views),
            "views_target_reference": [list(map(int, v)) for v in self.views],
            "selection": "smallest BIC = n ln(RSS/n) + k ln n (k = 0 none, 2 affine, 2 dual_energy); "
                         "sigma: view-wise jackknife standard error; reported uncertainty ± 2 sigma (≈ 95 %)",
        }


def _fit(name, ia, ib):
    return {"none": fit_none, "dual_energy": fit_dual_energy, "affine": fit_affine}[name](ia, ib)


def _jackknife(name, ia, ib, view_index):
    """Leave-one-view-out standard errors of a model's parameters (NaN with fewer than 3 views)."""
    keys = {"dual_energy": ("phi0", "c"), "affine": ("a", "b")}[name]
    views = np.unique(view_index)
    if views.size < 3:
        return {k: float("nan") for k in keys}
    est = np.array([[_fit(name, ia[view_index != v], ib[view_index != v])[k] for k in keys] for v in views])
    n = views.size
    se = np.sqrt((n - 1) / n * np.sum((est - est.mean(axis=0)) ** 2, axis=0))
    return dict(zip(keys, map(float, se)))


def calibrate_pairs(ia, ib, model="auto", view_index=None, min_pixels=MIN_PIXELS):
    """Fit every model to matched pairs and choose one by BIC (``model='auto'``) or force it.

    Parameters
    ----------
    ia, ib : array_like
        Matched reference and target transmissions.
    model : {'auto', 'none', 'dual_energy', 'affine'}
    view_index : array_like of int, optional
        The matched view of every pair, for the jackknife uncertainties.
    min_pixels : int
        Fewer usable pairs are an error.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ia = rng.uniform(0.2, 1.0, 600)
    >>> ib = ia + 0.001 * rng.standard_normal(600)
    >>> calibrate_pairs(ia, ib).model
    'none'
    >>> calibrate_pairs(ia, dual_energy_model(ia, 0.85, 0.4)).model
    'dual_energy'
    """
    if model not in MODELS:
        raise InputError(f"calibration model {model!r} unknown; choose one of {', '.join(MODELS)}")
    ia = np.asarray(ia, dtype=np.float64)
    ib = np.asarray(ib, dtype=np.float64)
    ok = np.isfinite(ia) & np.isfinite(ib) & (ia > 0)
    if ok.sum() < min_pixels:
        raise InputError(
            f"calibration: only {int(ok.sum())} usable matched pixels; need at least {min_pixels} "
            "(more views of both scans at common angles, or a larger overlap)"
        )
    ia, ib = ia[ok], ib[ok]
    vi = None if view_index is None else np.asarray(view_index)[ok]
    fits = {name: _fit(name, ia, ib) for name in ("none", "dual_energy", "affine")}
    if vi is not None:
        for name in ("dual_energy", "affine"):
            fits[name]["sigma"] = _jackknife(name, ia, ib, vi)
    chosen = model if model != "auto" else min(fits, key=lambda k: fits[k]["bic"])
    return CalibrationResult(fits["dual_energy"], fits["affine"], chosen, int(ia.size), [], ia, ib, fits["none"], vi)


def calibrate(ref_trans, ref_geometry, target_trans, target_geometry, model="auto", angle_tolerance_deg=0.1,
              min_views=MIN_VIEWS, min_pixels=MIN_PIXELS):
    """Match pixels of a sparse (reference) and interior (target) scan, then fit.

    Needs at least ``min_views`` matched views and ``min_pixels`` matched
    pixels (:class:`~isxt.errors.InputError` otherwise).

    Returns
    -------
    CalibrationResult
    """
    ia, ib, views, index = match_pixels(ref_trans, ref_geometry, target_trans, target_geometry, angle_tolerance_deg)
    if len(views) < min_views:
        raise InputError(
            f"calibration: only {len(views)} view(s) of the two scans share an angle (or its mirror); need at least "
            f"{min_views} for a fit and its uncertainty — acquire them on a common angular grid"
        )
    result = calibrate_pairs(ia, ib, model, view_index=index, min_pixels=min_pixels)
    result.views = views
    return result


def run_calibration(acq, trans=None):
    """Fit the absorption calibration between an acquisition's ``[calibration]`` scans (unbinned, cropped data).

    Parameters
    ----------
    acq : isxt.acquisition.Acquisition
    trans : dict, optional
        Cropped transmissions by scan name, already computed (None entries:
        absorption data, turned into ``exp(-y)``); missing ones are read.

    Returns
    -------
    CalibrationResult
    """
    from . import preprocess

    cal = acq.calibration
    if not cal:
        raise InputError(f"{acq.path}: no [calibration] section; add reference = \"sparse\", target = \"interior\"")
    ref, target = acq.scan(cal["reference"]), acq.scan(cal["target"])
    trans = trans or {}
    t = {}
    for spec in (ref, target):
        tt = trans[spec.name] if spec.name in trans else preprocess.scan_transmission(
            spec.stack.data, spec.kind, *spec.crop_args, flats=spec.flats, darks=spec.darks, where=spec.name)
        if tt is None:
            tt = preprocess.transmission(preprocess.crop(spec.stack.data, *spec.crop_args)[0])
        t[spec.name] = tt
    return calibrate(t[ref.name], ref.geometry(binned=False), t[target.name], target.geometry(binned=False),
                     model=cal["model"], angle_tolerance_deg=cal["angle_tolerance_deg"])


def plot_calibration(result, path):
    """Fig. 10-style plot: every matched pixel ``(I_A, I_B)``, the fitted curves, and binned residuals."""
    from .plotting.results import plot_calibration as draw

    return draw(result, path)
