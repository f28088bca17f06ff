"""Typed errors raised by the LRA data layer.

Each class subclasses :class:`mor.errors.MorError` and a builtin, so callers can
catch either the builtin (``FileNotFoundError`` / ``ValueError``) or the precise
class.  Messages name the file that was looked for and the expected layout.
"""

from __future__ import annotations

from mor.errors import MorError

__all__ = ["DataOptionError", "DatasetFormatError", "DatasetNotFoundError"]


class DatasetNotFoundError(MorError, FileNotFoundError):
    """A dataset directory or file is missing.

    The message lists every location that was searched and the directory
    layout the loader expects.
    """


class DatasetFormatError(MorError, ValueError):
    """A dataset file exists but does not follow the expected format.

    The message names the file, the line (or record) and what was expected.
    """


class DataOptionError(MorError, ValueError):
    """A task option has an invalid value (for example a negative count)."""
