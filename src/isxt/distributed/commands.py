"""Hooks for the command line: ``--scheduler`` (and ``--slabs``) and the batch dispatch."""

from __future__ import annotations

import tomllib

from ..errors import InputError

__all__ = ["add_arguments", "dispatch", "scheduler_of"]

SCHEDULER_HELP = ("run on Dask: 'local' or 'local:N' starts N worker processes here, an address "
                  "(tcp://host:8786 or a scheduler .json file) connects to a running cluster; "
                  "default: [compute] scheduler of the acquisition, else no Dask")


def add_arguments(parser, slabs=False):
    """Add ``--scheduler`` (and, with ``slabs``, ``--slabs N`` and ``--checkpoint-every K``)."""
    parser.add_argument("--scheduler", metavar="local[:N]|ADDRESS", help=SCHEDULER_HELP)
    if slabs:
        parser.add_argument("--slabs", type=int, metavar="N",
                            help="split the volume into N z-slabs, one per Dask task (needs a scheduler; "
                                 "default: [reconstruction] slabs, else 1)")
        parser.add_argument("--checkpoint-every", type=int, metavar="K",
                            help="slab solve: checkpoint the iterate every K iterations (default 10)")


def _toml_scheduler(path):
    try:
        with open(path, "rb") as f:
            value = tomllib.load(f).get("compute", {}).get("scheduler")
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def scheduler_of(args, paths):
    """``--scheduler``, else the ``[compute] scheduler`` all the acquisition files name, else None."""
    if getattr(args, "scheduler", None):
        return args.scheduler
    found = {_toml_scheduler(p) for p in paths}
    return found.pop() if len(found) == 1 else None


def dispatch(args, command, desc="acquisitions"):
    """Run several acquisitions (or one on a cluster) as a batch; None for the plain single run.

    ``args.acquisition`` is the list of files from the command line. For one
    file without a scheduler (or with ``--slabs``, which distributes that one
    solve) it becomes the single path and None is returned: the caller goes
    on as before. Otherwise every file runs through ``command`` via
    :func:`isxt.distributed.batch.run_batch`, the table is printed, and the
    exit status is returned: 1 if any acquisition failed, else 0.
    """
    from .batch import format_table, plan_batch, run_batch
    from .cluster import open_client

    paths = args.acquisition
    if isinstance(paths, str):  # already one acquisition (a batch task)
        return None
    scheduler = scheduler_of(args, paths)
    slabs = getattr(args, "slabs", None)
    if len(paths) == 1 and (scheduler is None or (slabs or 0) > 1 or _toml_slabs(paths[0])):
        args.acquisition = paths[0]
        return None
    if slabs and slabs > 1:
        raise InputError("--slabs distributes one volume; give one acquisition with --slabs, or drop --slabs for a batch")
    if getattr(args, "dry_run", False):
        scheduler = None  # validation only: no cluster needed
    items = plan_batch(paths, args.output)
    options = {k: v for k, v in vars(args).items() if k not in ("func", "acquisition", "output")}
    options["scheduler"] = None
    options["no_progress"] = True if scheduler else getattr(args, "no_progress", False)
    progress = not getattr(args, "no_progress", False)
    if scheduler is None:
        records = run_batch(command, options, items)
    else:
        with open_client(scheduler) as client:
            records = run_batch(command, options, items, client=client, progress=progress, desc=desc)
    print(format_table(records))
    return 1 if any(r["status"] != "ok" for r in records) else 0


def _toml_slabs(path):
    try:
        with open(path, "rb") as f:
            value = tomllib.load(f).get("reconstruction", {}).get("slabs", 1)
    except (OSError, tomllib.TOMLDecodeError, AttributeError):
        return False
    return isinstance(value, int) and value > 1
