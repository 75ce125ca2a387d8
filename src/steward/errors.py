"""Errors that reach users: each message says what is wrong and where, in one paragraph."""

from __future__ import annotations


class StewardError(Exception):
    """Base of every error Steward reports to a user instead of a stack trace."""


class InputError(StewardError):
    """Input the user can fix: a missing column, a malformed file, an out-of-range value."""
