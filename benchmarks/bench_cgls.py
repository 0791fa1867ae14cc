"""One combined 2D CGLS iteration, [A_roi; A_full], numba vs ASTRA's CPU projectors (OpTomo).

The same solver (:func:`isxt.cgls`) runs on both; only the projectors differ.
The geometry follows the paper's GPU comparison in 2D: a 512 × 512 slice,
499 interior views on a 256-column detector and 23 sparse full-field views
at twice the pixel size.

Memory: with :mod:`tracemalloc` (numpy reports its buffers to it), the
transient memory of one iteration (its peak above what is held when it
starts), in volumes and in MB, median over the iterations.

Usage: python benchmarks/bench_cgls.py [--size 512] [--iterations 10]
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

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


def transient_per_iteration(ops, data, iterations):
    """Median over iterations of the traced peak above the memory held at the iteration's start (bytes)."""
    A = stack(ops)
    start, peaks = [0], []

    def callback(k, x, r):
        current, peak = tracemalloc.get_traced_memory()
        if k > 1:
            peaks.append(peak - start[0])
        start[0] = current
        tracemalloc.reset_peak()

    tracemalloc.start()
    try:
        cgls(A, data, iterations=iterations + 1, callback=callback)
    finally:
        tracemalloc.stop()
    return float(np.median(peaks))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=10)
    args = ap.parse_args(argv)

    s = 0.02
    vol = isxt.VolumeGeometry((1, args.size, args.size), s)
    interior = isxt.ScanGeometry.interior(vol, 499, s, roi_diameter_um=args.size // 2 * s, roi_center_um=(0.5, -0.3))
    sparse = isxt.ScanGeometry.full_field(vol, 23, 2 * s)
    x = np.random.default_rng(0).random(vol.shape, dtype=np.float32)
    print(f"machine: {machine()}")
    print(f"volume {vol.shape}; interior {interior.shape}; sparse {sparse.shape}\n")

    numba_ops = [isxt.projector(vol, interior), isxt.projector(vol, sparse)]
    data = [op.forward(x) for op in numba_ops]
    t_numba = time_cgls(numba_ops, data, args.iterations)
    print(f"numba      {t_numba * 1e3:8.1f} ms / iteration")
    transient = transient_per_iteration(numba_ops, data, args.iterations)
    print(f"numba      {transient / 1e6:8.2f} MB transient per iteration "
          f"({transient / (x.nbytes):.1f} volumes of {x.nbytes / 1e6:.2f} MB)")
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
