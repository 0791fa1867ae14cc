"""CGLS, PWLS and SIRT over z-slabs on a Dask cluster, with the iterates of the single-process run.

Every vector of CGLS is held in pieces by the workers, as Dask futures that
stay on the worker of their slab (``workers=[w], allow_other_workers=True``):
volume vectors (``x``, ``p``, the gradient) split exactly by slab, data
vectors (``r``, ``q``) as the rows each worker holds (:mod:`.slabs`), the
overlaps carrying the same values on both workers. Per iteration:

* ``q = A p``: each worker projects its slab onto its held rows; the
  overlapping rows go worker to worker (a Dask dependency, no client hop) and
  are summed in slab order, so every copy of a row is bit-identical;
* inner products over data add each worker's *owned* rows, over volumes each
  worker's slab; only these scalars reach the client;
* ``Aᵀ r`` needs no communication (the held rows contain the halo).

Every ``checkpoint_every`` iterations the state is written to
``checkpoint_dir`` (one file per slab and vector) and the futures are replaced
by loads of those files, which cuts their lineage: if a worker is lost, Dask
recomputes its slab from the last checkpoint, not from the start.
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .._array import combine, norm2
from ..errors import InputError
from .slabs import SlabScanOperator, plan_scan_rows, slab_bounds

__all__ = ["SlabPlan", "SlabSession", "slab_cgls", "slab_sirt", "reconstruct_slabs"]


# -- tasks (run on the workers) ------------------------------------------------
def _build(specs, payload, volume, bounds, backend):
    weights = payload[1]
    return [SlabScanOperator(g, volume, bounds, rows, kernel, w, backend) for (g, kernel, rows), w in zip(specs, weights)]


def _forward(ops, x, d=None):
    if d is not None:
        x = (d * x).astype(np.float32, copy=False)
    return [op.forward(x) for op in ops]


def _adjoint(ops, ys, d=None):
    out = None
    for op, y in zip(ops, ys):
        part = op.adjoint(y)
        out = part if out is None else out + part
    return out if d is None else (d * out).astype(np.float32, copy=False)


def _take(blocks, rows):
    return [b[:, r0:r1] for b, (r0, r1) in zip(blocks, rows)]


def _assemble(shapes, *parts):
    """Sum the contributions ``(blocks, [(d0, d1) per scan])`` to the held rows, in slab order."""
    out = [np.zeros(s, np.float32) for s in shapes]
    for blocks, dest in zip(parts[::2], parts[1::2]):
        for o, b, (d0, d1) in zip(out, blocks, dest):
            if d1 > d0:
                o[:, d0:d1] += b
    return out


def _owned_norm2(blocks, owned):
    return sum(float(np.square(b[:, o0:o1], dtype=np.float64).sum()) for b, (o0, o1) in zip(blocks, owned))


def _combine(a, alpha, b):
    return combine(a, alpha, b)


def _positive(x):
    return np.maximum(x, 0)


def _scale(d, x):
    return (d * x).astype(np.float32, copy=False)


def _divide(x, d):
    return (x / d).astype(np.float32)


def _preconditioner(ops, shapes):
    sensitivity = _adjoint(ops, [np.ones(s, np.float32) for s in shapes])
    seen = sensitivity > 0
    return np.where(seen, 1.0 / np.sqrt(np.where(seen, sensitivity, 1.0)), 1.0).astype(np.float32)


def _save(path, value):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


def _load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


# -- the plan (client side, geometry only) -------------------------------------
class SlabPlan:
    """Which slab and rows each worker holds, and what moves per iteration.

    Parameters
    ----------
    geometries : list of ScanGeometry
    kernels : list of ndarray or None
        The scans' detector PSF kernels (:meth:`isxt.Scan.kernel`).
    volume : VolumeGeometry
    n_slabs : int
    """

    def __init__(self, geometries, kernels, volume, n_slabs):
        self.volume = volume
        self.bounds = slab_bounds(volume.nz, n_slabs)
        self.kernels = list(kernels)
        self.geometries = list(geometries)
        self.rows = [plan_scan_rows(g, volume, self.bounds, None if k is None else k.shape)
                     for g, k in zip(self.geometries, self.kernels)]  # [scan][slab]

    @classmethod
    def of_scans(cls, scans, volume, n_slabs):
        return cls([s.geometry for s in scans], [s.kernel() for s in scans], volume, n_slabs)

    def __len__(self):
        return len(self.bounds)

    def held(self, s):
        return [rows[s].held for rows in self.rows]

    def shapes(self, s):
        return [(g.n_angles, r[s].held[1] - r[s].held[0], g.cols) for g, r in zip(self.geometries, self.rows)]

    def owned_relative(self, s):
        return [(r[s].owned[0] - r[s].held[0], r[s].owned[1] - r[s].held[0]) for r in self.rows]

    def overlaps(self, src, dst):
        """Per scan: rows of ``src``'s held block and where they land in ``dst``'s, or None if none overlap."""
        take, dest, any_rows = [], [], False
        for r in self.rows:
            (a0, a1), (b0, b1) = r[src].held, r[dst].held
            lo, hi = max(a0, b0), min(a1, b1)
            if hi > lo:
                any_rows = True
                take.append((lo - a0, hi - a0))
                dest.append((lo - b0, hi - b0))
            else:
                take.append((0, 0))
                dest.append((0, 0))
        return (take, dest) if any_rows else None

    def halo_bytes(self):
        """Bytes moved between workers per forward projection (float32 overlap rows)."""
        total = 0
        for dst in range(len(self)):
            for src in range(len(self)):
                if src != dst and (ov := self.overlaps(src, dst)) is not None:
                    total += sum(g.n_angles * (t1 - t0) * g.cols * 4 for g, (t0, t1) in zip(self.geometries, ov[0]))
        return total

    def worker_bytes(self, s):
        """Peak bytes of slab ``s``'s worker: 5 volume vectors, 5 data copies, 2 PSF windows."""
        k0, k1 = self.bounds[s]
        vol = (k1 - k0) * self.volume.ny * self.volume.nx * 4
        data = sum(int(np.prod(sh)) * 4 for sh in self.shapes(s))
        window = sum(g.n_angles * (r[s].local[1] - r[s].local[0]) * (g.cols + 2 * r[s].margins[1]) * 4
                     for g, r in zip(self.geometries, self.rows))
        return 5 * vol + 5 * data + 2 * window

    def describe(self, n_workers=None):
        """Lines for ``--dry-run``: per slab its slices, held rows, halo and peak memory."""
        lines = [f"slabs: {len(self)} z-slabs" + (f" on {n_workers} workers" if n_workers else "")
                 + f"; halo exchange {self.halo_bytes() / 1e6:.3g} MB per iteration"]
        for s, (k0, k1) in enumerate(self.bounds):
            held = ", ".join(f"rows {h0}..{h1 - 1}" for h0, h1 in self.held(s))
            lines.append(f"  worker for slab {s}: slices {k0}..{k1 - 1}, {held}; peak memory ~{self.worker_bytes(s) / 1e9:.3g} GB")
        return lines


# -- the distributed vectors ---------------------------------------------------
class SlabSession:
    """The operators, data and helpers of one slab-distributed solve on ``client``.

    Volume vectors and data vectors are lists of futures, one per slab; the
    helpers submit one task per slab (pinned to the slab's worker) and return
    such lists, or gather the scalars of inner products.
    """

    def __init__(self, client, scans, volume, n_slabs, weights, backend="numba", checkpoint_dir=None):
        self.client = client
        self.checkpoint_dir, self._own_dir = _checkpoint_dir(checkpoint_dir)
        self.plan = plan = SlabPlan.of_scans(scans, volume, n_slabs)
        self.n = n = len(plan)
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise InputError("the Dask cluster has no workers; start some or use --scheduler local:N")
        self.where = [dict(workers=[workers[s % len(workers)]], allow_other_workers=True) for s in range(n)]
        self.own = [plan.owned_relative(s) for s in range(n)]
        self.pairs = {dst: {src: plan.overlaps(src, dst) for src in range(n) if src != dst} for dst in range(n)}
        self.y, self.ops = [], []
        for s in range(n):
            held = plan.held(s)
            w = [None if wi is None or np.ndim(wi) == 0 else wi[:, h0:h1] for wi, (h0, h1) in zip(weights, held)]
            w = [wa if wa is not None else wi for wa, wi in zip(w, weights)]
            blocks = [sc.data[:, h0:h1] if wi is None else (sc.data[:, h0:h1] * wi).astype(np.float32)
                      for sc, wi, (h0, h1) in zip(scans, w, held)]
            payload = client.scatter([(blocks, w)], hash=False, workers=self.where[s]["workers"])[0]
            # saved at once: a scattered future cannot be recomputed if its worker dies, a load can
            path = str(Path(self.checkpoint_dir) / f"data_{s}.pkl")
            self.submit(_save, path, payload, s=s).result()
            payload = self.submit(_load, path, s=s)
            self.y.append(self.submit(_first, payload, s=s))
            specs = [(g, k, r[s]) for g, k, r in zip(plan.geometries, plan.kernels, plan.rows)]
            self.ops.append(self.submit(_build, specs, payload, volume, plan.bounds[s], backend, s=s))

    def submit(self, fn, *args, s, **kw):
        return self.client.submit(fn, *args, pure=False, **self.where[s], **kw)

    def each(self, fn, *lists):
        """``fn`` on every slab; list arguments are taken per slab, others passed whole."""
        return [self.submit(fn, *(a[s] if isinstance(a, list) else a for a in lists), s=s) for s in range(self.n)]

    def forward(self, vols, d=None):
        """``A x`` on every worker's held rows: local projections plus the neighbours' halo rows."""
        d = d or [None] * self.n
        local = [self.submit(_forward, self.ops[s], vols[s], d[s], s=s) for s in range(self.n)]
        out = []
        for dst in range(self.n):
            parts = []
            for src in range(self.n):
                if src == dst:
                    parts += [local[dst], [(0, sh[1]) for sh in self.plan.shapes(dst)]]
                elif (ov := self.pairs[dst][src]) is not None:
                    parts += [self.submit(_take, local[src], ov[0], s=src), ov[1]]
            out.append(self.submit(_assemble, self.plan.shapes(dst), *parts, s=dst))
        return out

    def adjoint(self, data, d=None):
        """``Aᵀ r``, slab by slab (no communication: the held rows include the halo)."""
        return self.each(_adjoint, self.ops, data, d or [None] * self.n)

    def data_norm2(self, vecs):
        return sum(self.client.gather([self.submit(_owned_norm2, vecs[s], self.own[s], s=s) for s in range(self.n)]))

    def volume_norm2(self, vecs):
        return sum(self.client.gather(self.each(norm2, vecs)))

    def zeros(self):
        return [self.submit(np.zeros, (k1 - k0, *self.plan.volume.shape[1:]), np.float32, s=s)
                for s, (k0, k1) in enumerate(self.plan.bounds)]

    def close(self):
        """Remove the checkpoint directory if the session made it."""
        if self._own_dir:
            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)

    def checkpoint(self, state, k):
        """Save ``state`` (name → per-slab futures) and return it reloaded from the files (lineage cut)."""
        directory = self.checkpoint_dir
        out = {}
        for name, vecs in state.items():
            paths = [str(Path(directory) / f"{name}_{s}.pkl") for s in range(self.n)]
            self.client.gather([self.submit(_save, paths[s], vecs[s], s=s) for s in range(self.n)])
            out[name] = [self.submit(_load, paths[s], s=s) for s in range(self.n)]
        Path(directory, "iteration.txt").write_text(f"{k}\n")
        return out

    def gather(self, vecs):
        """The volume, fetched slab by slab."""
        out = np.empty(self.plan.volume.shape, np.float32)
        for s, (k0, k1) in enumerate(self.plan.bounds):
            out[k0:k1] = vecs[s].result()
        return out


def _first(payload):
    return payload[0]


def _checkpoint_dir(directory):
    own = directory is None
    directory = tempfile.mkdtemp(prefix="isxt-slabs-") if own else directory
    Path(directory).mkdir(parents=True, exist_ok=True)
    return directory, own


def slab_cgls(session, iterations=50, *, nonneg=False, precondition=False, callback=None, progress=False,
              checkpoint_every=10):
    """CGLS on ``[√w_1 A_1; √w_2 A_2; ...] x = [√w_i y_i]`` over the slabs of ``session``.

    The iterates equal :func:`isxt.solvers.cgls` on the stacked operator of
    :func:`isxt.reconstruct.reconstruct` (same restarts, same preconditioner)
    up to floating-point summation order.

    Returns
    -------
    x : ndarray, float32
        Gathered slab by slab.
    residual_norms : list of float
    """
    from ..solvers._loop import IterationLoop

    S = session
    d = S.each(_preconditioner, S.ops, [S.plan.shapes(s) for s in range(S.n)]) if precondition else None
    state = S.checkpoint({"y": S.y, **({"d": d} if precondition else {})}, 0)
    y, d = state["y"], state.get("d")
    x = S.zeros()
    if precondition:
        x = S.each(_divide, x, d)
    if nonneg:
        x = S.each(_positive, x)
    loop = IterationLoop(iterations, None, callback, progress, desc=f"CGLS on {S.n} slabs")

    def restart(x):
        r = S.each(_combine, y, -1.0, S.forward(x, d))
        g = S.adjoint(r, d)
        return r, S.data_norm2(r), g, S.volume_norm2(g)

    r, rr, p, gamma = restart(x)
    for k in loop:
        if not gamma > 0:
            break
        q = S.forward(p, d)
        qq = S.data_norm2(q)
        if not qq > 0:
            break
        alpha = gamma / qq
        x = S.each(_combine, x, alpha, p)
        r = S.each(_combine, r, -alpha, q)
        rr_new = S.data_norm2(r)
        if nonneg:
            x = S.each(_positive, x)
        if nonneg or rr_new > rr:
            r, rr_new, p, gamma = restart(x)
        else:
            g = S.adjoint(r, d)
            gamma_new = S.volume_norm2(g)
            p = S.each(_combine, g, gamma_new / gamma, p)
            gamma = gamma_new
        rr = rr_new
        if checkpoint_every and k % checkpoint_every == 0:
            state = S.checkpoint({"x": x, "r": r, "p": p}, k)
            x, r, p = state["x"], state["r"], state["p"]
        if loop.report(k, None, math.sqrt(rr)):
            break
    loop.result(None)
    if precondition:
        x = S.each(_scale, d, x)
    if nonneg:
        x = S.each(_positive, x)
    return S.gather(x), loop.residual_norms


def slab_sirt(session, iterations=100, *, nonneg=False, callback=None, progress=False, checkpoint_every=10):
    """SIRT (:func:`isxt.solvers.sirt`) over the slabs of ``session``, with its iterates.

    The ray weights ``R = 1/A 1`` need one distributed projection; the voxel
    weights ``C = 1/Aᵀ1`` are local to each slab.
    """
    from ..solvers._loop import IterationLoop

    S = session
    ones = S.each(_ones_like, S.zeros())
    ray = S.each(_reciprocal_blocks, S.forward(ones))
    vox = S.each(_reciprocal_blocks, S.each(_preconditioner_sum, S.ops, [S.plan.shapes(s) for s in range(S.n)]))
    state = S.checkpoint({"y": S.y, "ray": ray, "vox": vox}, 0)
    y, ray, vox = state["y"], state["ray"], state["vox"]
    x = S.zeros()
    if nonneg:
        x = S.each(_positive, x)
    loop = IterationLoop(iterations, None, callback, progress, desc=f"SIRT on {S.n} slabs")
    ax = S.forward(x)
    for k in loop:
        update = S.adjoint(S.each(_weighted_residual, ray, y, ax))
        x = S.each(_sirt_step, x, vox, update)
        if nonneg:
            x = S.each(_positive, x)
        ax = S.forward(x)
        residual = math.sqrt(S.data_norm2(S.each(_difference, ax, y)))
        if checkpoint_every and k % checkpoint_every == 0:
            x = S.checkpoint({"x": x}, k)["x"]
            ax = S.forward(x)
        if loop.report(k, None, residual):
            break
    loop.result(None)
    return S.gather(x), loop.residual_norms


def _ones_like(x):
    return np.ones_like(x)


def _reciprocal_blocks(a):
    from ..solvers._loop import safe_reciprocal

    return [safe_reciprocal(b) for b in a] if isinstance(a, list) else safe_reciprocal(a)


def _preconditioner_sum(ops, shapes):
    return _adjoint(ops, [np.ones(s, np.float32) for s in shapes])


def _weighted_residual(ray, y, ax):
    return [(r * (yi - a)).astype(np.float32, copy=False) for r, yi, a in zip(ray, y, ax)]


def _sirt_step(x, vox, update):
    return (x + vox * update).astype(np.float32, copy=False)


def _difference(a, b):
    return [ai - bi for ai, bi in zip(a, b)]


def _sqrt_weight(w, shape):
    if w is None:
        return None
    if np.ndim(w) == 0:
        return np.float32(np.sqrt(float(w)))
    return np.broadcast_to(np.sqrt(np.asarray(w, dtype=np.float32)), shape)


def reconstruct_slabs(scans, volume, client, slabs, method="cgls", iterations=50, *, nonneg=False,
                      precondition=False, stop=None, backend="numba", device="auto", callback=None,
                      progress=False, return_info=False, checkpoint_every=10, checkpoint_dir=None, **ignored):
    """:func:`isxt.reconstruct` with the volume split into ``slabs`` z-slabs over ``client``'s workers.

    Methods ``cgls``, ``sirt`` and ``pwls`` (CGLS on the Poisson-weighted
    system, as :func:`isxt.solvers.pwls`) with a fixed number of iterations,
    ``nonneg`` and (cgls, pwls) ``precondition``, numba projector on the CPU.
    Other options give one clear :class:`InputError`.
    """
    import time

    from ..reconstruct import _as_scans
    from ..solvers import poisson_weights

    scans = _as_scans(scans)
    if method not in ("cgls", "sirt", "pwls"):
        raise InputError(f"slabs > 1 supports methods 'cgls', 'sirt' and 'pwls', not {method!r}")
    if stop is not None:
        raise InputError("slabs > 1 supports a fixed number of iterations only (stop = 'fixed')")
    if device == "gpu" or backend != "numba":
        raise InputError("slabs > 1 runs the numba CPU projector on every worker; use backend 'numba', device 'cpu'")
    if precondition and method == "sirt":
        raise InputError("precondition applies to methods 'cgls' and 'pwls', not 'sirt'")
    weights = []
    for sc in scans:
        w = sc.weights
        if method == "pwls" and w is None:
            if sc.photons is None:
                raise InputError(f"scan {sc.label}: method 'pwls' needs photons= or weights= on every scan")
            w = poisson_weights(sc.data, sc.photons)
        weights.append(_sqrt_weight(w, sc.data.shape))
    t0 = time.perf_counter()
    session = SlabSession(client, scans, volume, slabs, weights, backend, checkpoint_dir)
    common = dict(nonneg=nonneg, callback=callback, progress=progress, checkpoint_every=checkpoint_every)
    try:
        if method == "sirt":
            x, history = slab_sirt(session, iterations, **common)
        else:
            x, history = slab_cgls(session, iterations, precondition=precondition, **common)
    finally:
        session.close()
    if not return_info:
        return x
    return x, {
        "method": method, "precondition": bool(precondition), "iterations": len(history),
        "residual_history": history, "seconds": time.perf_counter() - t0, "backend": backend, "device": "cpu",
        "scans": [s.label for s in scans], "best_iteration": None, "slabs": session.n,
        "halo_bytes_per_iteration": session.plan.halo_bytes(),
    }
