"""The numpy pass hands batches to its workers in a fixed rotation, so a cube is reproducible."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steward.cube import stream
from steward.cube.model import STATS, Cube
from steward.cube.replicates import BucketSums
from steward.cube.sources import open_source
from steward.cube.stream import stream_cube

from .test_margins import grouped_request, grouped_table


class _Recorder:
    """Stands in for an aggregator: notes the batches it gets, at an uneven pace."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.seen: list[int] = []

    def abort(self) -> None:
        pass

    def add(self, batch: pa.RecordBatch, order: int) -> None:
        assert order == batch.column(0)[0].as_py()
        self.seen.append(order)
        time.sleep(self.random.choice([0.0, 0.0, 0.001, 0.005]))


@pytest.mark.parametrize("workers", [2, 3])
def test_batch_i_goes_to_worker_i_mod_w(workers: int) -> None:
    batches = iter([pa.record_batch({"i": [i]}) for i in range(60)])
    feed = stream._Feed(batches, workers, total=60, progress=None)
    recorders = [_Recorder(seed) for seed in range(workers)]
    threads = [
        threading.Thread(target=feed.drain, args=(recorder, worker))
        for worker, recorder in enumerate(recorders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for worker, recorder in enumerate(recorders):
        assert recorder.seen == list(range(worker, 60, workers))


def test_a_failing_worker_stops_the_others() -> None:
    batches = iter([pa.record_batch({"i": [i]}) for i in range(1000)])
    feed = stream._Feed(batches, 2, total=1000, progress=None)

    class Failing:
        def add(self, batch: pa.RecordBatch, order: int) -> None:
            if order == 10:
                raise ValueError("bad batch")

        def abort(self) -> None:
            pass

    recorder = _Recorder(seed=1)
    other = threading.Thread(target=feed.drain, args=(recorder, 1))
    other.start()
    with pytest.raises(ValueError, match="bad batch"):
        feed.drain(Failing(), 0)  # type: ignore[arg-type]
    other.join(timeout=30)
    assert not other.is_alive()
    assert len(recorder.seen) < 500


def _arrays(cube: Cube) -> list[np.ndarray]:
    arrays = [margin.stats for margin in cube.margins.values()]
    assert cube.paired is not None
    arrays += [cube.paired.counts, cube.paired.score.stats, cube.paired.comparator.stats]
    if cube.replicates is not None:
        arrays.append(cube.replicates.stats)
    return arrays


@pytest.mark.parametrize("replicates", [0, 30])
def test_the_same_file_gives_the_same_cube_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replicates: int
) -> None:
    monkeypatch.setattr(stream, "BATCH_ROWS", 97)  # many batches, so the workers interleave
    monkeypatch.setattr(stream, "WORKERS", 2)
    path = tmp_path / "rows.parquet"
    pq.write_table(grouped_table(6000, seed=5), path, row_group_size=1000)
    request = grouped_request()
    if replicates:
        columns = replace(request.columns, patient="patient")  # type: ignore[attr-defined]
        # few buckets, so that consecutive batches add into the same cells of the bucket cube
        request = replace(  # type: ignore[type-var]
            request, columns=columns, replicates=replicates, patient_buckets=2
        )
    cubes = [stream_cube(open_source(str(path)), request) for _ in range(4)]  # type: ignore[arg-type]
    first = cubes[0]
    assert first is not None
    assert (first.replicates is not None) == bool(replicates)
    for cube in cubes[1:]:
        assert cube is not None
        for expected, got in zip(_arrays(first), _arrays(cube), strict=True):
            assert np.array_equal(expected, got)


def _bucket_batch(seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    bucket = rng.integers(0, 2, 500)
    cells = rng.integers(0, 9, 500)
    p = rng.random(500)
    return bucket, cells, [p * (k + 1) / 3 for k in range(len(STATS) - 1)]


def test_numbered_bucket_batches_are_added_in_their_order_whoever_finishes_first() -> None:
    batches = [_bucket_batch(seed) for seed in range(3)]
    expected = BucketSums(2, 3)
    for batch in batches:
        expected.add(*batch)
    shared = BucketSums(2, 3)
    late = threading.Thread(target=shared.add, args=(*batches[2], 2))
    late.start()
    late.join(timeout=0.2)
    assert late.is_alive()  # batch 2 waits for batches 0 and 1
    middle = threading.Thread(target=shared.add, args=(*batches[1], 1))
    middle.start()
    shared.add(*batches[0], 0)
    for thread in (middle, late):
        thread.join(timeout=30)
    assert np.array_equal(shared.sums, expected.sums)


def test_aborting_releases_a_thread_waiting_for_a_batch_that_will_not_come() -> None:
    shared = BucketSums(2, 3)
    waiting = threading.Thread(target=shared.add, args=(*_bucket_batch(0), 5))
    waiting.start()
    waiting.join(timeout=0.2)
    assert waiting.is_alive()
    shared.abort()
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    assert not shared.sums.any()
