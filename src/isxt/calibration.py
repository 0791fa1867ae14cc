"""Absorption calibration between a sparse (A) and an interior (B) scan (App. B.2).

With a harmonic of the monochromator focused by the high-resolution zone
plate, the interior scan sees two energies. With ``Î_A = exp(-μL)`` the
monochromatic sparse transmission and ``μ₁ = c μ₀``, the interior
transmission is (Eq. 16)

    Î_B = φ₀ Î_A + (1 − φ₀) Î_A^c.

The alternative is stray light, ``I_B = a I_A + b``. Both are fitted to the
pairs ``(I_A, I_B)`` at matching pixels (A interpolated at B's pixel centres
for views at the same angle, using both scans' geometry and shifts); the
model with the smaller residual sum of squares is chosen (both have two
parameters, so AIC ranks them the same way; both are reported). The
correction inverts the chosen model to turn the interior transmission into
what the monochromatic scan would have measured.
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
    "CalibrationResult",
    "calibrate",
    "calibrate_pairs",
    "plot_calibration",
]

MODELS = ("auto", "dual_energy", "affine")


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

    For each target view, the reference view at the same angle (nearest
    within ``angle_tolerance_deg``; other views are skipped) is interpolated
    (linear) at the target's pixel centres: a pixel centre ``(u_B, v_B)``
    sees the in-plane coordinate ``s = u_B + u_cB(θ)`` and height
    ``z = v_B + v_cB(θ)``, which the reference detector records at
    ``u_A = s − u_cA(θ)``, ``v_A = z − v_cA(θ)``. Target pixels outside the
    reference detector are dropped.

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
    """
    ref_trans = np.asarray(ref_trans)
    target_trans = np.asarray(target_trans)
    ref_angles = np.asarray(ref_geometry.angles)
    uc_a, vc_a = ref_geometry.detector_center()
    uc_b, vc_b = target_geometry.detector_center()
    pa, pb = ref_geometry.pixel_size, target_geometry.pixel_size
    ratio = pa / pb
    sigma = np.sqrt(max(ratio**2 / 4 - 1 / 12, 0.0)) if match_resolution and ratio > 1 else 0.0
    cols_b = (np.arange(target_geometry.cols) + 0.5 - target_geometry.cols / 2) * pb
    rows_b = (np.arange(target_geometry.rows) + 0.5 - target_geometry.rows / 2) * pb
    vv, uu = np.meshgrid(rows_b, cols_b, indexing="ij")
    ia_all, ib_all, views = [], [], []
    tol = np.radians(angle_tolerance_deg)
    for i, theta in enumerate(target_geometry.angles):
        diff = np.abs(np.angle(np.exp(1j * (ref_angles - theta))))
        j = int(np.argmin(diff))
        if diff[j] > tol:
            continue
        u_a = uu + uc_b[i] - uc_a[j]
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
        views.append((i, j))
    if not views:
        raise InputError(
            "calibration: no interior view has a sparse view at the same angle "
            f"(tolerance {angle_tolerance_deg}°); acquire them on a common angular grid or raise angle_tolerance_deg"
        )
    return np.concatenate(ia_all), np.concatenate(ib_all), views


def _aic(rss, n, k=2):
    return float(n * np.log(max(rss, 1e-300) / n) + 2 * k)


def fit_dual_energy(ia, ib):
    """Least-squares fit of Eq. 16: ``{'phi0', 'c', 'rss', 'aic'}``."""
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
    return {"phi0": float(best.x[0]), "c": float(best.x[1]), "rss": rss, "aic": _aic(rss, ia.size)}


def fit_affine(ia, ib):
    """Least-squares fit of ``I_B = a I_A + b``: ``{'a', 'b', 'rss', 'aic'}``."""
    ia = np.asarray(ia, dtype=np.float64)
    ib = np.asarray(ib, dtype=np.float64)
    design = np.stack([ia, np.ones_like(ia)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, ib, rcond=None)
    rss = float(np.sum((a * ia + b - ib) ** 2))
    return {"a": float(a), "b": float(b), "rss": rss, "aic": _aic(rss, ia.size)}


@dataclass
class CalibrationResult:
    """Both fits, the chosen model and the matched pairs."""

    dual_energy: dict
    affine: dict
    model: str
    n_pixels: int
    views: list = field(default_factory=list)
    ia: np.ndarray | None = field(default=None, repr=False)
    ib: np.ndarray | None = field(default=None, repr=False)

    def predict(self, ia, model=None):
        """``I_B`` predicted from ``I_A`` by ``model`` (default: the chosen one)."""
        model = model or self.model
        if model == "dual_energy":
            return dual_energy_model(ia, self.dual_energy["phi0"], self.dual_energy["c"])
        return affine_model(ia, self.affine["a"], self.affine["b"])

    def residuals(self, model=None):
        """``model(I_A) − I_B`` at the matched pixels."""
        return self.predict(self.ia, model) - self.ib

    def correct(self, target_trans):
        """Invert the chosen model: the monochromatic transmission for a measured ``I_B``.

        The dual-energy model is monotone in ``I_A`` (``φ₀ ∈ [0, 1]``,
        ``c > 0``), so it is inverted by interpolation in a dense table on
        ``I_A ∈ [10⁻⁶, 2]``; the affine model analytically. Results may be
        ≤ 0 where the data are noisier than the model; the acquisition's
        clip rule then applies.
        """
        tb = np.asarray(target_trans, dtype=np.float64)
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
            "dual_energy": self.dual_energy,
            "affine": self.affine,
            "n_pixels": self.n_pixels,
            "n_views": len(self.views),
            "views_target_reference": [list(map(int, v)) for v in self.views],
            "selection": "smaller residual sum of squares (equal parameter counts, so AIC agrees)",
        }


def calibrate_pairs(ia, ib, model="auto"):
    """Fit both models to matched pairs and choose one (``model='auto'``) or force it."""
    if model not in MODELS:
        raise InputError(f"calibration model {model!r} unknown; choose one of {', '.join(MODELS)}")
    ia = np.asarray(ia, dtype=np.float64)
    ib = np.asarray(ib, dtype=np.float64)
    ok = np.isfinite(ia) & np.isfinite(ib) & (ia > 0)
    if ok.sum() < 10:
        raise InputError(f"calibration: only {int(ok.sum())} usable matched pixels; need at least 10")
    ia, ib = ia[ok], ib[ok]
    dual = fit_dual_energy(ia, ib)
    aff = fit_affine(ia, ib)
    chosen = model if model != "auto" else ("dual_energy" if dual["rss"] <= aff["rss"] else "affine")
    return CalibrationResult(dual, aff, chosen, int(ia.size), [], ia, ib)


def calibrate(ref_trans, ref_geometry, target_trans, target_geometry, model="auto", angle_tolerance_deg=0.1):
    """Match pixels of a sparse (reference) and interior (target) scan, then fit.

    Returns
    -------
    CalibrationResult
    """
    ia, ib, views = match_pixels(ref_trans, ref_geometry, target_trans, target_geometry, angle_tolerance_deg)
    result = calibrate_pairs(ia, ib, model)
    result.views = views
    return result


def plot_calibration(result, path, bins=120):
    """Fig. 10-style plot: 2D histogram of ``(I_A, I_B)`` with both fitted curves, and residuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, axr) = plt.subplots(1, 2, figsize=(10, 4.2))
    lo = float(min(result.ia.min(), result.ib.min()))
    hi = float(max(result.ia.max(), result.ib.max()))
    ax.hist2d(result.ia, result.ib, bins=bins, range=[[lo, hi], [lo, hi]], cmap="Greys", cmin=1)
    grid = np.linspace(max(lo, 1e-6), hi, 200)
    d, a = result.dual_energy, result.affine
    ax.plot(grid, result.predict(grid, "dual_energy"), "C1",
            label=f"dual energy φ0={d['phi0']:.3f}, c={d['c']:.3f} (RSS {d['rss']:.3g})")
    ax.plot(grid, result.predict(grid, "affine"), "C0--", label=f"affine a={a['a']:.3f}, b={a['b']:.3f} (RSS {a['rss']:.3g})")
    ax.plot(grid, grid, ":", color="0.5", lw=1, label="I_B = I_A")
    ax.set_xlabel("sparse transmission I_A")
    ax.set_ylabel("interior transmission I_B")
    ax.set_title(f"chosen: {result.model}")
    ax.legend(fontsize=7, loc="upper left")
    edges = np.linspace(lo, hi, 31)
    centres = 0.5 * (edges[1:] + edges[:-1])
    which = np.digitize(result.ia, edges) - 1
    for name, style in (("dual_energy", "C1"), ("affine", "C0")):
        r = result.residuals(name)
        means = [r[which == k].mean() if np.any(which == k) else np.nan for k in range(30)]
        axr.plot(centres, means, style, marker=".", label=name)
    axr.axhline(0, color="0.5", lw=1)
    axr.set_xlabel("I_A")
    axr.set_ylabel("mean residual model(I_A) − I_B")
    axr.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
