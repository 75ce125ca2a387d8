"""fairlearn ``MetricFrame``: AUROC, Brier and, at each threshold, alert rate, TPR, FPR and PPV,
overall and for each of the five group columns (one MetricFrame per column)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from _common import GROUPS, LABEL, SCORE, THRESHOLDS, load_labelled, report
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import brier_score_loss, precision_score, roc_auc_score


def _at(threshold: float, metric: Callable[..., float]) -> Callable[[Any, Any], float]:
    def thresholded(y_true: Any, y_score: Any) -> float:
        return float(metric(y_true, (y_score >= threshold).astype(int)))

    return thresholded


def _ppv(y_true: Any, y_pred: Any) -> float:
    return float(precision_score(y_true, y_pred, zero_division=0))


def main(path: str) -> None:
    frame = load_labelled(path, [SCORE, LABEL, *GROUPS])
    metrics: dict[str, Callable[[Any, Any], float]] = {
        "auroc": roc_auc_score,
        "brier": brier_score_loss,
    }
    for t in THRESHOLDS:
        metrics[f"alert_rate@{t}"] = _at(t, selection_rate)
        metrics[f"tpr@{t}"] = _at(t, true_positive_rate)
        metrics[f"fpr@{t}"] = _at(t, false_positive_rate)
        metrics[f"ppv@{t}"] = _at(t, _ppv)
    overall = None
    for group in GROUPS:
        result = MetricFrame(
            metrics=metrics,
            y_true=frame[LABEL],
            y_pred=frame[SCORE],
            sensitive_features=frame[group],
        )
        overall = result.overall
    report(auroc=overall["auroc"], rows=len(frame))


if __name__ == "__main__":
    main(sys.argv[1])
