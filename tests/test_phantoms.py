import mrcfile
import numpy as np
import pytest
import tifffile
import xraydb
from scipy import ndimage

from isxt.errors import InputError
from isxt.geometry import VolumeGeometry
from isxt.phantoms import (
    COMPONENTS,
    DEFAULT_MATERIALS,
    LABELS,
    Material,
    bacteria_phantom,
    cell_phantom,
    lac,
    load_phantom,
    wavelength_um,
)

# Independent reference values: elemental formulas and bulk densities written
# out here, not read from the package.
FORMULAS = {
    "protein": ("C4.9H7.7N1.3O1.5S0.04", 1.35),
    "lipid": ("C42H82NO8P", 1.01),
    "neutral_lipid": ("C55H98O6", 0.92),
    "nucleic_acid": ("C9.5H11.75N3.75O6P", 1.7),
    "carbohydrate": ("C6H10O5", 1.5),
    "water": ("H2O", 1.0),
    "pha": ("C4H6O2", 1.25),
    "silica": ("SiO2", 2.2),
}


def reference_lac(material, energy_ev):
    """Mixture rule from xraydb: µ = ρ Σ w_i (µ/ρ)_i, 1/cm -> 1/µm."""
    mu_rho = 0.0
    for name, w in material.fractions.items():
        formula, _ = FORMULAS[name]
        mu_rho += w * xraydb.material_mu(formula, energy_ev, density=1.0, kind="photo")
    return material.density * mu_rho * 1e-4


def test_component_table_matches_reference_formulas():
    assert set(COMPONENTS) == set(FORMULAS)
    for name, (formula, density) in FORMULAS.items():
        assert COMPONENTS[name].formula == formula
        assert COMPONENTS[name].density == density


@pytest.mark.parametrize("energy_ev", [517.0, 400.0])
def test_every_default_compartment_lac_follows_the_mixture_rule(energy_ev):
    for name, material in DEFAULT_MATERIALS.items():
        assert lac(material, energy_ev) == pytest.approx(reference_lac(material, energy_ev), rel=1e-9), name


def test_ideal_mixing_density():
    m = Material("test", protein=0.25, water=0.75)
    assert m.density == pytest.approx(1.0 / (0.25 / 1.35 + 0.75 / 1.0))
    # An explicit density wins and scales the LAC linearly.
    m2 = Material("test", density=2 * m.density, protein=0.25, water=0.75)
    assert lac(m2) == pytest.approx(2 * lac(m))


def test_bad_fractions_raise():
    with pytest.raises(InputError, match="sum to"):
        Material("bad", protein=0.5, water=0.4)
    with pytest.raises(InputError):
        Material("bad", protein=-0.1, water=1.1)


def test_water_window_values():
    mu = {name: lac(name) for name in DEFAULT_MATERIALS}
    assert 0.2 <= mu["cytoplasm"] <= 0.35
    assert 0.5 <= mu["lipid_droplet"] <= 0.8
    assert mu["lipid_droplet"] > mu["mitochondrion"] > mu["cytoplasm"]
    assert mu["nucleolus"] > mu["nucleoplasm"]
    # Amorphous ice in the water window: ~0.109 1/µm.
    assert mu["ice"] == pytest.approx(0.109, rel=0.1)
    # Carbon absorbs far more than oxygen below the O K-edge (543 eV), above it the contrast shrinks.
    assert lac("cytoplasm", 517.0) / lac("ice", 517.0) > 2 * lac("cytoplasm", 600.0) / lac("ice", 600.0)


def test_wavelength():
    assert wavelength_um(517.0) == pytest.approx(2.398e-3, rel=1e-3)


GEOM = VolumeGeometry((6, 96, 96), 0.1)


@pytest.fixture(scope="module")
def cell():
    return cell_phantom(GEOM, seed=3)


def test_cell_phantom_types_and_shapes(cell):
    assert cell.lac.shape == GEOM.shape and cell.lac.dtype == np.float32
    assert cell.labels.shape == GEOM.shape and cell.labels.dtype == np.uint8
    assert cell.geometry == GEOM
    names = set(cell.label_names.values())
    assert {"cytoplasm", "plasma_membrane", "nucleoplasm", "chromatin"} <= names


def test_cell_phantom_reproducible_and_seeded(cell):
    again = cell_phantom(GEOM, seed=3)
    other = cell_phantom(GEOM, seed=4)
    np.testing.assert_array_equal(cell.lac, again.lac)
    np.testing.assert_array_equal(cell.labels, again.labels)
    assert np.mean(cell.labels != other.labels) > 0.01


def test_cell_labels_carry_their_material_lac(cell):
    for idx, name in cell.label_names.items():
        values = cell.lac[cell.labels == idx]
        expected = 0.0 if name == "background" else reference_lac(cell.materials[name], cell.energy_ev)
        np.testing.assert_allclose(values, expected, rtol=1e-6, err_msg=name)


def test_cell_mean_lac_and_size(cell):
    interior = cell.labels >= LABELS["cytoplasm"]
    assert 0.25 <= cell.lac[interior].mean() <= 0.30
    # The default cell spans ~85 % of the xy extent.
    cols = np.flatnonzero(interior.any(axis=(0, 1)))
    assert 0.75 <= (cols[-1] - cols[0] + 1) / GEOM.nx <= 0.95


def test_cell_has_organelles_in_a_cube():
    ph = cell_phantom(VolumeGeometry((40, 48, 48), 0.2), seed=0)
    names = set(ph.label_names.values())
    assert {"mitochondrion", "lipid_droplet", "er", "vesicle", "endosome", "nucleolus", "nuclear_envelope"} <= names
    # The nucleus lies inside the cell: nothing nuclear touches the background.
    nuclear = ph.mask("nucleoplasm", "chromatin", "nucleolus", "nuclear_envelope")
    grown = ndimage.binary_dilation(nuclear)
    assert not np.any(grown & ph.mask("background"))


def test_capillary_and_ice():
    ph = cell_phantom(GEOM, seed=1, capillary=True)
    r = GEOM.radial_distance()
    cap = ph.info["capillary"]
    glass = ph.mask("glass")
    assert glass.any()
    assert np.all(r[glass.any(axis=0)] > cap["inner_radius_um"] - 1e-9)
    assert np.all(r[glass.any(axis=0)] <= cap["outer_radius_um"] + 1e-9)
    # Ice fills the lumen around the cell, vacuum is left only outside the tube.
    assert ph.mask("ice").any()
    outside = np.broadcast_to(r > cap["outer_radius_um"], GEOM.shape)
    assert np.all((ph.labels == LABELS["background"]) == outside)
    assert ph.lac_of("ice") == pytest.approx(0.1096, rel=1e-3)


def test_capillary_too_small_for_cell():
    with pytest.raises(InputError, match="capillary"):
        cell_phantom(GEOM, capillary=True, cell_diameter_um=9.5)


def test_bacteria_count_and_envelope():
    geom = VolumeGeometry((12, 160, 160), 0.05)
    ph = bacteria_phantom(geom, n_cells=8, seed=2)
    inside = ph.mask("bacterial_cytoplasm", "bacterial_granule")
    _, n = ndimage.label(inside)
    assert n == 8 == ph.info["n_cells"]
    # Every cytoplasm voxel is enclosed by envelope: no cytoplasm touches the background.
    assert not np.any(ndimage.binary_dilation(ph.mask("bacterial_cytoplasm")) & ph.mask("background"))
    for c in ph.info["cells"]:
        assert 0.5 <= 2 * c["radius_um"] <= 0.8
        assert 1.5 <= c["length_um"] <= 3.0 + 1e-9
    assert 0.3 < ph.lac[ph.labels > 0].mean() < 0.45


def test_bacteria_reproducible_and_capillary():
    geom = VolumeGeometry((8, 120, 120), 0.06)
    a = bacteria_phantom(geom, n_cells=5, seed=7, capillary=True)
    b = bacteria_phantom(geom, n_cells=5, seed=7, capillary=True)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.mask("glass").any() and a.mask("ice").any()
    with pytest.raises(InputError, match="could not fit"):
        bacteria_phantom(VolumeGeometry((4, 40, 40), 0.05), n_cells=40)


def test_load_phantom_mrc_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.random((5, 7, 9)).astype(np.float32)
    path = tmp_path / "vol.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 250.0  # Å
    ph = load_phantom(path)
    np.testing.assert_array_equal(ph.lac, data)
    assert ph.geometry.shape == (5, 7, 9)
    assert ph.geometry.voxel_size_um == pytest.approx(0.025)
    assert load_phantom(path, voxel_size_um=0.04).geometry.voxel_size_um == 0.04


def test_load_phantom_npy_and_tiff(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 100
    npy = tmp_path / "vol.npy"
    np.save(npy, data)
    with pytest.raises(InputError, match="voxel_size"):
        load_phantom(npy)
    ph = load_phantom(npy, voxel_size_um=0.02)
    np.testing.assert_array_equal(ph.lac, data)
    assert set(ph.label_names.values()) == {"background", "sample"}
    tif = tmp_path / "vol.tif"
    tifffile.imwrite(tif, data, imagej=True, resolution=(1 / 0.03, 1 / 0.03), metadata={"unit": "um"})
    assert load_phantom(tif).geometry.voxel_size_um == pytest.approx(0.03)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 2, 2, 2)))
    with pytest.raises(InputError, match="3-D"):
        load_phantom(bad, voxel_size_um=0.1)
    with pytest.raises(InputError, match="does not exist"):
        load_phantom(tmp_path / "missing.mrc")


def test_the_bacteria_sample_fits_the_small_simulation_volume():
    """isxt simulate --phantom bacteria --size small failed: 30 cells do not fit a 5 µm disc."""
    from isxt.phantoms.synthetic import PHANTOMS

    vol = VolumeGeometry((4, 128, 128), 0.04)
    lac = PHANTOMS["bacteria"](vol, 0)
    assert lac.shape == vol.shape and float(lac.max()) > 0.3  # cells with their dense envelope and granules
