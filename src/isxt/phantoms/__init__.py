"""Physical phantoms: LAC volumes of cells computed from their composition.

* :mod:`.materials` — biochemical mixtures and their LAC via xraydb.
* :func:`cell_phantom` — a eukaryotic cell with its organelles.
* :func:`bacteria_phantom` — a cluster of rod-shaped bacteria.
* :func:`load_phantom` — a user volume from MRC, TIFF or NumPy files.
"""

from __future__ import annotations

from .bacteria import bacteria_phantom
from .base import LABELS, Phantom, phantom_from_labels
from .capillary import Capillary, default_capillary
from .cell import cell_phantom
from .load import load_phantom
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
    "COMPONENTS",
    "DEFAULT_MATERIALS",
    "Material",
    "lac",
    "lac_table",
    "wavelength_um",
]
