"""Input-feature histograms per window, for input drift (PSI).

Each feature's bins are frozen once from a reference sample: the deployment's configured cut
points, or else the deciles of the feature's first ``feature_reference_size`` values. Until a
feature's cuts are frozen its values are kept (day, value) in the configuration's reference
buffer; when the buffer is full the cuts are computed and the buffered values counted into their
windows, so every value is counted exactly once and no stored prediction is read again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import update
from sqlalchemy.orm import Session

from steward.surveillance.cells import IntArray, feature_deltas, reference_cuts
from steward.surveillance.deployments import MAX_FEATURES, Target
from steward.surveillance.models import MonitoringConfig
from steward.surveillance.store import add_feature_cells


def _columns(
    features: Sequence[Mapping[str, float] | None],
) -> dict[str, tuple[list[int], list[float]]]:
    columns: dict[str, tuple[list[int], list[float]]] = {}
    for i, row in enumerate(features):
        for name, value in (row or {}).items():
            positions, values = columns.setdefault(name, ([], []))
            positions.append(i)
            values.append(float(value))
    return columns


def count_features(
    session: Session,
    target: Target,
    days: IntArray,
    features: Sequence[Mapping[str, float] | None],
) -> list[str]:
    """Add the batch's feature values to the histograms; returns features frozen now."""
    columns = {
        name: (np.asarray(positions, np.int64), np.asarray(values, np.float64))
        for name, (positions, values) in _columns(features).items()
    }
    return count_feature_columns(session, target, days, columns)


def count_feature_columns(
    session: Session,
    target: Target,
    days: IntArray,
    columns: Mapping[str, tuple[IntArray, NDArray[np.float64]]],
) -> list[str]:
    """:func:`count_features` of values given per feature as (row positions, values)."""
    if not columns:
        return []
    cuts: dict[str, list[float]] = dict(target.feature_cuts)
    reference: dict[str, list[list[float]]] = {
        k: list(v) for k, v in target.feature_reference.items()
    }
    counted: dict[str, tuple[IntArray, np.ndarray[Any, np.dtype[np.float64]]]] = {}
    extra_days: list[int] = []
    frozen: list[str] = []
    for name, (positions, values) in columns.items():
        if name in cuts:
            counted[name] = (positions, values)
            continue
        if name not in reference and len(cuts) + len(reference) >= MAX_FEATURES:
            continue  # kept with the prediction, but not aggregated
        buffer = reference.setdefault(name, [])
        buffer.extend(
            [float(d), v] for d, v in zip(days[positions].tolist(), values.tolist(), strict=True)
        )
        if len(buffer) < target.feature_reference_size:
            continue
        cuts[name] = reference_cuts([v for _, v in buffer])
        frozen.append(name)
        del reference[name]
        # buffered values are counted through day positions appended after the batch's days
        start = len(days) + len(extra_days)
        extra_days.extend(int(d) for d, _ in buffer)
        counted[name] = (
            np.arange(start, start + len(buffer), dtype=np.int64),
            np.asarray([v for _, v in buffer], np.float64),
        )
    all_days = np.concatenate([days, np.asarray(extra_days, np.int64)])
    add_feature_cells(session, target.deployment_id, feature_deltas(all_days, counted, cuts))
    if frozen or reference != target.feature_reference:
        session.execute(
            update(MonitoringConfig)
            .where(MonitoringConfig.deployment_id == target.deployment_id)
            .values(feature_cuts=cuts, feature_reference=reference)
        )
    return frozen
