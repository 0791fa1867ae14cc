"""Projector throughput: isxt's numba kernels vs ASTRA's CPU projector, same process.

Throughput is in G voxel-updates per second (GVU/s = voxels × angles / s / 1e9).
ASTRA's CPU projectors are 2D, so ASTRA runs slice by slice with one thread per
core (``AstraProjector(threads=...)``); both sides compute the same geometry.

Usage: python benchmarks/bench_projectors.py [--slices 16] [--size 512] [--angles 499]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import isxt
from isxt.projectors.astra import AstraProjector, astra_available

from _common import best_time, machine


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="slice side in voxels")
    ap.add_argument("--slices", type=int, default=16)
    ap.add_argument("--angles", type=int, default=499)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    vol = isxt.VolumeGeometry((args.slices, args.size, args.size), 0.02)
    scan = isxt.ScanGeometry.full_field(vol, args.angles, 0.02)
    x = np.random.default_rng(0).random(vol.shape, dtype=np.float32)
    voxel_updates = x.size * args.angles
    print(f"machine: {machine()}")
    print(f"volume {vol.shape}, scan {scan.shape}, {voxel_updates / 1e9:.2f} G voxel-updates per pass\n")

    results = {}
    numba_op = isxt.projector(vol, scan)
    y = numba_op.forward(x)
    results["numba", "forward"] = best_time(lambda: numba_op.forward(x), args.repeat)
    results["numba", "back"] = best_time(lambda: numba_op.adjoint(y), args.repeat)
    if astra_available():
        threads = os.cpu_count() or 1
        astra_op = AstraProjector(vol, scan, use_gpu=False, threads=threads)
        results["astra-cpu", "forward"] = best_time(lambda: astra_op.forward(x), 1)
        results["astra-cpu", "back"] = best_time(lambda: astra_op.adjoint(y), 1)

    print(f"{'backend':<10} {'direction':<8} {'seconds':>8} {'GVU/s':>7}")
    for (backend, direction), t in results.items():
        print(f"{backend:<10} {direction:<8} {t:>8.3f} {voxel_updates / t / 1e9:>7.2f}")
    if ("astra-cpu", "forward") in results:
        for direction in ("forward", "back"):
            ratio = results["astra-cpu", direction] / results["numba", direction]
            print(f"ratio numba / astra-cpu ({direction}): {ratio:.1f}x")
    else:
        print("astra-toolbox not installed: no ratio (pip install 'isxt[astra]')")


if __name__ == "__main__":
    main()
