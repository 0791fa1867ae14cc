"""The experiments' runner (outputs all or nothing, claims → exit status) and the one plotting home."""

import ast
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from isxt.cli import main
from isxt.errors import InputError, OutputError
from isxt.experiments import _runner as R
from isxt.experiments._common import claim

SRC = Path(__file__).resolve().parents[1] / "src" / "isxt"


def _fake(verdicts=(True,), fail_in=None):
    """An experiment module: one row, one claim per verdict, and an exception in step ``fail_in``."""
    calls = []

    def step(name, value):
        calls.append(name)
        if name == fail_in:
            raise InputError(f"{name} failed")
        return value

    def plot(path, result):
        step("plot", None)
        path.write_bytes(b"\x89PNG fake")

    mod = types.SimpleNamespace(
        NAME="fake", TITLE="A fake experiment", SIZES={"test": {}, "small": {}, "paper": {}},
        compute=lambda size, progress=True, seed=0: step("compute", {"rows": [{"a": 1, "b": 0.5}]}),
        claims=lambda result: step("claims", {f"c{i}": claim(v, f"claim {i}", value=i) for i, v in
                                              enumerate(verdicts)}),
        plot=plot,
        describe=lambda result: step("describe", {"what": "nothing", "table": "| a |"}),
        public=lambda result: {"extra": 42},
    )
    return mod, calls


@pytest.mark.parametrize("fail_in", ["compute", "claims", "describe", "plot"])
def test_runner_writes_nothing_when_a_step_fails(tmp_path, fail_in):
    mod, calls = _fake(fail_in=fail_in)
    with pytest.raises(InputError, match=f"{fail_in} failed"):
        R.run_experiment(mod, "test", tmp_path / "out", progress=False)
    assert calls[-1] == fail_in
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())  # no CSV, PNG or MD, no temporary file left


def test_runner_writes_three_files_and_checks_before_the_work(tmp_path):
    mod, calls = _fake()
    result = R.run_experiment(mod, "test", tmp_path, progress=False)
    assert (tmp_path / "fake.csv").read_text() == "a,b\n1,0.5\n"
    assert "`c0`: claim 0" in (tmp_path / "fake.md").read_text()
    assert result["extra"] == 42 and result["outputs"]["png"] == tmp_path / "fake.png"
    calls.clear()
    with pytest.raises(OutputError):  # existing outputs: refused before compute runs
        R.run_experiment(mod, "test", tmp_path, progress=False)
    assert calls == []
    with pytest.raises(InputError, match="size"):
        R.run_experiment(mod, "huge", tmp_path / "x", progress=False)


@pytest.mark.parametrize("verdicts, rc, summary", [
    ((True, True), 0, "2 passed, 0 failed, 0 undecided of 2 claims"),
    ((True, None), 0, "1 passed, 0 failed, 1 undecided of 2 claims"),
    ((True, False, None), 1, "1 passed, 1 failed, 1 undecided of 3 claims"),
])
def test_exit_status_is_1_exactly_when_a_claim_fails(tmp_path, monkeypatch, capsys, verdicts, rc, summary):
    import isxt.experiments

    mod, _ = _fake(verdicts)
    mod.run = lambda size, out_dir, progress, force: R.run_experiment(mod, size, out_dir, progress, force)
    monkeypatch.setitem(sys.modules, "isxt_fake_experiment", mod)
    monkeypatch.setitem(isxt.experiments.EXPERIMENTS, "fake", ("isxt_fake_experiment", "none"))
    assert main(["experiment", "fake", "--size", "test", "-o", str(tmp_path), "--no-progress"]) == rc
    out = capsys.readouterr().out
    assert f"fake: {summary}" in out and ("FAIL  c1: claim 1" in out) == (rc == 1)


def test_cli_experiment_failure_writes_nothing(tmp_path, monkeypatch, capsys):
    import isxt.experiments

    mod, _ = _fake(fail_in="plot")
    mod.run = lambda size, out_dir, progress, force: R.run_experiment(mod, size, out_dir, progress, force)
    monkeypatch.setitem(sys.modules, "isxt_fake_experiment", mod)
    monkeypatch.setitem(isxt.experiments.EXPERIMENTS, "fake", ("isxt_fake_experiment", "none"))
    assert main(["experiment", "fake", "--size", "test", "-o", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "plot failed" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_every_experiment_declares_the_runner_interface():
    from isxt.experiments import get, names

    for name in names():
        mod = get(name)
        assert mod.NAME == name and set(mod.SIZES) == set(R.SIZES), name
        for attr in ("compute", "claims", "plot", "describe", "run"):
            assert callable(getattr(mod, attr)), (name, attr)


def _matplotlib_importers():
    found = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "matplotlib" or n.startswith("matplotlib.") for n in names):
                found.setdefault(rel, node.lineno)
    return found


def test_only_plotting_imports_matplotlib():
    found = _matplotlib_importers()
    assert any(rel.startswith("plotting/") for rel in found)  # the scan itself sees imports
    outside = {rel: line for rel, line in found.items() if not rel.startswith("plotting/")}
    assert outside == {}, f"matplotlib imported outside isxt.plotting: {outside}"
    uses = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
            if 'matplotlib.use("Agg")' in p.read_text(encoding="utf-8")]
    assert sorted(uses) == ["plotting/__init__.py"]


def test_core_modules_import_without_matplotlib():
    code = ("import sys, isxt, isxt.calibration, isxt.provenance, isxt.sampling, isxt.dose, isxt.planning, "
            "isxt.experiments.dof, isxt.experiments.demo, isxt.plotting, isxt.cli; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_old_figure_names_still_draw(tmp_path):
    from isxt.experiments.demo import cell_slab as old_cell_slab
    from isxt.geometry import VolumeGeometry
    from isxt.phantoms import cell_slab
    from isxt.provenance import write_quicklook

    assert old_cell_slab is cell_slab
    vol = VolumeGeometry((4, 40, 48), 0.05)
    x = cell_slab(vol)
    write_quicklook(tmp_path / "q.png", x, vol.voxel_size_um, vol.center_um, title="t")
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"


def test_fine_and_coarse_is_the_block_mean_of_the_fine_phantom():
    from isxt.geometry import VolumeGeometry
    from isxt.phantoms import cell_phantom, fine_and_coarse

    vol = VolumeGeometry((2, 32, 36), 0.15, center_um=(0.3, -0.2, 0.0))
    ph = fine_and_coarse("cell", vol, seed=3)
    assert ph.fine.shape == (4, 64, 72) and ph.fine.center_um == vol.center_um and ph.fine.voxel_size_um == 0.075
    direct = np.asarray(cell_phantom(ph.fine, seed=3).lac, np.float32)
    np.testing.assert_array_equal(ph.lac_fine, direct)
    # the coarse voxel is the mean of its eight fine voxels (an independent loop)
    k, j, i = 1, 15, 17
    assert ph.lac[k, j, i] == pytest.approx(direct[2 * k:2 * k + 2, 2 * j:2 * j + 2, 2 * i:2 * i + 2].mean(), rel=1e-6)
    assert ph.lac.mean() == pytest.approx(direct.mean(), rel=1e-5)  # block means keep the total
    with pytest.raises(InputError, match="unknown phantom"):
        fine_and_coarse("nope", vol)


def test_quicklook_outlines_interior_rois_and_states_clipping(tmp_path):
    from isxt.geometry import ScanGeometry, VolumeGeometry
    from isxt.plotting.results import _colour_limits, interior_rois, write_quicklook

    vol = VolumeGeometry((2, 40, 60), 0.05, center_um=(0.1, 0.0, 0.0))
    roi = ScanGeometry.interior(vol, 10, 0.05, 1.0, (0.3, -0.2))
    rois = interior_rois([ScanGeometry.full_field(vol, 5, 0.1), roi], vol)  # the full-field scan has no ROI
    assert len(rois) == 1 and rois[0][0] == (0.3, -0.2) and rois[0][1] == pytest.approx(1.0)
    two_level = np.zeros(vol.shape, np.float32)
    two_level[:, :20] = 1.0
    assert _colour_limits(two_level) == (0.0, 1.0, "")  # nothing outside the window: nothing said
    spiky = two_level.copy()
    spiky[0, 0, 0] = 50.0
    lo, hi, note = _colour_limits(spiky)
    assert hi == 1.0 and "clipped" in note and "50" in note
    write_quicklook(tmp_path / "q.png", spiky, vol.voxel_size_um, vol.center_um, title="thin slab", roi=rois)
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"
