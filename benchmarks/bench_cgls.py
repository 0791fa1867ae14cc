"""One combined 2D CGLS iteration, [A_roi; A_full], numba vs ASTRA's CPU projectors (OpTomo).

The same solver (:func:`isxt.cgls`) runs on both; only the projectors differ.
The geometry follows the paper's GPU comparison in 2D: a 512 × 512 slice,
499 interior views on a 256-column detector and 23 sparse full-field views
at twice the pixel size.

Usage: python benchmarks/bench_cgls.py [--size 512] [--iterations 10]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import isxt
from isxt.operators import stack
from isxt.projectors.astra import AstraProjector, astra_available
from isxt.solvers import cgls

from _common import machine


def time_cgls(ops, data, iterations):
    A = stack(ops)
    cgls(A, data, iterations=1)  # warm-up (compilation, caches)
    t0 = time.perf_counter()
    cgls(A, data, iterations=iterations)
    return (time.perf_counter() - t0) / iterations


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args(argv)

    s = 0.02
    vol = isxt.VolumeGeometry((1, args.size, args.size), s)
    interior = isxt.ScanGeometry.interior(vol, 499, s, roi_diameter=args.size // 2 * s, roi_center=(0.5, -0.3))
    sparse = isxt.ScanGeometry.full_field(vol, 23, 2 * s)
    x = np.random.default_rng(0).random(vol.shape, dtype=np.float32)
    print(f"machine: {machine()}")
    print(f"volume {vol.shape}; interior {interior.shape}; sparse {sparse.shape}\n")

    numba_ops = [isxt.projector(vol, interior), isxt.projector(vol, sparse)]
    data = [op.forward(x) for op in numba_ops]
    t_numba = time_cgls(numba_ops, data, args.iterations)
    print(f"numba      {t_numba * 1e3:8.1f} ms / iteration")
    if astra_available():
        threads = os.cpu_count() or 1
        astra_ops = [AstraProjector(vol, g, use_gpu=False, threads=threads) for g in (interior, sparse)]
        t_astra = time_cgls(astra_ops, data, args.iterations)
        print(f"astra-cpu  {t_astra * 1e3:8.1f} ms / iteration")
        print(f"ratio numba / astra-cpu (CGLS iteration): {t_astra / t_numba:.1f}x")
    else:
        print("astra-toolbox not installed: no ratio")


if __name__ == "__main__":
    main()
