"""isxt — interior soft X-ray tomography with sparse global sampling."""

from __future__ import annotations

__version__ = "0.1.0"

from .geometry import ScanGeometry, VolumeGeometry, angles_180, angles_360_interleaved
from .operators import convolve_detector, gaussian_kernel, scale, stack
from .projectors import projector
