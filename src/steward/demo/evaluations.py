"""The demo's local evaluations: the real engine run on seeded synthetic data, one site at a time.

Three result documents: the deterioration score validated at Riverside and St Luke's (passes),
the sepsis score validated on the same hospitals (passes), and the deterioration score's equity
audit at Northgate (fails: the synthetic data under-predict risk in one ethnic group by design).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from steward.errors import StewardError

ROWS = 150_000
"""Synthetic rows per seed: about 75,000 at Riverside and St Luke's, 53,000 at Northgate."""

RIVERSIDE_SITES = ("Riverside", "St Luke's")
NORTHGATE_SITES = ("Northgate",)


class DemoEvaluationError(StewardError):
    """An evaluation of the demo did not reach the verdict its story needs."""


@dataclass(frozen=True)
class DemoResult:
    """One result document (as ``steward evaluate --json`` writes it) and its HTML report."""

    document: dict[str, Any]
    report_html: str


@dataclass(frozen=True)
class DemoEvaluations:
    """The results of the demo's three evaluations."""

    dews_validation: DemoResult
    sepsis_validation: DemoResult
    northgate_equity_audit: DemoResult


def run_demo_evaluations(rows: int = ROWS) -> DemoEvaluations:
    """Generate the synthetic data, run the three evaluations and render their reports."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from steward.evaluation.run import evaluate
    from steward.evaluation.spec import EvaluationSpec, OutcomeSpec, load_spec
    from steward.synthetic import generate

    validation = load_spec(_spec_path("deterioration-validation.yaml"))
    equity = load_spec(_spec_path("deterioration-equity-audit.yaml"))
    sepsis: EvaluationSpec = validation.model_copy(
        update={
            "title": "Sepsis Sentinel — local validation before the live pilot",
            "outcome": OutcomeSpec(
                definition="Sepsis-related unplanned ICU admission, cardiac arrest or death "
                "within 24 hours of the score"
            ),
        }
    )

    def sites(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
        return table.filter(pc.is_in(table["site"], pa.array(names)))

    first, second = generate(rows, seed=0), generate(rows, seed=1)
    documents = (
        evaluate(sites(first, RIVERSIDE_SITES), validation),
        evaluate(sites(second, RIVERSIDE_SITES), sepsis),
        evaluate(sites(first, NORTHGATE_SITES), equity),
    )
    expected = ("pass", "pass", "fail")
    for result, verdict in zip(documents, expected, strict=True):
        if result.verdict.status != verdict:
            raise DemoEvaluationError(
                f"the demo evaluation {result.title!r} gave {result.verdict.status}, "
                f"not {verdict}: {result.verdict.summary}"
            )
    dews, sepsis_result, audit = (_result(d.model_dump(mode="json")) for d in documents)
    return DemoEvaluations(dews, sepsis_result, audit)


def _result(document: dict[str, Any]) -> DemoResult:
    from steward.evaluation.report import render_html

    return DemoResult(document, render_html(document))


def _spec_path(name: str) -> Any:
    return resources.files("steward.cli").joinpath("demo_specs", name)
