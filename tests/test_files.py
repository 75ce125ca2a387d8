"""Outputs appear whole or not at all."""

from pathlib import Path

import pytest

from steward.errors import InputError
from steward.files import atomic_path, write_text_atomic


def test_text_is_written_and_replaces_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    target.write_text("old")
    assert write_text_atomic(target, "new\n") == target
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.parquet"
    target.write_text("complete")

    def failing_writer() -> None:
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        failing_writer()
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["data.parquet"]


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_text_atomic(tmp_path / "missing" / "report.html", "x")
