"""Linear operators built from projectors: stacking (Eq. 7), detector PSF (Eq. 11–12), weights.

Every operator has ``forward(x, out=None)``, ``adjoint(y, out=None)``,
``domain_shape`` and ``range_shape``. A :class:`StackedOperator` maps a volume
to a *list* of data blocks, one per scan. Solvers use nothing else, so any
object with these two methods (e.g. a GPU projector) works with them; ``out=``
is optional for such objects (:func:`forward_into` and :func:`adjoint_into`
use it where the operator takes it).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from ._array import add_at, apply, array_module, ndimage_module, norm2
from ._deprecate import renamed_kwargs

__all__ = [
    "Operator",
    "StackedOperator",
    "ScaledOperator",
    "ConvolvedOperator",
    "stack",
    "scale",
    "convolve_detector",
    "CroppedOperator",
    "crop_detector",
    "RowExtendedOperator",
    "extend_rows",
    "gaussian_kernel",
    "gaussian_fwhm_to_sigma",
    "power_norm",
    "adjoint_mismatch",
    "write_into",
    "forward_into",
    "adjoint_into",
]


def write_into(result, out):
    """``result``, or ``out`` holding a copy of it: the ``out=`` convention of ``forward`` / ``adjoint``.

    ``out`` is an array (or a list of block arrays) of the result's shape; the
    same object is returned, so callers can write ``y = op.forward(x, out=y)``.
    """
    if out is not None:
        apply(lambda o, r: None if o is r else o.__setitem__(Ellipsis, r), out, result)
    return result if out is None else out


@functools.lru_cache(maxsize=None)
def _takes_out(cls, method):
    try:
        return "out" in inspect.signature(getattr(cls, method)).parameters
    except (TypeError, ValueError):
        return False


def forward_into(op, x, out=None):
    """``op.forward(x)`` written into ``out``, for any operator-like object.

    Passes ``out=`` to operators that take it; for others (e.g. a user's object with a
    plain ``forward(x)``) the result is copied into ``out``. With ``out`` the return value
    is ``out``, which the caller owns and may update in place; without, it is whatever the
    operator returns (perhaps an array the operator keeps).
    """
    if out is None:
        return op.forward(x)
    if _takes_out(type(op), "forward"):
        return op.forward(x, out=out)
    return write_into(op.forward(x), out)


def adjoint_into(op, y, out=None):
    """``op.adjoint(y)`` written into ``out``, for any operator-like object (see :func:`forward_into`)."""
    if out is None:
        return op.adjoint(y)
    if _takes_out(type(op), "adjoint"):
        return op.adjoint(y, out=out)
    return write_into(op.adjoint(y), out)


class Operator:
    """Base class: a linear map with an adjoint.

    Subclasses implement ``forward(x, out=None)`` and ``adjoint(y, out=None)``
    and set ``domain_shape`` and ``range_shape`` (a tuple, or a list of tuples
    for block ranges). With ``out`` (an array, or a list of block arrays, of
    the result's shape, not overlapping the input) the result is written
    there and ``out`` is returned, so iterative solvers need not allocate
    per call.
    """

    domain_shape: tuple
    range_shape: object

    def forward(self, x, out=None):  # pragma: no cover - interface
        raise NotImplementedError

    def adjoint(self, y, out=None):  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    @functools.cached_property
    def T(self):
        """The adjoint as an operator (built once: ``A.T is A.T`` and ``A.T.T is A``)."""
        return _Adjoint(self)

    def as_scipy(self):
        """A :class:`scipy.sparse.linalg.LinearOperator` on flattened float64 vectors."""
        from scipy.sparse.linalg import LinearOperator

        if isinstance(self.range_shape, list):
            raise TypeError("as_scipy() needs a single-block operator; stack blocks yourself")
        n_in = int(np.prod(self.domain_shape))
        n_out = int(np.prod(self.range_shape))

        def mv(v):
            return self.forward(np.asarray(v, np.float32).reshape(self.domain_shape)).ravel().astype(np.float64)

        def rmv(v):
            return self.adjoint(np.asarray(v, np.float32).reshape(self.range_shape)).ravel().astype(np.float64)

        return LinearOperator((n_out, n_in), matvec=mv, rmatvec=rmv, dtype=np.float64)


class _Adjoint(Operator):
    def __init__(self, op):
        self.op = op
        self.domain_shape = op.range_shape
        self.range_shape = op.domain_shape
        self.__dict__["T"] = op  # the transpose of the transpose

    def forward(self, y, out=None):
        return adjoint_into(self.op, y, out)

    def adjoint(self, x, out=None):
        return forward_into(self.op, x, out)


class StackedOperator(Operator):
    """``A = [A_1; A_2; ...]`` acting on a volume, returning a list of data blocks (Eq. 7).

    The adjoint sums the blocks' adjoints: ``Aᵀ [y_1, y_2, ...] = Σ A_iᵀ y_i``.
    """

    def __init__(self, operators, ls_weights=None):
        operators = list(operators)
        if not operators:
            raise ValueError("stack() needs at least one operator")
        shapes = {tuple(op.domain_shape) for op in operators}
        if len(shapes) != 1:
            raise ValueError(f"stacked operators must share one volume shape, got {sorted(shapes)}")
        self.operators = operators
        self.domain_shape = tuple(operators[0].domain_shape)
        self.range_shape = [op.range_shape for op in operators]
        self.ls_weights = None if ls_weights is None else list(ls_weights)

    def weigh(self, ys):
        """``[√w_i y_i]``: the data to pair with an operator made by ``stack(ops, weights)``."""
        if self.ls_weights is None:
            return list(ys)
        return [y if w is None else (y * _sqrt(w)).astype(np.float32) for y, w in zip(ys, self.ls_weights)]

    def __len__(self):
        return len(self.operators)

    def __getitem__(self, i):
        return self.operators[i]

    def forward(self, x, out=None):
        outs = [None] * len(self.operators) if out is None else out
        return write_into([forward_into(op, x, o) for op, o in zip(self.operators, outs)], out)

    def adjoint(self, ys, out=None):
        """``Σ A_iᵀ y_i``, summed in place (into ``out`` when given) instead of one new volume per block."""
        if len(ys) != len(self.operators):
            raise ValueError(f"expected {len(self.operators)} data blocks, got {len(ys)}")
        acc = adjoint_into(self.operators[0], ys[0], out)
        for i, (op, y) in enumerate(zip(self.operators[1:], ys[1:])):
            part = op.adjoint(y)
            # without out=, the first block's result may be an array its operator keeps: add into a new one
            acc = acc + part if out is None and i == 0 else acc.__iadd__(part)
        return acc


class ScaledOperator(Operator):
    """``diag(w) A``: each measurement multiplied by a weight (scalar or array)."""

    def __init__(self, op, weights):
        self.op = op
        self.weights = weights
        self.domain_shape = op.domain_shape
        self.range_shape = op.range_shape

    def forward(self, x, out=None):
        y = forward_into(self.op, x, out)
        if out is None:  # y may be an array the inner operator keeps: weigh a copy
            return apply(lambda b, w: (b * w).astype(np.float32, copy=False), y, self._w())
        apply(lambda b, w: b.__imul__(w), out, self._w())
        return out

    def adjoint(self, y, out=None):
        return adjoint_into(self.op, apply(lambda b, w: (b * w).astype(np.float32, copy=False), y, self._w()), out)

    def subset(self, indices):
        """The weighted operator on views ``indices`` (per-view weights travel with their views)."""
        w = self.weights
        if getattr(w, "ndim", 0) == 3 and w.shape[0] > 1:
            w = w[indices]
        return ScaledOperator(self.op.subset(indices), w)

    def _w(self):
        if isinstance(self.range_shape, list) and not isinstance(self.weights, (list, tuple)):
            return [self.weights] * len(self.range_shape)
        return self.weights


def scale(op, weights):
    """Multiply the output of ``op`` by per-measurement ``weights``.

    ``weights`` is a scalar or an array broadcastable to ``op.range_shape``.
    """
    return ScaledOperator(op, _check_weights(weights, op.range_shape, "weights"))


def _check_weights(w, shape, what):
    if np.isscalar(w):
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"{what} must be finite and non-negative, got {w!r}")
        return np.float32(w)
    if isinstance(w, (list, tuple)):
        return [_check_weights(wi, si, what) for wi, si in zip(w, shape)]
    xp = array_module(w)
    w = xp.asarray(w, dtype=np.float32)
    try:
        np.broadcast_shapes(w.shape, tuple(shape))
    except ValueError:
        raise ValueError(f"{what} of shape {w.shape} do not broadcast to the data shape {tuple(shape)}") from None
    if xp is np and (not np.all(np.isfinite(w)) or np.any(w < 0)):
        raise ValueError(f"{what} must be finite and non-negative")
    return w


def stack(operators, weights=None):
    """Stack operators into one: ``[√w_1 A_1; √w_2 A_2; ...]`` (Eq. 7).

    Parameters
    ----------
    operators : sequence of Operator
        Operators on the same volume (e.g. the interior and the sparse projector).
    weights : sequence, optional
        Least-squares weights ``w_i`` (scalar or per-measurement array) per
        block. The stacked operator applies ``√w_i`` so that ordinary least
        squares on ``(A, [√w_i y_i])`` minimises ``Σ w_i ‖A_i x − y_i‖²``; use
        :meth:`StackedOperator.weigh` on the data.

    Returns
    -------
    StackedOperator
    """
    operators = list(operators)
    if weights is not None:
        if len(weights) != len(operators):
            raise ValueError(f"got {len(weights)} weights for {len(operators)} operators")
        operators = [
            op if w is None else scale(op, _sqrt(_check_weights(w, op.range_shape, "weights")))
            for op, w in zip(operators, weights)
        ]
    return StackedOperator(operators, ls_weights=weights)


def _sqrt(w):
    return np.float32(np.sqrt(w)) if np.isscalar(w) else array_module(w).sqrt(w)


def gaussian_fwhm_to_sigma(fwhm):
    """Standard deviation of a Gaussian of full width at half maximum ``fwhm`` (same unit)."""
    return fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@renamed_kwargs(fwhm="fwhm_um", pixel_size="pixel_size_um")
def gaussian_kernel(fwhm_um, pixel_size_um, truncate=3.0):
    """A normalised, pixel-integrated 2D Gaussian detector kernel.

    Parameters
    ----------
    fwhm_um : float
        Full width at half maximum in µm (``fwhm=`` is the deprecated name).
    pixel_size_um : float
        Detector pixel size in µm (``pixel_size=`` is the deprecated name).
    truncate : float
        Half-width of the kernel in standard deviations.

    Returns
    -------
    ndarray, float32, shape ``(2h+1, 2h+1)``, summing to 1.

    Examples
    --------
    >>> k = gaussian_kernel(fwhm_um=0.06, pixel_size_um=0.02)
    >>> k.shape, round(float(k.sum()), 6)
    ((9, 9), 1.0)
    """
    from scipy.special import erf

    if fwhm_um <= 0 or pixel_size_um <= 0:
        raise ValueError(f"FWHM ({fwhm_um}) and pixel size ({pixel_size_um}) must be positive µm")
    sigma = gaussian_fwhm_to_sigma(fwhm_um) / pixel_size_um
    half = max(1, int(np.ceil(truncate * sigma)))
    edges = np.arange(-half, half + 2) - 0.5
    cdf = 0.5 * (1 + erf(edges / (np.sqrt(2) * sigma)))
    k1 = np.diff(cdf)
    k1 /= k1.sum()
    return np.outer(k1, k1).astype(np.float32)


class ConvolvedOperator(Operator):
    """``k * (A x)``: a z-independent 2D detector PSF applied to every view (Eq. 11).

    Zero boundary on the detector; the adjoint correlates with the same kernel
    (Eq. 12), which is the exact transpose for an odd-sized kernel.
    """

    def __init__(self, op, kernel):
        kernel = np.asarray(kernel, dtype=np.float32)
        if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise ValueError(f"PSF kernel must be a 2D array with odd sides, got shape {kernel.shape}")
        self.op = op
        self.kernel = kernel
        self.domain_shape = op.domain_shape
        self.range_shape = op.range_shape

    def subset(self, indices):
        """The blurred operator on views ``indices`` (for ordered subsets)."""
        return ConvolvedOperator(self.op.subset(indices), self.kernel)

    def _k(self, like):
        xp = array_module(like)
        return xp.asarray(self.kernel[None])

    def forward(self, x, out=None):
        y = self.op.forward(x)
        return ndimage_module(y).convolve(y, self._k(y), output=out, mode="constant", cval=0.0)

    def adjoint(self, y, out=None):
        z = ndimage_module(y).correlate(y, self._k(y), mode="constant", cval=0.0)
        return adjoint_into(self.op, z, out)


def convolve_detector(op, kernel):
    """Blur every projection of ``op`` with a 2D ``kernel`` (Eq. 11–12).

    Parameters
    ----------
    op : Operator
        A projector whose range is ``(n_angles, rows, cols)``.
    kernel : array_like
        2D kernel with odd sides, in detector pixels (see :func:`gaussian_kernel`).
    """
    return ConvolvedOperator(op, kernel)


class CroppedOperator(Operator):
    """The central window of every projection of ``op`` (adjoint: zero padding).

    Used to model a detector whose PSF blurs in light from just outside its
    edges: project onto a detector wider by the kernel's half-width, blur,
    then keep the real detector's pixels.
    """

    def __init__(self, op, margins):
        rows_margin, cols_margin = (int(m) for m in margins)
        n, rows, cols = op.range_shape
        if min(rows_margin, cols_margin) < 0 or 2 * rows_margin >= rows or 2 * cols_margin >= cols:
            raise ValueError(f"margins {margins} do not fit the detector {rows} × {cols}")
        self.op = op
        self.margins = (rows_margin, cols_margin)
        self.domain_shape = op.domain_shape
        self.range_shape = (n, rows - 2 * rows_margin, cols - 2 * cols_margin)

    def subset(self, indices):
        """The cropped operator on views ``indices`` (for ordered subsets)."""
        return CroppedOperator(self.op.subset(indices), self.margins)

    def _window(self):
        (mr, mc), (_, rows, cols) = self.margins, self.range_shape
        return (slice(None), slice(mr, mr + rows), slice(mc, mc + cols))

    def forward(self, x, out=None):
        return write_into(array_module(x).ascontiguousarray(self.op.forward(x)[self._window()]), out)

    def adjoint(self, y, out=None):
        xp = array_module(y)
        full = xp.zeros(self.op.range_shape, dtype=np.float32)
        full[self._window()] = y
        return adjoint_into(self.op, full, out)


def crop_detector(op, margins):
    """Keep the central window of ``op``'s projections, ``margins = (rows, cols)`` pixels in from each edge."""
    return CroppedOperator(op, margins)


class RowExtendedOperator(Operator):
    """Detector rows that see none of the volume take the value of the nearest row that does.

    A reconstruction volume is often a slab of a sample that continues above
    and below it (a few slices of a cell). A PSF that reaches across detector
    rows then blurs in light from sample that the volume does not hold; a
    projection onto rows outside the slab would call that sample empty and
    model a loss of signal at the top and bottom rows that the data do not
    show. Repeating the nearest covered row, as the simulation's
    ``mode='nearest'`` blur does, keeps the model consistent. For a volume
    that holds the whole sample the edge rows are empty and nothing changes.

    Parameters
    ----------
    op : Operator
        Range ``(n_angles, rows, cols)``.
    first, last : array_like of int, ``(n_angles,)``
        The first and last row of each view that sees the volume.
    """

    def __init__(self, op, first, last):
        n, rows, _ = op.range_shape
        first = np.broadcast_to(np.asarray(first, dtype=np.int64), (n,))
        last = np.broadcast_to(np.asarray(last, dtype=np.int64), (n,))
        if np.any(first < 0) or np.any(last >= rows) or np.any(first > last):
            raise ValueError(f"covered rows must satisfy 0 <= first <= last < {rows}")
        self.op = op
        self.first, self.last = first.copy(), last.copy()
        self.domain_shape = op.domain_shape
        self.range_shape = op.range_shape
        # the row each detector row copies, per view
        self._source = np.clip(np.arange(rows)[None, :], self.first[:, None], self.last[:, None])

    def subset(self, indices):
        """The operator on views ``indices`` (for ordered subsets)."""
        return RowExtendedOperator(self.op.subset(indices), self.first[indices], self.last[indices])

    def _index(self, like):
        xp = array_module(like)
        return xp.asarray(self._source)[:, :, None]

    def forward(self, x, out=None):
        y = self.op.forward(x)
        xp = array_module(y)
        return write_into(xp.take_along_axis(y, xp.broadcast_to(self._index(y), y.shape), axis=1), out)

    def adjoint(self, y, out=None):
        xp = array_module(y)
        n, rows, cols = y.shape
        z = xp.zeros_like(y)
        views = xp.arange(n)[:, None]
        # scatter-add every row onto the row it copies (identity inside the covered rows)
        add_at(z, (views, self._index(y)[:, :, 0]), y)
        return adjoint_into(self.op, z, out)


def extend_rows(op, first, last):
    """Repeat the nearest covered detector row outside rows ``first..last`` (see :class:`RowExtendedOperator`)."""
    return RowExtendedOperator(op, first, last)


def power_norm(op, iterations=20, seed=0):
    """Estimate ``‖A‖²`` (largest eigenvalue of ``AᵀA``) by power iteration."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(op.domain_shape).astype(np.float32)
    x /= np.sqrt(norm2(x))
    lam = 0.0
    for _ in range(iterations):
        z = op.adjoint(op.forward(x))
        lam = np.sqrt(norm2(z))
        if lam == 0:
            return 0.0
        x = (z / lam).astype(np.float32)
    return float(lam)


def adjoint_mismatch(op, seed=0):
    """Relative mismatch ``|<Ax, y> − <x, Aᵀy>| / (‖Ax‖‖y‖)`` for random x, y."""
    from ._array import vdot

    rng = np.random.default_rng(seed)
    x = rng.random(op.domain_shape, dtype=np.float32)
    ax = op.forward(x)
    y = apply(lambda a: rng.random(a.shape, dtype=np.float32), ax)
    aty = op.adjoint(y)
    lhs, rhs = vdot(ax, y), vdot(x, aty)
    return abs(lhs - rhs) / max(np.sqrt(norm2(ax) * norm2(y)), 1e-30)
