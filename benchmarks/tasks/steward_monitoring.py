"""Steward: window cubes and feature histograms in one pass, then PSI and CBPE per month."""

from __future__ import annotations

import datetime as dt
import sys
import time

from _monitoring import FEATURES, LABEL, SCORE, SPLIT, THRESHOLD, TIME, emit


def main(path: str) -> None:
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from steward.cube import STATS, Cube, Margin, assign_bins, edges_with_thresholds
    from steward.surveillance import monitors as m

    started = time.perf_counter()
    table = pq.read_table(path, columns=[TIME, SCORE, LABEL, *FEATURES])
    days = pc.cast(table[TIME], "timestamp[s]").to_numpy().astype("datetime64[D]")
    split = np.datetime64(SPLIT)
    p = table[SCORE].to_numpy()
    y = table[LABEL].to_numpy().astype(np.float64)
    edges = edges_with_thresholds(1000, [THRESHOLD])
    is_ref = days < split
    # Outcomes of the analysis year are not used: its rows are "unlabelled" for CBPE.
    labels = np.where(is_ref, y, 2.0).astype(np.int64)
    month = np.where(
        is_ref,
        0,
        (days.astype("datetime64[M]") - split.astype("datetime64[M]")).astype(np.int64) + 1,
    )
    n_months = int(month.max()) + 1
    cell = (month * (edges.size - 1) + assign_bins(p, edges)) * 3 + labels
    size = n_months * (edges.size - 1) * 3
    stats = np.zeros((size, len(STATS)))
    stats[:, 0] = np.bincount(cell, minlength=size)
    stats[:, 1] = np.bincount(cell, weights=p, minlength=size)
    stats[:, 2] = np.bincount(cell, weights=p * p, minlength=size)
    stats = stats.reshape(n_months, edges.size - 1, 3, len(STATS))

    def cube(i: int) -> Cube:
        return Cube(margins={(): Margin((), ((),), edges, stats[i][None])})

    feature_edges = {f: m.decile_edges(table[f].to_numpy()[is_ref]) for f in FEATURES}
    histograms = []
    for f in FEATURES:
        values = table[f].to_numpy()
        index = np.clip(np.searchsorted(feature_edges[f], values, side="right") - 1, 0, 9)
        histograms.append(
            np.bincount(month * 10 + index, minlength=n_months * 10).reshape(n_months, 10)
        )

    def features(i: int) -> dict[str, m.FeatureHistogram]:
        return {
            f: m.FeatureHistogram(histograms[k][i].astype(np.float64), edges=feature_edges[f])
            for k, f in enumerate(FEATURES)
        }

    reference = m.Reference(cube=cube(0), days=366.0, features=features(0))
    config = m.monitor_config({"threshold": THRESHOLD})
    aggregated_s = time.perf_counter() - started
    psi: dict[str, list[float]] = {f: [] for f in FEATURES}
    review: dict[str, list[bool]] = {f: [] for f in FEATURES}
    sensitivity, ppv, score_psi = [], [], []
    for i in range(1, n_months):
        window = m.Window("month", dt.date(2025, i, 1))
        data = m.WindowData(window, cube(i), features=features(i))
        for finding in m.input_drift(data, reference, config.drift):
            name = finding.metric.removeprefix("psi:")
            psi[name].append(float(finding.value or 0.0))
            review[name].append(finding.status in ("review", "alarm"))
        score = m.score_drift(data, reference, config.drift)
        score_psi.append(float(score.value or 0.0) if score else float("nan"))
        estimated = {
            f.metric: f
            for f in m.estimated_performance(
                data, reference, config.estimated_performance, THRESHOLD
            )
        }
        sensitivity.append(float(estimated["sensitivity"].value or 0.0))
        ppv.append(float(estimated["ppv"].value or 0.0))
    emit(
        compute_s=time.perf_counter() - started,
        aggregate_s=aggregated_s,
        psi=psi,
        alerts=review,
        score_psi=score_psi,
        sensitivity=sensitivity,
        ppv=ppv,
    )


if __name__ == "__main__":
    main(sys.argv[1])
