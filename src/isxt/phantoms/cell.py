"""A seeded 3D eukaryotic cell phantom (B-cell / macrophage-like).

Compartments: plasma membrane, cytoplasm, nucleus with envelope, chromatin
and nucleoli, mitochondria (curved tubes), ER (perinuclear sheets and
tubules), lipid droplets, endosomes (membrane + lumen) and small vesicles.
Every voxel carries one label and the LAC of that label's material, so label
and LAC volumes agree exactly (no partial-volume blur).

Sizes are biological sizes of a 9 µm B cell, scaled by ``cell_diameter_um / 9``;
thin structures are kept at least ~1.5 voxels thick so they stay connected.
Object counts follow volume fractions of the cytoplasm (mitochondria ~7 %,
ER ~4.5 %, endosomes ~2 %, vesicles ~1.2 %, lipid droplets ~0.6 %).
"""

from __future__ import annotations

import numpy as np
from .._progress import progress_bar

from .._deprecate import renamed_kwargs
from ..errors import InputError
from ..geometry import VolumeGeometry
from ._shapes import (
    Ellipsoid,
    SmoothNoise,
    paint_capsules,
    paint_level_set,
    random_rotation,
    random_unit_vectors,
    rotation_z,
    truncate_path,
    worm_path,
)
from .base import LABELS, phantom_from_labels
from .capillary import Capillary, default_capillary, paint_capillary

__all__ = ["cell_phantom"]

_REFERENCE_DIAMETER_UM = 9.0  # a B lymphocyte

# Target volume fractions of the cytoplasm occupied by each organelle class.
_FRACTIONS = {
    "mitochondrion": 0.07,
    "er_sheet": 0.025,
    "er_tubule": 0.02,
    "lipid_droplet": 0.006,
    "endosome": 0.02,
    "vesicle": 0.012,
}


def _check_geometry(volume_geometry):
    if not isinstance(volume_geometry, VolumeGeometry):
        raise InputError(f"volume_geometry must be an isxt.geometry.VolumeGeometry, got {type(volume_geometry).__name__}")


def _capillary_for(volume_geometry, capillary):
    if capillary is True:
        return default_capillary(volume_geometry)
    if isinstance(capillary, Capillary):
        return capillary
    if capillary in (False, None):
        return None
    raise InputError(f"capillary must be True, False or an isxt.phantoms.Capillary, got {capillary!r}")


class _Cytoplasm:
    """Rejection sampler for points inside the cytoplasm, away from cell edge and nucleus."""

    def __init__(self, rng, cell, nucleus, membrane):
        self.rng = rng
        self.cell = cell
        self.nucleus = nucleus
        self.membrane = membrane
        self.cell_min = cell.radii.min()
        self.nuc_min = nucleus.radii.min()

    def inside(self, points, margin):
        points = np.atleast_2d(points)
        ok = self.cell.level(points) < 1.0 - (margin + self.membrane) / self.cell_min
        ok &= self.nucleus.level(points) > 1.0 + margin / self.nuc_min
        return ok

    def sample(self, n, margin):
        half = self.cell.bounding_half_size
        found = []
        for _ in range(200):
            if sum(len(f) for f in found) >= n:
                break
            cand = self.cell.center + (self.rng.random((max(4 * n, 64), 3)) * 2 - 1) * half
            found.append(cand[self.inside(cand, margin)])
        pts = np.concatenate(found) if found else np.zeros((0, 3))
        return pts[:n]


@renamed_kwargs(cell_diameter="cell_diameter_um")
def cell_phantom(
    volume_geometry,
    seed=0,
    energy_ev=517.0,
    cell_diameter_um=None,
    capillary=False,
    ice=False,
    organelle_density=1.0,
    materials=None,
    progress=False,
):
    """A 3D eukaryotic cell as a labelled LAC volume.

    Parameters
    ----------
    volume_geometry : VolumeGeometry
        Grid to render on (any shape and voxel size). The cell is centred on
        the volume centre; a volume thinner than the cell shows a slab of it.
    seed : int
        Seed of the random generator; the same seed and geometry give the
        same phantom.
    energy_ev : float
        Photon energy for the LACs (517 eV ≈ 2.4 nm).
    cell_diameter_um : float, optional
        Cell diameter in µm. Default: 85 % of the smaller xy extent (or of
        the capillary lumen; ``cell_diameter`` is the deprecated name).
    capillary : bool or Capillary
        Put the cell into an ice-filled glass capillary along z.
    ice : bool
        Without a capillary, fill the space around the cell with amorphous ice
        (a capillary is always filled with ice and has vacuum outside).
    organelle_density : float
        Multiplier on the organelle counts (1 = typical volume fractions).
    materials : dict, optional
        ``{label name: Material}`` overriding default compositions.
    progress : bool
        Show a progress bar over the rendering stages.

    Returns
    -------
    Phantom

    Examples
    --------
    >>> from isxt.geometry import VolumeGeometry
    >>> ph = cell_phantom(VolumeGeometry((4, 100, 100), 0.1), seed=1)
    >>> ph.lac.shape, ph.lac.dtype
    ((4, 100, 100), dtype('float32'))
    """
    _check_geometry(volume_geometry)
    geom = volume_geometry
    rng = np.random.default_rng(seed)
    cap = _capillary_for(geom, capillary)
    s = geom.voxel_size_um
    center = np.array(geom.center_um, dtype=np.float64)

    if cell_diameter_um is None:
        cell_diameter_um = 0.85 * min(geom.extent[0], geom.extent[1])
        if cap is not None:
            cell_diameter_um = min(cell_diameter_um, 0.85 * 2 * cap.inner_radius_um)
    cell_diameter_um = float(cell_diameter_um)
    if not np.isfinite(cell_diameter_um) or cell_diameter_um < 4 * s:
        raise InputError(f"cell_diameter_um must be at least 4 voxels ({4 * s:g} µm), got {cell_diameter_um!r}")
    R = cell_diameter_um / 2
    scale = cell_diameter_um / _REFERENCE_DIAMETER_UM
    roughness = 0.03
    if cap is not None and R * (1 + 3 * roughness) > cap.inner_radius_um:
        raise InputError(
            f"a {cell_diameter_um:g} µm cell does not fit the capillary lumen (radius {cap.inner_radius_um:g} µm); "
            "pass a smaller cell_diameter_um or a larger volume"
        )

    def thick(t_um, min_voxels=1.5):
        return max(t_um * scale, min_voxels * s)

    stages = progress_bar(total=9, desc="cell phantom", disable=not progress)
    labels = np.zeros(geom.shape, dtype=np.uint8)
    z_all, y_all, x_all = geom.coords("z"), geom.coords("y"), geom.coords("x")

    # -- cell body and plasma membrane -------------------------------------------
    shape_noise = SmoothNoise(rng, center - 1.3 * R, center + 1.3 * R, 0.35 * cell_diameter_um)
    cell = Ellipsoid(
        center,
        R * np.array([1.0, rng.uniform(0.88, 0.97), rng.uniform(0.8, 0.9)]),
        rotation_z(rng.uniform(0, np.pi)),
        shape_noise,
        roughness,
    )
    g_cell = cell.level_on_grid(z_all, y_all, x_all)
    labels[g_cell <= 1.0] = LABELS["cytoplasm"]
    membrane = thick(0.03)
    labels[(g_cell <= 1.0) & (g_cell > 1.0 - membrane / cell.radii.min())] = LABELS["plasma_membrane"]
    del g_cell
    stages.update()

    # -- nucleus -----------------------------------------------------------------------
    offset = np.append(random_unit_vectors(rng, 1)[0, :2] * 0.12 * R, 0.05 * R * rng.standard_normal())
    nuc_noise = SmoothNoise(rng, center - R, center + R, 0.25 * cell_diameter_um)
    nucleus = Ellipsoid(
        center + offset,
        R * np.array([0.62, 0.56, 0.52]) * rng.uniform(0.95, 1.05),
        random_rotation(rng),
        nuc_noise,
        0.04,
    )
    n_lo, n_hi = nucleus.center - nucleus.bounding_half_size, nucleus.center + nucleus.bounding_half_size
    paint_level_set(
        labels, geom, nucleus.level_on_grid, n_lo, n_hi, -np.inf, 1.0, LABELS["nucleoplasm"], [LABELS["cytoplasm"]]
    )
    stages.update()

    # Chromatin: smooth noise above a threshold, favoured near the envelope
    # (peripheral heterochromatin).
    chrom_noise = SmoothNoise(rng, n_lo, n_hi, 0.3 * scale)

    def chromatin_level(z, y, x):
        g = nucleus.level_on_grid(z, y, x)
        return chrom_noise.on_grid(z, y, x) + 1.6 * np.clip((g - 0.85) / 0.15, 0, 1)

    paint_level_set(labels, geom, chromatin_level, n_lo, n_hi, 1.1, np.inf, LABELS["chromatin"], [LABELS["nucleoplasm"]])
    nucleoli = []
    for _ in range(rng.integers(1, 3)):
        local = random_unit_vectors(rng, 1)[0] * rng.uniform(0, 0.45) * nucleus.radii
        nl = Ellipsoid(
            nucleus.center + nucleus.rotation @ local,
            nucleus.radii.mean() * rng.uniform(0.18, 0.26) * rng.uniform(0.85, 1.15, 3),
            random_rotation(rng),
            chrom_noise,
            0.1,
        )
        half = nl.bounding_half_size
        paint_level_set(
            labels, geom, nl.level_on_grid, nl.center - half, nl.center + half, -np.inf, 1.0,
            LABELS["nucleolus"], [LABELS["nucleoplasm"], LABELS["chromatin"]],
        )
        nucleoli.append({"center_um": nl.center.tolist(), "radii_um": nl.radii.tolist()})
    envelope = thick(0.04)
    paint_level_set(
        labels, geom, nucleus.level_on_grid, n_lo, n_hi, 1.0 - envelope / nucleus.radii.min(), 1.0,
        LABELS["nuclear_envelope"], [LABELS["nucleoplasm"], LABELS["chromatin"], LABELS["nucleolus"]],
    )
    stages.update()

    # -- organelles in the cytoplasm ---------------------------------------------------
    cyto = _Cytoplasm(rng, cell, nucleus, membrane)
    v_cyto = 4 / 3 * np.pi * (np.prod(cell.radii) - np.prod(nucleus.radii))
    only_cyto = [LABELS["cytoplasm"]]
    counts = {}

    def n_objects(kind, mean_volume):
        return int(round(organelle_density * _FRACTIONS[kind] * v_cyto / mean_volume))

    # Mitochondria: curved tubes, 0.3–0.5 µm thick, 0.8–3 µm long.
    r_mito = max(0.2 * scale, 1.0 * s)
    n = n_objects("mitochondrion", np.pi * r_mito**2 * 1.9 * scale)
    painted = 0
    for start in cyto.sample(n, r_mito):
        r = r_mito * rng.uniform(0.75, 1.25)
        path = worm_path(rng, start, rng.uniform(0.8, 3.0) * scale, max(r, s), 1.5 * scale)
        path = truncate_path(path, cyto.inside(path, r))
        if len(path) < 2:
            path = path[:1].repeat(2, axis=0)
        painted += paint_capsules(labels, geom, path[:-1], path[1:], r, LABELS["mitochondrion"], only_cyto) > 0
    counts["mitochondrion"] = (n, painted)
    stages.update()

    def paint_spheres(kind, label, r_typical, r_min, r_max):
        """Solid spheres of radius U(r_min, r_max)·scale at random places in the cytoplasm."""
        n = n_objects(kind, 4 / 3 * np.pi * r_typical**3)
        centers = cyto.sample(n, r_max * scale)
        radii = np.maximum(rng.uniform(r_min, r_max, len(centers)) * scale, s)
        painted = sum(paint_capsules(labels, geom, c, c, r, LABELS[label], only_cyto) > 0 for c, r in zip(centers, radii))
        counts[kind] = (n, painted)
        stages.update()

    # Lipid droplets: solid spheres.
    paint_spheres("lipid_droplet", "lipid_droplet", max(0.27 * scale, s), 0.15, 0.4)

    # Endosomes: membrane shell around a watery lumen.
    r_en = max(0.3 * scale, 3 * s)
    n = n_objects("endosome", 4 / 3 * np.pi * r_en**3)
    centers = cyto.sample(n, 0.4 * scale)
    radii = np.maximum(rng.uniform(0.2, 0.4, len(centers)) * scale, 3 * s)
    painted = 0
    for c, r in zip(centers, radii):
        hit = paint_capsules(labels, geom, c, c, r, LABELS["endosome"], only_cyto)
        if hit:
            paint_capsules(labels, geom, c, c, r - min(thick(0.04), 0.5 * r), LABELS["endosome_lumen"], [LABELS["endosome"]])
        painted += hit > 0
    counts["endosome"] = (n, painted)
    stages.update()

    # ER sheets: curved cisternae following the nuclear envelope at some distance.
    t_sheet = thick(0.06)
    rho_mean = 0.9 * scale
    n = n_objects("er_sheet", np.pi * rho_mean**2 * t_sheet)
    painted = 0
    r_nuc = nucleus.radii.mean()
    for direction in random_unit_vectors(rng, n):
        gap = rng.uniform(0.15, 0.8) * scale
        rho = rng.uniform(0.6, 1.2) * scale
        surface = 1.0 / np.linalg.norm((nucleus.rotation.T @ direction) / nucleus.radii)
        mid = nucleus.center + direction * (surface + gap)
        g0 = 1.0 + gap / r_nuc
        cos_max = np.cos(min(rho / (surface + gap), np.pi / 2))

        def sheet_level(z, y, x, direction=direction, g0=g0, cos_max=cos_max):
            g = nucleus.level_on_grid(z, y, x)
            dz = (z - nucleus.center[2])[:, None, None]
            dy = (y - nucleus.center[1])[None, :, None]
            dx = (x - nucleus.center[0])[None, None, :]
            norm = np.sqrt(dx**2 + dy**2 + dz**2) + 1e-12
            cos = (dx * direction[0] + dy * direction[1] + dz * direction[2]) / norm
            return np.where(cos >= cos_max, np.abs(g - g0), np.inf)

        half = rho * 1.2 + t_sheet + 0.1 * r_nuc
        painted += paint_level_set(
            labels, geom, sheet_level, mid - half, mid + half, -1.0, 0.5 * t_sheet / r_nuc, LABELS["er"], only_cyto
        ) > 0
    counts["er_sheet"] = (n, painted)
    stages.update()

    # ER tubules: thin worm-like tubes through the cytoplasm.
    r_tub = max(0.035 * scale, 0.8 * s)
    n = n_objects("er_tubule", np.pi * r_tub**2 * 2.0 * scale)
    painted = 0
    for start in cyto.sample(n, r_tub):
        path = worm_path(rng, start, rng.uniform(1.0, 3.0) * scale, max(0.1 * scale, s), 0.8 * scale)
        path = truncate_path(path, cyto.inside(path, r_tub))
        if len(path) >= 2:
            painted += paint_capsules(labels, geom, path[:-1], path[1:], r_tub, LABELS["er"], only_cyto) > 0
    counts["er_tubule"] = (n, painted)
    stages.update()

    # Small vesicles: solid dense spheres.
    paint_spheres("vesicle", "vesicle", max(0.085 * scale, s), 0.05, 0.12)

    # -- surroundings --------------------------------------------------------------------
    if cap is not None:
        paint_capillary(labels, geom, cap)
    elif ice:
        labels[labels == LABELS["background"]] = LABELS["ice"]
    stages.update()
    stages.close()

    info = {
        "kind": "cell",
        "seed": seed,
        "cell_diameter_um": cell_diameter_um,
        "cell_center_um": cell.center.tolist(),
        "cell_radii_um": cell.radii.tolist(),
        "nucleus_center_um": nucleus.center.tolist(),
        "nucleus_radii_um": nucleus.radii.tolist(),
        "nucleoli": nucleoli,
        "organelles": {k: {"placed": int(a), "in_volume": int(b)} for k, (a, b) in counts.items()},
    }
    if cap is not None:
        info["capillary"] = {"inner_radius_um": cap.inner_radius_um, "outer_radius_um": cap.outer_radius_um}
    return phantom_from_labels(labels, geom, energy_ev, materials, info)
