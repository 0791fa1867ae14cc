"""Physical phantoms: LAC volumes of cells computed from their composition.

* :mod:`.materials` — biochemical mixtures and their LAC via xraydb.
* :func:`cell_phantom` — a eukaryotic cell with its organelles.
* :func:`bacteria_phantom` — a cluster of rod-shaped bacteria.
* :func:`load_phantom` — a user volume from MRC, TIFF or NumPy files.
* :func:`fine_and_coarse` — any of them on a 2× finer simulation grid and its block mean;
  :func:`cell_slab`, a simple synthetic slab.
"""

from __future__ import annotations

from .bacteria import bacteria_phantom
from .base import LABELS, Phantom, phantom_from_labels
from .capillary import Capillary, default_capillary
from .cell import cell_phantom
from .load import load_phantom
from .synthetic import PHANTOMS, FineAndCoarse, block_mean, cell_slab, fine_and_coarse
from .materials import COMPONENTS, DEFAULT_MATERIALS, Material, lac, lac_table, wavelength_um

__all__ = [
    "LABELS",
    "Phantom",
    "phantom_from_labels",
    "Capillary",
    "default_capillary",
    "cell_phantom",
    "bacteria_phantom",
    "load_phantom",
    "PHANTOMS",
    "FineAndCoarse",
    "fine_and_coarse",
    "block_mean",
    "cell_slab",
    "COMPONENTS",
    "DEFAULT_MATERIALS",
    "Material",
    "lac",
    "lac_table",
    "wavelength_um",
]
