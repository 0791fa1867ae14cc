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
from .acquisition import Acquisition, load_acquisition, prepare_scans
from .align import AlignmentResult, align_full_field, align_interior, align_scans, read_shifts_csv, write_shifts_csv
from .calibration import calibrate
from .dose import dose_map, dose_ratio_full_to_roi, interior_intensity_equal_dose, mean_dose, protocol_dose
from .errors import InputError, IsxtError, OutputError
from .io import Stack, read_angles, read_stack, read_volume, write_stack, write_volume
from .geometry import ScanGeometry, VolumeGeometry, angles_180, angles_360_interleaved
from .nullspace import NullSpaceResult, null_space
from .phantoms import Material, Phantom, bacteria_phantom, cell_phantom, lac, load_phantom
from .optics import XM2_35NM, XM2_60NM, ZonePlate
from .sampling import angles_for_power
from .simulate import DepthPSFProjector, band_limit, beer_lambert, poisson_noise, simulate_projections
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
