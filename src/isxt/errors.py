"""User-facing errors: one clear line each (what is wrong, where, how to fix)."""

from __future__ import annotations

__all__ = ["IsxtError", "InputError", "OutputError"]


class IsxtError(Exception):
    """An error the user can fix; the CLI prints it as one line and exits non-zero."""


class InputError(IsxtError, ValueError):
    """Bad input: a file, a key of an acquisition file, an array or a parameter."""


class OutputError(IsxtError, OSError):
    """An output cannot be written (exists without --force, unwritable, disk full...)."""
