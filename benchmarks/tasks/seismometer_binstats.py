"""seismometer ``calculate_bin_stats``: the per-threshold table (0-100% in whole percent) that its
performance plots use; AUROC is the trapezoidal area under the ROC points of that table."""

from __future__ import annotations

import sys

import numpy as np
from _common import LABEL, SCORE, load_labelled, report
from seismometer.data.performance import calculate_bin_stats


def main(path: str) -> None:
    frame = load_labelled(path, [SCORE, LABEL])
    stats = calculate_bin_stats(frame[LABEL], frame[SCORE])
    fpr = np.concatenate([[0.0], 1.0 - stats["Specificity"].to_numpy(), [1.0]])
    tpr = np.concatenate([[0.0], stats["Sensitivity"].to_numpy(), [1.0]])
    order = np.lexsort((tpr, fpr))
    report(
        auroc=float(np.trapezoid(tpr[order], fpr[order])), rows=len(frame), thresholds=len(stats)
    )


if __name__ == "__main__":
    main(sys.argv[1])
