"""Calibration metrics from score cubes: Brier, log loss, O/E, CITL, intercept and slope, ICI,
ECE and calibration curves (docs/methods.md section 2; Van Calster et al. 2019).

Every function takes ``LevelCounts`` and uses only its labelled rows. Functions returning a float
also accept leading batch axes (bootstrap replicates) and then return one value per replicate;
functions returning an ``Estimate`` or a curve take one group of rows, and each has a batched
``*_values`` counterpart where a bootstrap needs one. Undefined results are ``nan`` with an
``UndefinedMetricWarning``; they never raise for data.
"""

from steward.metrics._counts import UndefinedMetricWarning
from steward.metrics.calibration._glm import (
    calibration_intercept_slope,
    calibration_intercept_slope_values,
)
from steward.metrics.calibration._grouped import CalibrationCurve, ece, grouped_calibration
from steward.metrics.calibration._scores import (
    brier,
    calibration_in_the_large,
    citl_values,
    log_loss,
    oe_ratio,
    oe_values,
    scaled_brier,
)
from steward.metrics.calibration._smooth import (
    CalibrationErrors,
    calibration_curve,
    ici,
    smoothed_calibration_errors,
)

__all__ = [
    "CalibrationCurve",
    "CalibrationErrors",
    "UndefinedMetricWarning",
    "brier",
    "calibration_curve",
    "calibration_in_the_large",
    "calibration_intercept_slope",
    "calibration_intercept_slope_values",
    "citl_values",
    "ece",
    "grouped_calibration",
    "ici",
    "log_loss",
    "oe_ratio",
    "oe_values",
    "scaled_brier",
    "smoothed_calibration_errors",
]
