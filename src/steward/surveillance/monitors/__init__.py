"""Monitors of deployed tools: pure functions from window cubes to findings (no I/O).

See docs/surveillance.md ("Monitors") and docs/methods.md section 3. Inputs are
:class:`WindowData` (one closed window's cube, feature histograms and feedback counts) and a
:class:`Reference`; every monitor returns :class:`Finding` objects; configuration is
:func:`monitor_config` (the versioned defaults with a tool's overrides).
"""

from steward.surveillance.monitors.arl import CaseMix, case_mix, control_limit, in_control_arl
from steward.surveillance.monitors.cbpe import estimated_performance, expected_confusion
from steward.surveillance.monitors.config import MonitorConfig, default_config, monitor_config
from steward.surveillance.monitors.cusum import increment, run_chart
from steward.surveillance.monitors.ewma import ewma_chart
from steward.surveillance.monitors.findings import STATUSES, Finding, Status
from steward.surveillance.monitors.inputs import (
    GRAINS,
    OVERALL,
    FeatureHistogram,
    FeedbackCounts,
    Grain,
    Reference,
    Subject,
    Window,
    WindowData,
    counts_for,
    reference_from_windows,
    subjects,
    window_data,
)
from steward.surveillance.monitors.pchart import override_chart, p_chart_limits
from steward.surveillance.monitors.psi import (
    decile_edges,
    histogram,
    input_drift,
    psi,
    score_drift,
)
from steward.surveillance.monitors.realised import realised_performance
from steward.surveillance.monitors.run import (
    MONITORS,
    ChartLimit,
    calibration_cusum,
    cusum_limits,
    monitored_subjects,
    run_monitors,
    scheduled_monitors,
)

__all__ = [
    "GRAINS",
    "MONITORS",
    "OVERALL",
    "STATUSES",
    "CaseMix",
    "ChartLimit",
    "FeatureHistogram",
    "FeedbackCounts",
    "Finding",
    "Grain",
    "MonitorConfig",
    "Reference",
    "Status",
    "Subject",
    "Window",
    "WindowData",
    "calibration_cusum",
    "case_mix",
    "control_limit",
    "counts_for",
    "cusum_limits",
    "decile_edges",
    "default_config",
    "estimated_performance",
    "ewma_chart",
    "expected_confusion",
    "histogram",
    "in_control_arl",
    "increment",
    "input_drift",
    "monitor_config",
    "monitored_subjects",
    "override_chart",
    "p_chart_limits",
    "psi",
    "realised_performance",
    "reference_from_windows",
    "run_chart",
    "run_monitors",
    "scheduled_monitors",
    "score_drift",
    "subjects",
    "window_data",
]
