"""GPU path: ASTRA's CUDA projectors through isxt, and isxt's CGLS on device arrays vs ASTRA's own CGLS.

Three measurements, each against a peer in the same process:

1. projector throughput (GVU/s = voxels × angles / s / 1e9) of
   ``isxt.projector(..., backend="astra")`` with cupy arrays (no host copies)
   and with numpy arrays (ASTRA copies to and from the GPU), beside the numba
   CPU kernels on this host's cores;
2. one combined CGLS iteration ``[A_roi; A_full]`` with :func:`isxt.cgls` on
   cupy arrays (the paper's GPU comparison: 512³ voxels, 499 interior views on
   256 columns, 23 full-field views);
3. isxt's CGLS iteration vs ASTRA's native ``CGLS3D_CUDA`` on the interior
   scan alone (ASTRA's algorithm takes one geometry): the ratio is isxt's
   Python-loop overhead.

Needs ASTRA with CUDA, a GPU and cupy. Usage:
python benchmarks/bench_gpu.py [--size 512] [--slices 16] [--iterations 5] [--skip-cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import isxt
from isxt.operators import stack
from isxt.projectors.astra import AstraProjector, cuda_available
from isxt.solvers import cgls

from _common import machine


def _timer(sync):
    def best(fn, repeat=3):
        fn()
        sync()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return min(times)

    return best


def projector_table(cp, best, size, slices, angles, skip_cpu):
    vol = isxt.VolumeGeometry((slices, size, size), 0.02)
    scan = isxt.ScanGeometry.full_field(vol, angles, 0.02)
    x = np.random.default_rng(0).random(vol.shape, dtype=np.float32)
    gvu = x.size * angles / 1e9
    gpu = AstraProjector(vol, scan, use_gpu=True)
    xd = cp.asarray(x)
    yd = gpu.forward(xd)
    y = yd.get()
    rows = [
        ("astra-cuda, cupy arrays", best(lambda: gpu.forward(xd)), best(lambda: gpu.adjoint(yd))),
        ("astra-cuda, numpy arrays", best(lambda: gpu.forward(x), 2), best(lambda: gpu.adjoint(y), 2)),
    ]
    if not skip_cpu:
        cpu = isxt.projector(vol, scan)
        rows.append(("numba-cpu", best(lambda: cpu.forward(x), 1), best(lambda: cpu.adjoint(y), 1)))
    print(f"\nprojector: volume {vol.shape}, scan {scan.shape}, {gvu:.2f} G voxel-updates per pass")
    print(f"{'backend':<26} {'fwd s':>8} {'GVU/s':>7} {'back s':>8} {'GVU/s':>7}")
    for name, tf, tb in rows:
        print(f"{name:<26} {tf:>8.4f} {gvu / tf:>7.1f} {tb:>8.4f} {gvu / tb:>7.1f}")
    if not skip_cpu:
        print(f"ratio astra-cuda (cupy) / numba-cpu: forward {rows[2][1] / rows[0][1]:.0f}x, "
              f"back {rows[2][2] / rows[0][2]:.0f}x")
    return rows


def _iteration_time(cp, A, data, iterations):
    cgls(A, data, iterations=1)  # warm-up: allocations, ASTRA's texture set-up
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    cgls(A, data, iterations=iterations)
    cp.cuda.Device().synchronize()
    return (time.perf_counter() - t0) / iterations


def _astra_cgls_time(op, data, iterations):
    """Seconds per iteration of ASTRA's CGLS3D_CUDA (difference of two run lengths)."""
    import astra

    vid = astra.data3d.create("-vol", op._vol_geom, 0)
    pid = astra.data3d.create("-proj3d", op._proj_geom, np.ascontiguousarray(data.transpose(1, 0, 2)))
    cfg = astra.astra_dict("CGLS3D_CUDA")
    cfg.update(ReconstructionDataId=vid, ProjectionDataId=pid, ProjectorId=op._proj_id)

    def run(n):
        aid = astra.algorithm.create(cfg)
        t0 = time.perf_counter()
        astra.algorithm.run(aid, n)
        t = time.perf_counter() - t0
        astra.algorithm.delete(aid)
        return t

    run(1)
    t = (run(iterations + 1) - run(1)) / iterations
    astra.data3d.delete([vid, pid])
    return t


def cgls_table(cp, size, iterations):
    vol = isxt.VolumeGeometry((size, size, size), 0.02)
    interior = isxt.ScanGeometry.interior(vol, 499, 0.02, roi_diameter_um=0.02 * size / 2, rows=size)
    sparse = isxt.ScanGeometry.full_field(vol, 23, 0.02, rows=size)
    x = cp.asarray(np.random.default_rng(1).random(vol.shape, dtype=np.float32))
    ops = [AstraProjector(vol, g, use_gpu=True) for g in (interior, sparse)]
    data = [op.forward(x) for op in ops]
    del x
    combined = _iteration_time(cp, stack(ops), data, iterations)
    alone = _iteration_time(cp, ops[0], data[0], iterations)
    native = _astra_cgls_time(ops[0], data[0].get(), iterations)
    print(f"\nCGLS: volume {vol.shape}; interior {interior.shape}; sparse {sparse.shape}")
    print(f"{'solver':<44} {'s/iteration':>12}")
    print(f"{'isxt.cgls, combined [A_roi; A_full], cupy':<44} {combined:>12.3f}")
    print(f"{'isxt.cgls, interior only, cupy':<44} {alone:>12.3f}")
    print(f"{'ASTRA CGLS3D_CUDA, interior only':<44} {native:>12.3f}")
    print(f"ratio isxt / ASTRA native (interior only): {alone / native:.2f}")
    return combined, alone, native


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="slice side (and CGLS volume side) in voxels")
    ap.add_argument("--slices", type=int, default=16, help="slices of the projector benchmark volume")
    ap.add_argument("--angles", type=int, default=499)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--skip-cpu", action="store_true", help="skip the numba comparison")
    args = ap.parse_args(argv)
    if not cuda_available():
        raise SystemExit("bench_gpu: needs ASTRA built with CUDA and a visible GPU")
    import cupy as cp

    print(f"machine: {machine()}; GPU: {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
    best = _timer(cp.cuda.Device().synchronize)
    projector_table(cp, best, args.size, args.slices, args.angles, args.skip_cpu)
    projector_table(cp, best, args.size, args.size, args.angles, skip_cpu=True)
    cgls_table(cp, args.size, args.iterations)


if __name__ == "__main__":
    main()
