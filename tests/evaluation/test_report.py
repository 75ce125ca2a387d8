"""The HTML validation report: self-contained, accessible, escaped, small-cell safe, complete."""

from __future__ import annotations

import copy
import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steward.errors import InputError
from steward.evaluation.report import formatting as fmt
from steward.evaluation.report import render_html, write_html
from steward.evaluation.report.charts import MAX_POINTS, chart_label, thin

SVG_NAMESPACES = {
    'xmlns="http://www.w3.org/2000/svg"',
    'xmlns:xlink="http://www.w3.org/1999/xlink"',
}
HOSTILE = '<script>alert("x")</script>'


# --------------------------------------------------------------------------- fixtures


def _metric(value: float, se: float) -> dict[str, float | None]:
    return {"value": value, "ci_low": value - 1.96 * se, "ci_high": value + 1.96 * se}


def _proportion(k: int, n: int) -> dict[str, float | None]:
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None}
    p = k / n
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"value": p, "ci_low": centre - half, "ci_high": centre + half}


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    n1 = int(y.sum())
    n0 = len(y) - n1
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _threshold_rows(y: np.ndarray, p: np.ndarray, thresholds: list[float]) -> list[dict[str, Any]]:
    rows = []
    n = len(y)
    prevalence = y.mean()
    for t in thresholds:
        flagged = p >= t
        tp = int((flagged & (y == 1)).sum())
        fp = int((flagged & (y == 0)).sum())
        tn = int((~flagged & (y == 0)).sum())
        fn = int((~flagged & (y == 1)).sum())
        nb = tp / n - fp / n * t / (1 - t)
        rows.append(
            {
                "threshold": t,
                "sensitivity": _proportion(tp, tp + fn),
                "specificity": _proportion(tn, tn + fp),
                "ppv": _proportion(tp, tp + fp),
                "npv": _proportion(tn, tn + fn),
                "alert_rate": _proportion(tp + fp, n),
                "alerts_per_true_positive": _metric((tp + fp) / max(tp, 1), 0.08),
                "net_benefit": _metric(nb, 0.002),
                "treat_all_net_benefit": prevalence - (1 - prevalence) * t / (1 - t),
                "tp": tp,
                "fp": fp,
                "tn": tn,
                "fn": fn,
            }
        )
    return rows


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    n = len(y)
    scale = 1 / math.sqrt(n)
    auroc = _auroc(y, p)
    brier = float(np.mean((p - y) ** 2))
    ybar = float(y.mean())
    return {
        "auroc": _metric(auroc, 0.35 * scale),
        "average_precision": _metric(0.41, 0.9 * scale),
        "brier": _metric(brier, 0.1 * scale),
        "scaled_brier": _metric(1 - brier / (ybar * (1 - ybar)), 0.5 * scale),
        "oe_ratio": _metric(float(y.sum() / p.sum()), 1.5 * scale),
        "citl": _metric(float(y.mean() - p.mean()), 0.2 * scale),
        "calibration_intercept": _metric(0.04, 2 * scale),
        "calibration_slope": _metric(0.93, 2.5 * scale),
        "ici": _metric(0.011, 0.2 * scale),
        "e50": _metric(0.008, 0.2 * scale),
        "e90": _metric(0.024, 0.4 * scale),
        "emax": _metric(0.061, 1.0 * scale),
        "ece": _metric(0.013, 0.2 * scale),
        "log_loss": _metric(0.301, 0.5 * scale),
    }


def full_result() -> dict[str, Any]:
    """A complete, realistic result document: 6,000 admissions, five subgroup columns."""
    rng = np.random.default_rng(20261122)
    n = 6000
    sex = rng.choice(["Female", "Male"], n)
    age = rng.choice(["18–44", "45–64", "65–79", "80+"], n, p=[0.25, 0.3, 0.3, 0.15])
    ethnicity = rng.choice(
        ["White", "Asian", "Black", "Mixed", HOSTILE], n, p=[0.78, 0.12, 0.07, 0.0285, 0.0015]
    )
    site = rng.choice(["Northgate", "Riverside", "St Anne's"], n)
    imd = rng.choice(["1 (most deprived)", "2", "3", "4", "5 (least deprived)"], n)
    logit = -2.2 + 1.3 * rng.standard_normal(n) + 0.4 * (age == "80+")
    risk = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < risk * 1.04).astype(np.int64)
    p = np.clip(1 / (1 + np.exp(-(logit * 0.95 + rng.normal(0, 0.6, n)))), 0.001, 0.999)
    thresholds = [0.1, 0.2, 0.3]

    order = np.argsort(-p)
    tps = np.cumsum(y[order])
    fps = np.cumsum(1 - y[order])
    fpr = np.concatenate([[0.0], fps / fps[-1]])
    tpr = np.concatenate([[0.0], tps / tps[-1]])

    grid = np.linspace(0.01, 0.7, 120)
    bandwidth = 0.04
    observed, low, high = [], [], []
    for g in grid:
        w = np.exp(-0.5 * ((p - g) / bandwidth) ** 2)
        o = float((w * y).sum() / w.sum())
        se = math.sqrt(o * (1 - o) / max(w.sum(), 1.0))
        observed.append(o)
        low.append(max(0.0, o - 1.96 * se))
        high.append(min(1.0, o + 1.96 * se))
    deciles = np.quantile(p, np.linspace(0, 1, 11))
    groups: dict[str, list[float]] = {
        k: [] for k in ("predicted", "observed", "ci_low", "ci_high", "n")
    }
    for lo, hi in itertools.pairwise(deciles):
        inside = (p >= lo) & (p <= hi)
        share = _proportion(int(y[inside].sum()), int(inside.sum()))
        groups["predicted"].append(float(p[inside].mean()))
        groups["observed"].append(share["value"])  # type: ignore[arg-type]
        groups["ci_low"].append(share["ci_low"])  # type: ignore[arg-type]
        groups["ci_high"].append(share["ci_high"])  # type: ignore[arg-type]
        groups["n"].append(float(inside.sum()))
    dca_t = np.linspace(0.01, 0.6, 60)
    prevalence = float(y.mean())
    model_nb = [
        float(((p >= t) & (y == 1)).mean() - ((p >= t) & (y == 0)).mean() * t / (1 - t))
        for t in dca_t
    ]
    treat_all = [prevalence - (1 - prevalence) * t / (1 - t) for t in dca_t]
    clinician = np.clip(p + rng.normal(0, 0.12, n), 0.001, 0.999)
    clinician_nb = [
        float(
            ((clinician >= t) & (y == 1)).mean()
            - ((clinician >= t) & (y == 0)).mean() * t / (1 - t)
        )
        for t in dca_t
    ]

    def levels(values: np.ndarray) -> dict[str, Any]:
        out = {}
        for level in sorted(set(values.tolist())):
            inside = values == level
            k, events = int(inside.sum()), int(y[inside].sum())
            if k < 11:
                out[level] = {
                    "n": None,
                    "n_events": None,
                    "metrics": {},
                    "thresholds": [],
                    "imprecise": True,
                    "suppressed": True,
                }
                continue
            out[level] = {
                "n": k,
                "n_events": events,
                "metrics": _metrics(y[inside], p[inside]),
                "thresholds": _threshold_rows(y[inside], p[inside], thresholds),
                "imprecise": events < 100 or k - events < 100,
                "suppressed": False,
            }
        return out

    subgroups = {
        "sex": levels(sex),
        "age_band": levels(age),
        "ethnicity": levels(ethnicity),
        "site": levels(site),
        "imd_quintile": levels(imd),
    }
    gaps = []
    for column, by_level in subgroups.items():
        for level in by_level:
            for metric in ("auroc", "oe_ratio"):
                gaps.append(
                    {
                        "column": column,
                        "level": level,
                        "metric": metric,
                        "threshold": None,
                        "difference": _metric(float(rng.normal(0, 0.02)), 0.015),
                        "p_value": float(rng.uniform(0, 1)),
                        "p_adjusted": 1.0,
                        "flagged": False,
                    }
                )
    gaps[5].update(p_value=0.00002, p_adjusted=0.0009, flagged=True)
    gaps[5]["difference"] = _metric(-0.061, 0.012)

    months = [f"2025-{m:02d}-01" for m in range(1, 13)]
    windows = []
    for i, month in enumerate(months):
        windows.append(
            {
                "window": month,
                "n": 480 + 7 * i,
                "n_events": 60 + i,
                "metrics": {
                    "auroc": _metric(0.80 - 0.003 * i, 0.02),
                    "oe_ratio": _metric(0.98 + 0.01 * i, 0.06),
                },
                "suppressed": False,
            }
        )
    windows.append(
        {"window": "2026-01-01", "n": None, "n_events": None, "metrics": {}, "suppressed": True}
    )

    return {
        "steward_version": "0.1.0",
        "generated_at": "2026-11-22T14:05:00+00:00",
        "title": "Deterioration Index v2.3 — adult inpatient wards",
        "data": {
            "source": "warehouse/ews_validation_2025.parquet",
            "rows_read": n + 57,
            "columns": {
                "score": "di_score",
                "label": "deteriorated_24h",
                "groups": list(subgroups),
                "comparator": "news2_risk",
                "patient": "patient_id",
                "time": "admitted_at",
            },
            "score_scale": "probability",
            "outcome_definition": (
                "Unplanned ICU admission, cardiac arrest call or death within 24 hours of the "
                "score, from the ward observation and ICU admission records."
            ),
        },
        "n": n,
        "n_events": int(y.sum()),
        "prevalence": prevalence,
        "metrics": _metrics(y, p),
        "auroc_binning_bound": 0.00031,
        "thresholds": _threshold_rows(y, p, thresholds),
        "curves": {
            "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
            "calibration": {
                "predicted": grid.tolist(),
                "observed": observed,
                "ci_low": low,
                "ci_high": high,
            },
            "calibration_groups": groups,
            "decision": {
                "threshold": dca_t.tolist(),
                "model": model_nb,
                "treat_all": treat_all,
                "comparator": clinician_nb,
            },
        },
        "subgroups": subgroups,
        "subgroup_gaps": gaps,
        "comparator": {
            "column": "news2_risk",
            "n_paired": n - 40,
            "n_events_paired": int(y.sum()) - 5,
            "metrics": _metrics(y, clinician),
            "score_metrics": _metrics(y, p),
            "auroc_difference": {
                "value": 0.031,
                "ci_low": 0.018,
                "ci_high": 0.044,
                "p_value": 0.00001,
            },
            "net_benefit_difference": [
                {"threshold": 0.1, "value": 0.004, "ci_low": 0.001, "ci_high": 0.007},
                {"threshold": 0.2, "value": 0.002, "ci_low": -0.001, "ci_high": 0.005},
            ],
        },
        "sample_size": {
            "adequate": True,
            "criteria": [
                {"name": "O/E ratio", "required_n": 905, "available_n": n, "adequate": True},
                {"name": "C-statistic", "required_n": 4252, "available_n": n, "adequate": True},
                {
                    "name": "Calibration slope",
                    "required_n": 4501,
                    "available_n": n,
                    "adequate": True,
                },
            ],
            "note": "Riley et al. (2021) criteria for the precision set in the evaluation spec.",
        },
        "verdict": {
            "status": "pass",
            "summary": "All 3 acceptance criteria met.",
            "criteria": [
                {
                    "criterion": "auroc >= 0.75",
                    "status": "pass",
                    "evidence": "AUROC 0.801 (95% CI 0.786–0.815); lower bound above 0.75.",
                },
                {
                    "criterion": "calibration_slope between 0.8 and 1.2",
                    "status": "pass",
                    "evidence": "Calibration slope 0.93 (0.87–0.99).",
                },
                {
                    "criterion": "auroc gap across sex <= 0.05",
                    "status": "pass",
                    "evidence": "Largest AUROC gap 0.012.",
                },
            ],
        },
        "excluded": {"missing_score": 41, "missing_label": 9, "score_out_of_range": 7},
        "time_windows": {"column": "admitted_at", "window": "month", "levels": windows},
        "bootstrap": {"method": "stratified", "replicates": 2000, "seed": 12345},
        "warnings": [
            "57 rows were excluded before analysis (see Data).",
            "Ethnicity level with fewer than 11 patients suppressed.",
        ],
    }


def minimal_result() -> dict[str, Any]:
    """The least a result document can say."""
    return {
        "steward_version": "0.1.0",
        "generated_at": "2026-11-22T14:05:00Z",
        "data": {"source": "scores.csv"},
        "n": 250,
        "n_events": 31,
        "prevalence": 0.124,
        "verdict": {"status": "not_assessed", "criteria": []},
    }


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return full_result()


@pytest.fixture(scope="module")
def full_page(full: dict[str, Any]) -> str:
    return render_html(full)


# --------------------------------------------------------------------------- helpers


class _Outline(HTMLParser):
    """Headings, tables, svgs and every tag's attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[int] = []
        self.html_lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "html":
            self.html_lang = attributes.get("lang")


def outline(page: str) -> _Outline:
    parser = _Outline()
    parser.feed(page)
    return parser


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)


def section_ids(page: str) -> set[str]:
    return set(re.findall(r'<section id="([^"]+)"', page))


# --------------------------------------------------------------------------- rendering


def test_full_report_renders_every_section(full_page: str) -> None:
    assert full_page.startswith("<!doctype html>")
    assert section_ids(full_page) == {
        "verdict",
        "warnings",
        "data",
        "sample-size",
        "discrimination",
        "calibration",
        "decision-curve",
        "thresholds",
        "subgroups",
        "comparator",
        "time-windows",
    }
    assert "Deterioration Index v2.3 — adult inpatient wards" in full_page
    assert "warehouse/ews_validation_2025.parquet" in full_page
    assert "22 Nov 2026, 14:05 UTC" in full_page
    assert "Unplanned ICU admission" in full_page


def test_minimal_report_renders_only_what_is_present() -> None:
    page = render_html(minimal_result())
    assert section_ids(page) == {"verdict", "data"}
    assert "Not assessed" in page
    assert page.count("No acceptance criteria were set") == 1
    assert "12.4%" in page
    assert "<svg" not in page


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"verdict": None, "data": None, "metrics": None, "curves": None, "subgroups": None},
        {"metrics": {"auroc": None, "oe_ratio": {"value": None}}, "thresholds": [None, {}]},
        {"curves": {"roc": {"fpr": [0.0], "tpr": [1.0]}, "decision": {"threshold": "x"}}},
        {"curves": {"roc": {"fpr": [0, 0.5, 1], "tpr": [0, 0.7]}}},
        {"subgroups": {"sex": {"F": {}, "M": None}}, "subgroup_gaps": [None, {"column": "sex"}]},
        {"time_windows": {"levels": [{"window": "2024-01"}]}, "comparator": {}},
        {"sample_size": {"adequate": "maybe", "criteria": [{"adequate": [1]}]}},
        {"n": "many", "prevalence": float("nan"), "generated_at": "yesterday", "excluded": [3]},
        {"verdict": {"status": "weird", "criteria": [{"status": "odd", "criterion": 3}]}},
        {
            "title": "a\x07b",
            "subgroups": {"\x1b": {"\x00x": {"n": 50, "metrics": {"auroc": {"value": 0.7}}}}},
        },
    ],
)
def test_partial_or_malformed_documents_never_crash(document: dict[str, Any]) -> None:
    page = render_html(document)
    assert page.rstrip().endswith("</html>")
    for svg in svgs(page):
        ET.fromstring(svg)


ALL_SECTIONS = {
    "verdict", "warnings", "data", "sample-size", "discrimination", "calibration",
    "decision-curve", "thresholds", "subgroups", "comparator", "time-windows",
}  # fmt: skip

REMOVALS: dict[str, Callable[[dict[str, Any]], object]] = {
    "warnings": lambda d: d.update(warnings=[]),
    "sample-size": lambda d: d.pop("sample_size"),
    "discrimination": lambda d: (
        d["metrics"].pop("auroc"),
        d["metrics"].pop("average_precision"),
        d["curves"].pop("roc"),
    ),
    "calibration": lambda d: (
        d.update(metrics={"auroc": d["metrics"]["auroc"]}),
        d["curves"].pop("calibration"),
        d["curves"].pop("calibration_groups"),
    ),
    "decision-curve": lambda d: d["curves"].pop("decision"),
    "thresholds": lambda d: d.update(thresholds=[]),
    "subgroups": lambda d: d.update(subgroups={}, subgroup_gaps=[]),
    "comparator": lambda d: d.update(comparator=None),
    "time-windows": lambda d: d.update(time_windows=None),
}


@pytest.mark.parametrize("section", sorted(REMOVALS))
def test_each_optional_section_follows_its_data(full: dict[str, Any], section: str) -> None:
    document = copy.deepcopy(full)
    # One subgroup column is enough here and keeps the render quick.
    document["subgroups"] = {"ethnicity": document["subgroups"]["ethnicity"]}
    REMOVALS[section](document)
    assert section_ids(render_html(document)) == ALL_SECTIONS - {section}


def test_verdict_banner_shows_status_criteria_and_evidence() -> None:
    document = minimal_result()
    document["verdict"] = {
        "status": "fail",
        "criteria": [
            {"criterion": "auroc >= 0.85", "status": "fail", "evidence": "AUROC 0.801 below 0.85."},
            {"criterion": "ici <= 0.02", "status": "inconclusive", "evidence": "ICI not computed."},
        ],
    }
    page = render_html(document)
    banner = page[page.index('<section id="verdict"') : page.index("</section>")]
    assert "verdict--fail" in banner
    assert "Verdict: Fail</h2>" in banner
    assert "auroc &gt;= 0.85" in banner
    assert "AUROC 0.801 below 0.85." in banner
    assert "badge--inconclusive" in banner
    assert "At least one acceptance criterion was not met." in banner


# --------------------------------------------------------------------------- self-contained


def test_page_loads_nothing_from_anywhere(full_page: str) -> None:
    urls = re.findall(r"[a-z:]*//[^\s\"'<>)]*", full_page, flags=re.IGNORECASE)
    namespaces = re.findall(r'xmlns(?::\w+)?="[^"]*"', full_page)
    assert set(namespaces) <= SVG_NAMESPACES
    assert len([u for u in urls if u.startswith(("http:", "https:"))]) == len(namespaces)
    assert not re.search(r"<script\b", full_page, flags=re.IGNORECASE)
    assert not re.search(r"<link\b", full_page, flags=re.IGNORECASE)
    assert not re.search(r"<(img|iframe|object|embed)\b", full_page, flags=re.IGNORECASE)
    assert "@import" not in full_page
    assert "@font-face" not in full_page
    assert not re.search(r"url\((?!#)", full_page)
    for _, attributes in outline(full_page).tags:
        for name in ("src", "href", "xlink:href"):
            value = attributes.get(name)
            assert value is None or value.startswith("#"), (name, value)


def test_every_svg_is_well_formed_and_labelled(full_page: str) -> None:
    charts = svgs(full_page)
    assert len(charts) == 4 + 5  # roc, calibration, decision, over time; a forest per column
    ids: list[str] = []
    for svg in charts:
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
        label = root.get("aria-label")
        assert label
        assert len(label) > 30
        title = root.find("{http://www.w3.org/2000/svg}title")
        assert title is not None
        assert title.text == label
        ids += [el.get("id") for el in root.iter() if el.get("id")]  # type: ignore[misc]
    assert len(ids) == len(set(ids)), "ids must be unique across the page"
    # every internal reference resolves on the page
    for ref in re.findall(r'(?:url\(#|href="#)([^)"]+)', full_page):
        assert f'id="{ref}"' in full_page, ref


def test_charts_keep_text_as_text_without_fonts_or_metadata(full_page: str) -> None:
    for svg in svgs(full_page):
        assert "<text" in svg
        assert "font-family" not in svg
        assert "<metadata" not in svg
        assert "<!DOCTYPE" not in svg


def test_long_curves_are_thinned(full: dict[str, Any], full_page: str) -> None:
    roc = next(s for s in svgs(full_page) if 'id="chart-roc"' in s)
    longest = max(len(d.split("L")) for d in re.findall(r' d="([^"]+)"', roc))
    assert len(full["curves"]["roc"]["fpr"]) > 5000
    assert longest <= MAX_POINTS


def test_page_stays_small_with_five_subgroup_columns(full_page: str) -> None:
    assert len(full_page.encode()) < 1_000_000


def test_rendering_is_deterministic(full: dict[str, Any], full_page: str) -> None:
    assert render_html(copy.deepcopy(full)) == full_page


# --------------------------------------------------------------------------- escaping


def test_user_strings_are_escaped_everywhere(full: dict[str, Any]) -> None:
    document = copy.deepcopy(full)
    document["title"] = HOSTILE
    document["data"]["source"] = HOSTILE
    document["data"]["outcome_definition"] = HOSTILE
    document["warnings"].append(HOSTILE)
    document["verdict"]["criteria"][0]["evidence"] = HOSTILE
    document["comparator"]["column"] = HOSTILE
    subgroups = document["subgroups"]
    document["subgroups"] = {HOSTILE: subgroups["sex"], "site": subgroups["site"]}
    document["subgroups"]["site"]['Level "$x$" & <b>'] = document["subgroups"]["site"].pop(
        "Riverside"
    )
    document["time_windows"]["levels"][0]["window"] = HOSTILE
    page = render_html(document)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "<b>" not in page
    for svg in svgs(page):
        ET.fromstring(svg)


def test_chart_labels_are_safe_for_matplotlib() -> None:
    assert chart_label("cost $5 $10") == r"cost \$5 \$10"
    assert chart_label("a\x00b\nc") == "a b c"
    assert chart_label("x" * 50).endswith("…")


# --------------------------------------------------------------------------- small cells


def test_suppressed_levels_show_no_counts_or_estimates(full: dict[str, Any]) -> None:
    document = copy.deepcopy(full)
    document["subgroups"] = {"site": document["subgroups"]["site"]}
    # A producer that flags a level but still carries its counts must not leak them.
    document["subgroups"]["site"]["Tiny ward"] = {
        "n": 7,
        "n_events": 3,
        "imprecise": True,
        "suppressed": True,
        "metrics": {"auroc": {"value": 0.6789, "ci_low": 0.1234, "ci_high": 0.9876}},
        "thresholds": [],
    }
    document["subgroup_gaps"].append(
        {
            "column": "site",
            "level": "Tiny ward",
            "metric": "auroc",
            "threshold": None,
            "difference": {"value": -0.4321, "ci_low": -0.9, "ci_high": 0.1},
            "p_value": 0.0456,
            "p_adjusted": 0.789,
            "flagged": False,
        }
    )
    page = render_html(document)
    rows = re.findall(
        r"<tr[^>]*>\s*(?:<td>site</td>)?\s*<th scope=\"row\">Tiny ward.*?</tr>",
        page,
        re.DOTALL,
    )
    assert len(rows) == 2  # the level row and its gap-test row
    for row in rows:
        assert "withheld" in row
        for leaked in ("0.679", "0.123", "0.988", "0.432", "0.046", "0.789", ">7<", ">3<"):
            assert leaked not in row
    assert rows[0].count("&lt;11") == 2
    forest = next(s for s in svgs(page) if "levels of site" in s)
    assert "0.679" not in forest
    assert "Tiny ward" in forest
    assert "suppressed" in forest


def test_suppressed_time_window_is_withheld(full_page: str) -> None:
    row = re.search(r"<th scope=\"row\">Jan 2026</th>.*?</tr>", full_page, re.DOTALL)
    assert row is not None
    assert "&lt;11" in row.group(0)
    assert "withheld" in row.group(0)


def test_calibration_groups_under_eleven_patients_are_not_drawn(full: dict[str, Any]) -> None:
    def drawn_markers(document: dict[str, Any]) -> int:
        page = render_html(document)
        chart = next(s for s in svgs(page) if 'id="chart-calibration"' in s)
        return chart.count("<use ")

    document = copy.deepcopy(full)
    document.update(subgroups={}, subgroup_gaps=[], time_windows=None, comparator=None)
    before = drawn_markers(document)
    document["curves"]["calibration_groups"]["n"][-1] = 9
    # a point and its two error-bar caps fewer
    assert drawn_markers(document) == before - 3


def test_small_counts_are_withheld_everywhere() -> None:
    page = render_html({**minimal_result(), "excluded": {"missing_score": 4, "missing_label": 0}})
    assert ">&lt;11<" in page
    assert ">4<" not in page
    assert fmt.count(0) == "0"
    assert fmt.count(10) == "<11"
    assert fmt.count(11) == "11"


# --------------------------------------------------------------------------- accessibility


def test_page_structure_is_accessible(full_page: str) -> None:
    doc = outline(full_page)
    assert doc.html_lang == "en"
    assert re.search(r"<title>[^<]+</title>", full_page)
    assert doc.headings[0] == 1
    assert doc.headings.count(1) == 1
    for before, after in zip(doc.headings, doc.headings[1:], strict=False):
        assert after <= before + 1, "headings must not skip levels"
    tables = re.findall(r"<table\b.*?</table>", full_page, flags=re.DOTALL)
    assert len(tables) > 10
    for table in tables:
        assert re.search(r"<caption>[^<]+", table)
        headers = re.findall(r"<th\b([^>]*)>", table)
        assert headers
        assert all('scope="col"' in h or 'scope="row"' in h for h in headers)
    assert '<main id="main">' in full_page
    assert '<nav class="contents" aria-label="Contents">' in full_page


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa_contrast(full_page: str) -> None:
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", full_page))
    colours["white"] = "#ffffff"
    masthead_muted = re.search(r"\.masthead \.kicker \{[^}]*color: (#[0-9a-fA-F]{6})", full_page)
    assert masthead_muted is not None
    colours["masthead-muted"] = masthead_muted.group(1)
    pairs = [
        ("ink", "paper"), ("muted", "paper"), ("muted", "wash"), ("accent", "paper"),
        ("accent", "wash"), ("pass", "pass-bg"), ("fail", "fail-bg"), ("warn", "warn-bg"),
        ("none", "none-bg"), ("white", "navy"), ("masthead-muted", "navy"), ("navy", "paper"),
    ]  # fmt: skip
    for text, background in pairs:
        assert _contrast(colours[text], colours[background]) >= 4.5, (text, background)


def test_flagged_gaps_are_shown_and_the_rest_folded(full: dict[str, Any], full_page: str) -> None:
    assert f"1 of {len(full['subgroup_gaps'])} comparisons flagged." in full_page
    assert "<caption>Flagged differences between groups</caption>" in full_page
    assert "<details>" in full_page
    document = copy.deepcopy(full)
    document.update(time_windows=None, comparator=None)
    document["subgroups"] = {"sex": document["subgroups"]["sex"]}
    document["subgroup_gaps"] = [
        {**gap, "flagged": False, "p_adjusted": 0.5}
        for gap in document["subgroup_gaps"]
        if gap["column"] == "sex"
    ]
    page = render_html(document)
    assert "0 of 4 comparisons flagged." in page
    assert "Flagged differences" not in page
    assert "<details open>" in page


def test_page_has_print_styles(full_page: str) -> None:
    assert "@media print" in full_page
    assert "break-inside: avoid" in full_page


def test_status_is_never_colour_alone(full_page: str) -> None:
    for badge in re.findall(r'<span class="badge badge--\w+">(.*?)</span>\s*(?=<|$)', full_page):
        assert re.search(r"[A-Za-z]", re.sub(r"<[^>]+>", "", badge))


# --------------------------------------------------------------------------- numbers


def test_numbers_read_as_the_report_promises(full_page: str) -> None:
    assert fmt.metric({"value": 0.7812, "ci_low": 0.7721, "ci_high": 0.79}) == "0.781 (0.772–0.790)"
    assert fmt.metric({"value": 0.7812, "ci_low": None, "ci_high": 0.79}) == "0.781"
    assert fmt.metric({"value": None}) == fmt.MISSING
    assert fmt.p_value(0.0004) == "<0.001"
    assert fmt.p_value(0.0456) == "0.046"
    assert fmt.p_value(1.2) == "1.000"
    assert fmt.number(-0.0001) == "0.000"
    assert fmt.threshold(0.1) == "0.1"
    assert fmt.threshold(0.15) == "0.15"
    assert fmt.percent(0.1234) == "12.3%"
    assert fmt.interval(-0.0161, 0.043) == "−0.016 to 0.043"
    assert fmt.count(12345) == "12,345"
    assert fmt.timestamp("not a date") == "not a date"
    # the rendered page uses them: AUROC difference p-value, thresholds, en-dash intervals
    assert "<0.001" in full_page.replace("&lt;", "<")
    assert "Threshold 0.1<" in full_page
    assert re.search(r"\(\d\.\d{3}–\d\.\d{3}\)", full_page)
    # small-valued metrics get a fourth decimal so their intervals stay informative
    assert re.search(r'ICI</th><td class="num"><span class="est">0\.\d{4}</span>', full_page)


def test_thin_keeps_endpoints_and_limit() -> None:
    x = np.arange(10_000, dtype=float)
    (thinned,) = thin(x)
    assert len(thinned) == MAX_POINTS
    assert thinned[0] == 0
    assert thinned[-1] == 9_999
    (short,) = thin(x[:10])
    assert len(short) == 10


# --------------------------------------------------------------------------- writing


def test_write_html_writes_the_page(tmp_path: Path) -> None:
    target = write_html(minimal_result(), tmp_path / "report.html")
    assert target.read_text(encoding="utf-8") == render_html(minimal_result())
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_write_html_refuses_missing_folder_and_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_html(minimal_result(), tmp_path / "nope" / "report.html")
    with pytest.raises(InputError, match="JSON object"):
        render_html([1, 2, 3])  # type: ignore[arg-type]
    assert not (tmp_path / "nope").exists()


# --------------------------------------------------------------------------- fuzzing

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-5, 10_000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_numbers = st.lists(st.none() | st.floats(-2, 2), min_size=0, max_size=6)
_metric_object = st.fixed_dictionaries(
    {"value": st.none() | st.floats(-2, 2), "ci_low": st.none() | st.floats(-2, 2)},
    optional={"ci_high": _json},
)
_level = st.fixed_dictionaries(
    {},
    optional={
        "n": st.none() | st.integers(-1, 500),
        "n_events": st.none() | st.integers(-1, 50),
        "metrics": st.dictionaries(st.sampled_from(["auroc", "oe_ratio"]), _metric_object | _json),
        "thresholds": st.lists(
            st.dictionaries(st.sampled_from(["threshold", "sensitivity"]), _json)
        ),
        "imprecise": _json,
        "suppressed": _json,
    },
)
_document = st.fixed_dictionaries(
    {},
    optional={
        "title": _json,
        "data": _json,
        "n": _json,
        "prevalence": _json,
        "metrics": st.dictionaries(st.sampled_from(["auroc", "oe_ratio", "ici"]), _metric_object),
        "curves": st.fixed_dictionaries(
            {},
            optional={
                "roc": st.fixed_dictionaries({"fpr": _numbers, "tpr": _numbers}),
                "calibration": st.dictionaries(
                    st.sampled_from(["predicted", "observed", "ci_low", "ci_high", "n"]), _numbers
                ),
                "decision": st.dictionaries(
                    st.sampled_from(["threshold", "model", "treat_all", "comparator"]), _numbers
                ),
            },
        ),
        "subgroups": st.dictionaries(
            st.text(max_size=6),
            st.dictionaries(st.text(max_size=6), _level, max_size=3),
            max_size=2,
        ),
        "subgroup_gaps": st.lists(_json, max_size=3),
        "thresholds": st.lists(_json, max_size=2),
        "comparator": _json,
        "sample_size": _json,
        "verdict": _json,
        "excluded": _json,
        "time_windows": st.fixed_dictionaries({"levels": st.lists(_level, max_size=3)}) | _json,
        "warnings": _json,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=_document)
def test_any_json_shaped_document_renders(document: dict[str, Any]) -> None:
    page = render_html(document)
    assert page.rstrip().endswith("</html>")
    for svg in svgs(page):
        ET.fromstring(svg)
