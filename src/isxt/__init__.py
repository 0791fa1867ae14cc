"""isxt — interior soft X-ray tomography with sparse global sampling.

Reconstruct a dense, truncated high-resolution interior scan together with a
sparse low-resolution full-field scan as one linear problem
``[A_roi; A_full] x = y`` (Ekman et al. 2025), in linear absorption
coefficients (LAC, 1/µm). Lengths are in µm and angles in radians throughout
the API.

Layers (each imports only from those above it in this list):
geometry → projectors → operators → solvers → reconstruct / workflows.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import metrics
from .errors import InputError, IsxtError, OutputError
from .geometry import ScanGeometry, VolumeGeometry, angles_180, angles_360_interleaved
from .nullspace import NullSpaceResult, null_space
from .operators import convolve_detector, gaussian_kernel, power_norm, scale, stack
from .projectors import projector
from .reconstruct import Scan, build_operator, reconstruct
from .solvers import (
    Discrepancy,
    FixedIterations,
    Oracle,
    cgls,
    make_subsets,
    mlem,
    osem,
    poisson_variance,
    poisson_weights,
    pwls,
    sirt,
)

# The workflow layers (files, phantoms, optics, alignment...) pull in xraydb,
# scipy.signal, h5py and friends: load them on first use, so that `import isxt`
# and the command line start quickly.
_LAZY = {
    "Acquisition": "acquisition",
    "load_acquisition": "acquisition",
    "prepare_scans": "acquisition",
    "AlignmentResult": "align",
    "align_full_field": "align",
    "align_interior": "align",
    "align_scans": "align",
    "read_shifts_csv": "align",
    "write_shifts_csv": "align",
    "calibrate": "calibration",
    "dose_map": "dose",
    "dose_ratio_full_to_roi": "dose",
    "interior_intensity_equal_dose": "dose",
    "mean_dose": "dose",
    "protocol_dose": "dose",
    "Stack": "io",
    "read_angles": "io",
    "read_stack": "io",
    "read_volume": "io",
    "write_stack": "io",
    "write_volume": "io",
    "Material": "phantoms",
    "Phantom": "phantoms",
    "bacteria_phantom": "phantoms",
    "cell_phantom": "phantoms",
    "lac": "phantoms",
    "load_phantom": "phantoms",
    "XM2_35NM": "optics",
    "XM2_60NM": "optics",
    "ZonePlate": "optics",
    "angles_for_power": "sampling",
    "Plan": "planning",
    "plan": "planning",
    "write_plan": "planning",
    "DepthPSFProjector": "simulate",
    "band_limit": "simulate",
    "beer_lambert": "simulate",
    "poisson_noise": "simulate",
    "simulate_projections": "simulate",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'isxt' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "metrics",
    "IsxtError",
    "InputError",
    "OutputError",
    "VolumeGeometry",
    "ScanGeometry",
    "angles_180",
    "angles_360_interleaved",
    "projector",
    "stack",
    "scale",
    "convolve_detector",
    "gaussian_kernel",
    "power_norm",
    "Scan",
    "build_operator",
    "reconstruct",
    "cgls",
    "sirt",
    "mlem",
    "osem",
    "make_subsets",
    "pwls",
    "poisson_weights",
    "poisson_variance",
    "FixedIterations",
    "Oracle",
    "Discrepancy",
    "null_space",
    "NullSpaceResult",
    "Stack",
    "read_stack",
    "write_stack",
    "read_volume",
    "write_volume",
    "read_angles",
    "Acquisition",
    "load_acquisition",
    "prepare_scans",
    "calibrate",
    "Phantom",
    "Material",
    "lac",
    "cell_phantom",
    "bacteria_phantom",
    "load_phantom",
    "dose_map",
    "protocol_dose",
    "mean_dose",
    "dose_ratio_full_to_roi",
    "interior_intensity_equal_dose",
    "ZonePlate",
    "XM2_35NM",
    "XM2_60NM",
    "DepthPSFProjector",
    "simulate_projections",
    "Plan",
    "plan",
    "write_plan",
    "band_limit",
    "beer_lambert",
    "poisson_noise",
    "angles_for_power",
    "AlignmentResult",
    "align_full_field",
    "align_interior",
    "align_scans",
    "read_shifts_csv",
    "write_shifts_csv",
]
