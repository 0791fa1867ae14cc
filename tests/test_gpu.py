"""The GPU path: ASTRA's CUDA projectors and solvers on device (cupy) arrays.

Most tests here need a CUDA build of ASTRA, a GPU and cupy, and skip without
them; the device-selection errors are checked everywhere.
"""

import functools
import os

import numpy as np
import pytest

import isxt
from isxt.errors import InputError
from isxt.operators import adjoint_mismatch
from isxt.reconstruct import Scan, build_operator, resolve_device

from _helpers import make_example, smooth_phantom


def _gpu_problem():
    """None when the GPU path can run, else why not (cupy, ASTRA's CUDA)."""
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
    except ImportError:
        return "cupy is not installed: pip install 'isxt[gpu]'"
    except cupy.cuda.runtime.CUDARuntimeError as exc:
        return f"cupy sees no GPU: {exc}"
    from isxt.projectors.astra import cuda_problem

    return cuda_problem()


PROBLEM = _gpu_problem()
GPU = PROBLEM is None
# `make test-gpu` sets ISXT_REQUIRE_GPU=1: on a host meant to have a GPU, a
# missing one is a failure with its reason, never a quiet skip.
REQUIRE_GPU = os.environ.get("ISXT_REQUIRE_GPU") == "1"


def needs_gpu(test):
    if GPU:
        return test
    if REQUIRE_GPU:
        @functools.wraps(test)  # keeps the test's parameters and fixtures
        def failing(*args, **kwargs):
            pytest.fail(f"ISXT_REQUIRE_GPU=1 but the GPU path is unusable: {PROBLEM}")

        return failing
    return pytest.mark.skip(reason=f"needs ASTRA with CUDA, a GPU and cupy: {PROBLEM}")(test)


def test_gpu_required_is_present():
    """Under ``make test-gpu`` the GPU must answer (elsewhere this checks the probe gives a reason)."""
    if REQUIRE_GPU:
        assert GPU, PROBLEM
    else:
        assert GPU or (isinstance(PROBLEM, str) and PROBLEM)


VOL = isxt.VolumeGeometry((8, 64, 64), 0.08, center_um=(0.1, -0.1, 0.05))


def _scan(kind):
    if kind == "sparse-4x":
        return isxt.ScanGeometry.full_field(VOL, 9, 0.32, arc="360")
    if kind == "sparse-2x":
        return isxt.ScanGeometry.full_field(VOL, 9, 0.16, arc="360")
    if kind == "interior-off-centre":
        return isxt.ScanGeometry.interior(VOL, 60, 0.08, roi_diameter_um=2.4, roi_center_um=(0.9, -0.6))
    scan = isxt.ScanGeometry.interior(VOL, 60, 0.04, roi_diameter_um=2.0, roi_center_um=(-0.5, 0.4))
    return scan.with_shifts(np.random.default_rng(5).uniform(-0.1, 0.1, (60, 2)))


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# -- device selection (everywhere) --------------------------------------------------
def test_auto_device_is_cpu_for_numba():
    assert resolve_device("auto", "numba") == "cpu"
    assert resolve_device("cpu", "astra") == "cpu"


def test_gpu_device_needs_astra():
    with pytest.raises(InputError, match="needs backend='astra'"):
        resolve_device("gpu", "numba")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu", "numba")


@pytest.mark.skipif(GPU, reason="checks the error on a host without a usable GPU")
def test_gpu_device_without_a_gpu_is_one_clear_error():
    with pytest.raises(InputError, match="device='gpu' needs"):
        resolve_device("gpu", "astra")
    assert resolve_device("auto", "astra") == "cpu"


# -- ASTRA's CUDA projectors follow isxt's contract -------------------------------
@needs_gpu
@pytest.mark.parametrize("kind", ["sparse-4x", "sparse-2x", "interior-off-centre", "interior-fine-shifted"])
def test_gpu_projector_matches_numba(kind):
    """Forward and back projections agree with the exact-footprint CPU kernels."""
    scan = _scan(kind)
    x = smooth_phantom(VOL)
    cpu, gpu = isxt.projector(VOL, scan), isxt.projector(VOL, scan, backend="astra")
    assert gpu.use_gpu
    assert _rel(gpu.forward(x), cpu.forward(x)) < 0.02
    y = cpu.forward(x)
    assert _rel(gpu.adjoint(y), cpu.adjoint(y)) < 0.03
    assert adjoint_mismatch(gpu) < 1e-2


@needs_gpu
def test_device_arrays_stay_on_the_device():
    import cupy

    scan = _scan("interior-off-centre")
    gpu = isxt.projector(VOL, scan, backend="astra")
    x = smooth_phantom(VOL)
    yd = gpu.forward(cupy.asarray(x))
    assert isinstance(yd, cupy.ndarray) and yd.shape == scan.shape
    # same model; the two paths differ only in float32 summation order and in how ASTRA
    # stages host arrays (texture interpolation has ~1e-3 precision)
    np.testing.assert_allclose(yd.get(), gpu.forward(x), rtol=1e-3, atol=1e-4)
    xd = gpu.adjoint(yd)
    assert isinstance(xd, cupy.ndarray) and xd.shape == VOL.shape
    np.testing.assert_allclose(xd.get(), gpu.adjoint(yd.get()), rtol=1e-3, atol=1e-4)


def _combined_scans(psf=True, noise=0.01):
    """Simulated interior + sparse data, with Gaussian noise (a fraction of the peak) so that
    neither backend profits from having simulated the data with its own model."""
    rng = np.random.default_rng(7)
    x = smooth_phantom(VOL)
    interior = _scan("interior-off-centre")
    sparse = _scan("sparse-2x")
    kernel = 0.12 if psf else None
    scans = []
    for name, g in (("interior", interior), ("sparse", sparse)):
        s = Scan(g, np.zeros(g.shape, np.float32), name=name, psf=kernel, photons=2000.0)
        clean = build_operator(s, VOL).forward(x)
        s.data = (clean + noise * clean.max() * rng.standard_normal(clean.shape)).astype(np.float32)
        scans.append(s)
    return x, scans


@needs_gpu
@pytest.mark.parametrize("method", ["cgls", "sirt", "pwls", "osem", "cgls-preconditioned"])
def test_reconstruct_on_the_gpu_matches_the_cpu(method):
    truth, scans = _combined_scans()
    method, _, pre = method.partition("-")
    kw = dict(method=method, iterations=15, n_subsets=3, precondition=bool(pre))
    x_gpu, info = isxt.reconstruct(scans, VOL, backend="astra", device="gpu", return_info=True, **kw)
    x_cpu = isxt.reconstruct(scans, VOL, **kw)
    assert info["device"] == "gpu" and isinstance(x_gpu, np.ndarray) and x_gpu.dtype == np.float32
    assert abs(isxt.metrics.psnr(x_gpu, truth) - isxt.metrics.psnr(x_cpu, truth)) < 1.0
    assert _rel(x_gpu, x_cpu) < 0.05


@needs_gpu
def test_oracle_and_discrepancy_stop_on_device_iterates():
    from isxt.solvers import Oracle

    truth, scans = _combined_scans(psf=False, noise=0.0)
    oracle = Oracle(truth)
    x, info = isxt.reconstruct(scans, VOL, backend="astra", device="gpu", iterations=30, stop=oracle,
                               return_info=True)
    assert 1 <= oracle.best_iteration <= 30
    assert isxt.metrics.psnr(x, truth) == pytest.approx(oracle.best_value, abs=1e-3)
    _, info = isxt.reconstruct(scans, VOL, backend="astra", device="gpu", iterations=30, stop="discrepancy",
                               return_info=True)
    assert info["iterations"] < 30  # noiseless data reach the noise level early


@needs_gpu
def test_cli_reconstructs_on_the_gpu(tmp_path, capsys):
    """`isxt reconstruct` with backend = "astra", device = "gpu" agrees with the CPU run."""
    import json

    from isxt.cli import main
    from isxt.io import read_volume

    make_example.generate(tmp_path, volume_shape=(8, 48, 48), n_interior=60, interior_cols=24, n_sparse=9,
                          photons=None, dual=None, iterations=10, write_phantom=False, calibration=False)
    toml = tmp_path / "acquisition.toml"
    text = toml.read_text()
    assert main(["reconstruct", str(toml), "--no-progress"]) == 0, capsys.readouterr().err
    cpu, _ = read_volume(tmp_path / "recon" / "volume.mrc")
    assert 'backend = "numba"' in text
    toml.write_text(text.replace('backend = "numba"', 'backend = "astra"\ndevice = "gpu"')
                    .replace('dir = "recon"', 'dir = "recon_gpu"'))
    assert main(["reconstruct", str(toml), "--no-progress"]) == 0, capsys.readouterr().err
    gpu, _ = read_volume(tmp_path / "recon_gpu" / "volume.mrc")
    assert _rel(gpu, cpu) < 0.05
    prov = json.loads((tmp_path / "recon_gpu" / "provenance.json").read_text())
    assert prov["result"]["device"] == "gpu"
