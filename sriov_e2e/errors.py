"""Errors the harness reports to users as one clear line."""

from __future__ import annotations


class HarnessError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits non-zero."""

    exit_code = 1


class BadInput(HarnessError):
    """The user's input (a name, a count, a file) is invalid; nothing was changed."""

    exit_code = 2


class Unsupported(HarnessError):
    """This host or backend lacks a feature the request needs."""

    exit_code = 4
