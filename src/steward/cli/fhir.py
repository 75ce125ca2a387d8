"""``steward fhir``: import FHIR R4 resources; export tools as AI Transparency on FHIR."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.db import command_unit, reported_errors

if TYPE_CHECKING:
    from steward.integration.fhir.read import FhirBatch

fhir_app = typer.Typer(help="Import and export FHIR R4 resources.", no_args_is_help=True)

#: Rejections listed in full on the terminal; the rest are counted.
SHOWN = 50


@fhir_app.command("import")
def import_fhir(
    file: Annotated[Path, typer.Argument(help="FHIR R4 JSON: one resource or a Bundle.")],
) -> None:
    """Import predictions (RiskAssessment), outcomes (Observation, Condition, Encounter) and
    opt-outs (Consent with provision.type = deny).

    Every resource that fails validation is reported with its path and the rest are imported.
    Exits 0 when nothing was rejected, 1 when some resources were, 2 when the file is unusable.
    """
    from steward.integration.fhir.read import read_fhir_file, without_opted_out
    from steward.integration.optout_register import opted_out_digests, register_opt_outs

    with reported_errors():
        batch = read_fhir_file(file)
        with command_unit() as session:
            registered = register_opt_outs(session, batch.opt_outs)
            dropped = without_opted_out(batch, opted_out_digests(session))
    _report(file, batch, registered.added, registered.already_registered, dropped)
    if batch.rejected:
        raise typer.Exit(1)


def _report(file: Path, batch: FhirBatch, added: int, already: int, dropped: int) -> None:
    typer.echo(
        f"read {file}: {len(batch.predictions) + len(batch.outcomes) + dropped} prediction and "
        f"outcome resource(s), {len(batch.opt_outs)} opt-out(s), "
        f"{len(batch.rejected)} problem(s)"
    )
    if batch.skipped:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(batch.skipped.items()))
        typer.echo(f"skipped (not used by Steward): {kinds}")
    typer.echo(f"stored: {added} opt-out(s) registered ({already} already registered)")
    if dropped:
        typer.echo(f"left out: {dropped} prediction/outcome row(s) of opted-out patients")
    if batch.predictions or batch.outcomes:
        typer.echo(
            f"not stored: {len(batch.predictions)} prediction(s) and {len(batch.outcomes)} "
            "outcome(s): monitoring storage is not available in this version"
        )
    for rejection in batch.rejected[:SHOWN]:
        typer.echo(f"rejected {rejection.path}: {rejection.reason}", err=True)
    if len(batch.rejected) > SHOWN:
        typer.echo(f"... and {len(batch.rejected) - SHOWN} more problem(s)", err=True)


@fhir_app.command("export")
def export_fhir(
    tool_id: Annotated[uuid.UUID, typer.Argument(help="Id of the tool.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
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
                bundle, outputs = tool_bundle(session, tool_id)
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
