"""The :class:`Phantom` container and the label legend shared by all phantoms."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..geometry import VolumeGeometry
from .materials import DEFAULT_MATERIALS, lac

__all__ = ["LABELS", "Phantom", "phantom_from_labels"]

#: Fixed label ids, so that a label volume means the same in every phantom.
#: Label 0 is empty space (vacuum): LAC 0 and no mass.
LABELS = {
    "background": 0,
    "ice": 1,
    "glass": 2,
    "cytoplasm": 3,
    "plasma_membrane": 4,
    "nucleoplasm": 5,
    "nuclear_envelope": 6,
    "chromatin": 7,
    "nucleolus": 8,
    "mitochondrion": 9,
    "er": 10,
    "lipid_droplet": 11,
    "vesicle": 12,
    "endosome": 13,
    "endosome_lumen": 14,
    "bacterial_cytoplasm": 15,
    "bacterial_envelope": 16,
    "bacterial_granule": 17,
    "sample": 18,
}


@dataclass
class Phantom:
    """A LAC volume with its compartment labels.

    Attributes
    ----------
    lac : ndarray, float32, (nz, ny, nx)
        Linear absorption coefficient in 1/µm at ``energy_ev``.
    labels : ndarray, uint8, (nz, ny, nx)
        Compartment id of each voxel, see ``label_names``.
    label_names : dict
        ``{id: name}`` for the labels of this phantom.
    geometry : VolumeGeometry
    energy_ev : float
    materials : dict
        ``{name: Material}`` of the labelled compartments (background excluded).
    info : dict
        Generator parameters and object lists (e.g. cell centres).
    """

    lac: np.ndarray
    labels: np.ndarray
    label_names: dict
    geometry: VolumeGeometry
    energy_ev: float
    materials: dict
    info: dict = field(default_factory=dict)

    def mask(self, *names):
        """Boolean volume of the voxels carrying any of the label ``names``."""
        ids = {v: k for k, v in self.label_names.items()}
        unknown = [n for n in names if n not in ids]
        if unknown:
            raise InputError(f"unknown label(s) {unknown}; this phantom has {sorted(ids)}")
        return np.isin(self.labels, [ids[n] for n in names])

    def density(self):
        """Mass density per voxel in g/cm³ (0 for background), e.g. for :func:`isxt.dose.dose_map`."""
        lut = np.zeros(256, dtype=np.float32)
        for idx, name in self.label_names.items():
            if name in self.materials:
                lut[idx] = self.materials[name].density
        return lut[self.labels]

    def lac_of(self, name):
        """LAC (1/µm) assigned to the label ``name``."""
        return lac(self.materials[name], self.energy_ev)


def phantom_from_labels(labels, geometry, energy_ev, materials=None, info=None):
    """Build a :class:`Phantom` whose LAC is the material LAC of each label.

    ``materials`` overrides entries of the default table by name.
    """
    table = dict(DEFAULT_MATERIALS)
    if materials:
        table.update(materials)
    present = np.flatnonzero(np.bincount(labels.ravel(), minlength=256))
    id_to_name = {v: k for k, v in LABELS.items()}
    label_names = {int(i): id_to_name[int(i)] for i in present}
    used = {name: table[name] for name in label_names.values() if name != "background"}
    lut = np.zeros(256, dtype=np.float32)
    for idx, name in label_names.items():
        if name != "background":
            lut[idx] = lac(used[name], energy_ev)
    return Phantom(
        lac=lut[labels],
        labels=labels,
        label_names=label_names,
        geometry=geometry,
        energy_ev=float(energy_ev),
        materials=used,
        info=dict(info or {}),
    )
