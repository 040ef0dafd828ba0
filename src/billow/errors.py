"""User-facing errors: the CLI prints the message as one line and exits non-zero."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BillowError(Exception):
    """An error caused by the user's input (parameters, files, paths)."""


class ConfigError(BillowError):
    """A parameter, config file or command-line value is invalid."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` naming the choice closest to a misspelt ``name``, or ""
    when none is close (difflib's ratio >= 0.6); appended to "unknown ..." messages."""
    hint = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""
