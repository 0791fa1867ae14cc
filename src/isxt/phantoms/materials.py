"""Biological materials and their soft X-ray linear absorption coefficients.

A :class:`Material` is a mixture of a few biochemical classes (protein,
phospholipid, neutral lipid, nucleic acid, carbohydrate, water, ...) given by
mass fractions. Its LAC follows the mixture rule

.. math:: \\mu(E) = \\rho \\sum_i w_i (\\mu/\\rho)_i(E),

with the mass attenuation coefficients ``(µ/ρ)_i`` of each class computed by
`xraydb <https://xraypy.github.io/XrayDB/>`_ from an average elemental
formula. We use the *photo-absorption* cross-section (``kind='photo'``): SXT
contrast in the water window is absorption contrast, and coherent/incoherent
scattering adds < 0.2 % at 517 eV while mostly leaving the sample within the
objective's acceptance anyway.

Unless a density is given, the mixture density follows from additive specific
volumes, ``1/ρ = Σ w_i / ρ_i`` (an ideal mixture), so the only tuning knobs
are the mass fractions, which are kept within published ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import xraydb

from ..errors import InputError
from ..optics import HC_EV_UM, energy_ev_from_wavelength, wavelength_um  # noqa: F401 (re-exported)

__all__ = [
    "COMPONENTS",
    "Component",
    "Material",
    "DEFAULT_MATERIALS",
    "lac",
    "mass_attenuation",
    "lac_table",
    "wavelength_um",
    "energy_ev_from_wavelength",
]

# hc, λ(E) and E(λ) have one home, isxt.optics (CODATA hc); re-exported here for old imports


@dataclass(frozen=True)
class Component:
    """A pure biochemical class: average elemental formula and bulk density (g/cm³)."""

    formula: str
    density: float
    note: str = ""


#: The building blocks of every material. Formulas are per average monomer.
COMPONENTS = {
    # Average amino-acid residue of cellular proteins (C4.9H7.7N1.3O1.5S0.04,
    # ~110 Da); protein partial specific volume 0.74 cm³/g -> 1.35 g/cm³.
    "protein": Component("C4.9H7.7N1.3O1.5S0.04", 1.35, "average amino-acid residue"),
    # Membrane phospholipid, POPC (C42H82NO8P), bilayer density ~1.01 g/cm³.
    "lipid": Component("C42H82NO8P", 1.01, "phospholipid (POPC)"),
    # Storage lipid of lipid droplets: a triolein-like triglyceride.
    "neutral_lipid": Component("C55H98O6", 0.92, "triglyceride (triolein-like)"),
    # Average nucleotide of DNA/RNA incl. phosphate (sodium counter-ions omitted).
    "nucleic_acid": Component("C9.5H11.75N3.75O6P", 1.7, "average nucleotide"),
    # Glycogen / glycan residue (anhydroglucose).
    "carbohydrate": Component("C6H10O5", 1.5, "anhydroglucose residue"),
    "water": Component("H2O", 1.0, "liquid water"),
    # Polyhydroxybutyrate, the storage polymer of e.g. Pseudomonas granules.
    "pha": Component("C4H6O2", 1.25, "polyhydroxybutyrate (PHA granule)"),
    # Borosilicate/quartz glass of specimen capillaries, approximated as silica.
    "silica": Component("SiO2", 2.2, "glass (silica)"),
}


@dataclass(frozen=True)
class Material:
    """A mixture of :data:`COMPONENTS` by mass fraction.

    Parameters
    ----------
    name : str
    density : float, optional
        Mixture density in g/cm³. Default: ideal mixing of the components'
        specific volumes.
    protein, lipid, neutral_lipid, nucleic_acid, carbohydrate, water, pha, silica : float
        Mass fractions; they must sum to 1.

    Examples
    --------
    >>> cyto = Material("cytoplasm", protein=0.2, water=0.8)
    >>> round(cyto.density, 3)
    1.055
    """

    name: str
    density: float | None = None
    protein: float = 0.0
    lipid: float = 0.0
    neutral_lipid: float = 0.0
    nucleic_acid: float = 0.0
    carbohydrate: float = 0.0
    water: float = 0.0
    pha: float = 0.0
    silica: float = 0.0

    def __post_init__(self):
        values = {k: float(getattr(self, k)) for k in COMPONENTS}
        if any(v < 0 or not np.isfinite(v) for v in values.values()):
            raise InputError(f"material {self.name!r}: mass fractions must be finite and >= 0, got {values}")
        total = sum(values.values())
        if abs(total - 1.0) > 1e-6:
            raise InputError(f"material {self.name!r}: mass fractions sum to {total:.6g}, they must sum to 1")
        if self.density is None:
            density = 1.0 / sum(w / COMPONENTS[k].density for k, w in values.items())
        else:
            density = float(self.density)
            if not np.isfinite(density) or density <= 0:
                raise InputError(f"material {self.name!r}: density must be a positive number in g/cm³, got {density}")
        object.__setattr__(self, "density", density)

    @property
    def fractions(self):
        """Non-zero mass fractions ``{component: w}``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in COMPONENTS and getattr(self, f.name) > 0}


@lru_cache(maxsize=4096)
def _mass_attenuation_cached(formula, energy_ev):
    # xraydb returns µ in 1/cm for the given density; density 1 g/cm³ gives µ/ρ in cm²/g.
    return float(xraydb.material_mu(formula, energy_ev, density=1.0, kind="photo"))


def mass_attenuation(component, energy_ev=517.0):
    """Photo-absorption mass attenuation coefficient ``µ/ρ`` (cm²/g) of a component."""
    if component not in COMPONENTS:
        raise InputError(f"unknown component {component!r}; choose one of {sorted(COMPONENTS)}")
    return _mass_attenuation_cached(COMPONENTS[component].formula, float(energy_ev))


def lac(material, energy_ev=517.0):
    """Linear absorption coefficient of a material in 1/µm.

    Parameters
    ----------
    material : Material or str
        A :class:`Material` or the name of one in :data:`DEFAULT_MATERIALS`.
    energy_ev : float
        Photon energy in eV (517 eV ≈ 2.4 nm, inside the water window).

    Examples
    --------
    >>> round(lac("ice"), 3)
    0.11
    """
    if isinstance(material, str):
        if material not in DEFAULT_MATERIALS:
            raise InputError(f"unknown material {material!r}; choose one of {sorted(DEFAULT_MATERIALS)}")
        material = DEFAULT_MATERIALS[material]
    energy_ev = float(energy_ev)
    if not np.isfinite(energy_ev) or energy_ev <= 0:
        raise InputError(f"photon energy must be a positive number in eV, got {energy_ev}")
    mu_rho = sum(w * mass_attenuation(k, energy_ev) for k, w in material.fractions.items())
    return material.density * mu_rho * 1e-4  # 1/cm -> 1/µm


def lac_table(materials=None, energy_ev=517.0):
    """``{name: LAC in 1/µm}`` for a dict of materials (default: :data:`DEFAULT_MATERIALS`)."""
    materials = DEFAULT_MATERIALS if materials is None else materials
    return {name: lac(m, energy_ev) for name, m in materials.items()}


def _defaults():
    # Mass fractions follow textbook ranges (Alberts; Milo & Phillips "Cell
    # Biology by the Numbers"): cytoplasm carries ~150–300 mg/mL of
    # macromolecules, i.e. ~15–25 % of its mass, mostly protein; organelles
    # are denser; membranes are roughly half lipid, half protein by dry mass.
    # Values were chosen within these ranges so that the 517 eV LACs land on
    # those reported for SXT of mammalian cells (cytoplasm/nucleus ~0.2–0.3,
    # mitochondria and nucleoli ~0.3–0.4, lipid droplets ~0.5–0.8 1/µm).
    m = [
        # Vitreous/amorphous ice, 0.92 g/cm³: 0.1096 1/µm at 517 eV.
        Material("ice", density=0.92, water=1.0),
        Material("glass", silica=1.0),
        # ~15 % macromolecules (mostly protein, some RNA, lipid in small vesicles).
        Material("cytoplasm", protein=0.12, lipid=0.015, nucleic_acid=0.01, carbohydrate=0.005, water=0.85),
        # Bilayer (~5–10 nm) plus cortex smeared over one voxel: lipid-protein rich.
        Material("plasma_membrane", protein=0.15, lipid=0.13, carbohydrate=0.02, water=0.70),
        # Euchromatin-rich nucleoplasm: ~10 % protein, ~4 % DNA/RNA.
        Material("nucleoplasm", protein=0.10, nucleic_acid=0.04, lipid=0.005, water=0.855),
        Material("nuclear_envelope", protein=0.14, lipid=0.12, water=0.74),
        # Condensed heterochromatin: histones + DNA at ~1:1 mass ratio.
        Material("chromatin", protein=0.13, nucleic_acid=0.10, water=0.77),
        # Nucleoli: protein- and rRNA-rich, the densest nuclear compartment.
        Material("nucleolus", protein=0.18, nucleic_acid=0.07, water=0.75),
        # Matrix proteins plus cristae membranes.
        Material("mitochondrion", protein=0.20, lipid=0.05, nucleic_acid=0.005, water=0.745),
        Material("er", protein=0.15, lipid=0.08, water=0.77),
        # Triglyceride core with a phospholipid monolayer; the water fraction
        # stands in for the partial-volume averaging that lowers measured
        # LD values (0.5–0.8 1/µm) below that of bulk triolein (~0.9).
        Material("lipid_droplet", neutral_lipid=0.60, lipid=0.03, protein=0.02, water=0.35),
        Material("vesicle", protein=0.14, lipid=0.07, water=0.79),
        Material("endosome", protein=0.16, lipid=0.09, water=0.75),
        Material("endosome_lumen", protein=0.06, carbohydrate=0.01, water=0.93),
        # Bacteria are more crowded (~300 mg/mL) and carry their DNA in the cytosol.
        Material("bacterial_cytoplasm", protein=0.19, nucleic_acid=0.05, lipid=0.01, carbohydrate=0.01, water=0.74),
        # Two membranes plus peptidoglycan and lipopolysaccharide.
        Material("bacterial_envelope", protein=0.15, lipid=0.12, carbohydrate=0.08, water=0.65),
        # Polyhydroxyalkanoate storage granule.
        Material("bacterial_granule", pha=0.60, protein=0.03, water=0.37),
        # A user volume loaded from a file (LAC given directly; density as for water).
        Material("sample", water=1.0),
    ]
    return {mat.name: mat for mat in m}


#: The default compartments, by name.
DEFAULT_MATERIALS = _defaults()
