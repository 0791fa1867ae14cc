"""The ``isxt`` command line.

Each sub-command lives in its own module ``isxt.cli.<name>`` with two
functions: ``register(subparsers)`` adds its parser (setting
``func=run``), and ``run(args)`` does the work and returns an exit code.
User errors (:class:`isxt.errors.IsxtError`, ``OSError``) become one line on
stderr and exit status 2 — never a traceback. Every command takes
``--no-progress`` (no progress bars or stage lines, :mod:`isxt._progress`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from .._progress import quiet
from ..errors import IsxtError

# Sub-command modules, in the order `isxt --help` lists them.
COMMANDS = ("demo", "simulate", "plan", "experiment", "info", "reconstruct", "calibrate", "align")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="isxt",
        description="Interior soft X-ray tomography with sparse global sampling.",
    )
    parser.add_argument("--version", action="version", version=f"isxt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet in this checkout
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    for command in sub.choices.values():
        try:
            command.add_argument("--no-progress", action="store_true", help="no progress bars")
        except argparse.ArgumentError:  # the command has its own
            pass
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with quiet(getattr(args, "no_progress", False)):
            return int(args.func(args) or 0)
    except IsxtError as exc:
        print(f"isxt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"isxt {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"isxt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
