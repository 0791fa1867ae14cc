"""The one runner of the paper's experiments: sweep, claims, outputs, exit status.

An experiment is a module that declares

* ``NAME`` and ``TITLE``;
* ``SIZES`` — ``{'test': config, 'small': config, 'paper': config}``, its
  configurations (dicts of sizes, views, iterations);
* ``compute(size, progress=True, seed=0) -> dict`` — the numbers, with the
  CSV rows under ``'rows'``; independent sweep items go through
  :func:`sweep_map`, so ``isxt experiment --scheduler`` runs them as Dask tasks;
* ``claims(result) -> {name: claim}`` — checked claims (:func:`isxt.experiments._common.claim`);
* ``plot(path, result)`` — the figure (drawn by :mod:`isxt.plotting.experiments`);
* ``describe(result) -> {'what': str, 'table': str, 'notes': str}`` — the report's text;
* optionally ``public(result) -> dict`` — extra entries of the returned dict;

and ``run = runner(__name__)``. :func:`run_experiment` checks the outputs
before the work, computes, judges the claims and writes ``NAME.csv``,
``NAME.png`` and ``NAME.md`` in one transaction: nothing is written when any
step fails. :func:`print_claims` prints the verdicts and returns the exit
status (1 when a claim fails).
"""

from __future__ import annotations

import csv
import io
import sys
import time

from ..errors import InputError

__all__ = ["SIZES", "check_size", "sweep_map", "run_experiment", "runner", "print_claims", "verdict", "report",
           "csv_text", "table_markdown", "claims_markdown", "prepare_outputs", "write_outputs"]

#: The sizes every experiment declares: seconds (tests), minutes (the default), the paper's.
SIZES = ("test", "small", "paper")


def check_size(size, sizes=SIZES):
    """Raise :class:`InputError` unless ``size`` is one of ``sizes``."""
    if size not in sizes:
        raise InputError(f"unknown experiment size {size!r}; choose one of {', '.join(sizes)}")
    return size


def sweep_map(fn, items, progress=False, desc="sweep"):
    """``[fn(item) for item in items]``: serially, or one Dask task per item under ``isxt experiment --scheduler``.

    ``fn`` must be a module-level function (it is pickled to the workers);
    results come back in the order of ``items`` either way, and seeded noise
    is drawn inside ``fn`` from the item's own seed, so both give the same
    numbers.
    """
    items = list(items)
    from ..distributed.sweep import current_client

    client = current_client()
    if client is None:
        from .._progress import progress_bar

        return [fn(item) for item in progress_bar(items, desc=desc, disable=not progress, leave=False)]
    from ..distributed.sweep import map_on_client

    return map_on_client(client, fn, items, progress=progress, desc=desc)


def verdict(c):
    """``'PASS'``, ``'FAIL'`` or ``'UNDECIDED'`` for a claim dict."""
    return "UNDECIDED" if c["passed"] is None else ("PASS" if c["passed"] else "FAIL")


def csv_text(rows, fieldnames=None):
    """Rows (dicts) as CSV text; floats with 6 significant digits."""
    if not rows:
        return ""
    fieldnames = list(fieldnames or rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def table_markdown(rows, fieldnames=None, fmt="{:.3f}"):
    """Rows (dicts) as a Markdown table."""
    if not rows:
        return ""
    fieldnames = list(fieldnames or rows[0])
    lines = ["| " + " | ".join(fieldnames) + " |", "|" + "---|" * len(fieldnames)]
    for r in rows:
        cells = []
        for k in fieldnames:
            v = r.get(k, "")
            cells.append(fmt.format(v) if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claims_markdown(claims):
    """The claims as a Markdown checklist with their numbers."""
    return "\n".join(f"- **{verdict(c)}** `{name}`: {c['detail']}" for name, c in claims.items())


def report(title, size, what, table, claims, seconds, notes=""):
    """The common Markdown layout of an experiment summary."""
    n_pass = sum(c["passed"] is True for c in claims.values())
    parts = [f"# {title}", "", f"Size `{size}`, wall time {seconds:.1f} s.", "",
             "## What was run", "", what.strip(), "",
             "## Results", "", table, "",
             f"## Claims ({n_pass}/{len(claims)} passed)", "", claims_markdown(claims), ""]
    if notes:
        parts += ["## Notes", "", notes.strip(), ""]
    return "\n".join(parts)


def prepare_outputs(out_dir, name, force=False):
    """Check (before the heavy work) that ``NAME.csv/.png/.md`` can be written; return the transaction."""
    from ..io import OutputTransaction

    tx = OutputTransaction(out_dir, overwrite=force)
    tx.check([f"{name}.csv", f"{name}.png", f"{name}.md"])
    return tx


def write_outputs(tx, name, csv_rows, plot, markdown, fieldnames=None):
    """Write ``NAME.csv``, ``NAME.png`` (``plot(path)``) and ``NAME.md`` in one transaction."""
    with tx:
        tx.path(f"{name}.csv").write_text(csv_text(csv_rows, fieldnames))
        plot(tx.path(f"{name}.png"))
        tx.path(f"{name}.md").write_text(markdown)
    return {k: tx.directory / f"{name}.{k}" for k in ("csv", "png", "md")}


def run_experiment(experiment, size="small", out_dir=".", progress=True, force=False, seed=0):
    """Run one experiment module (see the module docstring) and write its three files.

    Returns
    -------
    dict
        ``name``, ``size``, ``rows``, ``claims``, ``seconds``, ``outputs``
        (paths) and the experiment's ``public(result)`` entries.
    """
    name = experiment.NAME
    check_size(size, tuple(experiment.SIZES))
    tx = prepare_outputs(out_dir, name, force)  # fails before the work
    t0 = time.perf_counter()
    result = experiment.compute(size, progress=progress, seed=seed)
    claims = experiment.claims(result)
    seconds = time.perf_counter() - t0
    text = experiment.describe(result)
    md = report(experiment.TITLE, size, text["what"], text["table"], claims, seconds, text.get("notes", ""))
    paths = write_outputs(tx, name, result["rows"], lambda path: experiment.plot(path, result), md)
    public = experiment.public(result) if hasattr(experiment, "public") else {}
    return {"name": name, "size": size, "rows": result["rows"], "claims": claims, "seconds": seconds,
            "outputs": paths, **public}


def runner(module_name):
    """``run(size='small', out_dir='.', progress=True, force=False)`` for the experiment module ``module_name``."""

    def run(size="small", out_dir=".", progress=True, force=False):
        return run_experiment(sys.modules[module_name], size, out_dir, progress=progress, force=force)

    run.__doc__ = f"Run ``{module_name.rsplit('.', 1)[-1]}`` and write its CSV/PNG/MD (:func:`run_experiment`)."
    return run


def print_claims(result, out_dir, file=None):
    """Print each claim's verdict and a summary line; return the exit status (1 when a claim fails, else 0)."""
    file = sys.stdout if file is None else file
    name, claims = result["name"], result.get("claims", {})
    counts = {"PASS": 0, "FAIL": 0, "UNDECIDED": 0}
    for key, c in claims.items():
        mark = verdict(c)
        counts[mark] += 1
        print(f"{mark}  {key}: {c['detail']}", file=file)
    seconds = result.get("seconds")
    took = f" in {seconds:.1f} s" if isinstance(seconds, float) else ""
    print(f"wrote {name}.csv, {name}.png, {name}.md to {out_dir}/{took}", file=file)
    print(f"{name}: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['UNDECIDED']} undecided "
          f"of {len(claims)} claims", file=file)
    return 1 if counts["FAIL"] else 0
