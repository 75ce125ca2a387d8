"""Evidently: DataDriftPreset per month, with its default tests and with PSI (no CBPE exists)."""

from __future__ import annotations

import re
import sys
import time

from _monitoring import FEATURES, SPLIT, TIME, emit


def main(path: str) -> None:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    frame = pd.read_parquet(path, columns=[TIME, *FEATURES])
    definition = DataDefinition(numerical_columns=list(FEATURES))
    reference = Dataset.from_pandas(frame[frame[TIME] < SPLIT][list(FEATURES)], definition)
    analysis = frame[frame[TIME] >= SPLIT]
    months = analysis[TIME].dt.to_period("M")
    results: dict[str, dict[str, list[float]]] = {"default": {}, "psi": {}}
    for _, chunk in analysis.groupby(months):
        current = Dataset.from_pandas(chunk[list(FEATURES)], definition)
        for key, preset in (
            ("default", DataDriftPreset(columns=list(FEATURES))),
            ("psi", DataDriftPreset(columns=list(FEATURES), method="psi")),
        ):
            snapshot = Report([preset]).run(current_data=current, reference_data=reference)
            for metric in snapshot.dict()["metrics"]:
                found = re.match(
                    r"ValueDrift\(column=(\w+),method=(.+),threshold=(.+)\)", metric["metric_name"]
                )
                if found:
                    column, threshold = found.group(1), float(found.group(3))
                    value = float(metric["value"])
                    results[key].setdefault(column, []).append(value)
                    results[key].setdefault(f"{column}:alert", []).append(float(value >= threshold))
    emit(compute_s=time.perf_counter() - started, results=results)


if __name__ == "__main__":
    main(sys.argv[1])
