"""Patient-clustered replicate cubes: patients hashed into buckets, replicates weighted by bucket.

Both cube passes sum the overall population's coarse cells per bucket of patients; replicate
``r`` is then ``sum_b w[r, b] x bucket cube b`` with Poisson(1) weights (docs/methods.md).
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from steward.cube.model import LABEL_AXIS, STATS, FloatArray, ReplicateMargin

#: Buckets patients are hashed into: the clusters of the bootstrap. With B buckets the
#: clustered variance is estimated with about B degrees of freedom (a relative standard error
#: of 1 / sqrt(2B), 2% at 1,024), on top of the Monte Carlo error of the replicates.
PATIENT_BUCKETS = 1024
#: Seed of the Poisson(1) weights of buckets: fixed, so replicate cubes of two data sets (two
#: sites, two periods) use the same weights for the same patient and merge by addition.
REPLICATE_SEED = 20_240_611


def patient_bucket_sql(patient: str, buckets: int) -> str:
    """Bucket in ``[0, buckets)`` of a patient identifier, NULL for a missing one.

    The identifier is read as text, so ``17`` stored as a number and ``'17'`` stored as text
    share a bucket; the bucket is the top bits of DuckDB's 64-bit ``hash``, so the numpy pass
    (through :func:`patient_buckets`) and the SQL pass agree on every row.
    """
    shift = 64 - (buckets.bit_length() - 1)
    text = f"CAST({patient} AS VARCHAR)"
    return f"(CASE WHEN {patient} IS NOT NULL THEN CAST(hash({text}) >> {shift} AS INTEGER) END)"


class PatientHasher:
    """Buckets of patient identifiers, by the SQL pass's expression on a DuckDB connection
    kept for many batches (opening one costs more than hashing a batch). One thread at a time.
    """

    def __init__(self, buckets: int) -> None:
        import duckdb  # only runs with replicates need it: a plain evaluation does not load it

        self.buckets = buckets
        self._connection = duckdb.connect(config={"threads": 1})
        bucket = patient_bucket_sql("__pid", buckets)
        self._sql = f"SELECT coalesce({bucket}, -1) AS __pb FROM __ids"

    def __call__(self, ids: pa.Array | pa.ChunkedArray) -> NDArray[np.intp]:
        """Bucket of each identifier, ``-1`` where it is missing."""
        self._connection.register("__ids", pa.table({"__pid": ids}))
        try:
            result = self._connection.sql(self._sql).to_arrow_table()
        finally:
            self._connection.unregister("__ids")
        return np.asarray(result["__pb"].to_numpy(), dtype=np.intp)

    def close(self) -> None:
        self._connection.close()


def patient_buckets(ids: pa.Array | pa.ChunkedArray, buckets: int) -> NDArray[np.intp]:
    """Bucket of each identifier, ``-1`` where it is missing (the SQL pass's expression)."""
    hasher = PatientHasher(buckets)
    try:
        return hasher(ids)
    finally:
        hasher.close()


def bucket_weights(replicates: int, buckets: int) -> FloatArray:
    """Poisson(1) weight ``w[r, b]`` of bucket ``b`` in replicate ``r``.

    The same for every data set with the same number of buckets; the first ``r`` replicates do
    not depend on how many are drawn.
    """
    rng = np.random.default_rng([REPLICATE_SEED, buckets])
    return rng.poisson(1.0, size=(replicates, buckets)).astype(np.float64)


def replicate_margin(
    bucket_stats: FloatArray, edges: FloatArray, replicates: int
) -> ReplicateMargin:
    """Replicate cubes from ``bucket_stats[stat, bucket, bin, label]``: one matrix product."""
    n_stats, buckets, bins, labels = bucket_stats.shape
    weights = bucket_weights(replicates, buckets)
    # (stat, replicate, cell): the bucket sums are multiplied in place of a transposed copy
    weighted = weights @ bucket_stats.reshape(n_stats, buckets, bins * labels)
    stats = weighted.transpose(1, 2, 0).reshape(replicates, bins, labels, n_stats)
    return ReplicateMargin(edges, np.ascontiguousarray(stats))


class BucketSums:
    """Running sums of the overall population's coarse cells per bucket, shared by threads.

    Cells are ``bin * 3 + label``; sums are stat-major (``sums[stat, bucket * cells + cell]``).
    One batch touches far fewer (bucket, cell) pairs than exist, so its sums are computed over
    the pairs present and only their addition into the shared array is serialised: in the
    batches' order when they are numbered, so that the float sums do not depend on which thread
    finished first (one array per thread would cost another 200 MB and a second of page faults
    at 5M rows).
    """

    def __init__(self, buckets: int, bins: int) -> None:
        self.buckets = buckets
        self.bins = bins
        self.cells = bins * len(LABEL_AXIS)
        self.sums = np.zeros((len(STATS), buckets * self.cells))
        self._turn = threading.Condition()
        self._next = 0
        self._aborted = False

    def add(
        self,
        bucket: NDArray[np.intp],
        cells: NDArray[np.intp],
        terms: list[FloatArray],
        order: int | None = None,
    ) -> None:
        """Add rows of bucket ``bucket[i]`` and cell ``cells[i]`` with per-row ``terms`` (the
        sums after ``n`` in STATS order). Batches numbered by ``order`` (0, 1, 2, ...) are
        added in that order: a thread with a later batch waits for the earlier ones."""
        present, inverse = np.unique(bucket * self.cells + cells, return_inverse=True)
        size = present.size
        partial = np.empty((len(STATS), size))
        partial[0] = np.bincount(inverse, minlength=size)
        for i, term in enumerate(terms, start=1):
            partial[i] = np.bincount(inverse, weights=term, minlength=size)
        with self._turn:
            while order is not None and order != self._next and not self._aborted:
                self._turn.wait()
            if self._aborted:
                return
            # present is unique, so the fancy-indexed addition adds every pair once; one stat
            # at a time is faster than a 2-D fancy index
            for row, values in zip(self.sums, partial, strict=True):
                row[present] += values
            if order is not None:
                self._next += 1
                self._turn.notify_all()

    def abort(self) -> None:
        """Stop waiting for batches that will not come (another thread failed)."""
        with self._turn:
            self._aborted = True
            self._turn.notify_all()

    def stats(self) -> FloatArray:
        """``[stat, bucket, bin, label]`` (a view of the running sums)."""
        return self.sums.reshape(len(STATS), self.buckets, self.bins, len(LABEL_AXIS))


__all__ = [
    "PATIENT_BUCKETS",
    "REPLICATE_SEED",
    "BucketSums",
    "PatientHasher",
    "bucket_weights",
    "patient_bucket_sql",
    "patient_buckets",
    "replicate_margin",
]
