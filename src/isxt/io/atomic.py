"""Atomic writes: a file appears complete or not at all, and a failed run leaves no trace.

Every output is first written to a hidden temporary file in the destination
directory (same file system, so :func:`os.replace` is an atomic rename) and
only renamed into place once everything succeeded. An
:class:`OutputTransaction` does this for several outputs at once: on any
failure it removes what it wrote, puts back what ``overwrite=True`` replaced
and removes the directories it created, so the output directory is exactly as
it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ..errors import OutputError

__all__ = ["atomic_path", "OutputTransaction", "check_writable_dir"]


def _temp_name(final):
    final = Path(final)
    # Keep the suffix so that writers that look at it (tifffile, mrcfile) behave.
    return final.with_name(f".{final.stem}.isxt-tmp-{secrets.token_hex(4)}{final.suffix}")


def _missing_parents(directory):
    """The directories that would have to be created for ``directory``, outermost first."""
    missing = []
    d = Path(directory).absolute()
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    if not d.is_dir():
        raise OutputError(f"cannot create output directory {directory}: {d} is a file, not a directory")
    return missing[::-1], d


def check_writable_dir(directory):
    """Raise :class:`OutputError` unless ``directory`` exists (or can be created) and is writable."""
    missing, existing = _missing_parents(directory)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {existing} is not writable; choose another with -o DIR")
    return missing


@contextlib.contextmanager
def atomic_path(path, overwrite=False):
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    Parameters
    ----------
    path : str or Path
        The final file.
    overwrite : bool
        Replace an existing ``path``; otherwise an existing file is an
        :class:`OutputError` (raised before anything is written).

    Examples
    --------
    >>> with atomic_path(tmp / "a.txt") as p:  # doctest: +SKIP
    ...     p.write_text("hello")
    """
    with OutputTransaction(Path(path).parent, overwrite=overwrite) as tx:
        yield tx.path(Path(path).name)


class OutputTransaction:
    """Write several outputs into ``directory`` all-or-nothing.

    Use :meth:`path` to get the temporary file to write for each output, then
    leave the ``with`` block normally: all outputs are renamed into place.
    Any exception inside the block (or while renaming) rolls everything back.

    Parameters
    ----------
    directory : str or Path
        Created (with parents) if missing; removed again on failure.
    overwrite : bool
        Allow replacing existing files (they are restored on failure).
    """

    def __init__(self, directory, overwrite=False):
        self.directory = Path(directory)
        self.overwrite = bool(overwrite)
        self._pending = []  # (temp, final)
        self._created_dirs = []

    # -- checks ------------------------------------------------------------
    def check(self, names):
        """Fail early (before heavy work) if any output exists or the directory is unwritable."""
        check_writable_dir(self.directory)
        if self.overwrite:
            return
        existing = [str(self.directory / n) for n in names if (self.directory / n).exists()]
        if existing:
            raise OutputError(
                f"output exists: {', '.join(existing)}; use --force to overwrite or -o DIR for another directory"
            )

    # -- context -----------------------------------------------------------
    def __enter__(self):
        missing = check_writable_dir(self.directory)
        for d in missing:
            try:
                d.mkdir()
            except OSError as exc:
                self._remove_created_dirs()
                raise OutputError(f"cannot create output directory {d}: {exc.strerror or exc}") from exc
            self._created_dirs.append(d)
        return self

    def path(self, name):
        """The temporary path to write the output ``name`` (a file name inside the directory)."""
        final = self.directory / name
        if final.exists() and not self.overwrite:
            raise OutputError(f"output exists: {final}; use --force to overwrite or -o DIR for another directory")
        if final.exists() and not final.is_file():
            raise OutputError(f"output {final} exists and is not a file; remove it or choose another name")
        temp = _temp_name(final)
        self._pending.append((temp, final))
        return temp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._commit()
                return False
            except BaseException:
                self._rollback()
                raise
        self._rollback()
        return False

    # -- internals -----------------------------------------------------------
    def _commit(self):
        self._backups = []
        self._placed = []
        for temp, final in self._pending:
            if not temp.exists():
                raise OutputError(f"internal: output {final.name} was never written")
        for temp, final in self._pending:
            if final.exists():
                backup = _temp_name(final).with_name(_temp_name(final).name + ".bak")
                os.replace(final, backup)
                self._backups.append((backup, final))
            os.replace(temp, final)
            self._placed.append(final)
        for backup, _ in self._backups:
            with contextlib.suppress(OSError):
                backup.unlink()
        self._backups = []

    def _rollback(self):
        for final in getattr(self, "_placed", []):
            with contextlib.suppress(OSError):
                final.unlink()
        for backup, final in getattr(self, "_backups", []):
            with contextlib.suppress(OSError):
                os.replace(backup, final)
        for temp, _ in self._pending:
            with contextlib.suppress(OSError):
                temp.unlink()
        self._remove_created_dirs()

    def _remove_created_dirs(self):
        for d in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        self._created_dirs = []
