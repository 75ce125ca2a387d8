"""The numpy cube pass: stream Arrow record batches, bin each row once, sum cells with bincount.

Parquet files and Arrow tables of plain column types are aggregated here, batch by batch in
bounded memory; :func:`stream_cube` returns None for anything else (CSV text, other types,
invalid values, opt-outs), and the DuckDB pass of :mod:`steward.cube.build` takes over, which
also names the rows at fault. Both passes build the same cube.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from steward.cube.arrow_columns import (
    column_levels,
    float_values,
    probability,
    window_days,
)
from steward.cube.bins import IntArray, fine_and_coarse_bins, logit_bins, uniform_bins
from steward.cube.margins import Codes, LevelMargin, add_columns, joint_codes, take
from steward.cube.model import LABEL_AXIS, STATS, Cube, FloatArray, Level, Margin, PairedMargin
from steward.cube.plan import CubeRequest
from steward.cube.replicates import BucketSums, PatientHasher, replicate_margin
from steward.cube.sources import DataSource
from steward.cube.sql import P_CLIP

#: Rows per record batch at most: large enough that per-batch overhead vanishes, small enough
#: that the per-row arrays of one batch stay small.
BATCH_ROWS = 1 << 18

#: Threads aggregating batches at once (at most one per core).
WORKERS = 2

ProgressCallback = Callable[[float], None]
_LABELS = len(LABEL_AXIS)
#: Per-row terms of :func:`_row_sums` (every statistic but the count).
_TERMS = len(STATS) - 1
#: Position of logit p among the per-row terms of :func:`_row_sums`.
_Z = 4
#: Intersections with at most this many level combinations are coded densely (no sort).
_DENSE_LEVELS = 1 << 16


class _DeclinedError(Exception):
    """The data needs the DuckDB pass (an unsupported type or a value it must report)."""


def stream_cube(
    source: DataSource, request: CubeRequest, progress: ProgressCallback | None = None
) -> Cube | None:
    """The cube of ``source`` from one streaming numpy pass, or None if the DuckDB pass must run.

    None is returned, after reading at most until the first problem, for: CSV files, pandas
    frames and record-batch readers; opted-out patients; a column type other than numbers for
    score, comparator and label (or booleans for the label), text, dictionary text or integers
    for groups and the patient, and dates or timestamps for time; and for data the DuckDB pass
    refuses (a score outside the scale, a label other than 0/1, a row with a score and no
    patient id when replicates are asked for, no rows, no scores, a group column with one
    level), so that its message names the rows.
    """
    request.validate()
    try:
        batches, total = _open(source, request)
        if batches is None:
            return None
        workers = max(1, min(WORKERS, os.cpu_count() or 1))
        feed = _Feed(batches, workers, total, progress)
        # one bucket cube for all workers: it is the largest array of the pass
        buckets = _bucket_sums(request)
        aggregators = [_Aggregator(request, buckets) for _ in range(workers)]
        try:
            if workers == 1:
                return feed.drain(aggregators[0]).cube()
            # numpy releases the GIL in bincount and the ufuncs, so batches aggregate in
            # parallel
            with ThreadPoolExecutor(workers, thread_name_prefix="cube") as pool:
                parts = [
                    pool.submit(feed.drain, aggregator, worker)
                    for worker, aggregator in enumerate(aggregators)
                ]
                for part in parts:
                    part.result()
        finally:
            for aggregator in aggregators:
                aggregator.close()
        first = aggregators[0]
        for other in aggregators[1:]:
            first.merge(other)
        return first.cube()
    except _DeclinedError:
        return None


def _bucket_sums(request: CubeRequest) -> BucketSums | None:
    if not request.replicates:
        return None
    return BucketSums(request.patient_buckets, request.coarse_edges.size - 1)


class _Feed:
    """Hands record batches to the workers in a fixed rotation, and reports progress.

    Batch ``i`` always goes to worker ``i mod W``, so every worker adds the same batches in the
    same order on every run, and the cube's float sums are the same bit for bit run after run
    (first come, first served would let thread scheduling change their last digits). A worker
    a whole batch ahead of the others waits for its turn to read; nothing is read ahead.
    """

    def __init__(
        self,
        batches: Iterator[pa.RecordBatch],
        workers: int,
        total: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.batches = batches
        self.workers = workers
        self.total = total
        self.progress = progress
        self.read = 0
        self.done = 0
        self.exhausted = False
        self.stopped = False
        self.turn = threading.Condition()

    def next(self, worker: int) -> tuple[int, pa.RecordBatch] | None:
        """The next batch of ``worker`` and its number in the file, or None when the file is
        read or a worker failed."""
        with self.turn:
            while not (self.stopped or self.exhausted) and self.read % self.workers != worker:
                self.turn.wait()
            if self.stopped or self.exhausted:
                return None
            batch = next(self.batches, None)
            order = self.read
            if batch is None:
                self.exhausted = True
            else:
                self.read += 1
                self.done += batch.num_rows
                if self.progress is not None and self.total:
                    self.progress(min(0.99, self.done / self.total))
            self.turn.notify_all()
            return None if batch is None else (order, batch)

    def stop(self) -> None:
        with self.turn:
            self.stopped = True  # the other workers stop at their next batch
            self.turn.notify_all()

    def drain(self, aggregator: _Aggregator, worker: int = 0) -> _Aggregator:
        try:
            while (numbered := self.next(worker)) is not None:
                order, batch = numbered
                aggregator.add(batch, order)
        except BaseException:
            self.stop()
            aggregator.abort()
            raise
        return aggregator


def _open(source: DataSource, request: CubeRequest) -> tuple[Iterator[pa.RecordBatch] | None, int]:
    cols = request.columns
    if request.exclude_patients:
        return None, 0
    names = list(dict.fromkeys(n for n in cols.used() if n != cols.patient or request.replicates))
    if source.kind == "parquet" and source.path is not None:
        schema = pq.read_schema(source.path)
        _check_types(schema, request, names)
        # patient ids are nearly all distinct: a dictionary would only add a copy
        text = [n for n in names if pa.types.is_string(schema.field(n).type) and n != cols.patient]
        # pre-buffering keeps every row group's column chunks cached until the reader closes,
        # so memory would grow with the file (1 GB more at 100M rows); without it, it stays flat
        reader = pq.ParquetFile(source.path, read_dictionary=text, pre_buffer=False)
        total = reader.metadata.num_rows
        return _row_group_batches(reader, names), total
    table = source.table
    if source.kind == "table" and isinstance(table, pa.Table):
        _check_types(table.schema, request, names)
        return iter(table.select(names).to_batches(max_chunksize=BATCH_ROWS)), table.num_rows
    return None, 0


def _row_group_batches(reader: pq.ParquetFile, names: list[str]) -> Iterator[pa.RecordBatch]:
    """The file's rows in record batches, none straddling a row group of BATCH_ROWS or more.

    A row group of n >= BATCH_ROWS rows is read in ceil(n / BATCH_ROWS) batches of equal size
    (a 1M-row group in four of 250,000), because a batch straddling two row groups is
    concatenated from both, which cost the benchmark's pass 3-6% more CPU (5M and 100M rows
    in 1M-row groups). Consecutive smaller row groups are read together in batches of BATCH_ROWS, as
    batches of a few rows each would cost more per row than the concatenation.
    """
    metadata = reader.metadata
    small: list[int] = []
    for index in range(metadata.num_row_groups):
        rows = metadata.row_group(index).num_rows
        if rows < BATCH_ROWS:
            small.append(index)
            continue
        if small:
            yield from _batches(reader, names, small, BATCH_ROWS)
            small = []
        yield from _batches(reader, names, [index], -(-rows // -(-rows // BATCH_ROWS)))
    if small:
        yield from _batches(reader, names, small, BATCH_ROWS)


def _batches(
    reader: pq.ParquetFile, names: list[str], row_groups: list[int], size: int
) -> Iterator[pa.RecordBatch]:
    # Arrow's own decoding threads cost more in synchronisation than they save here: the
    # workers of stream_cube already use the cores
    yield from reader.iter_batches(
        batch_size=size, row_groups=row_groups, columns=names, use_threads=False
    )


def _check_types(schema: pa.Schema, request: CubeRequest, names: list[str]) -> None:
    cols = request.columns
    if any(schema.get_field_index(n) < 0 for n in names):
        raise _DeclinedError
    kinds = {n: schema.field(n).type for n in names}
    numeric = [cols.score] + ([cols.comparator] if cols.comparator else [])
    fits = all(_is_number(kinds[n]) for n in numeric)
    fits &= _is_number(kinds[cols.label]) or pa.types.is_boolean(kinds[cols.label])
    fits &= all(_is_group(kinds[g]) for g in cols.groups)
    if request.replicates and cols.patient is not None:
        fits &= _is_group(kinds[cols.patient])
    if cols.time is not None:
        kind = kinds[cols.time]
        fits &= pa.types.is_timestamp(kind) or pa.types.is_date(kind)
    if not fits:
        raise _DeclinedError


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _is_group(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return bool(pa.types.is_string(kind.value_type))
    return bool(pa.types.is_string(kind) or pa.types.is_integer(kind))


def _row_sums(p: FloatArray, workspace: FloatArray | None = None) -> list[FloatArray]:
    """Per-row terms of the sums in STATS order after ``n`` (see steward.cube.plan._sums).

    The terms after ``p`` are written into ``workspace`` (shape ``(6, >= p.size)``) when given:
    an aggregator reuses one for every batch, because fresh arrays of this size come from the
    operating system page by page, and the page faults cost more than the logarithms.
    """
    if workspace is None or workspace.shape[1] < p.size:
        workspace = np.empty((_TERMS - 1, p.size))
    p2, logp, log1mp, z, z2, pz = (row[: p.size] for row in workspace)
    np.multiply(p, p, out=p2)
    np.clip(p, P_CLIP, 1.0 - P_CLIP, out=logp)  # the clipped scores, logged in place below
    np.subtract(1.0, logp, out=log1mp)
    np.log(log1mp, out=log1mp)
    np.log(logp, out=logp)
    np.subtract(logp, log1mp, out=z)
    np.multiply(z, z, out=z2)
    np.multiply(p, z, out=pz)
    return [p, p2, logp, log1mp, z, z2, pz]


def _accumulate(target: FloatArray, keys: IntArray, terms: list[FloatArray]) -> None:
    """Add the ``(stat, cell)`` sums of these rows into ``target`` (no cell-sized temporary
    beyond one bincount: at 120,000 fine cells a fresh ``(cell, stat)`` array per batch costs
    more in page faults than the sums do)."""
    size = target.shape[1]
    target[0] += np.bincount(keys, minlength=size)
    for i, term in enumerate(terms, start=1):
        target[i] += np.bincount(keys, weights=term, minlength=size)


class _Aggregator:
    """Running cell sums of every margin of one request."""

    def __init__(self, request: CubeRequest, buckets: BucketSums | None = None) -> None:
        self.request = request
        self.buckets = buckets
        self.hasher = PatientHasher(buckets.buckets) if buckets is not None else None
        cols = request.columns
        self.fine = request.fine_edges
        self.coarse = request.coarse_edges
        self.n_fine = self.fine.size - 1
        self.n_coarse = self.coarse.size - 1
        # fine cells are (bin * 2 + paired) * 3 + label, as in the SQL pass
        # stat-major sums: row i holds STATS[i] of every cell
        self.overall = np.zeros((len(STATS), self.n_fine * 2 * _LABELS))
        self.missing = 0
        self.rows = 0
        dims = [(g,) for g in cols.groups] + list(request.intersections)
        if cols.time is not None:
            dims.append((cols.time,))
        self.margins = {d: LevelMargin(d, self.n_coarse * _LABELS) for d in dims}
        # single group columns are summed in packs (steward.cube.margins.add_columns)
        self.columns = [(g,) for g in dict.fromkeys(cols.groups) if g != cols.time]
        # built once: its edges and inserted thresholds are reused batch after batch
        self.pair_binning = request.pair_binning
        self.pair_edges = self.pair_binning.edges
        n_pair = self.pair_edges.size - 1
        self.comparator = np.zeros((len(STATS), self.n_fine * _LABELS))
        self.pairs = np.zeros(n_pair * n_pair * _LABELS)
        # row terms of the score and of the comparator, reused batch after batch
        self.score_terms = np.empty((_TERMS - 1, BATCH_ROWS))
        self.comparator_terms = np.empty((_TERMS - 1, BATCH_ROWS))

    def add(self, batch: pa.RecordBatch, order: int | None = None) -> None:
        """Add the rows of ``batch``, the ``order``-th of the file (when numbered)."""
        request, cols = self.request, self.request.columns
        self.rows += batch.num_rows
        raw = float_values(batch.column(cols.score))
        missing = np.isnan(raw)
        p_all = probability(raw, request.score_scale)
        if np.any(~missing & ~((p_all >= 0.0) & (p_all <= 1.0))):
            raise _DeclinedError
        labels_all = _labels(batch.column(cols.label))
        # every row is kept (None) unless some score is missing
        kept = np.flatnonzero(~missing) if missing.any() else None
        self.missing += 0 if kept is None else int(missing.size - kept.size)
        p, labels = take(p_all, kept), take(labels_all, kept)
        paired = np.zeros(p.size, dtype=bool)
        c = np.empty(0)
        # positions of the paired rows: taking by position costs less than by mask, four times
        pairs = np.empty(0, dtype=np.intp)
        if cols.comparator is not None:
            raw_c = float_values(batch.column(cols.comparator))
            c_all = probability(raw_c, request.score_scale)
            if np.any(~np.isnan(raw_c) & ~((c_all >= 0.0) & (c_all <= 1.0))):
                raise _DeclinedError
            c_kept = take(c_all, kept)
            paired = ~np.isnan(c_kept)
            pairs = np.flatnonzero(paired)
            c = c_kept[pairs]
        terms = _row_sums(p, self.score_terms)
        keys, coarse_keys = fine_and_coarse_bins(
            p, request.fine_bins, request.coarse_bins, request.thresholds
        )
        # cell keys built in place: (fine bin * 2 + paired) * 3 + label, coarse bin * 3 + label
        keys *= 2
        keys += paired
        keys *= _LABELS
        keys += labels
        _accumulate(self.overall, keys, terms)
        coarse_keys *= _LABELS
        coarse_keys += labels
        levels: dict[str, Codes] = {}
        add_columns(
            [self.margins[d] for d in self.columns],
            [self._column_levels(batch, d[0], levels) for d in self.columns],
            kept,
            coarse_keys,
            terms,
        )
        for dims, margin in self.margins.items():
            if dims not in self.columns:
                codes, values = self._levels(batch, dims, levels)
                margin.add(take(codes, kept), values, coarse_keys, terms)
        if cols.comparator is not None:
            self._add_comparator(p[pairs], terms[_Z][pairs], c, labels[pairs])
        if self.buckets is not None and self.hasher is not None and cols.patient is not None:
            bucket = take(self.hasher(batch.column(cols.patient)), kept)
            if np.any(bucket < 0):
                raise _DeclinedError  # a row with a score has no patient id
            self.buckets.add(bucket, coarse_keys, terms, order)

    def _add_comparator(
        self, p: FloatArray, z_p: FloatArray, c: FloatArray, labels: IntArray
    ) -> None:
        thresholds = self.request.thresholds
        keys = uniform_bins(c, self.request.fine_bins, thresholds) * _LABELS + labels
        terms = _row_sums(c, self.comparator_terms)
        _accumulate(self.comparator, keys, terms)
        binning = self.pair_binning
        n_pair = self.pair_edges.size - 1
        cell = logit_bins(p, z_p, binning) * n_pair + logit_bins(c, terms[_Z], binning)
        self.pairs += np.bincount(cell * _LABELS + labels, minlength=self.pairs.size)

    def _levels(
        self, batch: pa.RecordBatch, dims: tuple[str, ...], levels: dict[str, Codes]
    ) -> Codes:
        """Per row of the batch, a code into a list of levels of ``dims``."""
        parts = [self._column_levels(batch, d, levels) for d in dims]
        if len(parts) == 1:
            return parts[0]
        shape = [len(values) for _, values in parts]
        combined = joint_codes([codes for codes, _ in parts], shape)
        if math.prod(shape) <= _DENSE_LEVELS:
            products = itertools.product(*(values for _, values in parts))
            return combined, [sum(level, ()) for level in products]
        unique, inverse = np.unique(combined, return_inverse=True)
        found: list[Level] = []
        for key in unique.tolist():
            level: list[Level] = []
            for _, values in reversed(parts):
                key, code = divmod(key, len(values))
                level.append(values[code])
            found.append(sum(reversed(level), ()))
        return inverse.astype(np.intp), found

    def _column_levels(self, batch: pa.RecordBatch, name: str, levels: dict[str, Codes]) -> Codes:
        """Per row of the batch, a code into the levels of column ``name`` (read once a batch:
        ``levels`` keeps the columns read so far)."""
        if name not in levels:
            levels[name] = self._read_levels(batch, name)
        return levels[name]

    def _read_levels(self, batch: pa.RecordBatch, name: str) -> Codes:
        column = batch.column(name)
        if name == self.request.columns.time:
            days = pa.array(window_days(column, self.request.time_window), pa.int32())
            return column_levels(days, is_time=True)
        return column_levels(column, is_time=False)

    def abort(self) -> None:
        """Release the other workers from waiting for this one's batches."""
        if self.buckets is not None:
            self.buckets.abort()

    def close(self) -> None:
        if self.hasher is not None:
            self.hasher.close()

    def merge(self, other: _Aggregator) -> None:
        """Add the sums of ``other`` (an aggregator of the same request over other batches)."""
        self.overall += other.overall
        self.comparator += other.comparator
        self.pairs += other.pairs
        self.missing += other.missing
        self.rows += other.rows
        for dims, margin in self.margins.items():
            margin.merge(other.margins[dims])

    def cube(self) -> Cube | None:
        cols = self.request.columns
        kept_rows = self.overall[0].sum()
        if self.rows == 0 or kept_rows == 0:
            return None
        shaped = self.overall.T.reshape(self.n_fine, 2, _LABELS, len(STATS))
        margins: dict[tuple[str, ...], Margin] = {
            (): Margin((), ((),), self.fine, shaped.sum(axis=1)[np.newaxis])
        }
        for dims, margin in self.margins.items():
            margins[dims] = margin.margin(self.coarse)
            if len(dims) == 1 and dims[0] in cols.groups and len(margins[dims].levels) == 1:
                return None
        paired = None
        if cols.comparator is not None:
            n_pair = self.pair_edges.size - 1
            score = _overall_margin(self.fine, shaped[:, 1])
            comparator = _overall_margin(
                self.fine, self.comparator.T.reshape(self.n_fine, _LABELS, len(STATS))
            )
            counts = self.pairs.reshape(n_pair, n_pair, _LABELS)
            paired = PairedMargin(
                cols.comparator, self.pair_edges, self.pair_edges, counts, score, comparator
            )
        replicates = None
        if self.buckets is not None:
            replicates = replicate_margin(
                self.buckets.stats(), self.coarse, self.request.replicates
            )
        return Cube(margins, paired, replicates, {"missing_score": self.missing})


def _overall_margin(edges: FloatArray, stats: FloatArray) -> Margin:
    """A margin of one level, or of none when no row reached it (as the SQL pass builds it)."""
    if stats[..., 0].sum() == 0:
        return Margin((), (), edges, np.zeros((0, *stats.shape)))
    return Margin((), ((),), edges, stats[np.newaxis])


def _labels(column: pa.Array) -> IntArray:
    """0, 1, or 2 (unlabelled: null or NaN); any other value declines."""
    if pa.types.is_boolean(column.type):
        flags = column.fill_null(False).to_numpy(zero_copy_only=False)
        known = column.is_valid().to_numpy(zero_copy_only=False)
        return np.where(known, flags.astype(np.intp), 2)
    values = float_values(column)
    unknown = np.isnan(values)
    if np.any(~unknown & (values != 0.0) & (values != 1.0)):
        raise _DeclinedError
    return np.where(unknown, 2, values).astype(np.intp)
