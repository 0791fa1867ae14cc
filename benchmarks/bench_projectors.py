"""Projector throughput: isxt's numba kernels vs ASTRA's CPU projector, same process.

Throughput is in G voxel-updates per second (GVU/s = voxels × angles / s / 1e9).
ASTRA's CPU projectors are 2D, so ASTRA runs slice by slice with one thread per
core (``AstraProjector(threads=...)``); both sides compute the same geometry.

Each ASTRA call is paired with numba timings taken just before and after it
(the machine's speed drifts), and the median of the per-pair ratios is printed.

Usage: python benchmarks/bench_projectors.py [--slices 16] [--size 512] [--angles 499] [--pairs 3] [--save]

``--save`` stores numba's forward + back throughput per core in
``src/isxt/acquisition/throughput.json``, the number behind ``isxt reconstruct
--dry-run``'s time estimate (the GPU entry there is kept).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time

import numpy as np

import isxt
from isxt.projectors.astra import AstraProjector, astra_available

from _common import best_time, machine


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="slice side in voxels")
    ap.add_argument("--slices", type=int, default=16)
    ap.add_argument("--angles", type=int, default=499)
    ap.add_argument("--repeat", type=int, default=3, help="numba timings per measurement (best of)")
    ap.add_argument("--pairs", type=int, default=3, help="ASTRA calls, each paired with numba timings")
    ap.add_argument("--save", action="store_true", help="store the numba throughput for isxt's time estimate")
    args = ap.parse_args(argv)

    vol = isxt.VolumeGeometry((args.slices, args.size, args.size), 0.02)
    scan = isxt.ScanGeometry.full_field(vol, args.angles, 0.02)
    x = np.random.default_rng(0).random(vol.shape, dtype=np.float32)
    voxel_updates = x.size * args.angles
    print(f"machine: {machine()}")
    print(f"volume {vol.shape}, scan {scan.shape}, {voxel_updates / 1e9:.2f} G voxel-updates per pass\n")

    numba_op = isxt.projector(vol, scan)
    y = numba_op.forward(x)
    fns = {"numba": {"forward": lambda: numba_op.forward(x), "back": lambda: numba_op.adjoint(y)}}
    if astra_available():
        threads = os.cpu_count() or 1
        astra_op = AstraProjector(vol, scan, use_gpu=False, threads=threads)
        fns["astra-cpu"] = {"forward": lambda: astra_op.forward(x), "back": lambda: astra_op.adjoint(y)}

    # The machine's speed drifts on a time scale of seconds to minutes, so each ASTRA call is
    # paired with numba timings taken right before and after it, and the ratio is per pair.
    print(f"{'backend':<10} {'direction':<8} {'seconds':>8} {'GVU/s':>7}")
    best = {}
    for direction in ("forward", "back"):
        ratios, numba_times, astra_times = [], [], []
        for _ in range(args.pairs if "astra-cpu" in fns else 1):
            t_numba = best_time(fns["numba"][direction], args.repeat)
            if "astra-cpu" in fns:
                t0 = time.perf_counter()
                fns["astra-cpu"][direction]()
                astra_times.append(time.perf_counter() - t0)
                t_numba = min(t_numba, best_time(fns["numba"][direction], args.repeat))
                ratios.append(astra_times[-1] / t_numba)
            numba_times.append(t_numba)
        best[direction] = min(numba_times)
        for backend, times in (("numba", numba_times), ("astra-cpu", astra_times)):
            for t in times:
                print(f"{backend:<10} {direction:<8} {t:>8.3f} {voxel_updates / t / 1e9:>7.2f}")
        if ratios:
            listed = ", ".join(f"{r:.1f}" for r in ratios)
            print(f"ratio numba / astra-cpu ({direction}): median {np.median(ratios):.1f}x  (pairs: {listed})")
    if "astra-cpu" not in fns:
        print("astra-toolbox not installed: no ratio (pip install 'isxt[astra]')")
    if args.save:
        save_throughput(voxel_updates / (best["forward"] + best["back"]) / (os.cpu_count() or 1),
                        f"bench_projectors.py --size {args.size} --slices {args.slices} --angles {args.angles}")


def save_throughput(per_core, how):
    """Write the CPU entry of isxt's throughput.json (atomically), keeping the rest."""
    from isxt.acquisition.resources import THROUGHPUT_FILE

    data = json.loads(THROUGHPUT_FILE.read_text()) if THROUGHPUT_FILE.exists() else {}
    data["cpu"] = {"voxel_views_per_s_per_core": float(f"{per_core:.3g}"), "measured_by": how,
                   "machine": machine(), "date": datetime.date.today().isoformat()}
    tmp = THROUGHPUT_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(THROUGHPUT_FILE)
    print(f"saved {per_core:.3g} voxel·views/s per core (forward + back) to {THROUGHPUT_FILE}")

if __name__ == "__main__":
    main()
