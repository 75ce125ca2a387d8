"""The allocator settings of one-shot commands: applied on glibc, harmless elsewhere."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from steward.cli import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_accepts_the_thresholds_and_memory_still_works() -> None:
    assert allocator.keep_freed_memory() is True
    blocks = [np.ones(size) for size in (10, 100_000, 1_000_000, 3_000_000)]
    assert [float(b.sum()) for b in blocks] == [10.0, 100_000.0, 1_000_000.0, 3_000_000.0]


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, name: object) -> None:
            pass

    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", NoMallopt)
    assert allocator.keep_freed_memory() is False


def test_only_the_executables_evaluation_sets_the_allocator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from steward.cli.main import app
    from steward.cli.process import ExecutableProcess

    calls: list[bool] = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(True) or True)
    missing = str(tmp_path / "missing.csv")  # bad input, found after the engine is loaded
    args = ["evaluate", missing, "--score", "p", "--label", "y", "--quiet"]
    assert CliRunner().invoke(app, args).exit_code == 2
    assert calls == []  # a process that runs commands in-process keeps glibc's defaults
    assert CliRunner().invoke(app, args, obj=ExecutableProcess()).exit_code == 2
    assert calls == [True]
