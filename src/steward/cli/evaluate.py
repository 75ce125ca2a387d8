"""`steward evaluate`: validate a risk score on local data and write the result document.

The evaluation engine is imported when the command runs, so that every other command and
``--help`` start without numpy, Arrow and the statistics.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from steward.cli.consoles import stderr, stdout
from steward.cli.process import lasting_imports, owns_process
from steward.cli.progress import scan_progress
from steward.cube.sources import ScoreScale
from steward.errors import InputError
from steward.files import write_text_atomic

if TYPE_CHECKING:
    from steward.evaluation.result import EvaluationResult
    from steward.evaluation.spec import EvaluationSpec
    from steward.integration.optouts import PatientExclusion


def evaluate_command(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file, one row per prediction.")],
    score: Annotated[str | None, typer.Option(help="Column holding the risk score.")] = None,
    label: Annotated[
        str | None,
        typer.Option(help="Column holding the outcome: 0/1, true/false, empty if unknown."),
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option(help="Subgroup column for the equity audit (repeatable).")
    ] = None,
    comparator: Annotated[
        str | None, typer.Option(help="Column with the current standard of care's probability.")
    ] = None,
    patient: Annotated[
        str | None, typer.Option(help="Patient id column: CIs account for repeated encounters.")
    ] = None,
    time: Annotated[
        str | None, typer.Option(help="Timestamp column: metrics per time window.")
    ] = None,
    threshold: Annotated[
        list[float] | None,
        typer.Option(help="Operating threshold, score >= T alerts (repeatable)."),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="YAML evaluation spec; options given here override it.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the result document here.")
    ] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report here.")
    ] = None,
    score_scale: Annotated[
        ScoreScale | None,
        typer.Option(help="How scores are expressed: probability (0-1), percent (0-100) or logit."),
    ] = None,
    criterion: Annotated[
        list[str] | None,
        typer.Option(help="Acceptance criterion, e.g. 'auroc.ci_low >= 0.70' (repeatable)."),
    ] = None,
    bootstrap: Annotated[
        int | None, typer.Option(help="Bootstrap replicates for CIs without a closed form.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the bootstrap.")] = None,
    title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
    outcome: Annotated[
        str | None, typer.Option(help="Plain-language outcome definition shown in the report.")
    ] = None,
    opt_outs: Annotated[
        str | None,
        typer.Option(
            "--opt-outs",
            help="Leave out opted-out patients: 'register' (the database's opt-out register) or "
            "a file of patient ids or FHIR Consents. Needs --patient.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
) -> None:
    """Validate a clinical risk score on local data and reach a verdict.

    Computes discrimination, calibration, threshold metrics, net benefit, subgroup gaps, the
    comparison with a comparator and sample-size adequacy, then checks the acceptance criteria.

    Exits 0 when the evaluation ran, whatever the verdict, and 2 with a message for bad input.
    """
    owned = owns_process(ctx)
    with lasting_imports(owned):
        from steward.evaluation.run import evaluate
        from steward.evaluation.spec import load_spec
    if owned:
        from steward.cli.allocator import keep_freed_memory

        keep_freed_memory()

    options = {
        "score": score,
        "label": label,
        "groups": group,
        "comparator": comparator,
        "patient": patient,
        "time": time,
        "thresholds": threshold,
        "score_scale": score_scale,
        "acceptance": criterion,
        "replicates": bootstrap,
        "seed": seed,
        "title": title,
        "outcome": outcome,
    }
    try:
        evaluation_spec = merge_options(load_spec(spec) if spec else None, options)
        exclusion = load_opt_outs(opt_outs) if opt_outs is not None else None
        with scan_progress(enabled=not quiet) as progress:
            result = evaluate(data, evaluation_spec, progress=progress, opt_outs=exclusion)
        for path in (json_out, html_out):
            if path is not None:
                _make_folder(path)
        if json_out is not None:
            write_text_atomic(json_out, result.model_dump_json(indent=2) + "\n")
        if html_out is not None:
            with lasting_imports(owned):
                from steward.evaluation.report import write_html

            write_html(result.model_dump(mode="json"), html_out)
    except InputError as exc:
        stderr().print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not quiet:
        print_summary(result, json_out, html_out)


def load_opt_outs(source: str) -> PatientExclusion:
    """The opted-out patients named by ``--opt-outs``: the register, or a file."""
    from steward.integration.optouts import PatientExclusion, digests_of

    if source == "register":
        from steward.cli.db import command_unit
        from steward.integration.optout_register import opted_out_digests

        try:
            with command_unit() as session:
                digests = opted_out_digests(session)
        except InputError:
            raise
        except Exception as error:  # database errors: say so, without a stack trace
            raise InputError(
                f"The opt-out register could not be read ({error.__class__.__name__}); check "
                "STEWARD_DATABASE_URL and run `steward db upgrade`."
            ) from None
        return PatientExclusion("the opt-out register", digests)
    from steward.integration.optout_sources import read_opt_out_file

    path = Path(source)
    patients = [o.patient_id for o in read_opt_out_file(path)]
    return PatientExclusion(f"the file {path.name}", digests_of(patients))


def merge_options(base: EvaluationSpec | None, options: dict[str, Any]) -> EvaluationSpec:
    """The spec file's settings with every command-line option given laid over them."""
    from steward.evaluation.spec import spec_from_mapping

    raw: dict[str, Any] = base.model_dump(mode="python") if base else {}
    columns = dict(raw.get("columns", {}))
    for key in ("score", "label", "comparator", "patient", "time"):
        if options[key] is not None:
            columns[key] = options[key]
    if options["groups"]:
        columns["groups"] = tuple(options["groups"])
    missing = [f"--{key}" for key in ("score", "label") if not columns.get(key)]
    if missing:
        raise InputError(
            f"Say which columns hold the score and the outcome: {' and '.join(missing)} "
            "missing (or give a --spec file that names them)."
        )
    raw["columns"] = columns
    if options["thresholds"]:
        raw["thresholds"] = tuple(options["thresholds"])
    if options["score_scale"]:
        raw["data"] = {**raw.get("data", {}), "score_scale": options["score_scale"]}
    if options["acceptance"]:
        raw["acceptance"] = [*raw.get("acceptance", ()), *options["acceptance"]]
    boot = dict(raw.get("bootstrap", {}))
    if options["replicates"] is not None:
        boot["replicates"] = options["replicates"]
    if options["seed"] is not None:
        boot["seed"] = options["seed"]
    raw["bootstrap"] = boot
    if options["title"]:
        raw["title"] = options["title"]
    if options["outcome"]:
        raw["outcome"] = {"definition": options["outcome"]}
    return spec_from_mapping(raw, origin="the evaluation settings")


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise InputError(f"Could not create the folder {path.parent}: {reason}.") from None


def print_summary(result: EvaluationResult, json_out: Path | None, html_out: Path | None) -> None:
    """A short table of the headline results and the verdict."""
    out = stdout()
    from rich.table import Table

    table = Table(title=result.title or "Local validation", show_header=True, header_style="bold")
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_row("Rows evaluated", f"{result.n:,}", "")
    table.add_row("Events (prevalence)", f"{result.n_events:,} ({_pct(result.prevalence)})", "")
    for key, name in [
        ("auroc", "AUROC"),
        ("oe_ratio", "O/E ratio"),
        ("calibration_slope", "Calibration slope"),
        ("ici", "ICI"),
        ("brier", "Brier score"),
    ]:
        m = result.metrics.get(key)
        if m is not None:
            table.add_row(name, _num(m.value), f"{_num(m.ci_low)} to {_num(m.ci_high)}")
    for row in result.thresholds:
        table.add_row(
            f"Sensitivity / PPV at {row.threshold:g}",
            f"{_num(row.sensitivity.value)} / {_num(row.ppv.value)}",
            "",
        )
    out.print(table)
    excluded = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in result.excluded.items() if v)
    if excluded:
        out.print(f"Excluded rows: {excluded}.")
    colour = {"pass": "green", "fail": "red", "inconclusive": "yellow"}.get(
        result.verdict.status, ""
    )
    verdict = result.verdict.status.replace("_", " ").upper()
    out.print(f"Verdict: [bold {colour}]{verdict}[/] — {result.verdict.summary}", highlight=False)
    for c in result.verdict.criteria:
        out.print(f"  [{c.status}] {c.criterion}: {c.evidence}", highlight=False, markup=False)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for kind, path in (("JSON", json_out), ("HTML report", html_out)):
        if path is not None:
            out.print(f"{kind} written to {path}")


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
