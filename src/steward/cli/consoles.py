"""The command line's rich consoles (standard output and standard error), made on first use.

Importing rich is a sizeable share of a command's start-up, and a quiet run that succeeds never
prints through it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def stdout() -> Console:
    """The console on standard output (it follows ``sys.stdout`` if that is replaced)."""
    from rich.console import Console

    return Console()


@cache
def stderr() -> Console:
    """The console on standard error, for progress, warnings and errors."""
    from rich.console import Console

    return Console(stderr=True)
