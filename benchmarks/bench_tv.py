"""TV by PDHG: time per iteration against a CGLS iteration on the same combined operator, and ODL's PDHG.

1. isxt's :func:`~isxt.solvers.tv_pdhg` and :func:`~isxt.solvers.cgls` on one
   combined operator ``[A_roi; A_full]`` with Gaussian detector PSFs and scan
   weights (the model ``reconstruct`` builds); the ratio must stay ≤ 1.5.
2. The peer: ODL's ``odl.solvers.pdhg`` with ODL's gradient, group-L1 norm and
   box indicator, isxt's operator wrapped as an ``odl.Operator``
   (:func:`isxt.solvers.peer.odl_tv_pdhg`), on the same problem and λ: time
   per iteration, and the distance between the two solutions after many
   iterations.

Usage: python benchmarks/bench_tv.py [--size 128] [--slices 4] [--iterations 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import isxt
from isxt.reconstruct import Scan, build_operator
from isxt.operators import stack
from isxt.solvers import cgls, operator_norm, tv_pdhg
from isxt.solvers.peer import odl_available, odl_tv_pdhg

from _common import machine


def per_iteration(fns, iterations, repeat=3):
    """Seconds per iteration of each ``fn(n)``: best of ``repeat`` runs of ``iterations``, the solvers
    alternating (A/B/A/B...) so that a shared machine's load hits them alike. Each run's set-up (CGLS: one
    forward and one adjoint; PDHG: one forward and the dual start) is counted, as a user pays it."""
    for fn in fns:
        fn(1)  # warm-up (compilation, caches)
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn(iterations)
            best[i] = min(best[i], (time.perf_counter() - t0) / iterations)
    return best


def problem(size, slices):
    s = 0.04
    vol = isxt.VolumeGeometry((slices, size, size), s)
    interior = isxt.ScanGeometry.interior(vol, size, s, roi_diameter_um=size // 2 * s, roi_center_um=(0.3, -0.2))
    sparse = isxt.ScanGeometry.full_field(vol, 5, 2 * s)
    z, yy, xx = np.meshgrid(*(np.linspace(-1, 1, n) for n in vol.shape), indexing="ij")
    truth = (0.3 * (xx**2 + yy**2 < 0.7) + 0.2 * ((xx - 0.3) ** 2 + yy**2 < 0.05)).astype(np.float32)
    scans = [Scan(interior, np.zeros(interior.shape, np.float32), psf=0.035, weights=1.0),
             Scan(sparse, np.zeros(sparse.shape, np.float32), psf=0.06, weights=0.5)]
    ops = [build_operator(sc, vol) for sc in scans]
    A = stack(ops, weights=[sc.weights for sc in scans])
    rng = np.random.default_rng(0)
    y = [(b + rng.normal(0, 0.01, b.shape)).astype(np.float32) for b in A.forward(truth)]
    return A, y, vol


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--agreement-iterations", type=int, default=1500)
    args = ap.parse_args(argv)

    A, y, vol = problem(args.size, args.slices)
    lam = 2e-3
    norm = operator_norm(A, y)
    print(f"machine: {machine()}")
    print(f"volume {vol.shape}; data blocks {[b.shape for b in y]}; λ = {lam:g}\n")
    t_cgls, t_tv = per_iteration([lambda n: cgls(A, y, iterations=n),
                                  lambda n: tv_pdhg(A, y, lam, iterations=n, tol=0, operator_norm_estimate=norm)],
                                 args.iterations)
    print(f"CGLS          {t_cgls * 1e3:8.1f} ms / iteration")
    print(f"TV (PDHG)     {t_tv * 1e3:8.1f} ms / iteration")
    print(f"ratio TV / CGLS per iteration: {t_tv / t_cgls:.2f}x (target ≤ 1.5x)")
    if not odl_available():
        print("ODL not installed (pip install odl): no peer comparison")
        return 0
    (t_odl,) = per_iteration([lambda n: odl_tv_pdhg(A, y, lam, iterations=n, operator_norm_estimate=norm)],
                             args.iterations, repeat=1)
    print(f"ODL PDHG      {t_odl * 1e3:8.1f} ms / iteration")
    print(f"ratio ODL / isxt per iteration: {t_odl / t_tv:.2f}x")
    n = args.agreement_iterations
    x_isxt, info = tv_pdhg(A, y, lam, iterations=n, tol=1e-7, operator_norm_estimate=norm, return_info=True)
    x_odl = odl_tv_pdhg(A, y, lam, iterations=n, operator_norm_estimate=norm)
    rel = float(np.linalg.norm(x_odl - x_isxt) / np.linalg.norm(x_isxt))
    print(f"agreement after {n} iterations: ‖x_odl − x_isxt‖ / ‖x_isxt‖ = {rel:.2e} "
          f"(isxt: {info['iterations']} iterations, relative gap {info['gap'][-1]:.2e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
