"""Helpers shared by the tests: the example generator and a smooth test phantom."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load_make_example():
    # examples/ is not a package: load the generator script as a module
    spec = importlib.util.spec_from_file_location("make_example", ROOT / "examples" / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_example = _load_make_example()


def smooth_phantom(vol):
    """Two smooth Gaussian blobs (one modulated along z) on ``vol``'s grid, float32."""
    z, y, x = np.meshgrid(vol.coords("z"), vol.coords("y"), vol.coords("x"), indexing="ij")
    blob = np.exp(-((x - 0.3) ** 2 + (y + 0.2) ** 2) / 1.2) * (1.0 + 0.3 * np.cos(3 * z))
    blob += 0.5 * np.exp(-((x + 0.8) ** 2 + (y - 0.6) ** 2) / 0.3)
    return blob.astype(np.float32)
