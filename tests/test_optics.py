"""Zone-plate optics against Born & Wolf: normalisation, Airy and axial forms, Lommel vs quadrature, OTF."""

import numpy as np
import pytest
from scipy import integrate, optimize, special

from isxt.errors import InputError
from isxt.optics import (
    FWHM_FACTOR,
    RAYLEIGH_FACTOR,
    XM2_35NM,
    XM2_60NM,
    ZonePlate,
    ideal_otf,
    lommel_intensity,
    psf_direct,
    wavelength_um,
)


def test_xm2_first_order_optics():
    """λ = hc/E, NA = λ/2Δr, Rayleigh = 1.22Δr, DOF = λ/NA², cut-off 1/Δr, f = DΔr/λ."""
    lam = wavelength_um(517.0)
    assert lam == pytest.approx(1.239841984 / 517.0, rel=1e-8)  # 2.398 nm
    for zp, ozw, diameter in ((XM2_35NM, 0.035, 60.0), (XM2_60NM, 0.060, 72.0)):
        assert zp.na == pytest.approx(lam / (2 * ozw))
        assert zp.resolution == pytest.approx(0.61 * lam / zp.na, rel=1e-3)
        assert zp.resolution == pytest.approx(1.22 * ozw, rel=1e-3)
        assert zp.depth_of_field == pytest.approx(4 * ozw**2 / lam)
        assert zp.mtf_cutoff == pytest.approx(1 / ozw)
        assert zp.focal_length == pytest.approx(diameter * ozw / lam)
    assert XM2_35NM.depth_of_field == pytest.approx(2.043, abs=2e-3)
    assert XM2_60NM.depth_of_field == pytest.approx(6.005, abs=2e-3)
    # the authors' focal lengths at 550 eV
    assert XM2_35NM.focal_length_at(wavelength_um(550.0)) == pytest.approx(931, rel=2e-3)
    assert XM2_60NM.focal_length_at(wavelength_um(550.0)) == pytest.approx(1916, rel=2e-3)
    assert ZonePlate(0.035, n_zones=100).diameter_um == pytest.approx(14.0)


def test_bad_zone_plates_raise():
    with pytest.raises(InputError):
        ZonePlate(-0.03)
    with pytest.raises(InputError):
        ZonePlate(0.03, diameter_um=50, n_zones=10)
    with pytest.raises(InputError):
        ZonePlate.xm2(40)
    with pytest.raises(InputError):
        ZonePlate(0.03).psf_2d(1.0, 0.02)  # polychromatic needs a focal length
    with pytest.raises(InputError):
        XM2_35NM.psf_2d(0.0, 0.02, size=10)


@pytest.mark.parametrize("u", [0.0, 1.0, 4 * np.pi, 15.0, 40.0])
def test_lommel_form_matches_direct_quadrature(u):
    """Closed form (Lommel U/V series) and pupil quadrature agree to 1e-4 of the peak."""
    v = np.linspace(0.0, 40.0, 801)
    lommel = lommel_intensity(u, v)
    direct = psf_direct(u, v)
    assert np.max(np.abs(lommel - direct)) < 1e-4
    # and across the u = v boundary where the series switch
    w = np.linspace(u * 0.9, u * 1.1 + 0.1, 41)
    assert np.max(np.abs(lommel_intensity(u, w) - psf_direct(u, w))) < 1e-4


def test_focal_plane_and_axis_limits():
    """u = 0 is the Airy pattern, v = 0 is (sin(u/4)/(u/4))²; the PSF is even in u."""
    v = np.linspace(0.01, 20, 200)
    np.testing.assert_allclose(lommel_intensity(0.0, v), (2 * special.j1(v) / v) ** 2, atol=1e-12)
    u = np.linspace(0.1, 60, 300)
    np.testing.assert_allclose(lommel_intensity(u, 0.0), (np.sin(u / 4) / (u / 4)) ** 2, atol=1e-12)
    np.testing.assert_allclose(lommel_intensity(-u, 3.0), lommel_intensity(u, 3.0), atol=1e-14)
    assert lommel_intensity(0.0, 0.0) == 1.0


def test_continuous_plane_integrates_to_one():
    """∫ density 2πr dr = 1 in focus and out of focus (energy conservation)."""
    zp = XM2_35NM
    v_max = 800.0
    r = np.linspace(0.0, v_max * zp.wavelength / (2 * np.pi * zp.na), 32001)
    for z in (0.0, 0.8, 2.5):
        density = zp.density(r, z, polychromatic=False)
        total = integrate.trapezoid(density * 2 * np.pi * r, r)
        # the Airy tail beyond v_max holds ≈ 2/(π v_max) ≈ 8e-4 of the power
        assert total == pytest.approx(1.0 - 2 / (np.pi * v_max), abs=6e-4)


def test_psf_kernels_sum_to_one_and_are_odd():
    for zp in (XM2_35NM, XM2_60NM):
        for z in (0.0, -1.0, 3.0):
            for poly in (True, False):
                k = zp.psf_2d(z, 0.02, polychromatic=poly)
                assert k.dtype == np.float32 and k.ndim == 2
                assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
                assert k.sum() == pytest.approx(1.0, abs=1e-5)
                np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)  # radially symmetric


def test_airy_first_zero_and_fwhm():
    """In focus: first dark ring at 0.61 λ/NA (2%), FWHM 0.51 λ/NA (3%)."""
    zp = XM2_60NM.monochromatic()
    unit = zp.wavelength / zp.na

    def profile(r):
        return zp.density(r, 0.0, polychromatic=False)

    r_zero = optimize.minimize_scalar(profile, bounds=(0.45 * unit, 0.75 * unit), method="bounded").x
    assert r_zero / unit == pytest.approx(0.61, rel=0.02)
    assert profile(r_zero) / profile(0.0) < 1e-8
    r_half = optimize.brentq(lambda r: profile(r) - 0.5 * profile(0.0), 0.0, 0.5 * unit)
    assert 2 * r_half / unit == pytest.approx(0.51, rel=0.03)
    assert RAYLEIGH_FACTOR == pytest.approx(0.61, rel=2e-3) and FWHM_FACTOR == pytest.approx(0.5145, rel=1e-3)
    # the same width measured on a finely pixelated kernel
    p = zp.resolution / 40
    k = zp.psf_2d(0.0, p, size=161, polychromatic=False).astype(np.float64)
    row = k[80, 80:]
    half = np.interp(0.5 * row[0], row[::-1], np.arange(row.size)[::-1] * p)
    assert 2 * half / unit == pytest.approx(0.5145, rel=0.01)


def test_axial_profile_and_depth_of_field():
    """On axis I = (sin(u/4)/(u/4))²: first zero at z = 2λ/NA², 81 % at ±DOF/2."""
    zp = XM2_35NM
    dof = zp.depth_of_field
    z = np.linspace(-2.5 * dof, 2.5 * dof, 201)
    axial = zp.intensity(0.0, z)
    u = 2 * np.pi / zp.wavelength * zp.na**2 * z
    np.testing.assert_allclose(axial, np.sinc(u / (4 * np.pi)) ** 2, atol=1e-12)
    assert zp.intensity(0.0, 2 * dof) < 1e-20
    zero = optimize.minimize_scalar(lambda t: zp.intensity(0.0, t), bounds=(1.5 * dof, 2.5 * dof), method="bounded").x
    assert zero == pytest.approx(2 * zp.wavelength / zp.na**2, rel=1e-3)
    assert zp.intensity(0.0, dof / 2) == pytest.approx((np.sin(np.pi / 4) / (np.pi / 4)) ** 2, rel=1e-9)


def test_polychromatic_psf_is_elongated():
    """λ/Δλ = 300 smears the focus by f/(300·2.355) along the beam: the on-axis peak
    falls and the axial profile broadens, while the plane integrals stay 1."""
    zp = XM2_35NM
    wl, w, shifts = zp.spectrum(11)
    assert w.sum() == pytest.approx(1.0)
    assert np.sqrt(np.sum(w * shifts**2) - np.sum(w * shifts) ** 2) == pytest.approx(
        zp.focal_length / (300 * 2.3548), rel=0.01
    )
    z = np.linspace(-4 * zp.depth_of_field, 4 * zp.depth_of_field, 401)
    mono = zp.density(0.0, z, polychromatic=False)
    poly = zp.density(0.0, z, polychromatic=True)
    assert poly.max() < 0.9 * mono.max()

    def axial_fwhm(profile):
        above = z[profile >= 0.5 * profile.max()]
        return above.max() - above.min()

    assert axial_fwhm(poly) > 1.2 * axial_fwhm(mono)
    # with a nearly monochromatic source the two agree
    narrow = ZonePlate(0.035, diameter_um=60.0, monochromaticity=1e7)
    np.testing.assert_allclose(narrow.psf_2d(1.0, 0.02), XM2_35NM.psf_2d(1.0, 0.02, polychromatic=False), atol=1e-6)


def test_otf_of_psf_matches_analytic_pupil_autocorrelation():
    """FFT of a finely sampled in-focus PSF = (2/π)(arccos s − s√(1−s²)), 0 beyond 2NA/λ."""
    zp = XM2_60NM
    p = 0.005
    freqs, otf = zp.otf(p, size=301)
    f = freqs[: 150]
    measured = otf[0, :150].real / np.sinc(f * p)  # undo the pixel integration
    analytic = zp.ideal_otf(f)
    inside = f < 0.95 * zp.mtf_cutoff
    assert np.max(np.abs(measured[inside] - analytic[inside])) < 0.02
    assert np.max(np.abs(measured[f > 1.05 * zp.mtf_cutoff])) < 0.01
    assert ideal_otf(0.0, 1.0) == 1.0 and ideal_otf(1.0, 1.0) == 0.0
