"""``isxt info FILE``: what a stack or volume file holds."""

from __future__ import annotations

import json

import numpy as np

HELP = "print a stack's shape, dtype, voxel size, value range and angle metadata"


def register(subparsers):
    p = subparsers.add_parser("info", help=HELP, description=HELP)
    p.add_argument("file", metavar="FILE", help="MRC, TIFF, NeXus/HDF5 or .npy file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def summarize(stack):
    """A dict describing a :class:`isxt.io.Stack` (value range computed image by image)."""
    data = stack.data
    lo, hi, total, count, nonfinite = np.inf, -np.inf, 0.0, 0, 0
    for i in range(data.shape[0]):
        img = np.asarray(data[i], dtype=np.float64)
        ok = np.isfinite(img)
        nonfinite += int(img.size - ok.sum())
        if ok.any():
            lo, hi = min(lo, img[ok].min()), max(hi, img[ok].max())
            total += img[ok].sum()
            count += int(ok.sum())
    info = {
        "file": stack.meta.get("path"),
        "format": stack.meta.get("format"),
        "shape": list(data.shape),
        "dtype": str(data.dtype),
        "memory_mapped": isinstance(data, np.memmap),
        "pixel_size_um": stack.pixel_size_um,
        "min": float(lo) if count else None,
        "max": float(hi) if count else None,
        "mean": total / count if count else None,
        "nonfinite_values": nonfinite,
        "n_angles": None if stack.angles_rad is None else int(stack.angles_rad.size),
        "angles_source": stack.meta.get("angles_source"),
    }
    if stack.angles_rad is not None and stack.angles_rad.size:
        deg = np.degrees(stack.angles_rad)
        info["angle_range_deg"] = [float(deg.min()), float(deg.max())]
        if deg.size > 1:
            info["angle_step_deg"] = float(np.median(np.diff(deg)))
    if stack.flats is not None:
        info["n_flats"] = int(len(stack.flats))
    if stack.darks is not None:
        info["n_darks"] = int(len(stack.darks))
    return info


def run(args):
    from ..io import read_stack

    info = summarize(read_stack(args.file))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    n, rows, cols = info["shape"]
    print(f"{info['file']} ({info['format']})")
    print(f"  shape: {n} x {rows} x {cols} (images/z, rows/y, cols/x), dtype {info['dtype']}"
          f"{', memory-mapped' if info['memory_mapped'] else ''}")
    size = f"{info['pixel_size_um']:g} µm" if info["pixel_size_um"] else "not in the file"
    print(f"  pixel/voxel size: {size}")
    if info["min"] is not None:
        print(f"  values: {info['min']:.6g} .. {info['max']:.6g} (mean {info['mean']:.6g})")
    if info["nonfinite_values"]:
        print(f"  NaN/inf values: {info['nonfinite_values']}")
    if info["n_angles"]:
        step = f", step {info['angle_step_deg']:.4g}°" if "angle_step_deg" in info else ""
        print(f"  angles: {info['n_angles']}, {info['angle_range_deg'][0]:.4g}° .. {info['angle_range_deg'][1]:.4g}°"
              f"{step} (from {info['angles_source']})")
    else:
        print("  angles: none in the file")
    for key in ("n_flats", "n_darks"):
        if key in info:
            print(f"  {key[2:]}: {info[key]}")
    return 0
