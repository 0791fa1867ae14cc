"""CGLS over z-slabs on a Dask cluster, with the iterates of the single-process run.

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

__all__ = ["SlabPlan", "slab_cgls", "reconstruct_slabs"]


# -- tasks (run on the workers) ------------------------------------------------
def _build(specs, volume, bounds, backend):
    return [SlabScanOperator(g, volume, bounds, rows, kernel, weight, backend) for g, kernel, weight, rows in specs]


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


# -- the solver ------------------------------------------------------------------
def slab_cgls(client, scans, volume, n_slabs, iterations=50, *, nonneg=False, precondition=False,
              callback=None, progress=False, checkpoint_every=10, checkpoint_dir=None, backend="numba"):
    """CGLS on ``[√w_1 A_1; √w_2 A_2; ...] x = [√w_i y_i]`` with the volume split into ``n_slabs`` z-slabs.

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

    plan = SlabPlan.of_scans(scans, volume, n_slabs)
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise InputError("the Dask cluster has no workers; start some or use --scheduler local:N")
    where = [dict(workers=[workers[s % len(workers)]], allow_other_workers=True) for s in range(len(plan))]
    n = len(plan)
    weights = []
    for sc in scans:
        if sc.weights is not None and not np.isscalar(sc.weights):
            raise InputError(f"scan {sc.label}: slab-distributed reconstruction takes scalar weights only")
        weights.append(None if sc.weights is None else np.float32(np.sqrt(sc.weights)))

    def submit(fn, *args, s, **kw):
        return client.submit(fn, *args, pure=False, **where[s], **kw)

    ops = [submit(_build, [(g, k, w, r[s]) for g, k, w, r in zip(plan.geometries, plan.kernels, weights, plan.rows)],
                  volume, plan.bounds[s], backend, s=s) for s in range(n)]
    y = []
    for s in range(n):
        blocks = [sc.data[:, h0:h1] if w is None else (sc.data[:, h0:h1] * w).astype(np.float32)
                  for sc, w, (h0, h1) in zip(scans, weights, plan.held(s))]
        y.append(client.scatter([blocks], hash=False, workers=where[s]["workers"])[0])
    d = [submit(_preconditioner, ops[s], plan.shapes(s), s=s) for s in range(n)] if precondition else [None] * n
    own = [plan.owned_relative(s) for s in range(n)]
    pairs = {dst: [(src, plan.overlaps(src, dst)) for src in range(n) if src != dst] for dst in range(n)}

    def apply_A(vols):
        local = [submit(_forward, ops[s], vols[s], d[s], s=s) for s in range(n)]
        out = []
        for dst in range(n):
            parts = []
            for src in range(n):
                if src == dst:
                    parts += [local[dst], [(0, sh[1]) for sh in plan.shapes(dst)]]
                    continue
                ov = dict(pairs[dst]).get(src)
                if ov is not None:
                    parts += [submit(_take, local[src], ov[0], s=src), ov[1]]
            out.append(submit(_assemble, plan.shapes(dst), *parts, s=dst))
        return out

    def data_norm2(vecs):
        return sum(client.gather([submit(_owned_norm2, vecs[s], own[s], s=s) for s in range(n)]))

    def vol_norm2(vecs):
        return sum(client.gather([submit(norm2, vecs[s], s=s) for s in range(n)]))

    def each(fn, *lists, **kw):
        return [submit(fn, *(a[s] if isinstance(a, list) else a for a in lists), s=s, **kw) for s in range(n)]

    def restart(x):
        ax = apply_A(x)
        r = each(_combine, y, -1.0, ax)
        g = each(_adjoint, ops, r, d)
        return r, data_norm2(r), g, vol_norm2(g)

    def checkpoint(state, k):
        out = {}
        for name, vecs in state.items():
            paths = [str(Path(checkpoint_dir) / f"{name}_{s}.pkl") for s in range(n)]
            client.gather([submit(_save, paths[s], vecs[s], s=s) for s in range(n)])
            out[name] = [submit(_load, paths[s], s=s) for s in range(n)]
        Path(checkpoint_dir, "iteration.txt").write_text(f"{k}\n")
        return out

    own_dir = checkpoint_dir is None
    if own_dir:
        checkpoint_dir = tempfile.mkdtemp(prefix="isxt-slabs-")
    Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    try:
        x = [submit(np.zeros, (k1 - k0, volume.ny, volume.nx), np.float32, s=s) for s, (k0, k1) in enumerate(plan.bounds)]
        state = checkpoint({"y": y, **({"d": d} if precondition else {})}, 0)
        y = state["y"]
        d = state.get("d", d)
        if precondition:
            x = each(_divide, x, d)
        if nonneg:
            x = each(_positive, x)
        loop = IterationLoop(iterations, None, callback, progress, desc=f"CGLS on {n} slabs")
        r, rr, p, gamma = restart(x)
        for k in loop:
            if not gamma > 0:
                break
            q = apply_A(p)
            qq = data_norm2(q)
            if not qq > 0:
                break
            alpha = gamma / qq
            x = each(_combine, x, alpha, p)
            r = each(_combine, r, -alpha, q)
            rr_new = data_norm2(r)
            if nonneg:
                x = each(_positive, x)
            if nonneg or rr_new > rr:
                r, rr_new, p, gamma = restart(x)
            else:
                g = each(_adjoint, ops, r, d)
                gamma_new = vol_norm2(g)
                p = each(_combine, g, gamma_new / gamma, p)
                gamma = gamma_new
            rr = rr_new
            if checkpoint_every and k % checkpoint_every == 0:
                state = checkpoint({"x": x, "r": r, "p": p}, k)
                x, r, p = state["x"], state["r"], state["p"]
            if loop.report(k, None, math.sqrt(rr)):
                break
        loop.result(None)
        if precondition:
            x = each(_scale, d, x)
        if nonneg:
            x = each(_positive, x)
        out = np.empty(volume.shape, np.float32)
        for s, (k0, k1) in enumerate(plan.bounds):  # slab by slab: the client never holds two copies
            out[k0:k1] = x[s].result()
        return out, loop.residual_norms, plan
    finally:
        if own_dir:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)


def reconstruct_slabs(scans, volume, client, slabs, method="cgls", iterations=50, *, nonneg=False,
                      precondition=False, stop=None, backend="numba", device="auto", callback=None,
                      progress=False, return_info=False, checkpoint_every=10, checkpoint_dir=None, **ignored):
    """:func:`isxt.reconstruct` with the volume split into ``slabs`` z-slabs over ``client``'s workers.

    Supports ``method='cgls'`` with a fixed number of iterations, scalar scan
    weights, ``nonneg`` and ``precondition``, on the CPU. Other options give
    one clear :class:`InputError`.
    """
    import time

    from ..reconstruct import _as_scans

    scans = _as_scans(scans)
    if method != "cgls":
        raise InputError(f"slabs > 1 supports method 'cgls' only (not {method!r}); SIRT and PWLS are not distributed yet")
    if stop is not None:
        raise InputError("slabs > 1 supports a fixed number of iterations only (stop = 'fixed')")
    if device == "gpu" or backend != "numba":
        raise InputError("slabs > 1 runs the numba CPU projector on every worker; use backend 'numba', device 'cpu'")
    t0 = time.perf_counter()
    x, history, plan = slab_cgls(client, scans, volume, slabs, iterations, nonneg=nonneg, precondition=precondition,
                                 callback=callback, progress=progress, checkpoint_every=checkpoint_every,
                                 checkpoint_dir=checkpoint_dir, backend=backend)
    if not return_info:
        return x
    return x, {
        "method": method, "precondition": bool(precondition), "iterations": len(history),
        "residual_history": history, "seconds": time.perf_counter() - t0, "backend": backend, "device": "cpu",
        "scans": [s.label for s in scans], "best_iteration": None, "slabs": len(plan),
        "halo_bytes_per_iteration": plan.halo_bytes(),
    }
