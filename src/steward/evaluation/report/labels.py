"""Plain-language names of statuses and metrics, and what each metric's ideal value is."""

from __future__ import annotations

from steward.evaluation.report.formatting import humanise

STATUS_LABELS: dict[str, str] = {
    "pass": "Pass",
    "fail": "Fail",
    "inconclusive": "Inconclusive",
    "not_assessed": "Not assessed",
}

STATUS_MEANING: dict[str, str] = {
    "pass": "Every acceptance criterion was met on a sample large enough for the precision asked.",
    "fail": "At least one acceptance criterion was not met.",
    "inconclusive": (
        "The data cannot settle at least one criterion: the sample is too small for the "
        "precision asked, or a criterion could not be computed."
    ),
    "not_assessed": "No acceptance criteria were set, so no verdict was reached.",
}

METRIC_NAMES: dict[str, str] = {
    "auroc": "AUROC",
    "average_precision": "Average precision",
    "brier": "Brier score",
    "scaled_brier": "Scaled Brier score",
    "oe_ratio": "O/E ratio",
    "citl": "Calibration-in-the-large",
    "calibration_intercept": "Calibration intercept",
    "calibration_slope": "Calibration slope",
    "ici": "ICI",
    "e50": "E50",
    "e90": "E90",
    "emax": "Emax",
    "ece": "ECE",
    "log_loss": "Log loss",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "PPV",
    "npv": "NPV",
    "tpr": "Sensitivity",
    "fpr": "False-positive rate",
    "alert_rate": "Alert rate",
    "alerts_per_true_positive": "Alerts per true positive",
    "net_benefit": "Net benefit",
}

#: Calibration and accuracy metrics in report order: (key, ideal value, what it tells a reader).
CALIBRATION_METRICS: tuple[tuple[str, str, str], ...] = (
    ("oe_ratio", "1", "Observed ÷ expected events; above 1 the model under-predicts risk."),
    ("citl", "0", "Mean observed minus mean predicted risk."),
    ("calibration_intercept", "0", "Calibration-in-the-large on the logit scale."),
    ("calibration_slope", "1", "Below 1, predictions are too extreme; above 1, too modest."),
    ("ici", "0", "Mean distance between the smoothed curve and the diagonal."),
    ("e50", "0", "Median distance between the smoothed curve and the diagonal."),
    ("e90", "0", "90th percentile of that distance."),
    ("emax", "0", "Largest distance between the smoothed curve and the diagonal."),
    ("ece", "0", "Expected calibration error over risk groups (prefer ICI and slope)."),
    ("brier", "0", "Mean squared error of the predicted risks."),
    ("scaled_brier", "1", "Brier score relative to predicting the prevalence; 0 is no skill."),
    ("log_loss", "0", "Mean negative log-likelihood of the outcomes."),
)

#: Rows of the threshold table: (key in a threshold row, label).
THRESHOLD_ROWS: tuple[tuple[str, str], ...] = (
    ("sensitivity", "Sensitivity"),
    ("specificity", "Specificity"),
    ("ppv", "Positive predictive value"),
    ("npv", "Negative predictive value"),
    ("alert_rate", "Alert rate"),
    ("alerts_per_true_positive", "Alerts per true positive"),
    ("net_benefit", "Net benefit"),
)

#: Metrics shown side by side for a comparator, in order.
COMPARATOR_METRICS: tuple[str, ...] = (
    "auroc",
    "average_precision",
    "oe_ratio",
    "calibration_slope",
    "ici",
    "brier",
    "scaled_brier",
)


#: Metrics whose values are typically small (below 0.05): shown with four decimals, not three.
SMALL_VALUED_METRICS = frozenset(
    {"brier", "citl", "ici", "e50", "e90", "emax", "ece", "net_benefit", "treat_all_net_benefit"}
)


def digits(key: str) -> int:
    """Decimals to show for a metric: enough that its interval is not one repeated number."""
    return 4 if key in SMALL_VALUED_METRICS else 3


def metric_name(key: str) -> str:
    """The reader's name for a metric key; unknown keys are made readable."""
    return METRIC_NAMES.get(key, humanise(key))


def status_label(status: str) -> str:
    """``not_assessed`` -> ``Not assessed``; unknown statuses are made readable."""
    return STATUS_LABELS.get(status, humanise(status))
