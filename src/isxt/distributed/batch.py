"""Batches of acquisitions: one task per acquisition, failures isolated, a closing table.

``isxt reconstruct A.toml B.toml ...`` (and ``isxt align``) runs the
single-acquisition command once per file: serially in this process without a
scheduler, as one Dask task per acquisition with one. A failing acquisition is
recorded and the others go on; a worker lost mid-task is the scheduler's
business (Dask reruns the task on another worker), so the batch still
completes with the same results.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, IsxtError

__all__ = ["BatchItem", "plan_batch", "run_one", "run_batch", "format_table"]


@dataclass
class BatchItem:
    """One acquisition of a batch and where its outputs go (None: its own ``[output] dir``)."""

    path: str
    output: str | None

    @property
    def name(self):
        return Path(self.path).stem


def plan_batch(paths, output_dir=None):
    """One :class:`BatchItem` per acquisition; with ``output_dir`` each writes to ``output_dir/<toml stem>/``.

    Raises :class:`InputError` when two files share a stem (their outputs would collide).
    """
    paths = [str(p) for p in paths]
    stems = [Path(p).stem for p in paths]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if output_dir is not None and dup:
        raise InputError(f"acquisitions {dup} share a file name; with -o DIR each writes to DIR/<name>/, rename one")
    if output_dir is None:
        return [BatchItem(p, None) for p in paths]
    return [BatchItem(p, str(Path(output_dir) / Path(p).stem)) for p in paths]


def run_one(command, options, item):
    """Run ``command`` (a CLI ``run(args)`` function) on one item; never raises.

    Returns
    -------
    dict
        ``name, status ('ok' | 'failed'), seconds, output, message``.
    """
    args = argparse.Namespace(**{**options, "acquisition": item.path, "output": item.output})
    t0 = time.perf_counter()
    try:
        code = int(command(args) or 0)
        status, message = ("ok", "") if code == 0 else ("failed", f"exit status {code}")
    except (IsxtError, OSError) as exc:
        status, message = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except Exception as exc:  # a bug on one acquisition must not stop the others
        last = traceback.extract_tb(exc.__traceback__)[-1]
        status, message = "failed", f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"
    output = item.output
    if output is None:
        output = _default_output(item.path)
    return {"name": item.name, "status": status, "seconds": time.perf_counter() - t0, "output": output,
            "message": message}


def _default_output(path):
    try:
        from ..acquisition import load_acquisition

        return str(load_acquisition(path, check_memory=False).output["dir"])
    except Exception:
        return ""


def run_batch(command, options, items, client=None, progress=True, desc="acquisitions"):
    """Run ``command`` on every item: serially, or one Dask task each on ``client``.

    Tasks are submitted with ``retries=1`` on top of Dask's own rescheduling
    of tasks whose worker died, so a lost worker costs a rerun, not the batch.
    Returns the records of :func:`run_one` in the order of ``items``.
    """
    if client is None:
        records = []
        for item in items:
            print(f"[{len(records) + 1}/{len(items)}] {item.path}", file=sys.stderr)
            records.append(run_one(command, options, item))
        return records
    from .cluster import follow

    futures = [client.submit(run_one, command, options, item, pure=False, retries=1,
                             key=f"isxt-{item.name}-{i}-{time.time_ns()}") for i, item in enumerate(items)]
    records = [None] * len(items)
    for i, fut in follow(futures, desc=desc, progress=progress):
        try:
            records[i] = fut.result()
        except Exception as exc:  # the task itself failed after its retries (e.g. workers kept dying)
            records[i] = {"name": items[i].name, "status": "failed", "seconds": float("nan"),
                          "output": items[i].output or "", "message": f"{type(exc).__name__}: {exc}"}
    return records


def format_table(records):
    """The closing table: name, status, time, output (and the error of each failed acquisition)."""
    rows = [("name", "status", "time", "output")]
    for r in records:
        t = "nan" if r["seconds"] != r["seconds"] else f"{r['seconds']:.1f} s"
        rows.append((r["name"], r["status"], t, r["output"]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in records:
        if r["status"] != "ok":
            lines.append(f"{r['name']}: {r['message']}")
    n_bad = sum(r["status"] != "ok" for r in records)
    lines.append(f"{len(records) - n_bad} of {len(records)} acquisitions done" + (f", {n_bad} failed" if n_bad else ""))
    return "\n".join(lines)
