"""Acceptance criteria parsing, spec validation and the verdict rules."""

from pathlib import Path

import pytest

from steward.errors import InputError
from steward.evaluation.criteria import Criterion, parse_criterion
from steward.evaluation.result import (
    AurocDifference,
    Comparator,
    Metric,
    SampleSize,
    SampleSizeCriterion,
    SubgroupLevel,
    ThresholdRow,
)
from steward.evaluation.spec import load_spec, spec_from_mapping
from steward.evaluation.verdict import Evidence, check_criterion, reach_verdict


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auroc.ci_low >= 0.70", Criterion(metric="auroc", statistic="ci_low", op=">=", limit=0.7)),
        ("abs(CITL) <= 0.05", Criterion(metric="citl", absolute=True, op="<=", limit=0.05)),
        (
            "gap(tpr@0.2, ethnicity) <= 0.10",
            Criterion(
                metric="sensitivity", threshold=0.2, gap_across="ethnicity", op="<=", limit=0.1
            ),
        ),
        ("  slope>0.8 ", Criterion(metric="calibration_slope", op=">", limit=0.8)),
        (
            "fpr@0.1.ci_high < 0.3",
            Criterion(metric="fpr", threshold=0.1, statistic="ci_high", op="<", limit=0.3),
        ),
    ],
)
def test_expressions_parse_to_structured_criteria(text: str, expected: Criterion) -> None:
    assert parse_criterion(text) == expected


def test_expression_form_round_trips() -> None:
    for text in ["auroc.ci_low >= 0.7", "abs(citl) <= 0.05", "gap(sensitivity@0.2, sex) <= 0.1"]:
        assert parse_criterion(text).text == text
        assert parse_criterion(parse_criterion(text).text) == parse_criterion(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("aurc >= 0.7", "unknown metric 'aurc'"),
        ("sensitivity >= 0.7", "write it as sensitivity@T"),
        ("auroc@0.2 >= 0.7", "not a threshold metric"),
        ("auroc is good", "could not be read"),
        ("ppv@1.5 >= 0.1", "strictly between 0 and 1"),
    ],
)
def test_bad_criteria_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_criterion(text)


def _spec(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {"columns": {"score": "p", "label": "y", "groups": ["sex"]}}
    base.update(extra)
    return base


def test_threshold_criteria_imply_their_thresholds() -> None:
    spec = spec_from_mapping(_spec(thresholds=[0.3], acceptance=["sensitivity@0.1 >= 0.5"]))
    assert spec.thresholds == (0.1, 0.3)


def test_spec_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "columns: {score: p, label: y}\nthresholds: [0.2, 1.2]\nbootstrap: {replicates: -1}\n"
    )
    with pytest.raises(InputError) as raised:
        load_spec(path)
    message = str(raised.value)
    assert str(path) in message
    assert "thresholds" in message
    assert "bootstrap.replicates" in message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"acceptance": ["gap(auroc, site) <= 0.1"]}, "not one of the group columns"),
        ({"acceptance": ["auroc_difference.ci_low >= 0"]}, "needs a comparator"),
        ({"intersections": [["sex", "site"]]}, "two or more of the group columns"),
        ({"colums": {}}, "colums"),
    ],
)
def test_inconsistent_specs_are_refused(extra: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        spec_from_mapping(_spec(**extra))


def test_missing_or_malformed_spec_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_spec(bad)


def _metric(value: float | None, low: float | None = None, high: float | None = None) -> Metric:
    return Metric(value=value, ci_low=low, ci_high=high)


def _row(t: float, sens: float, spec: float) -> ThresholdRow:
    m = _metric
    return ThresholdRow(
        threshold=t,
        sensitivity=m(sens, sens - 0.05, sens + 0.05),
        specificity=m(spec, spec - 0.02, spec + 0.02),
        ppv=m(0.2),
        npv=m(0.97),
        alert_rate=m(0.1),
        alerts_per_true_positive=m(5.0),
        net_benefit=m(0.01),
        treat_all_net_benefit=-0.02,
        tp=1,
        fp=1,
        tn=1,
        fn=1,
    )


def _level(sens: float, *, suppressed: bool = False) -> SubgroupLevel:
    return SubgroupLevel(
        n=None if suppressed else 500,
        n_events=None if suppressed else 40,
        metrics={"auroc": _metric(0.8)},
        thresholds=[_row(0.2, sens, 0.9)],
        imprecise=True,
        suppressed=suppressed,
    )


def _evidence(adequate: bool | None = True) -> Evidence:
    return Evidence(
        metrics={
            "auroc": _metric(0.78, 0.75, 0.81),
            "citl": _metric(-0.03, -0.04, -0.02),
            "ici": _metric(None),
        },
        thresholds=[_row(0.2, 0.6, 0.9)],
        subgroups={
            "sex": {"F": _level(0.55), "M": _level(0.70), "U": _level(0.0, suppressed=True)}
        },
        comparator=Comparator(
            column="c",
            n_paired=10,
            n_events_paired=2,
            metrics={},
            score_metrics={},
            auroc_difference=AurocDifference(value=0.05, ci_low=0.01, ci_high=0.09, p_value=0.01),
            net_benefit_difference=[],
        ),
        sample_size=SampleSize(
            adequate=adequate,
            criteria=[
                SampleSizeCriterion(
                    name="calibration slope", required_n=5000, available_n=900, adequate=adequate
                )
            ],
            note="",
        ),
    )


def test_each_criterion_reports_its_evidence() -> None:
    evidence = _evidence()
    auroc = check_criterion(parse_criterion("auroc.ci_low >= 0.70"), evidence)
    assert (auroc.status, auroc.observed) == ("pass", 0.75)
    assert "0.780" in auroc.evidence
    citl = check_criterion(parse_criterion("abs(citl) <= 0.02"), evidence)
    assert citl.status == "fail"
    assert citl.observed == pytest.approx(0.03)
    fpr = check_criterion(parse_criterion("fpr@0.2.ci_high <= 0.15"), evidence)
    assert fpr.observed == pytest.approx(0.12)
    gap = check_criterion(parse_criterion("gap(sensitivity@0.2, sex) <= 0.10"), evidence)
    assert gap.status == "fail"
    assert gap.observed == pytest.approx(0.15)
    assert "suppressed" in gap.evidence  # the n < 11 level is left out, and the report says so
    diff = check_criterion(parse_criterion("auroc_difference.ci_low > 0"), evidence)
    assert diff.status == "pass"
    undefined = check_criterion(parse_criterion("ici <= 0.05"), evidence)
    assert undefined.status == "inconclusive"


def test_verdict_rules() -> None:
    passing = [parse_criterion("auroc.ci_low >= 0.70")]
    failing = [*passing, parse_criterion("auroc >= 0.9")]
    undefined = [*passing, parse_criterion("ici <= 0.05")]
    assert reach_verdict([], _evidence()).status == "not_assessed"
    assert reach_verdict(passing, _evidence()).status == "pass"
    assert reach_verdict(failing, _evidence()).status == "fail"
    assert reach_verdict(undefined, _evidence()).status == "inconclusive"
    small = reach_verdict(passing, _evidence(adequate=False))
    assert small.status == "inconclusive"
    assert "calibration slope" in small.summary
