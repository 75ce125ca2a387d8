"""The `steward` executable's process: what a command imports is kept out of the garbage collector.

A command's engine (for an evaluation numpy, Arrow, pydantic's models and the statistics; for
its HTML report matplotlib) makes tens of thousands of objects that live until the process
exits. While they are imported, the collector runs dozens of times and rescans them to no
purpose. So the executable pauses the collector while it imports an engine and then freezes
what was made (``gc.freeze``): later collections, and the shutdown, skip those objects. The
few hundred garbage objects the imports leave are kept with them. Nothing is frozen once
DuckDB is loaded (a CSV file, replicates): its bindings report every object of theirs a frozen
heap keeps at exit as a leak, dozens of lines on standard error.

Only the executable does this (``steward.cli.main.run`` gives its commands an
:class:`ExecutableProcess` context object): a process that runs commands in-process (the tests,
a notebook) keeps its collector as it was.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer


class ExecutableProcess:
    """The context object of the `steward` executable's commands: this process ends with the
    command (``steward.cli.main.run`` passes it to the app)."""


def owns_process(ctx: typer.Context) -> bool:
    """Whether the command runs in the `steward` executable's process, which ends with it."""
    return ctx.find_object(ExecutableProcess) is not None


@contextmanager
def lasting_imports(owned: bool) -> Iterator[None]:
    """Import without collections, then freeze what was imported, when the command ``owned``
    the process (see :func:`owns_process`).

    A process that is not the executable's, or whose collector is already off, is left alone.
    """
    if not owned or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if "duckdb" not in sys.modules:
            gc.freeze()
        gc.enable()
