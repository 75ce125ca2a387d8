"""Ingestion of predictions, column by column: check a batch, drop duplicates, store the new
predictions, label them and fold them into the window cells, in the caller's transaction.

Rows the vectorised check (``batch.vouch``) cannot vouch for are read and checked one by one
(``SlowRows``), so the result is the one the row-by-row checks give; everything after the checks
(duplicates, labels, the insert, the cells, the feature histograms) works on whole columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Table
from sqlalchemy.orm import Session

from steward.db.base import utcnow
from steward.integration.optout_register import opted_out_among
from steward.surveillance import labels
from steward.surveillance.batch import (
    DAY_US,
    EPOCH,
    MICROSECOND,
    Batch,
    BoolArray,
    FloatArray,
    IntArray,
    batch_of_rows,
    cleaned,
    concat,
    vouch,
)
from steward.surveillance.cells import MISSING, ScoreBatch, score_deltas
from steward.surveillance.deployments import Target
from steward.surveillance.encode import (
    feature_texts,
    fingerprints,
    legacy_digest,
    subgroup_texts,
)
from steward.surveillance.features import count_feature_columns
from steward.surveillance.ingest_base import audit, begin, conflict, facts
from steward.surveillance.linkage import UNLABELLED, label_of
from steward.surveillance.models import PredictionEvent
from steward.surveillance.rows import IngestReport, PredictionRow, RejectedRow, check_prediction
from steward.surveillance.store import add_score_cells, insert_columns, stored_digests

PREDICTIONS: Table = PredictionEvent.__table__  # type: ignore[assignment]

#: (position, row number, row) of each row read one by one.
Numbered = tuple[int, int, PredictionRow]
#: Reads the rows at the given positions one by one: those read, and those that could not be.
SlowRows = Callable[[IntArray], tuple[list[Numbered], list[RejectedRow]]]


def ingest_rows(
    session: Session,
    deployment_id: uuid.UUID,
    rows: Sequence[PredictionRow],
    *,
    now: datetime | None = None,
    row_numbers: Sequence[int] | None = None,
) -> IngestReport:
    """Ingest already-built rows (see ``ingest.ingest_predictions``)."""
    numbers = list(row_numbers or range(1, len(rows) + 1))
    if len(numbers) != len(rows):
        raise ValueError("one row number per row")

    def slow(positions: IntArray) -> tuple[list[Numbered], list[RejectedRow]]:
        return [(p, numbers[p], rows[p]) for p in positions.tolist()], []

    return ingest_batch(session, deployment_id, batch_of_rows(rows, numbers), slow, now=now)


@dataclass
class Read:
    """A batch after the vectorised check: the rows vouched for, the others read one by one
    (``readable``, still to be checked) or not readable (``unreadable``, refused)."""

    vouched: Batch
    readable: list[Numbered]
    unreadable: list[RejectedRow]

    def any_rows(self) -> bool:
        return bool(len(self.vouched) or self.readable)


def read_batch(batch: Batch, slow: SlowRows, now: datetime) -> Read:
    """Vouch for the rows of ``batch`` that certainly pass the row checks, read the rest."""
    good = vouch(batch, now)
    readable, unreadable = slow(np.flatnonzero(~good))
    return Read(batch.take(good), readable, unreadable)


def ingest_batch(
    session: Session,
    deployment_id: uuid.UUID,
    batch: Batch,
    slow: SlowRows,
    *,
    now: datetime | None = None,
) -> IngestReport:
    """Store the new predictions of ``batch`` (rows not vouched for are read through ``slow``)."""
    now = now or utcnow()
    return ingest_read(session, deployment_id, read_batch(batch, slow, now), now=now)


def ingest_read(
    session: Session, deployment_id: uuid.UUID, rows_read: Read, *, now: datetime
) -> IngestReport:
    """Store the new predictions among rows already read (:func:`read_batch`)."""
    target = begin(session, deployment_id)
    report = IngestReport()
    received = utcnow()
    report.rejected.extend(rows_read.unreadable)
    fast, readable = _without_opted_out(session, rows_read.vouched, rows_read.readable, report)
    fast = _deployed_version(fast, target, report)
    checked = _checked(readable, target, now, report)
    merged = cleaned(concat([fast, checked]))
    new, digests = _new_rows(session, merged, target, report)
    moved = labels.close_due(session, target, now)
    rows = merged.take(new)
    event_ids = rows.ids["event_id"].to_pylist()
    if len(rows):
        _store(session, target, rows, [digests[i] for i in new.tolist()], received, now)
    report.accepted = len(rows)
    frozen = count_feature_columns(session, target, rows.micros // DAY_US, _feature_positions(rows))
    if len(rows) or moved:
        found = facts(report, event_ids, moved)
        if frozen:
            found["feature_bins_frozen"] = sorted(frozen)
        audit(session, target, "surveillance.predictions_ingested", found)
    return report


def _without_opted_out(
    session: Session, fast: Batch, readable: list[Numbered], report: IngestReport
) -> tuple[Batch, list[Numbered]]:
    """Rows of patients in the opt-out register are left out before any check, and counted."""
    patients = set(pc.unique(fast.ids["patient_id"]).drop_null().to_pylist())
    patients |= {row.patient_id for _, _, row in readable if isinstance(row.patient_id, str)}
    opted_out = opted_out_among(session, patients) if patients else set()
    if not opted_out:
        return fast, readable
    out = np.asarray(pc.is_in(fast.ids["patient_id"], pa.array(sorted(opted_out))))
    kept = [r for r in readable if r[2].patient_id not in opted_out]
    report.opted_out = int(out.sum()) + len(readable) - len(kept)
    return fast.take(~out), kept


def _deployed_version(fast: Batch, target: Target, report: IngestReport) -> Batch:
    versions = fast.ids["tool_version"]
    other = np.asarray(pc.not_equal(versions, target.version).fill_null(False))
    if not other.any():
        return fast
    for i in np.flatnonzero(other).tolist():
        version = versions[i].as_py()
        problem = f"tool_version {version!r} is not the deployed {target.version!r}"
        report.rejected.append(RejectedRow(int(fast.numbers[i]), problem))
    return fast.take(~other)


def _checked(
    readable: list[Numbered], target: Target, now: datetime, report: IngestReport
) -> Batch:
    """The rows read one by one that pass the row checks, as columns at their positions."""
    good: list[Numbered] = []
    for position, number, row in readable:
        problem = check_prediction(row, now)
        if problem is None and row.tool_version not in (None, target.version):
            problem = f"tool_version {row.tool_version!r} is not the deployed {target.version!r}"
        if problem is None:
            good.append((position, number, row))
        else:
            report.rejected.append(RejectedRow(number, problem))
    batch = batch_of_rows([r for _, _, r in good], [n for _, n, _ in good])
    batch.positions = np.asarray([p for p, _, _ in good], np.int64)
    return batch


def _new_rows(
    session: Session, batch: Batch, target: Target, report: IngestReport
) -> tuple[IntArray, list[str]]:
    """Indices (in ``batch``) of the new rows, and every row's fingerprint: duplicates in the
    batch and of stored events are counted, the same event id with other content refused."""
    digests = fingerprints(batch)
    event_ids = batch.ids["event_id"]
    codes = np.asarray(event_ids.dictionary_encode().indices, np.int64)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    earliest = first[inverse.reshape(-1)]
    ids = event_ids.to_pylist()
    for i in np.flatnonzero(earliest != np.arange(len(batch))).tolist():
        before = int(earliest[i])
        if digests[i] == digests[before]:
            report.duplicates += 1
        else:
            number = int(batch.numbers[before])
            report.rejected.append(conflict(int(batch.numbers[i]), ids[i], f"row {number}"))
    candidates = np.sort(first)
    stored = stored_digests(
        session, PREDICTIONS, target.deployment_id, [ids[i] for i in candidates]
    )
    if not stored:
        return candidates, digests
    features, subgroups = feature_texts(batch), subgroup_texts(batch)[0]
    new: list[int] = []
    for i in candidates.tolist():
        known = stored.get(ids[i])
        if known is None:
            new.append(i)
        elif known == digests[i] or known == legacy_digest(batch, i, features[i], subgroups[i]):
            report.duplicates += 1
        else:
            report.rejected.append(
                conflict(int(batch.numbers[i]), ids[i], "an event already stored")
            )
    return np.asarray(new, np.int64), digests


def _store(
    session: Session,
    target: Target,
    rows: Batch,
    digests: list[str],
    received: datetime,
    now: datetime,
) -> None:
    """Insert the new rows with their labels and add them to the score cells."""
    due = rows.micros + (target.outcome.due_at(EPOCH) - EPOCH) // MICROSECOND
    codes = _labels(session, target, rows, due, now)
    features = feature_texts(rows)
    subgroups = subgroup_texts(rows)[0]
    n = len(rows)
    columns: dict[str, Any] = {
        "deployment_id": pa.repeat(pa.scalar(str(target.deployment_id)), n),
        "event_id": rows.ids["event_id"],
        "tool_version": rows.ids["tool_version"],
        "patient_id": rows.ids["patient_id"],
        "encounter_id": rows.ids["encounter_id"],
        "card_id": rows.ids["card_id"],
        "predicted_at": _timestamps(rows.micros),
        "score": rows.scores,
        "features": pa.array(features, pa.string()),
        "subgroups": pa.array(subgroups, pa.string()),
        "label": pa.array(codes, pa.int16(), mask=codes == UNLABELLED),
        "label_due_at": _timestamps(due),
        "digest": pa.array(digests, pa.string()),
        "received_at": pa.repeat(pa.scalar(received, pa.timestamp("us", "UTC")), n),
    }
    insert_columns(session, PREDICTIONS, columns)
    batch = ScoreBatch(
        scores=rows.scores,
        days=rows.micros // DAY_US,
        labels=codes,
        weights=np.ones(n),
        subgroups={dim: _levels(rows, dim) for dim in target.subgroups},
    )
    add_score_cells(session, target.deployment_id, score_deltas(batch, target.edges))


def _timestamps(micros: IntArray) -> pa.Array:
    return pa.array(micros, pa.int64()).cast(pa.timestamp("us", "UTC"))


def _labels(
    session: Session, target: Target, rows: Batch, due: IntArray, now: datetime
) -> IntArray:
    """Label codes of new predictions: from outcomes stored before them, else due or not."""
    now_us = (now - EPOCH) // MICROSECOND
    codes = np.where(due <= now_us, 0, UNLABELLED).astype(np.int64)
    patient_ids = rows.ids["patient_id"]
    start = EPOCH + int(rows.micros.min()) * MICROSECOND
    end = EPOCH + int(rows.micros.max()) * MICROSECOND + target.outcome.window
    patients = set(pc.unique(patient_ids).to_pylist())
    outcomes = labels.outcomes_of(session, target, patients, start, end)
    if not outcomes:
        return codes
    known = np.asarray(pc.is_in(patient_ids, pa.array(sorted(outcomes))))
    encounters = rows.ids["encounter_id"]
    for i in np.flatnonzero(known).tolist():
        patient = patient_ids[i].as_py()
        at = EPOCH + int(rows.micros[i]) * MICROSECOND
        values = labels.linked_values(target, patient, encounters[i].as_py(), at, outcomes[patient])
        label = label_of(values, EPOCH + int(due[i]) * MICROSECOND, now)
        codes[i] = UNLABELLED if label is None else label
    return codes


def _levels(rows: Batch, dim: str) -> tuple[list[str], IntArray]:
    """Each row's level of subgroup attribute ``dim`` (MISSING when absent), encoded."""
    values = rows.subgroups.get(dim)
    if values is None:
        return [MISSING], np.zeros(len(rows), np.int64)
    encoded = values.fill_null(MISSING).dictionary_encode()
    return encoded.dictionary.to_pylist(), np.asarray(encoded.indices, np.int64)


def _feature_positions(rows: Batch) -> dict[str, tuple[IntArray, FloatArray]]:
    """Present values of each feature, features in the order rows first name them."""
    present: dict[str, BoolArray] = {k: ~np.isnan(v) for k, v in rows.features.items()}
    first = {k: int(np.argmax(p)) for k, p in present.items() if p.any()}
    order = sorted(first, key=lambda k: first[k])
    return {k: (np.flatnonzero(present[k]), rows.features[k][present[k]]) for k in order}
