"""NannyML: univariate drift (its default, Jensen-Shannon) per feature and CBPE per month."""

from __future__ import annotations

import sys
import time

from _monitoring import FEATURES, LABEL, SCORE, SPLIT, THRESHOLD, TIME, emit


def main(path: str) -> None:
    import nannyml as nml
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(path, columns=[TIME, SCORE, LABEL, *FEATURES])
    frame["y_pred"] = (frame[SCORE] >= THRESHOLD).astype("int64")
    reference = frame[frame[TIME] < SPLIT]
    analysis = frame[frame[TIME] >= SPLIT].drop(columns=[LABEL])
    drift = nml.UnivariateDriftCalculator(
        column_names=list(FEATURES),
        timestamp_column_name=TIME,
        chunk_period="M",
        continuous_methods=["jensen_shannon"],
    ).fit(reference)
    drifted = drift.calculate(analysis).filter(period="analysis").to_df()
    drift_s = time.perf_counter() - started
    estimator = nml.CBPE(
        metrics=["precision", "recall"],
        y_pred_proba=SCORE,
        y_pred="y_pred",
        y_true=LABEL,
        problem_type="classification_binary",
        timestamp_column_name=TIME,
        chunk_period="M",
    ).fit(reference)
    estimated = estimator.estimate(analysis).filter(period="analysis").to_df()
    emit(
        compute_s=time.perf_counter() - started,
        drift_s=drift_s,
        alerts={f: [bool(a) for a in drifted[(f, "jensen_shannon", "alert")]] for f in FEATURES},
        values={f: [float(v) for v in drifted[(f, "jensen_shannon", "value")]] for f in FEATURES},
        ppv=[float(v) for v in estimated[("precision", "value")]],
        sensitivity=[float(v) for v in estimated[("recall", "value")]],
    )


if __name__ == "__main__":
    main(sys.argv[1])
