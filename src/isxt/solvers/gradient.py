"""The discrete 3D gradient of a volume and its exact adjoint (minus a divergence).

Forward differences with a zero difference across the last voxel of every axis
(Neumann boundary): ``(∇x)_a[i] = x[i+1] − x[i]`` along axis ``a``, 0 at the
far end. The adjoint is the matching backward-difference ``−div``, exact to
rounding, so ``<∇x, q> = <x, ∇ᵀq>``. Works on numpy and cupy arrays alike.
"""

from __future__ import annotations

import numpy as np

from .._array import array_module

__all__ = ["Gradient", "tv_norm", "project_tv_ball", "GRADIENT_NORM_BOUND"]

#: ``‖∇‖² ≤ 4 · 3`` for forward differences with unit spacing in 3D (4 per axis)
GRADIENT_NORM_BOUND = 12.0


class Gradient:
    """``∇ : (nz, ny, nx) → (3, nz, ny, nx)``, forward differences along z, y and x.

    Parameters
    ----------
    shape : tuple of int
        The volume shape ``(nz, ny, nx)``. An axis of length 1 has a zero
        gradient (a single slice is treated as a 2D image).

    Examples
    --------
    >>> import numpy as np
    >>> g = Gradient((1, 2, 3))
    >>> g.forward(np.arange(6, dtype=np.float32).reshape(1, 2, 3))[2]
    array([[[1., 1., 0.],
            [1., 1., 0.]]], dtype=float32)
    """

    def __init__(self, shape):
        self.domain_shape = tuple(int(n) for n in shape)
        if len(self.domain_shape) != 3:
            raise ValueError(f"Gradient needs a 3D volume shape (nz, ny, nx), got {shape!r}")
        self.range_shape = (3, *self.domain_shape)

    def forward(self, x):
        xp = array_module(x)
        g = xp.zeros(self.range_shape, dtype=np.float32)
        g[0, :-1] = x[1:] - x[:-1]
        g[1, :, :-1] = x[:, 1:] - x[:, :-1]
        g[2, :, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
        return g

    def adjoint(self, q):
        # (∇ᵀq)[i] = q[i−1] − q[i] per axis, with q[−1] = 0 and q[n−1] not used (it is 0 in range(∇))
        xp = array_module(q)
        out = xp.zeros(self.domain_shape, dtype=np.float32)
        for axis in range(3):
            qa = q[axis]
            n = self.domain_shape[axis]
            if n < 2:
                continue
            head = [slice(None)] * 3
            tail = [slice(None)] * 3
            head[axis], tail[axis] = slice(0, n - 1), slice(1, n)
            out[tuple(head)] -= qa[tuple(head)]
            out[tuple(tail)] += qa[tuple(head)]
        return out


def _magnitude(q, isotropic):
    xp = array_module(q)
    if isotropic:
        return xp.sqrt((q.astype(np.float32) ** 2).sum(axis=0))
    return xp.abs(q)


def tv_norm(grad, isotropic=True):
    """``TV = Σ |∇x|`` from the gradient: the Euclidean norm over the 3 axes per voxel (isotropic)
    or the sum of absolute differences (anisotropic); a float (float64 sum)."""
    return float(_magnitude(grad, isotropic).sum(dtype=np.float64))


def project_tv_ball(q, radius, isotropic=True):
    """Project the dual variable onto ``{|q| ≤ radius}`` per voxel (in place; returns ``q``).

    Isotropic: the 3-vector of each voxel is shrunk to length ``radius``;
    anisotropic: each component is clipped to ``[−radius, radius]``.
    """
    xp = array_module(q)
    if radius <= 0:
        q[...] = 0
        return q
    if not isotropic:
        return xp.clip(q, -radius, radius, out=q)
    norm = _magnitude(q, True)
    q *= (radius / xp.maximum(norm, radius)).astype(np.float32)[None]
    return q
