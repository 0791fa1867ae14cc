"""Adapter: the alignment experiment (:mod:`isxt.experiments.alignment`) behind the common ``run`` signature."""

from __future__ import annotations

from . import _common as C

NAME = "alignment"
_SIZE_MAP = {"test": "small", "small": "small", "paper": "full"}


def run(size="small", out_dir=".", progress=True, force=False):
    """Check the outputs (never overwrite without ``force``), then delegate to ``alignment.run``."""
    from . import alignment

    C.check_size(size)
    C.prepare_outputs(out_dir, NAME, force)
    result = alignment.run(_SIZE_MAP[size], out_dir)
    result = dict(result) if isinstance(result, dict) else {"result": result}
    result.setdefault("claims", {})
    result.setdefault("name", NAME)
    return result
