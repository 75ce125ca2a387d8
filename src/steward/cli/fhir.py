"""``steward fhir``: import FHIR R4 resources; export tools as AI Transparency on FHIR."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.db import command_unit, reported_errors

if TYPE_CHECKING:
    from steward.integration.fhir.read import FhirBatch
    from steward.integration.fhir.store import ImportResult

fhir_app = typer.Typer(help="Import and export FHIR R4 resources.", no_args_is_help=True)

#: Rejections listed in full on the terminal; the rest are counted.
SHOWN = 50


@fhir_app.command("import")
def import_fhir(
    file: Annotated[Path, typer.Argument(help="FHIR R4 JSON: one resource or a Bundle.")],
    deployment: Annotated[
        uuid.UUID | None,
        typer.Option(
            "--deployment", help="Store predictions and outcomes for monitoring this deployment."
        ),
    ] = None,
    outcome_code: Annotated[
        list[str] | None,
        typer.Option(
            "--outcome-code",
            help="Code (system|code or code) of a resource that is the deployment's outcome "
            "(repeatable).",
        ),
    ] = None,
) -> None:
    """Import predictions (RiskAssessment), outcomes (Observation, Condition, Encounter) and
    opt-outs (Consent with provision.type = deny).

    Every resource that fails validation is reported with its path and the rest are imported.
    Exits 0 when nothing was rejected, 1 when some resources were, 2 when the file is unusable.
    """
    from steward.integration.fhir.read import read_fhir_file
    from steward.integration.fhir.store import store_batch

    with reported_errors():
        batch = read_fhir_file(file)
        with command_unit() as session:
            result = store_batch(session, batch, deployment, outcome_code or ())
    _report(file, batch, result)
    if result.rejected:
        raise typer.Exit(1)


def _report(file: Path, batch: FhirBatch, result: ImportResult) -> None:
    typer.echo(
        f"read {file}: {len(batch.predictions)} prediction(s), {len(batch.outcomes)} outcome "
        f"resource(s), {len(batch.opt_outs)} opt-out(s)"
    )
    if batch.skipped:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(batch.skipped.items()))
        typer.echo(f"skipped (not used by Steward): {kinds}")
    typer.echo(
        f"stored: {result.opt_outs_added} opt-out(s) registered "
        f"({result.opt_outs_known} already registered)"
    )
    for kind, report in (("prediction", result.predictions), ("outcome", result.outcomes)):
        if report is not None:
            typer.echo(
                f"stored: {report.accepted} {kind}(s) for deployment {result.deployment} "
                f"({report.duplicates} already stored)"
            )
    if result.not_the_outcome:
        typer.echo(f"not the deployment's outcome: {result.not_the_outcome} resource(s)")
    if result.opted_out_rows:
        typer.echo(
            f"left out: {result.opted_out_rows} prediction/outcome row(s) of opted-out patients"
        )
    if result.unstored_predictions or result.unstored_outcomes:
        typer.echo(
            f"not stored: {result.unstored_predictions} prediction(s) and "
            f"{result.unstored_outcomes} outcome(s); give --deployment to store them for "
            "monitoring"
        )
    for rejection in result.rejected[:SHOWN]:
        typer.echo(f"rejected {rejection.path}: {rejection.reason}", err=True)
    if len(result.rejected) > SHOWN:
        typer.echo(f"... and {len(result.rejected) - SHOWN} more problem(s)", err=True)


@fhir_app.command("export")
def export_fhir(
    tool_id: Annotated[uuid.UUID, typer.Argument(help="Id of the tool.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
    max_outputs: Annotated[
        int, typer.Option("--max-outputs", min=0, help="Latest logged outputs per version.")
    ] = 10_000,
) -> None:
    """Write the tool as an AI Transparency on FHIR Bundle: an AI-Device and an AI-ModelCard
    per version, and each logged output with its AI-Provenance (labelled AIAST)."""
    import json

    from steward.config import load_settings
    from steward.db.engine import make_engine
    from steward.db.session import read_only_unit, session_factory
    from steward.files import write_text_atomic
    from steward.integration.fhir.export import tool_bundle

    with reported_errors():
        engine = make_engine(load_settings().resolved_database_url)
        try:
            with read_only_unit(session_factory(engine)) as session:
                bundle, outputs = tool_bundle(session, tool_id, max_outputs)
        finally:
            engine.dispose()
        text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
        if output is None:
            typer.echo(text, nl=False)
            return
        write_text_atomic(output, text)
    devices = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Device")
    typer.echo(
        f"wrote {devices} AI-Device(s), their model cards and {outputs} logged output(s) "
        f"with provenance to {output}",
        err=True,
    )
