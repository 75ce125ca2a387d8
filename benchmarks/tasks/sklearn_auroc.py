"""scikit-learn ``roc_auc_score`` alone: the reference AUROC (exact, no binning)."""

from __future__ import annotations

import sys

from _common import LABEL, SCORE, load_arrays, report
from sklearn.metrics import roc_auc_score


def main(path: str) -> None:
    arrays = load_arrays(path, [SCORE, LABEL])
    report(auroc=roc_auc_score(arrays[LABEL], arrays[SCORE]), rows=len(arrays[LABEL]))


if __name__ == "__main__":
    main(sys.argv[1])
