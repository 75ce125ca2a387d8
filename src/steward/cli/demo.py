"""`steward demo`: a realistic synthetic data set validated end to end, with reports to read."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from steward.cli.progress import scan_progress
from steward.errors import InputError
from steward.files import write_text_atomic

out = Console()
err = Console(stderr=True)

DEMO_SPECS = ("deterioration-validation.yaml", "deterioration-equity-audit.yaml")


def demo_command(
    rows: Annotated[int, typer.Option(help="Rows of synthetic predictions.")] = 500_000,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the data, specs and reports are written.")
    ] = Path(".steward/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data set.")] = 0,
) -> None:
    """Generate two years of synthetic deterioration-score data and validate it end to end.

    Runs a local validation against pre-agreed acceptance criteria (with a clinician comparator)
    and an equity audit by ethnicity, and writes each result as JSON and as an HTML report.
    """
    from steward.evaluation.report import write_html
    from steward.evaluation.run import evaluate
    from steward.evaluation.spec import load_spec
    from steward.synthetic import write

    try:
        directory.mkdir(parents=True, exist_ok=True)
        data = directory / f"deterioration-{rows}-seed{seed}.parquet"
        if not data.exists():
            started = time.perf_counter()
            with out.status(f"Generating {rows:,} synthetic predictions..."):
                write(data, rows, seed=seed)
            out.print(f"Generated {data} in {time.perf_counter() - started:.1f} s")
        for name in DEMO_SPECS:
            spec_path = directory / name
            write_text_atomic(spec_path, _demo_spec(name))
            spec = load_spec(spec_path)
            started = time.perf_counter()
            with scan_progress(err) as progress:
                result = evaluate(data, spec, progress=progress)
            stem = spec_path.stem
            write_text_atomic(directory / f"{stem}.json", result.model_dump_json(indent=2) + "\n")
            report = write_html(result.model_dump(mode="json"), directory / f"{stem}.html")
            elapsed = time.perf_counter() - started
            out.print(
                f"[bold]{result.title}[/]: verdict [bold]{result.verdict.status.upper()}[/] "
                f"({result.verdict.summary}) in {elapsed:.1f} s",
                highlight=False,
            )
            out.print(f"  spec   {spec_path}", highlight=False)
            out.print(f"  report {report.resolve().as_uri()}", highlight=False)
    except InputError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _demo_spec(name: str) -> str:
    return resources.files("steward.cli").joinpath("demo_specs", name).read_text(encoding="utf-8")
