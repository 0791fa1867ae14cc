"""Depth-dependent PSF simulation: one pass over the volume per view vs one projection per slab.

``DepthPSFProjector.simulate`` with the numba backend projects each view into all depth-node
images at once (``NumbaProjector.iter_depth_slabs``); other backends project the hat-weighted
volume once per node. Both paths run here in the same process, alternating (the machine's
speed drifts), and the median of the per-pair ratios is printed.

Sizes (the experiments' simulation grid, half the reconstruction voxel; XM-2 35 nm lens):

* medium: fine volume 16 × 800 × 800 at 10 nm, full-field detector at 20 nm, ``--views`` views;
* paper (``--paper``, new path only; 1.2 GiB): fine volume 32 × 1602 × 1602 at 10 nm, the
  detector of ``SIZES['paper']`` in ``isxt.experiments.dose``; 1 and ``--views`` views, so
  that the fixed cost per call and the cost per view separate.

Usage: python benchmarks/bench_depth_psf.py [--views 4] [--pairs 3] [--paper]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import isxt
from isxt.optics import ZonePlate
from isxt.simulate import DepthPSFProjector

from _common import machine


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def setup(nz, n_xy, views):
    """Fine grid (10 nm) of a (nz, n_xy, n_xy) 20 nm reconstruction grid, and its full-field scan."""
    coarse = isxt.VolumeGeometry((nz, n_xy, n_xy), 0.02)
    fine = isxt.VolumeGeometry((2 * nz, 2 * n_xy, 2 * n_xy), 0.01)
    # oblique views of the experiments' 499-view scan (no axis-aligned special cases)
    scan = isxt.ScanGeometry.full_field(coarse, 499, 0.02)[np.arange(views) * 37 + 20]
    x = np.random.default_rng(0).random(fine.shape, dtype=np.float32)
    return fine, scan, x


def compare(args, zone_plate):
    fine, scan, x = setup(8, 400, args.views)
    new = DepthPSFProjector(fine, scan, zone_plate)
    old = DepthPSFProjector(fine, scan, zone_plate)
    old._one_pass = lambda: False  # force the per-slab path that other backends take
    print(f"medium: fine volume {fine.shape}, scan {scan.shape}, {new.n_slabs} slabs")
    y_new, y_old = new.simulate(x), old.simulate(x)  # warm-up (numba compilation)
    err = np.abs(y_new - y_old).max() / np.abs(y_old).max()
    print(f"max |new - old| / max |old| = {err:.1e}")
    print(f"{'pair':<5} {'old s/view':>11} {'new s/view':>11} {'ratio':>7}")
    ratios = []
    for k in range(args.pairs):
        t_old = timed(lambda: old.simulate(x)) / args.views
        t_new = timed(lambda: new.simulate(x)) / args.views
        ratios.append(t_old / t_new)
        print(f"{k + 1:<5} {t_old:>11.3f} {t_new:>11.3f} {ratios[-1]:>6.1f}x")
    print(f"ratio old / new: median {np.median(ratios):.1f}x\n")


def paper(args, zone_plate):
    fine, scan, x = setup(16, 801, args.views)
    times = {}
    for n in (1, args.views):
        op = DepthPSFProjector(fine, scan[np.arange(n)], zone_plate)
        if n == 1:
            op.simulate(x)  # warm-up
        times[n] = min(timed(lambda: op.simulate(x)) for _ in range(2))
    per_view = (times[args.views] - times[1]) / (args.views - 1)
    print(f"paper: fine volume {fine.shape}, detector {scan.shape[1:]}, {op.n_slabs} slabs (new path)")
    print(f"simulate, 1 view: {times[1]:.2f} s; {args.views} views: {times[args.views]:.2f} s")
    print(f"per view: {per_view:.2f} s; fixed per call: {times[1] - per_view:.2f} s; "
          f"499 views: {(times[1] - per_view + 499 * per_view) / 60:.1f} min")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--pairs", type=int, default=3, help="alternating old/new timings")
    ap.add_argument("--paper", action="store_true", help="also time the paper's size (new path; 1.2 GiB)")
    args = ap.parse_args(argv)
    if args.views < 2:
        ap.error("--views must be at least 2")
    print(f"machine: {machine()}\n")
    zone_plate = ZonePlate.xm2(35)
    compare(args, zone_plate)
    if args.paper:
        paper(args, zone_plate)


if __name__ == "__main__":
    main()
