"""What `steward` imports at start-up: the engine only when evaluating, DuckDB only when needed,
rich only when something is drawn, the YAML parser only for a spec file; and how the executable
keeps those imports out of the garbage collector.

Each check runs in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from steward import cube
from steward.synthetic import generate

# runs the command line in-process, then prints which of the named modules were imported
_PROBE = textwrap.dedent(
    """
    import json, sys
    from steward.cli.main import app
    try:
        app(sys.argv[2:], prog_name="steward")
    except SystemExit as stop:
        assert not stop.code, stop.code
    print(json.dumps({name: name in sys.modules for name in sys.argv[1].split(",")}))
    """
)


def _imported(modules: str, *args: str) -> dict[str, bool]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, modules, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return imported


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "predictions.parquet"
    pq.write_table(generate(3_000, seed=5), path)
    return path


def test_evaluating_a_parquet_file_quietly_imports_only_the_engine(parquet_file: Path) -> None:
    args = ["evaluate", str(parquet_file), "--score", "risk_score", "--label", "deteriorated"]
    args += ["--group", "sex", "--comparator", "clinician_estimate", "--bootstrap", "20", "-q"]
    imported = _imported("duckdb,pandas,rich,yaml,steward.evaluation.run", *args)
    assert imported == {
        "duckdb": False,
        "pandas": False,
        "rich": False,
        "yaml": False,
        "steward.evaluation.run": True,
    }


def test_a_full_evaluation_with_its_reports_never_imports_scipy(
    parquet_file: Path, tmp_path: Path
) -> None:
    # scipy.special alone costs 0.3-0.45 s at start-up; steward.metrics.special replaces it
    args = ["evaluate", str(parquet_file), "--score", "risk_score", "--label", "deteriorated"]
    args += ["--group", "sex", "--group", "age_band", "--comparator", "clinician_estimate"]
    args += ["--threshold", "0.1", "--threshold", "0.2", "--bootstrap", "20"]
    args += ["--json", str(tmp_path / "result.json"), "--html", str(tmp_path / "report.html")]
    assert _imported("scipy", *args) == {"scipy": False}
    assert (tmp_path / "report.html").stat().st_size > 0


@pytest.mark.parametrize("name", ["deterioration-validation", "deterioration-equity-audit"])
def test_the_demo_specs_evaluate_without_scipy(
    parquet_file: Path, tmp_path: Path, name: str
) -> None:
    spec = resources.files("steward.cli") / "demo_specs" / f"{name}.yaml"
    args = ["evaluate", str(parquet_file), "--spec", str(spec), "--bootstrap", "20", "-q"]
    args += ["--html", str(tmp_path / "report.html")]
    assert _imported("scipy", *args) == {"scipy": False}


def test_evaluating_with_a_spec_file_and_a_summary_draws_with_rich(
    parquet_file: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("columns:\n  score: risk_score\n  label: deteriorated\n", encoding="utf-8")
    args = ["evaluate", str(parquet_file), "--spec", str(spec), "--bootstrap", "0"]
    assert _imported("rich,yaml", *args) == {"rich": True, "yaml": True}


def test_evaluating_a_csv_file_still_uses_duckdb(parquet_file: Path, tmp_path: Path) -> None:
    csv = tmp_path / "predictions.csv"
    pq.read_table(parquet_file, columns=["risk_score", "deteriorated"]).to_pandas().to_csv(
        csv, index=False
    )
    args = ["evaluate", str(csv), "--score", "risk_score", "--label", "deteriorated", "-q"]
    assert _imported("duckdb", *args, "--bootstrap", "0") == {"duckdb": True}


def test_help_does_not_import_the_engine() -> None:
    imported = _imported("numpy,pyarrow,duckdb,scipy", "evaluate", "--help")
    assert not any(imported.values()), imported


def test_the_cube_package_names_resolve_lazily() -> None:
    for name in cube.__all__:
        assert getattr(cube, name) is not None
    assert cube.LevelCounts.__module__ == "steward.cube.model"
    with pytest.raises(AttributeError):
        _ = cube.not_a_name  # type: ignore[attr-defined]


# runs the `steward` executable's entry point, then reports at exit whether objects were frozen
_ENTRY = textwrap.dedent(
    """
    import atexit, gc, sys
    atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))
    sys.argv = ["steward", *sys.argv[1:]]
    from steward.cli.main import run
    run()
    """
)


@pytest.mark.parametrize(
    ("args", "code"),
    [(["evaluate", "--help"], 0), (["evaluate", "missing.parquet", "--score", "s"], 2)],
)
def test_the_executable_keeps_the_exit_code_and_freezes_before_shutdown(
    args: list[str], code: int
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _ENTRY, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == code, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "frozen True"


def test_a_run_that_loads_duckdb_ends_without_leak_reports(tmp_path: Path) -> None:
    rows = ["score,label"] + [f"{i / 40:.3f},{i % 3 == 0:d}" for i in range(40)]
    data = tmp_path / "rows.csv"
    data.write_text("\n".join(rows) + "\n")
    # the report's imports come after DuckDB was loaded for the CSV file
    args = ["evaluate", str(data), "--score", "score", "--label", "label", "--quiet"]
    args += ["--html", str(tmp_path / "report.html")]
    done = subprocess.run(
        [sys.executable, "-c", _ENTRY, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "leak" not in done.stderr


# runs the entry point on a command that imports numpy, then reports numpy's BLAS thread count
_BLAS = textwrap.dedent(
    """
    import sys
    from threadpoolctl import threadpool_info
    sys.argv = ["steward", *sys.argv[1:]]
    from steward.cli.main import run
    assert "numpy" not in sys.modules  # else numpy would have read its threads already
    try:
        run()
    except SystemExit:
        pass
    pools = [p for p in threadpool_info() if p["internal_api"] == "openblas"]
    print(max(p["num_threads"] for p in pools))
    """
)


# imports the engine under lasting_imports, first in a process that is not the executable's
_LASTING = textwrap.dedent(
    """
    import gc, json, sys
    if sys.argv[1] == "duckdb":
        import duckdb
    from steward.cli import process
    with process.lasting_imports(False):
        alone = {"collecting": gc.isenabled(), "frozen": gc.get_freeze_count()}
    with process.lasting_imports(True):
        collecting = gc.isenabled()
        import steward.evaluation.run
    after = {"collecting": gc.isenabled(), "frozen": gc.get_freeze_count()}
    print(json.dumps({"alone": alone, "while": collecting, "after": after}))
    """
)


@pytest.mark.parametrize(("preset", "expected"), [(None, "1"), ("2", "2")])
def test_the_executable_runs_blas_on_one_thread_unless_told_otherwise(
    parquet_file: Path, preset: str | None, expected: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    args = ["evaluate", str(parquet_file), "--score", "risk_score", "--label", "deteriorated"]
    done = subprocess.run(
        [sys.executable, "-c", _BLAS, *args, "--bootstrap", "0", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected


def _lasting(loaded: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _LASTING, loaded], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    states: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return states


def test_the_executable_imports_the_engine_without_collections_then_freezes_it() -> None:
    states = _lasting("")
    assert states["alone"] == {"collecting": True, "frozen": 0}
    assert states["while"] is False
    assert states["after"]["collecting"] is True
    assert states["after"]["frozen"] > 10_000


def test_nothing_is_frozen_once_duckdb_is_loaded() -> None:
    states = _lasting("duckdb")
    assert states["while"] is False
    assert states["after"] == {"collecting": True, "frozen": 0}
