"""Entry point of the ``steward`` command; each capability registers its commands here."""

from __future__ import annotations

import gc
import os
import sys

import typer

from steward.cli.audit import audit_app
from steward.cli.db import db_app
from steward.cli.demo import demo_command
from steward.cli.evaluate import evaluate_command
from steward.cli.export import export_app
from steward.cli.fhir import fhir_app
from steward.cli.model_card import model_card_command
from steward.cli.monitor import monitor_app, worker_command
from steward.cli.optouts import optouts_app
from steward.cli.orgs import orgs_app
from steward.cli.process import ExecutableProcess
from steward.cli.serve import serve_command
from steward.cli.tokens import tokens_app
from steward.cli.users import users_app

app = typer.Typer(
    name="steward",
    help="Steward: register, validate, approve, monitor and withdraw clinical AI tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Steward: register, validate, approve, monitor and withdraw clinical AI tools."""


app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(orgs_app, name="orgs")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(optouts_app, name="optouts")
app.add_typer(fhir_app, name="fhir")
app.command("serve")(serve_command)
app.add_typer(monitor_app, name="monitor")
app.command("worker")(worker_command)
export_app.command("model-card")(model_card_command)
app.add_typer(export_app, name="export")


app.command("evaluate")(evaluate_command)
app.command("demo")(demo_command)


def run() -> None:
    """The ``steward`` executable: the command, then a shutdown with less to do.

    The commands get an ``ExecutableProcess`` context object, so a command imports its engine
    without garbage collections and freezes it (`steward.cli.process`). The process ends with
    the command, so its objects are frozen out of the garbage collector first: shutdown then
    skips scanning them, which after an evaluation (numpy, pydantic and Arrow loaded) saves a
    tenth of a second or more. Finalizers and exit handlers still run. Not after DuckDB was
    loaded (a CSV file, replicates): its bindings report every object a frozen heap keeps at
    exit as a leak, dozens of lines on standard error.

    Linear algebra runs on one thread unless ``OPENBLAS_NUM_THREADS`` says otherwise, set here
    because numpy reads it once, on import (no command imports numpy before this line). Steward
    solves only small systems (2x2 calibration fits, one replicate-weighting product), where
    OpenBLAS's thread pool gains nothing: it costs 0.13 s of CPU to start, and its threads spin
    after each call on the cores that the cube pass's workers need (an evaluation of 5M rows
    took 4.0-4.3 s instead of 2.7-3.2 s on a busy 2-core machine).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app(obj=ExecutableProcess())
    finally:
        if "duckdb" not in sys.modules:
            gc.freeze()
