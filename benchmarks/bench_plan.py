"""``isxt.plan`` wall time: ``--quick`` (analytic steps and dose) and the default (slab reconstructions).

No peer implementation exists (no other tool plans interior + sparse protocols), so this prints
times, not ratios; the issue's targets are < 5 s for ``quick`` and < 2 min for the default on
2 cores. The case is the README's: a 9 µm cell, a 3.9 µm ROI off centre, XM-2 35/60 nm lenses at
their Nyquist pixels, a 1e8 Gy budget. Process CPU time is printed beside the wall time: on a
shared machine the wall time includes waiting for the CPU.

Usage: python benchmarks/bench_plan.py [--skip-default]
"""

from __future__ import annotations

import argparse
import time

import isxt

from _common import machine

CASE = dict(cell_diameter_um=9.0, roi_diameter_um=3.9, interior_resolution_nm=35, full_resolution_nm=60,
            roi_center_um=(1.0, -0.8), dose_budget=1e8, progress=False)


def timed(**kw):
    w0, c0 = time.perf_counter(), time.process_time()
    p = isxt.plan(**CASE, **kw)
    return p, time.perf_counter() - w0, time.process_time() - c0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-default", action="store_true", help="time --quick only")
    args = parser.parse_args()
    print(machine())
    timed(quick=True)  # warm-up: numba caches, xraydb tables
    p, wall, cpu = timed(quick=True)
    print(f"quick:   {wall:6.2f} s wall, {cpu:6.2f} s CPU  (N_interior {p.n_interior}, N_full {p.n_full})")
    if not args.skip_default:
        p, wall, cpu = timed(quick=False)
        print(f"default: {wall:6.2f} s wall, {cpu:6.2f} s CPU  (N_full {p.n_full}, predicted ROI PSNR "
              f"{p.predicted_roi_psnr_db:.2f} dB vs equal-dose full scan {p.predicted_full_scan_roi_psnr_db:.2f} dB)")


if __name__ == "__main__":
    main()
