"""The README's Python example runs and reconstructs what it projects."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has no Python example"
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    x, truth = namespace["x"], namespace["truth"]
    assert x.shape == truth.shape and x.dtype == np.float32
    # the block of LAC 0.3 1/µm inside the interior ROI is recovered quantitatively
    roi = namespace["vol"].cylinder_mask(1.5, (0.8, -0.6)) & (truth > 0)
    assert abs(float(x[roi].mean()) - 0.3) < 0.03
