"""The defocused intensity PSF of an ideal circular lens, two independent ways.

In the optical coordinates ``u = (2π/λ) NA² z``, ``v = (2π/λ) NA r`` (z:
defocus along the beam, r: lateral distance) the PSF of an aberration-free
lens with a uniform circular pupil (Born & Wolf §8.8) is

    I(u, v) = |2 ∫₀¹ J₀(vρ) exp(-i u ρ²/2) ρ dρ|²,

normalised to ``I(0, 0) = 1``. :func:`lommel_intensity` evaluates it with
Lommel functions (the closed form), :func:`psf_direct` by Gauss–Legendre
quadrature of the pupil integral; the two are checked against each other in
the tests. :class:`isxt.optics.ZonePlate` builds its PSFs from these.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["lommel_intensity", "psf_direct", "ideal_otf", "bessel_table"]


def bessel_table(v, kmax):
    """``J_k(v)`` for ``k = 0..kmax`` at every ``v >= 0``: shape ``(v.size, kmax + 1)``.

    Miller's backward recurrence ``J_(k-1) = (2k/v) J_k − J_(k+1)``, started
    well above both ``kmax`` and the turning point ``k ≈ v`` and normalised by
    ``J_0 + 2 Σ J_2k = 1``. It is stable downwards and costs one vector
    operation per order, against ~1 µs per value for ``scipy.special.jv``.
    """
    v = np.asarray(v, dtype=np.float64).ravel()
    table = np.zeros((v.size, kmax + 1))
    tiny = v < 1e-12
    table[tiny, 0] = 1.0
    vv = v[~tiny]
    if vv.size == 0:
        return table
    start = int(np.ceil(max(kmax, vv.max()) + 12.0 * np.cbrt(vv.max()) + 40.0))
    start += start % 2
    inv = 2.0 / vv
    f_next = np.zeros(vv.size)
    f = np.full(vv.size, 1e-300)
    norm = np.zeros(vv.size)
    sub = np.zeros((vv.size, kmax + 1))
    for k in range(start, 0, -1):
        # f holds the unnormalised J_k; step down to J_(k-1)
        if k <= kmax:
            sub[:, k] = f
        if k % 2 == 0:
            norm += 2.0 * f
        f_prev = k * inv * f - f_next
        f_next, f = f, f_prev
        big = np.abs(f) > 1e250
        if np.any(big):
            scale = np.where(big, 1e-250, 1.0)
            f *= scale
            f_next *= scale
            norm *= scale
            sub *= scale[:, None]
    sub[:, 0] = f
    norm += f
    table[~tiny] = sub / norm[:, None]
    return table


def _lommel_series(orders, w, v, tol=1e-17, chunk=1024):
    """``Σ_m (-1)^m w^(n+2m) J_(n+2m)(v)`` for each ``n`` in ``orders``, ``0 <= w <= 1``.

    Both Lommel families are of this form: ``U_n(u, v)`` with ``w = u/v`` and
    ``V_n(u, v)`` with ``w = v/u``. Terms are bounded by ``w^k``; once the order
    ``k`` exceeds ``v`` by a few ``v^(1/3)`` (the Bessel turning point)
    ``J_k(v)`` also decays super-exponentially. Each point needs the order at
    which the first of these bounds drops below ``tol``; points are sorted by
    that order and summed in chunks from one Bessel table each.

    Returns a list of arrays, one per order.
    """
    w = np.asarray(w, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    outs = [np.zeros(w.size) for _ in orders]
    # beyond this order J_k(v) < ~1e-17 (Airy-function asymptotics of J_k near k ≈ v)
    k_bessel = v + 12.0 * np.cbrt(v) + 20.0
    with np.errstate(divide="ignore"):
        k_power = np.where(w > 0, np.log(tol) / np.log(np.minimum(w, 1.0 - 1e-16)), 0.0)
    k_needed = np.maximum(np.minimum(k_bessel, k_power), max(orders)) + 2
    order = np.argsort(k_needed)
    for start in range(0, w.size, chunk):
        idx = order[start : start + chunk]
        kmax = int(np.ceil(k_needed[idx].max()))
        table = bessel_table(v[idx], kmax)
        for n, out in zip(orders, outs):
            m = np.arange((kmax - n) // 2 + 1)
            k = n + 2 * m
            out[idx] = ((-1.0) ** m * w[idx, None] ** k * table[:, k]).sum(axis=1)
    return outs


def lommel_intensity(u, v):
    """Peak-normalised intensity PSF ``I(u, v)`` of an ideal circular lens (Lommel form).

    Born & Wolf §8.8: for ``|u| < v``

        I = (2/u)² [U₁² + U₂²],

    otherwise

        I = (2/u)² [1 + V₀² + V₁² − 2V₀ cos(½(u + v²/u)) − 2V₁ sin(½(u + v²/u))],

    with Lommel functions ``U_n = Σ (-1)^m (u/v)^(n+2m) J_(n+2m)(v)`` and
    ``V_n = Σ (-1)^m (v/u)^(n+2m) J_(n+2m)(v)``. The focal plane ``u = 0``
    is the Airy pattern ``(2J₁(v)/v)²``; the axis ``v = 0`` gives
    ``(sin(u/4)/(u/4))²``.

    Parameters
    ----------
    u, v : array_like
        Axial and lateral optical coordinates (broadcast together).

    Returns
    -------
    ndarray, float64
        ``I(u, v)`` with ``I(0, 0) = 1``.
    """
    u, v = np.broadcast_arrays(np.abs(np.asarray(u, dtype=np.float64)), np.abs(np.asarray(v, dtype=np.float64)))
    out = np.empty(u.shape)
    focal = u < 1e-6  # I is even in u with O(u²) corrections: the Airy pattern is exact to ~1e-13
    if np.any(focal):
        vf = v[focal]
        safe = np.where(vf > 0, vf, 1.0)
        out[focal] = np.where(vf > 0, (2.0 * special.j1(safe) / safe) ** 2, 1.0)
    inner = ~focal & (u < v)  # inside the geometric shadow boundary: U-series converges best
    if np.any(inner):
        ui, vi = u[inner], v[inner]
        w = ui / vi
        u1, u2 = _lommel_series((1, 2), w, vi)
        out[inner] = (2.0 / ui) ** 2 * (u1**2 + u2**2)
    outer = ~focal & ~inner
    if np.any(outer):
        uo, vo = u[outer], v[outer]
        w = vo / uo
        v0, v1 = _lommel_series((0, 1), w, vo)
        phase = 0.5 * (uo + vo * w)
        out[outer] = (2.0 / uo) ** 2 * (1.0 + v0**2 + v1**2 - 2.0 * v0 * np.cos(phase) - 2.0 * v1 * np.sin(phase))
    return out


def psf_direct(u, v, n_nodes=None, chunk=4096):
    """The same ``I(u, v)`` by direct quadrature of the pupil integral.

    ``h(u, v) = 2 ∫₀¹ J₀(vρ) exp(-i u ρ²/2) ρ dρ``, ``I = |h|²``, evaluated with
    Gauss–Legendre nodes (enough to resolve the oscillations of the integrand).
    An independent reference for :func:`lommel_intensity`; slower.

    Parameters
    ----------
    u, v : array_like
        Optical coordinates (broadcast together).
    n_nodes : int, optional
        Quadrature nodes; default ``64 + |v| + |u|/2`` per chunk (ample).
    chunk : int
        Points evaluated together (memory ``chunk × n_nodes``).
    """
    u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
    uf, vf = u.ravel(), v.ravel()
    out = np.empty(uf.size)
    for start in range(0, uf.size, chunk):
        uc, vc = uf[start : start + chunk], vf[start : start + chunk]
        n = int(n_nodes or 64 + np.ceil(np.max(np.abs(vc)) + 0.5 * np.max(np.abs(uc))))
        x, wq = special.roots_legendre(n)
        rho = 0.5 * (x + 1.0)
        wq = 0.5 * wq
        integrand = special.j0(vc[:, None] * rho) * np.exp(-0.5j * uc[:, None] * rho**2) * rho
        h = 2.0 * integrand @ wq
        out[start : start + chunk] = np.abs(h) ** 2
    return out.reshape(u.shape)


def ideal_otf(freq, cutoff):
    """In-focus incoherent OTF of a circular pupil, ``(2/π)(arccos s − s√(1−s²))``, ``s = f/f_c``.

    Parameters
    ----------
    freq : array_like
        Spatial frequency (any unit); negative values are mirrored.
    cutoff : float
        Cut-off frequency ``f_c = 2NA/λ`` in the same unit.
    """
    s = np.clip(np.abs(np.asarray(freq, dtype=np.float64)) / float(cutoff), 0.0, 1.0)
    return (2.0 / np.pi) * (np.arccos(s) - s * np.sqrt(1.0 - s * s))
