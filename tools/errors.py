"""Errors a user can act on.

Every error raised for bad input, missing assets or an unusable endpoint derives from
`RefineryError`; the CLI prints its message (no traceback) and exits with its `exit_code`.
Anything else reaching the entry point is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class RefineryError(Exception):
    """A failure whose message tells the user what went wrong and how to fix it."""

    exit_code: int = 2


class BadInputError(RefineryError):
    """An argument or option is out of range or malformed."""


class AssetMissingError(RefineryError):
    """A model, tokenizer or corpus that the command needs is not available offline."""


class RecordFileError(RefineryError):
    """A record or explanation file could not be read; names the file and the offending field."""

    def __init__(self, path: Path | str, message: str, field: str | None = None) -> None:
        self.path = Path(path)
        self.field = field
        where = f"{self.path}" + (f" (field {field!r})" if field else "")
        super().__init__(f"{where}: {message}")


class SharedResourceLost(RefineryError):
    """Something every neuron of the command needs is gone (the subject's child process, say): the
    command stops instead of failing each neuron in turn; a rerun resumes where it stopped."""
