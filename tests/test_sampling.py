"""Band-limited Radon sampling (App. B.3): the bow-tie, captured power and the paper's view counts."""

import numpy as np
import pytest

from isxt.errors import InputError
from isxt.optics import XM2_35NM, XM2_60NM
from isxt.sampling import (
    angles_for_power,
    bowtie_plot,
    cumulative_power,
    nyquist_angles,
    otf_cutoff,
    otf_power_fraction,
    otf_zone_plate,
    radon_spectrum_point,
    radon_spectrum_point_numeric,
)


def test_bessel_spectrum_matches_fft_of_a_sampled_point_sinogram():
    """Eq. 17–18 (|J_kθ(2π r0 f)|) equals the FFT over angle of exp(−2πi f r0 cos θ)."""
    for r0, phi0 in ((37.0, 0.0), (60.5, 1.1)):
        analytic = radon_spectrum_point(r0, n_u=128)
        numeric = radon_spectrum_point_numeric(r0, n_u=128, n_angles=2 * (analytic.shape[0] - 1), phi0=phi0)
        np.testing.assert_allclose(numeric, analytic, atol=1e-10)


def test_bow_tie_is_empty_beyond_2pi_r0_fmax():
    """|F| is negligible for |k_θ| > 1.2 · 2π r0 f_max, with f_max the Nyquist or the OTF cut-off."""
    r0, n_u = 400, 801
    spectrum = radon_spectrum_point(r0, n_u=n_u, n_angles_max=1800)
    limit = int(np.ceil(1.2 * 2 * np.pi * r0 * 0.5))
    assert spectrum[limit:].max() < 1e-6 * spectrum.max()
    assert spectrum[: int(2 * np.pi * r0 * 0.5)].max() > 0.1  # ... but not before
    freqs = np.arange(n_u // 2 + 1) / n_u
    otf = otf_zone_plate(freqs, XM2_60NM, 0.02, convention="ideal")
    limited = radon_spectrum_point(r0, n_u=n_u, n_angles_max=1800, otf=otf)
    f_max = XM2_60NM.mtf_cutoff * 0.02
    assert limited[int(np.ceil(1.2 * 2 * np.pi * r0 * f_max)) :].max() < 1e-6 * limited.max()


def test_cumulative_power_is_monotone_and_complete():
    r0, n_u = 100, 201
    freqs = np.arange(n_u // 2 + 1) / n_u
    otf = otf_zone_plate(freqs, XM2_60NM, 0.02)
    spectrum = radon_spectrum_point(r0, n_u=n_u, n_angles_max=500, otf=otf)
    cum = cumulative_power(spectrum, column_power=otf**2)  # exact totals from Σ_n J_n² = 1
    assert np.all(np.diff(cum) >= 0)
    assert cum[0] < 0.1
    assert cum[-1] == pytest.approx(1.0, abs=1e-9)
    assert cumulative_power(spectrum)[-1] == pytest.approx(1.0)
    # almost all of it is inside the bow-tie of the OTF cut-off
    assert cum[int(np.ceil(2 * np.pi * r0 * otf_cutoff(XM2_60NM) * 0.02)) + 5] > 0.999


def test_otf_power_fraction_is_a_cdf():
    f = np.linspace(0, otf_cutoff(XM2_60NM), 50)
    frac = otf_power_fraction(f, XM2_60NM)
    assert frac[0] == 0.0 and frac[-1] == pytest.approx(1.0)
    assert np.all(np.diff(frac) > 0)
    assert otf_zone_plate(0.0, XM2_35NM, 0.02) == 1.0


def test_paper_view_count_for_the_60nm_lens():
    """Fig. 11: 801-px field, R = 400 px, 20 nm grid, 98 % of the OTF power → 656 views."""
    f_cut, n_angles = angles_for_power(XM2_60NM, radius_px=400, pixel_size_um=0.02, fraction=0.98)
    assert n_angles == pytest.approx(656, rel=0.02)
    assert otf_power_fraction(f_cut, XM2_60NM) == pytest.approx(0.98, abs=1e-4)
    assert n_angles == int(np.ceil(2 * np.pi * 8.0 * f_cut))  # N_a = 2π R f_cut, R = 8 µm
    # the ideal zone plate's cut-off (1/OZW) is 1.22× lower than the paper's convention
    f_ideal, n_ideal = angles_for_power(XM2_60NM, convention="ideal")
    assert f_cut / f_ideal == pytest.approx(1.22, rel=2e-3)
    assert n_ideal < n_angles
    with pytest.raises(InputError):
        angles_for_power(XM2_60NM, convention="other")


def test_35nm_lens_against_detector_nyquist():
    """The paper quotes 1256 (= 2πR·0.5, the 20 nm grid's Nyquist); 98 % of the OTF needs fewer."""
    assert nyquist_angles(400) == 1257
    f_cut, n_angles = angles_for_power(XM2_35NM)
    assert f_cut < 25.0 and n_angles < nyquist_angles(400)
    # a lens finer than the grid is capped at the Nyquist frequency
    f_fine, n_fine = angles_for_power(XM2_35NM, pixel_size_um=0.04, radius_px=200)
    assert f_fine == pytest.approx(12.5) and n_fine == nyquist_angles(200)


def test_bowtie_plot_writes_png(tmp_path):
    out = tmp_path / "bowtie.png"
    result = bowtie_plot(XM2_60NM, out, radius_px=60, n_u=121)
    assert out.stat().st_size > 1000
    assert set(result) == {35, 60}
    assert result[60]["n_angles"] == angles_for_power(XM2_60NM, radius_px=60)[1]
    assert 0.9 < result[60]["power_at_n_angles"] <= 1.0
