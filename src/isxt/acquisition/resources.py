"""Memory and time estimates of a reconstruction, for ``--dry-run`` and the memory guard.

The time estimate divides the work (voxel·views per iteration) by a measured
throughput: ``throughput.json`` beside this module holds the projector
benchmark's result (``python benchmarks/bench_projectors.py --save`` rewrites
the CPU entry on the machine it runs on; the GPU entry is the H200 CGLS
measurement of docs/benchmarks.md). Nothing here is a typed-in constant.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["memory_estimate", "time_estimate", "available_memory", "throughput", "MEMORY_FRACTION",
           "THROUGHPUT_FILE"]

#: A reconstruction may use at most this fraction of the available memory.
MEMORY_FRACTION = 0.8
THROUGHPUT_FILE = Path(__file__).with_name("throughput.json")

# Work arrays per solver, in volumes and data copies (float32), besides x and the data.
_WORK = {"cgls": (4, 2), "sirt": (3, 3), "mlem": (3, 2), "osem": (3, 2), "pwls": (5, 3), "tv": (16, 4)}


@lru_cache(maxsize=1)
def throughput():
    """The measured throughputs (``throughput.json``): ``{'cpu': {...}, 'gpu': {...}}``.

    ``cpu['voxel_views_per_s_per_core']`` is one forward + one adjoint
    projection of the numba backend per second per core;
    ``gpu['voxel_views_per_s']`` a combined CGLS iteration on the GPU.
    """
    return json.loads(THROUGHPUT_FILE.read_text(encoding="utf-8"))


def available_memory():
    """Bytes of memory available to this process (MemAvailable, else physical pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _memory(volume_shape, data_shapes, method):
    n_vol = float(np.prod(volume_shape))
    n_data = float(sum(np.prod(s) for s in data_shapes))
    kv, kd = _WORK.get(method, _WORK["pwls"])
    # x itself, the work arrays, the data, and one raw float32 copy while preprocessing.
    return 4.0 * (n_vol * (1 + kv) + n_data * (2 + kd))


def memory_estimate(acq):
    """``{'bytes', 'gb', 'available_gb', 'fraction'}`` for reconstructing ``acq``."""
    need = _memory(acq.volume.shape, [s.output_shape() for s in acq.scans], acq.reconstruction["method"])
    avail = available_memory()
    return {
        "bytes": need,
        "gb": need / 1e9,
        "available_gb": None if avail is None else avail / 1e9,
        "fraction": None if not avail else need / avail,
    }


def time_estimate(acq):
    """Rough seconds for the reconstruction: voxel·views × iterations / measured throughput."""
    from ..reconstruct import resolve_device

    n_vol = float(np.prod(acq.volume.shape))
    views = sum(s.output_shape()[0] for s in acq.scans)
    r = acq.reconstruction
    device = resolve_device(r.get("device", "auto"), r["backend"])
    measured = throughput()
    if device == "gpu":
        rate = measured["gpu"]["voxel_views_per_s"]
    else:
        rate = measured["cpu"]["voxel_views_per_s_per_core"] * (os.cpu_count() or 1)
    per_iteration = n_vol * views / rate
    return {"seconds": per_iteration * r["iterations"], "seconds_per_iteration": per_iteration,
            "throughput_voxel_views_per_s": rate, "device": device}
