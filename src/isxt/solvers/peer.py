"""A peer TV solver: ODL's PDHG on isxt's operator, for tests and benchmarks (needs ``pip install odl``).

isxt's projector (or stacked operator, flattened to one data vector) is
wrapped as an ``odl.Operator``; the TV term uses ODL's own gradient
(forward differences, symmetric padding: the same Neumann boundary as
:class:`~isxt.solvers.gradient.Gradient`), norms and proximal operators.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["odl_available", "odl_tv_pdhg"]


def odl_available():
    try:
        import odl  # noqa: F401
    except ImportError:
        return False
    return True


def _array(element):
    """An ODL element's values as a float32 numpy array (ODL 1.0 elements have ``asarray()``)."""
    get = getattr(element, "asarray", None)
    return np.asarray(get() if get is not None else element, dtype=np.float32)


def _flat(A, y):
    blocks = y if isinstance(y, (list, tuple)) else [y]
    shapes = [tuple(b.shape) for b in blocks]
    sizes = [int(np.prod(s)) for s in shapes]

    def join(bs):
        bs = bs if isinstance(bs, (list, tuple)) else [bs]
        return np.concatenate([np.asarray(b, np.float32).ravel() for b in bs])

    def split(v):
        out, start = [], 0
        for s, n in zip(shapes, sizes):
            out.append(np.asarray(v[start:start + n], np.float32).reshape(s))
            start += n
        return out if isinstance(y, (list, tuple)) else out[0]

    return join, split, sum(sizes)


def odl_tv_pdhg(A, y, tv_weight, bounds=(0.0, None), iterations=200, x0=None, callback=None, balance=0.1,
                operator_norm_estimate=None):
    """``min ½‖A x − y‖² + λ TV(x)`` over ``lo ≤ x ≤ hi`` by ``odl.solvers.pdhg`` (isotropic TV).

    The problem is posed to ODL as ``f(x) + g(K x)`` with ``K = [A; μ∇]``,
    ``μ = ‖A‖/√12`` and ``g = ½‖· − y‖² ⊕ (λ/μ)‖·‖_{2,1}`` — the same
    minimiser; the scaling gives the blocks equal norms, as isxt's
    :func:`~isxt.solvers.tv_pdhg` does with its block steps, and the steps
    are the same (``σ = balance``, ``τ = 0.98 / (2 σ ‖A‖²)``). With ODL's
    default ``τ = σ = 1/‖[A; ∇]‖`` on the unscaled problem it converges far
    more slowly. ``‖A‖`` by ODL's power method unless given. Returns the
    volume as a float32 numpy array.
    """
    try:
        import odl
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InputError("the ODL peer needs ODL: pip install odl") from e

    join, split, n_data = _flat(A, y)
    space = odl.uniform_discr([0, 0, 0], list(A.domain_shape), A.domain_shape, dtype="float32")
    data_space = odl.rn(n_data, dtype="float32")

    class Wrapped(odl.Operator):
        def __init__(self):
            super().__init__(space, data_space, linear=True)

        def _call(self, x):
            return join(A.forward(_array(x)))

        @property
        def adjoint(self):
            outer = self

            class Adj(odl.Operator):
                def __init__(self):
                    super().__init__(data_space, space, linear=True)

                def _call(self, v):
                    return A.adjoint(split(_array(v)))

                @property
                def adjoint(self):
                    return outer

            return Adj()

    op = Wrapped()
    norm_a = (1.02 * odl.power_method_opnorm(op, maxiter=40) if operator_norm_estimate is None
              else float(operator_norm_estimate))
    mu = norm_a / np.sqrt(12.0)
    grad = odl.Gradient(space, pad_mode="symmetric")
    K = odl.BroadcastOperator(op, mu * grad)
    data_fit = 0.5 * odl.functionals.L2NormSquared(data_space).translated(data_space.element(join(y)))
    tv = (tv_weight / mu) * odl.functionals.GroupL1Norm(grad.range, exponent=2)
    g = odl.functionals.SeparableSum(data_fit, tv)
    lo, hi = bounds if bounds is not None else (None, None)
    f = odl.functionals.IndicatorBox(space, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    sigma = float(balance)
    tau = 0.98 / (2.0 * sigma * norm_a**2)
    x = space.element(np.zeros(A.domain_shape, np.float32) if x0 is None else x0)
    odl.solvers.pdhg(x, f, g, K, niter=int(iterations), tau=tau, sigma=sigma, callback=callback)
    return _array(x)
