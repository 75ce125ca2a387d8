"""Evidently ``ClassificationPreset`` on the labelled rows (probabilistic binary classification)."""

from __future__ import annotations

import sys

from _common import LABEL, SCORE, load_labelled, report
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.presets import ClassificationPreset


def main(path: str) -> None:
    frame = load_labelled(path, [SCORE, LABEL])
    definition = DataDefinition(
        classification=[BinaryClassification(target=LABEL, prediction_probas=SCORE, pos_label=1)]
    )
    dataset = Dataset.from_pandas(frame, data_definition=definition)
    snapshot = Report([ClassificationPreset()]).run(current_data=dataset)
    auroc = next(
        m["value"] for m in snapshot.dict()["metrics"] if m["metric_name"].startswith("RocAuc(")
    )
    report(auroc=auroc, rows=len(frame))


if __name__ == "__main__":
    main(sys.argv[1])
