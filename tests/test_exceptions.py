"""Broad excepts do not relabel bugs: only the meant exceptions become user errors, with the cause kept."""

import numpy as np
import pytest

import isxt
from isxt.errors import InputError
from isxt.io.tiff import read_tiff
from isxt.solvers import make_subsets

VOL = isxt.VolumeGeometry((2, 8, 8), 0.1)
SCAN = isxt.ScanGeometry.full_field(VOL, 4, 0.1)


class _NoSubset:
    domain_shape, range_shape = VOL.shape, SCAN.shape

    def forward(self, x):
        return np.zeros(SCAN.shape, np.float32)

    def adjoint(self, y):
        return np.zeros(VOL.shape, np.float32)


class _BuggySubset(_NoSubset):
    def subset(self, idx):
        return self.no_such_attribute  # a bug inside subset()


def test_osem_subsets_name_a_missing_subset_but_surface_other_attribute_errors():
    with pytest.raises(InputError, match="no .subset") as info:
        make_subsets(_NoSubset(), np.zeros(SCAN.shape, np.float32), 2)
    assert isinstance(info.value.__cause__, AttributeError)
    with pytest.raises(AttributeError, match="no_such_attribute"):
        make_subsets(_BuggySubset(), np.zeros(SCAN.shape, np.float32), 2)


def test_unreadable_tiff_keeps_its_cause(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00" + b"\xff" * 64)
    with pytest.raises(InputError, match="not a readable TIFF") as info:
        read_tiff(path)
    assert info.value.__cause__ is not None


def test_cuda_probe_gives_a_reason():
    from isxt.projectors.astra import cuda_available, cuda_problem

    problem = cuda_problem()
    assert (problem is None) == cuda_available()
    assert problem is None or "CUDA" in problem or "ASTRA" in problem
