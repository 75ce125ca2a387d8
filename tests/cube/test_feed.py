"""The numpy pass hands batches to its workers in a fixed rotation, so a cube is reproducible."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steward.cube import stream
from steward.cube.model import Cube
from steward.cube.sources import open_source
from steward.cube.stream import stream_cube

from .test_margins import grouped_request, grouped_table


class _Recorder:
    """Stands in for an aggregator: notes the batches it gets, at an uneven pace."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.seen: list[int] = []

    def add(self, batch: pa.RecordBatch) -> None:
        self.seen.append(batch.column(0)[0].as_py())
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
        def add(self, batch: pa.RecordBatch) -> None:
            if batch.column(0)[0].as_py() == 10:
                raise ValueError("bad batch")

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
    return [*arrays, cube.paired.counts, cube.paired.score.stats, cube.paired.comparator.stats]


def test_the_same_file_gives_the_same_cube_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "BATCH_ROWS", 97)  # many batches, so the workers interleave
    monkeypatch.setattr(stream, "WORKERS", 2)
    path = tmp_path / "rows.parquet"
    pq.write_table(grouped_table(6000, seed=5), path, row_group_size=1000)
    request = grouped_request()
    cubes = [stream_cube(open_source(str(path)), request) for _ in range(4)]  # type: ignore[arg-type]
    first = cubes[0]
    assert first is not None
    for cube in cubes[1:]:
        assert cube is not None
        for expected, got in zip(_arrays(first), _arrays(cube), strict=True):
            assert np.array_equal(expected, got)
