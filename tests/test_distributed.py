"""Scale-out on Dask distributed: batches, sweeps, slab-distributed CGLS (one shared LocalCluster)."""

import csv
import os
import signal
import threading
import time

import numpy as np
import pytest

import isxt
from isxt.cli import main
from isxt.errors import InputError
from isxt.io import read_volume
from isxt.reconstruct import Scan, build_operator, reconstruct

from _helpers import ROOT, make_example, smooth_phantom

distributed = pytest.importorskip("distributed")

TINY = dict(volume_shape=(4, 24, 24), n_interior=12, interior_cols=12, n_sparse=6, photons=None, dual=None,
            iterations=4, write_phantom=False, calibration=False)


@pytest.fixture(scope="module")
def client():
    """One LocalCluster of 2 worker processes (1 thread each) for the whole module."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


# -- options, no cluster ------------------------------------------------------------
def test_scheduler_spec_parsing():
    from isxt.distributed import parse_scheduler

    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("tcp://10.1.2.3:8786") == ("address", "tcp://10.1.2.3:8786")
    with pytest.raises(InputError, match="positive worker count"):
        parse_scheduler("local:0")
    with pytest.raises(InputError, match="neither"):
        parse_scheduler("cluster")


def test_scheduler_without_dask_is_one_error_line(monkeypatch, tmp_path, capsys):
    import isxt.distributed.cluster as cluster

    monkeypatch.setattr(cluster, "dask_available", lambda: False)
    make_example.generate(tmp_path, **TINY)
    toml = str(tmp_path / "acquisition.toml")
    assert main(["experiment", "sampling", "--size", "test", "-o", str(tmp_path / "e"), "--scheduler", "local:2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'isxt[dask]'" in err[0]
    assert main(["reconstruct", toml, toml, "-o", str(tmp_path / "o"), "--scheduler", "local:2"]) == 2


def test_slabs_need_a_scheduler(tmp_path, capsys):
    make_example.generate(tmp_path, **TINY)
    assert main(["reconstruct", str(tmp_path / "acquisition.toml"), "--slabs", "2", "--no-progress"]) == 2
    assert "needs a Dask scheduler" in capsys.readouterr().err


def test_slab_operators_sum_to_the_single_process_operator():
    """Σ_s embed(A_s x_s) = A x and A_sᵀ r[held rows] = (Aᵀ r)[slab]: PSF, rows beyond the volume, v-shifts, 2× pixels."""
    from isxt.distributed.slabs import SlabScanOperator, plan_scan_rows, slab_bounds

    rng = np.random.default_rng(1)
    vol = isxt.VolumeGeometry((13, 30, 30), 0.05, (0.01, 0.02, 0.03))
    for pixel, psf in [(0.05, None), (0.1, None), (0.05, 0.15), (0.1, 0.3)]:
        g = isxt.ScanGeometry.full_field(vol, 7, pixel, rows=int(round(0.65 / pixel)) + 3)
        g = g.with_shifts(np.c_[rng.normal(0, 0.02, 7), rng.normal(0, 0.06, 7)])
        scan = Scan(g, np.zeros(g.shape, np.float32), psf=psf)
        A, k = build_operator(scan, vol), scan.kernel()
        x = rng.random(vol.shape, dtype=np.float32)
        r = rng.random(g.shape, dtype=np.float32)
        y, aty = A.forward(x), A.adjoint(r)
        for n in (2, 5):
            bounds = slab_bounds(vol.nz, n)
            plans = plan_scan_rows(g, vol, bounds, None if k is None else k.shape)
            total, owners = np.zeros_like(y), np.zeros(g.rows, int)
            for (k0, k1), rows in zip(bounds, plans):
                op = SlabScanOperator(g, vol, (k0, k1), rows, k)
                h0, h1 = rows.held
                total[:, h0:h1] += op.forward(x[k0:k1])
                owners[rows.owned[0]:rows.owned[1]] += 1
                assert rows.held[0] <= rows.owned[0] and rows.owned[1] <= rows.held[1]
                np.testing.assert_allclose(op.adjoint(r[:, h0:h1]), aty[k0:k1], rtol=1e-5, atol=1e-6 * abs(aty).max())
            np.testing.assert_allclose(total, y, rtol=1e-5, atol=1e-6 * abs(y).max())
            assert np.all(owners == 1)  # every data row owned by exactly one worker


# -- slab-distributed CGLS ------------------------------------------------------------
def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.slow
def test_slab_cgls_equals_single_process_on_the_shipped_example(client):
    from isxt.acquisition import load_acquisition, prepare_scans
    from isxt.distributed.slab_cgls import reconstruct_slabs

    acq = load_acquisition(ROOT / "examples" / "combined_small" / "acquisition.toml")
    scans = prepare_scans(acq).scans
    # pwls: CGLS on the Poisson-weighted rows (photons from the file); fewer iterations to keep the suite short
    for method, iterations in (("cgls", 20), ("pwls", 8)):
        ref, info_ref = reconstruct(scans, acq.volume, method=method, iterations=iterations, return_info=True)
        x, info = reconstruct_slabs(scans, acq.volume, client, 2, method=method, iterations=iterations,
                                    checkpoint_every=7, return_info=True)
        assert _rel(x, ref) < 1e-4, method
        np.testing.assert_allclose(info["residual_history"], info_ref["residual_history"], rtol=1e-4)


@pytest.mark.slow
def test_slab_cgls_equals_single_process_with_psf_and_vshifts(client):
    """Data simulated on a 2× finer grid (not the reconstruction operator); PSF, v-shifts, weights, 3 slabs."""
    from isxt.distributed.slab_cgls import reconstruct_slabs

    rng = np.random.default_rng(3)
    vol = isxt.VolumeGeometry((12, 32, 32), 0.05)
    fine = isxt.VolumeGeometry((24, 64, 64), 0.025)
    truth = smooth_phantom(fine) * 0.5
    scans = []
    for name, geom, psf, w in [
        ("sparse", isxt.ScanGeometry.full_field(vol, 9, 0.1), 0.25, 0.5),
        ("interior", isxt.ScanGeometry.interior(vol, 24, 0.05, 0.9, (0.2, -0.1)), 0.12, None),
    ]:
        geom = geom.with_shifts(np.c_[rng.normal(0, 0.02, geom.n_angles), rng.normal(0, 0.04, geom.n_angles)])
        y = build_operator(Scan(geom, np.zeros(geom.shape, np.float32), psf=psf), fine).forward(truth)
        y = y + rng.normal(0, 0.01 * y.std(), y.shape).astype(np.float32)
        scans.append(Scan(geom, y, name=name, psf=psf, weights=w))
    for method, iterations in (("cgls", 20), ("sirt", 8)):
        ref = reconstruct(scans, vol, method=method, iterations=iterations)
        x = reconstruct_slabs(scans, vol, client, 3, method=method, iterations=iterations)
        assert _rel(x, ref) < 1e-4, method


@pytest.mark.slow
def test_slab_solve_resumes_from_its_checkpoint_after_a_killed_worker(client, tmp_path):
    from isxt.distributed.slab_cgls import reconstruct_slabs

    vol = isxt.VolumeGeometry((8, 24, 24), 0.05)
    g = isxt.ScanGeometry.full_field(vol, 10, 0.05)
    y = build_operator(Scan(g, np.zeros(g.shape, np.float32)), isxt.VolumeGeometry((16, 48, 48), 0.025)).forward(
        smooth_phantom(isxt.VolumeGeometry((16, 48, 48), 0.025)))
    scans = [Scan(g, y, psf=0.1)]
    ref = reconstruct_slabs(scans, vol, client, 2, iterations=12, checkpoint_every=5)
    pids = client.run(os.getpid)
    killed = []

    def kill_at_8(k, x, residual):
        if k == 8:
            victim = sorted(pids)[1]
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    x = reconstruct_slabs(scans, vol, client, 2, iterations=12, checkpoint_every=5, callback=kill_at_8,
                          checkpoint_dir=tmp_path / "ckpt")
    assert killed and (tmp_path / "ckpt" / "iteration.txt").read_text().strip() == "10"
    np.testing.assert_array_equal(x, ref)  # recomputed from the iteration-5 checkpoint, the same arithmetic
    client.wait_for_workers(2, timeout=60)


# -- batches ----------------------------------------------------------------------------
def _three_acquisitions(tmp_path, broken=True):
    paths = []
    for i, roi in enumerate([(0.1, -0.05), (-0.1, 0.05), (0.05, 0.1)]):
        d = tmp_path / f"cell{i}"
        make_example.generate(d, roi_center_um=roi, seed=i, **TINY)
        p = d / "acquisition.toml"
        p = p.rename(d / f"cell{i}.toml")
        paths.append(p)
    if broken:
        (tmp_path / "cell1" / "sparse.mrc").write_bytes(b"not an mrc file")
    return paths


@pytest.mark.slow
def test_batch_with_a_broken_acquisition(client, tmp_path, capsys):
    paths = _three_acquisitions(tmp_path)
    out = tmp_path / "out"
    rc = main(["reconstruct", *map(str, paths), "-o", str(out), "--scheduler", client.scheduler.address,
               "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["cell0", "cell2"]
    assert (out / "cell0" / "volume.mrc").exists() and (out / "cell2" / "volume.mrc").exists()
    assert not (out / "cell1").exists()
    lines = text.splitlines()
    assert lines[0].split() == ["name", "status", "time", "output"]
    status = {line.split()[0]: line.split()[1] for line in lines[2:5]}
    assert status == {"cell0": "ok", "cell1": "failed", "cell2": "ok"}
    assert "2 of 3 acquisitions done, 1 failed" in text


@pytest.mark.slow
def test_batch_survives_a_killed_worker(client, tmp_path, capsys):
    paths = _three_acquisitions(tmp_path, broken=False)
    for p in paths:  # enough iterations that the kill lands mid-task
        p.write_text(p.read_text().replace("iterations = 4", "iterations = 200"))
    assert main(["reconstruct", *map(str, paths), "-o", str(tmp_path / "serial"), "--no-progress"]) == 0
    pids = client.run(os.getpid)

    killed = []

    def kill_a_busy_worker():
        deadline = time.time() + 60
        while time.time() < deadline:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                time.sleep(0.2)  # inside the task (each takes seconds), whatever the machine's speed
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    rc = main(["reconstruct", *map(str, paths), "-o", str(tmp_path / "dask"), "--scheduler", client.scheduler.address,
               "--no-progress"])
    killer.join()
    assert rc == 0, capsys.readouterr()
    assert killed, "no worker was busy to be killed"
    deadline = time.time() + 60  # the nanny restarts the killed worker; wait until the cluster is whole again
    while True:
        now = client.run(os.getpid, on_error="ignore")
        if len(now) == len(pids) and all(isinstance(v, int) for v in now.values()) or time.time() > deadline:
            break
        time.sleep(0.2)
    assert set(now.values()) != set(pids.values())  # a worker really was replaced
    for p in paths:
        a, _ = read_volume(tmp_path / "serial" / p.stem / "volume.mrc")
        b, _ = read_volume(tmp_path / "dask" / p.stem / "volume.mrc")
        np.testing.assert_array_equal(a, b)
    client.wait_for_workers(2, timeout=60)


@pytest.mark.slow
def test_reconstruct_cli_with_slabs_equals_serial(client, tmp_path, capsys):
    make_example.generate(tmp_path, **{**TINY, "volume_shape": (6, 24, 24)})
    toml = str(tmp_path / "acquisition.toml")
    assert main(["reconstruct", toml, "-o", str(tmp_path / "serial"), "--no-progress"]) == 0
    assert main(["reconstruct", toml, "-o", str(tmp_path / "dry"), "--slabs", "2", "--scheduler", "local:2",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "worker for slab 1: slices 3..5" in out and "peak memory" in out
    assert main(["reconstruct", toml, "-o", str(tmp_path / "slabs"), "--no-progress", "--slabs", "2",
                 "--scheduler", client.scheduler.address]) == 0
    a, _ = read_volume(tmp_path / "serial" / "volume.mrc")
    b, _ = read_volume(tmp_path / "slabs" / "volume.mrc")
    assert _rel(b, a) < 1e-4


@pytest.mark.slow
def test_align_batch_serial(tmp_path, capsys):
    """Without a scheduler a batch runs in this process; a missing file fails alone."""
    paths = []
    for i in range(2):
        make_example.generate(tmp_path / f"c{i}", **{**TINY, "volume_shape": (12, 48, 48), "n_interior": 30,
                                                     "interior_cols": 24, "n_sparse": 8, "seed": i})
        paths.append((tmp_path / f"c{i}" / "acquisition.toml").rename(tmp_path / f"c{i}" / f"c{i}.toml"))
    rc = main(["align", *map(str, paths), str(tmp_path / "missing.toml"), "-o", str(tmp_path / "out"),
               "--iterations", "1"])
    assert rc == 1
    for i in range(2):
        assert (tmp_path / "out" / f"c{i}" / "interior_shifts.csv").exists()
    assert "2 of 3 acquisitions done, 1 failed" in capsys.readouterr().out


# -- sweeps -----------------------------------------------------------------------------
@pytest.mark.slow
def test_experiment_sampling_on_local_cluster_gives_the_serial_csv(tmp_path):
    assert main(["experiment", "sampling", "--size", "test", "-o", str(tmp_path / "serial"), "--no-progress"]) == 0
    assert main(["experiment", "sampling", "--size", "test", "-o", str(tmp_path / "dask"), "--no-progress",
                 "--scheduler", "local:2"]) == 0
    assert (tmp_path / "serial" / "sampling.csv").read_text() == (tmp_path / "dask" / "sampling.csv").read_text()
    with open(tmp_path / "dask" / "sampling.csv") as f:
        assert len(list(csv.DictReader(f))) == 4


@pytest.mark.slow
def test_experiment_with_noise_on_the_cluster_gives_the_serial_csv(client, tmp_path):
    """fractionation: every (dose, views) point a Dask task, its Poisson noise from its own seed — same numbers."""
    assert main(["experiment", "fractionation", "--size", "test", "-o", str(tmp_path / "serial"), "--no-progress"]) == 0
    assert main(["experiment", "fractionation", "--size", "test", "-o", str(tmp_path / "dask"), "--no-progress",
                 "--scheduler", client.scheduler.address]) == 0
    serial = (tmp_path / "serial" / "fractionation.csv").read_text()
    assert serial == (tmp_path / "dask" / "fractionation.csv").read_text() and serial.count("\n") == 9
