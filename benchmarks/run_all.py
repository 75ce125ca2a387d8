"""Benchmark Steward's full evaluation against single-purpose tools and a DuckDB floor.

Every tool runs in its own subprocess (its own virtual environment under ``benchmarks/.venvs``)
on the same Parquet file; ``measure.py`` reports wall time and peak resident memory of each run.

    nice uv run python benchmarks/run_all.py                      # 5M rows, every tool
    nice uv run python benchmarks/run_all.py --only steward       # rerun ours, merge the rest
    nice uv run python benchmarks/run_all.py --rows 100000000     # Steward and the floor only

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENVS = HERE / ".venvs"
DATA = HERE / "data"
RESULTS = HERE / "results"
LARGE_ROWS = 20_000_000  # above this, only Steward and the floor run
WARM_UP_ROWS = 20_000

SCORE, LABEL, COMPARATOR = "risk_score", "deteriorated", "clinician_estimate"
GROUPS = ("sex", "age_band", "ethnicity", "deprivation", "site")
THRESHOLDS = (0.1, 0.2)
BOOTSTRAP = 1_000


@dataclass(frozen=True)
class Tool:
    key: str
    name: str
    computes: str
    venv: str | None  # None: Steward itself, from the project environment

    def python(self) -> Path:
        return VENVS / str(self.venv) / "bin" / "python"


TOOLS = (
    Tool(
        "steward",
        "Steward `steward evaluate`",
        "all metrics, 5 group columns, 2 thresholds, comparator, DeLong + 1,000 bootstrap",
        None,
    ),
    Tool(
        "steward-clustered",
        "Steward `steward evaluate --patient --time`",
        "the same, plus patient-clustered intervals (200 replicate cubes) and monthly windows",
        None,
    ),
    Tool("sklearn", "scikit-learn `roc_auc_score`", "AUROC only", "sklearn"),
    Tool(
        "fairlearn",
        "fairlearn `MetricFrame`",
        "AUROC, Brier, 4 metrics x 2 thresholds, for each of 5 group columns",
        "fairlearn",
    ),
    Tool("evidently", "Evidently `ClassificationPreset`", "classification preset", "evidently"),
    Tool(
        "seismometer",
        "seismometer `calculate_bin_stats`",
        "101-threshold table (AUROC by trapezoid)",
        "seismometer",
    ),
    Tool("floor", "Floor: DuckDB `SELECT count(*), sum(score)`", "one scan", "duckdb"),
)
TOOL_BY_KEY = {tool.key: tool for tool in TOOLS}


def main() -> int:
    args = _parse_args()
    path = _data_file(args.rows, args.seed)
    keys = args.only or [
        t.key for t in TOOLS if args.rows <= LARGE_ROWS or t.key in ("steward", "floor")
    ]
    machine = machine_info()
    print(_machine_text(machine), flush=True)
    results_path = args.json or RESULTS / f"results-{args.rows}.json"
    previous = _load(results_path) if args.only else {}
    results: dict[str, Any] = dict(previous.get("tools", {}))
    document = {
        "rows": args.rows,
        "seed": args.seed,
        "file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "runs": args.runs,
        "machine": previous.get("machine", machine),
        "machine_latest": machine,
        "tools": results,
    }
    results_path.parent.mkdir(parents=True, exist_ok=True)
    for key in keys:
        tool = TOOL_BY_KEY[key]
        if tool.venv is not None:
            _ensure_venv(tool.venv)
        print(f"\n== {tool.name} ({args.runs} runs)", flush=True)
        results[key] = run_tool(tool, path, args)
        # Saved after every tool, so an interrupted run keeps what it measured.
        results_path.write_text(json.dumps(document, indent=2) + "\n")
    table = markdown(document)
    print("\n" + table)
    if args.markdown:
        args.markdown.write_text(table)
    print(f"\nresults: {results_path}")
    return 0


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (median)")
    parser.add_argument("--only", nargs="+", choices=list(TOOL_BY_KEY), help="tools to run")
    parser.add_argument("--timeout", type=float, default=15 * 60, help="seconds per run")
    parser.add_argument("--max-rss-gb", type=float, default=20.0, help="memory cap per run")
    parser.add_argument("--json", type=Path, help="results file (default benchmarks/results/)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    return parser.parse_args()


def _data_file(rows: int, seed: int) -> Path:
    path = DATA / f"deterioration-{rows}-seed{seed}.parquet"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT / "src"))
    from steward.synthetic import write

    DATA.mkdir(parents=True, exist_ok=True)
    print(f"generating {rows:,} rows -> {path}", flush=True)
    write(path, rows, seed=seed, progress=lambda n: print(f"  {n:,} rows", flush=True))
    return path


def _ensure_venv(name: str) -> None:
    python = VENVS / name / "bin" / "python"
    if python.exists():
        return
    requirements = HERE / f"requirements-{name}.txt"
    print(f"creating {python.parent.parent} from {requirements.name}", flush=True)
    subprocess.run(["uv", "venv", "--python", "3.11", str(python.parent.parent)], check=True)
    sync = ["uv", "pip", "sync", "--compile-bytecode", "--python", str(python), str(requirements)]
    subprocess.run(sync, check=True)


def _steward_command() -> list[str]:
    script = ROOT / ".venv" / "bin" / "steward"
    return [str(script)] if script.exists() else ["uv", "run", "--project", str(ROOT), "steward"]


def _command(tool: Tool, path: Path, json_out: Path) -> list[str]:
    if tool.venv is None:
        command = [*_steward_command(), "evaluate", str(path), "--score", SCORE, "--label", LABEL]
        for group in GROUPS:
            command += ["--group", group]
        command += ["--comparator", COMPARATOR]
        if tool.key == "steward-clustered":
            command += ["--patient", "patient_id", "--time", "admitted_at"]
        for threshold in THRESHOLDS:
            command += ["--threshold", str(threshold)]
        return [*command, "--bootstrap", str(BOOTSTRAP), "--json", str(json_out), "--quiet"]
    task = HERE / "tasks" / f"{_TASK_SCRIPTS[tool.key]}.py"
    extra = [SCORE] if tool.key == "floor" else []
    return [str(tool.python()), str(task), str(path), *extra]


_TASK_SCRIPTS = {
    "sklearn": "sklearn_auroc",
    "fairlearn": "fairlearn_metricframe",
    "evidently": "evidently_preset",
    "seismometer": "seismometer_binstats",
    "floor": "floor_duckdb",
}


def run_tool(tool: Tool, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Time ``args.runs`` runs of one tool, each in a fresh measuring process."""
    runs: list[dict[str, Any]] = []
    output: dict[str, Any] = {}
    status = "ok"
    _warm_up(tool, args)
    for attempt in range(args.runs):
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="steward-bench-") as scratch:
            json_out = Path(scratch) / "result.json"
            measured = _measure(_command(tool, path, json_out), args)
            if measured["killed"]:
                status = f"stopped: {measured['killed']}"
            elif measured["returncode"] != 0:
                status = f"failed (exit {measured['returncode']})"
            else:
                output = _read_output(tool, measured, json_out)
        runs.append({k: measured[k] for k in ("wall_s", "peak_rss_mb", "tree_peak_mb", "cpu_s")})
        runs[-1]["load_1m_before"] = load_before
        print(
            f"  run {attempt + 1}: {measured['wall_s']:.2f} s, "
            f"peak RSS {measured['peak_rss_mb']:.0f} MB, {status}",
            flush=True,
        )
        if status != "ok":
            print(measured["stderr_tail"][-2000:], file=sys.stderr)
            break
    return {
        "name": tool.name,
        "computes": tool.computes,
        "status": status,
        "version": _version(tool),
        "runs": runs,
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "output": output,
    }


def _warm_up(tool: Tool, args: argparse.Namespace) -> None:
    """One untimed run on a small file, so that first-import costs are not timed.

    It may write byte code (``__pycache__``) even where PYTHONDONTWRITEBYTECODE is set, so that
    no tool pays for compiling its sources in the timed runs.
    """
    with tempfile.TemporaryDirectory(prefix="steward-bench-") as scratch:
        small = _data_file(WARM_UP_ROWS, args.seed)
        command = _command(tool, small, Path(scratch) / "result.json")
        subprocess.run(
            command, capture_output=True, timeout=args.timeout, check=False, env=_environment()
        )


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _measure(command: list[str], args: argparse.Namespace) -> dict[str, Any]:
    wrapper = [
        sys.executable,
        str(HERE / "measure.py"),
        str(args.timeout),
        str(args.max_rss_gb * 1024),
        "--",
        *command,
    ]
    completed = subprocess.run(
        wrapper, capture_output=True, text=True, check=True, env=_environment()
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _read_output(tool: Tool, measured: dict[str, Any], json_out: Path) -> dict[str, Any]:
    if tool.venv is None:
        document = json.loads(json_out.read_text())
        return {"auroc": document["metrics"]["auroc"]["value"]}
    lines = [line for line in measured["stdout_tail"].splitlines() if line.startswith("{")]
    parsed: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    return parsed


def _version(tool: Tool) -> str:
    if tool.venv is None:
        completed = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        return f"git {completed.stdout.strip()}"
    package = {"sklearn": "scikit-learn", "floor": "duckdb"}.get(tool.key, tool.key)
    pins = (HERE / f"requirements-{tool.venv}.txt").read_text()
    found = re.search(rf"^{re.escape(package)}==(\S+)", pins, re.MULTILINE)
    return f"{package} {found.group(1)}" if found else package


def machine_info() -> dict[str, Any]:
    """The facts a reader needs to compare these numbers with their own."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    memory = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": len(os.sched_getaffinity(0)),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "memory_gb": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "disk_free_gb": round(shutil.disk_usage(HERE).free / 2**30, 1),
        "load_1m": os.getloadavg()[0],
    }


def _machine_text(machine: dict[str, Any]) -> str:
    return (
        f"machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory_gb']} GB RAM, "
        f"{machine['os']}, Python {machine['python']}; {machine['date_utc']}; "
        f"load average at start {machine['load_1m']:.1f}"
    )


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def markdown(document: dict[str, Any]) -> str:
    """The results as a markdown table, with ratios of Steward's time and memory to each tool."""
    tools = document["tools"]
    ours = tools.get("steward")
    ours_ok = ours is not None and ours["status"] == "ok"
    reference = tools.get("sklearn", {}).get("output", {}).get("auroc")
    lines = [
        f"{document['rows']:,} rows ({document['file_mb']} MB Parquet); "
        f"{_machine_text(document['machine'])}",
        "",
        "| tool | version | computes | wall (s), median (runs) | CPU (s) | peak RSS (MB) |"
        " Steward time / tool | Steward memory / tool | AUROC | abs diff vs scikit-learn |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool in TOOLS:
        if tool.key not in tools:
            if tool.key == "steward":
                lines.append(f"| {tool.name} | | {tool.computes} | pending | | | | | | |")
            continue
        row = tools[tool.key]
        ok = row["status"] == "ok"
        wall = f"{row['median_wall_s']:.2f} ({len(row['runs'])})" if ok else row["status"]
        rss = f"{row['peak_rss_mb']:.0f}" if ok else ""
        cpu = f"{statistics.median(r['cpu_s'] for r in row['runs']):.1f}" if ok else ""
        auroc = row["output"].get("auroc")
        ratio_time = ratio_rss = ""
        if ours_ok and ok and tool.venv is not None:
            ratio_time = f"{ours['median_wall_s'] / row['median_wall_s']:.2f}"
            ratio_rss = f"{ours['peak_rss_mb'] / row['peak_rss_mb']:.2f}"
        diff = ""
        if auroc is not None and reference is not None and tool.key != "sklearn":
            diff = f"{abs(auroc - reference):.1e}"
        lines.append(
            f"| {tool.name} | {row['version']} | {row['computes']} | {wall} | {cpu} | {rss} | "
            f"{ratio_time} | {ratio_rss} | {'' if auroc is None else f'{auroc:.6f}'} | {diff} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
