"""Benchmark Steward's monitors: drift (PSI) and estimated performance (CBPE) against NannyML and
Evidently on the same file, and an incremental monitor run for a tool with 10M predictions.

    nice uv run python benchmarks/monitors.py                  # 1M rows, 3 runs per tool
    nice uv run python benchmarks/monitors.py --only steward   # rerun ours only
    nice uv run python benchmarks/monitors.py --skip-incremental

The competitors run in their own virtual environments (benchmarks/.venvs/{nannyml,evidently},
created from the pinned requirements files on first use). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from run_all import (
    DATA,
    HERE,
    RESULTS,
    ROOT,
    WARM_UP_ROWS,
    _ensure_venv,
    _machine_text,
    machine_info,
)
from tasks._monitoring import FEATURES, SHIFTED, SPLIT, THRESHOLD, UNSHIFTED

TOOLS = {"steward": None, "nannyml": "nannyml", "evidently": "evidently"}


def main() -> int:
    args = _parse_args()
    path = monitoring_data(args.rows, args.seed)
    machine = machine_info()
    print(_machine_text(machine), flush=True)
    out = args.json or RESULTS / f"monitors-{args.rows}.json"
    previous = json.loads(out.read_text()) if out.exists() and args.only else {}
    document: dict[str, Any] = {
        "rows": args.rows,
        "machine": machine,
        "tools": dict(previous.get("tools", {})),
        "incremental": previous.get("incremental"),
    }
    for key in args.only or list(TOOLS):
        document["tools"][key] = run_tool(key, path, args)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2) + "\n")
    document["realised"] = realised(path)
    if not args.skip_incremental:
        document["incremental"] = incremental(args.incremental_rows, args.runs)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print("\n" + markdown(document))
    print(f"\nresults: {out}")
    return 0


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=list(TOOLS))
    parser.add_argument("--skip-incremental", action="store_true")
    parser.add_argument("--incremental-rows", type=int, default=10_000_000)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--max-rss-gb", type=float, default=8.0)
    parser.add_argument("--json", type=Path)
    return parser.parse_args()


def monitoring_data(rows: int, seed: int) -> Path:
    """Two years of a calibrated score with nine inputs; f8 (mean +0.5 SD) and f9 (SD x 1.5)
    shift in the second year, which is the analysis period (12 monthly chunks)."""
    path = DATA / f"monitoring-{rows}-seed{seed}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 731 * 86_400, rows))
    ts = np.datetime64("2024-01-01T00:00:00") + seconds.astype("timedelta64[s]")
    analysis = ts >= np.datetime64(SPLIT)
    f = {name: rng.normal(size=rows) for name in FEATURES}
    f["f8"] = f["f8"] + 0.5 * analysis
    f["f9"] = f["f9"] * (1.0 + 0.5 * analysis)
    z = -2.7 + 0.6 * f["f1"] + 0.4 * f["f2"] + 0.3 * f["f3"] + 0.4 * f["f8"] + 0.2 * f["f9"]
    p = 1.0 / (1.0 + np.exp(-z))
    y = (rng.random(rows) < p).astype(np.int8)
    DATA.mkdir(parents=True, exist_ok=True)
    columns = {"ts": ts, "risk_score": p, "deteriorated": y, **f}
    pq.write_table(pa.table(columns), path)
    return path


def _command(key: str, path: Path, out: Path) -> list[str]:
    venv = TOOLS[key]
    python = (
        ROOT / ".venv" / "bin" / "python"
        if venv is None
        else HERE / ".venvs" / venv / "bin" / "python"
    )
    return [str(python), str(HERE / "tasks" / f"{key}_monitoring.py"), str(path), str(out)]


def run_tool(key: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Median wall time (whole process, measured by measure.py) of ``args.runs`` runs."""
    import subprocess
    import tempfile

    from run_all import _measure

    if TOOLS[key] is not None:
        _ensure_venv(str(TOOLS[key]))
    scratch = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    out = scratch / "output.json"
    # Warm-up on a small file, so that first-import costs (byte code) are not timed.
    small = monitoring_data(WARM_UP_ROWS, args.seed)
    subprocess.run(
        _command(key, small, out), capture_output=True, check=False, timeout=args.timeout
    )
    runs, output = [], {}
    print(f"\n== {key}", flush=True)
    for attempt in range(args.runs):
        measured = _measure(_command(key, path, out), args)
        if measured["returncode"] != 0 or measured["killed"]:
            print(measured["stderr_tail"][-2000:], file=sys.stderr)
            return {"status": "failed", "runs": runs}
        output = json.loads(out.read_text())
        runs.append(
            {
                "wall_s": measured["wall_s"],
                "peak_rss_mb": measured["peak_rss_mb"],
                "compute_s": output["compute_s"],
            }
        )
        print(
            f"  run {attempt + 1}: {measured['wall_s']:.2f} s (compute {output['compute_s']:.2f} s)"
        )
    return {
        "status": "ok",
        "runs": runs,
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_compute_s": statistics.median(r["compute_s"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "output": output,
    }


def realised(path: Path) -> dict[str, list[float]]:
    """Realised sensitivity and PPV per analysis month, from the outcomes the tools did not see."""
    table = pq.read_table(path, columns=["ts", "risk_score", "deteriorated"])
    ts = table["ts"].to_numpy()
    p, y = table["risk_score"].to_numpy(), table["deteriorated"].to_numpy().astype(bool)
    month = ts.astype("datetime64[M]")
    sens, ppv = [], []
    for start in np.arange(np.datetime64("2025-01"), np.datetime64("2026-01")):
        sel = month == start
        flagged = p[sel] >= THRESHOLD
        sens.append(float((flagged & y[sel]).sum() / y[sel].sum()))
        ppv.append(float((flagged & y[sel]).sum() / flagged.sum()))
    return {"sensitivity": sens, "ppv": ppv}


def incremental(rows: int, runs: int) -> dict[str, Any]:
    """A tool with ``rows`` stored predictions over two years: daily, weekly and monthly window
    cubes (100 score bins plus the threshold) are built once; then a monitor run for the newest
    day is timed with the control limits computed at configuration time (timed apart)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from steward.cube import edges_with_thresholds
    from steward.surveillance import monitors as m
    from surveillance._simulate import reference_from, simulate, window_cubes  # type: ignore

    edges = edges_with_thresholds(100, [THRESHOLD])
    volume = rows / 731.0
    started = time.perf_counter()
    days: list[m.WindowData] = []
    month_start = dt.date(2024, 1, 1)
    seed = 1
    while month_start < dt.date(2026, 1, 1):
        window = m.Window("month", month_start)
        chunk = simulate(window.days, seed=seed, volume=volume, start=month_start)
        days.extend(window_cubes(chunk, edges, "day"))
        month_start, seed = window.end, seed + 1
    history = {"day": days, "week": _merge(days, "week"), "month": _merge(days, "month")}
    built_s = time.perf_counter() - started
    stored = sum(float(d.cube.overall.stats[..., 0].sum()) for d in days)
    reference = reference_from(simulate(180, seed=999, volume=volume), edges)
    config = m.monitor_config({"threshold": THRESHOLD})
    started = time.perf_counter()
    limits = m.cusum_limits(reference, config)
    limits_s = time.perf_counter() - started
    timings, count = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = m.run_monitors(
            history, reference, config, since=days[-1].window.start, cusum_limits_=limits
        )
        timings.append(time.perf_counter() - started)
        count = len(found)
    # The heaviest scheduled pass: everything due for the newest month (its monthly and weekly
    # periodic monitors, and the charts' findings for each of its days).
    month_timings, month_count = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = m.run_monitors(
            history,
            reference,
            config,
            since=history["month"][-1].window.start,
            cusum_limits_=limits,
        )
        month_timings.append(time.perf_counter() - started)
        month_count = len(found)
    print(f"\n== incremental: {stored:,.0f} predictions, runs {[round(t, 2) for t in timings]} s")
    return {
        "predictions": stored,
        "windows": {g: len(v) for g, v in history.items()},
        "charts": len(limits),
        "build_cubes_s": built_s,
        "control_limits_s": limits_s,
        "run_s": timings,
        "median_run_s": statistics.median(timings),
        "findings_in_newest_window": count,
        "month_run_s": month_timings,
        "median_month_run_s": statistics.median(month_timings),
        "findings_in_newest_month": month_count,
    }


def _merge(days: list[Any], grain: str) -> list[Any]:
    from steward.surveillance import monitors as m

    merged: dict[Any, Any] = {}
    for data in days:
        window = m.Window.containing(grain, data.window.start)  # type: ignore[arg-type]
        merged[window] = data.cube if window not in merged else merged[window].merge(data.cube)
    return [m.WindowData(w, c) for w, c in sorted(merged.items())]


def _false_alerts(alerts: dict[str, list[Any]], columns: tuple[str, ...]) -> int:
    return int(sum(sum(bool(a) for a in alerts[c]) for c in columns))


def markdown(document: dict[str, Any]) -> str:
    tools = document["tools"]
    real = document.get("realised", {})
    lines = [
        f"{document['rows']:,} predictions (1 year reference, 12 monthly analysis chunks, "
        f"9 inputs of which 2 shift); {_machine_text(document['machine'])}",
        "",
        "| tool | what | wall (s), median | compute (s) | peak RSS (MB) | Steward time / tool |"
        " false drift alerts, 7 unshifted inputs (of 84 column-months) | shifted inputs flagged"
        " (of 24) | CBPE mean abs error vs realised (sensitivity / PPV) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ours = tools.get("steward", {})
    for key, row in tools.items():
        if row.get("status") != "ok":
            lines.append(f"| {key} | | {row.get('status')} | | | | | | |")
            continue
        out = row["output"]
        ratio = ""
        if key != "steward" and ours.get("status") == "ok":
            ratio = f"{ours['median_wall_s'] / row['median_wall_s']:.2f}"
        variants = []
        if key == "evidently":
            res = out["results"]
            for name in ("default", "psi"):
                alerts = {c: res[name][f"{c}:alert"] for c in FEATURES}
                variants.append((f"DataDriftPreset ({name})", alerts, None))
        else:
            what = "PSI (reference deciles) + CBPE" if key == "steward" else "Jensen-Shannon + CBPE"
            variants.append((what, out["alerts"], out))
        for what, alerts, cbpe in variants:
            error = ""
            if cbpe is not None and real:
                es = np.mean(np.abs(np.array(cbpe["sensitivity"]) - real["sensitivity"]))
                ep = np.mean(np.abs(np.array(cbpe["ppv"]) - real["ppv"]))
                error = f"{es:.4f} / {ep:.4f}"
            lines.append(
                f"| {key} | {what} | {row['median_wall_s']:.2f} ({len(row['runs'])}) | "
                f"{row['median_compute_s']:.2f} | {row['peak_rss_mb']:.0f} | {ratio} | "
                f"{_false_alerts(alerts, UNSHIFTED)} | {_false_alerts(alerts, SHIFTED)} | {error} |"
            )
    if (
        tools.get("steward", {}).get("status") == "ok"
        and tools.get("evidently", {}).get("status") == "ok"
    ):
        ours_psi = tools["steward"]["output"]["psi"]
        theirs = tools["evidently"]["output"]["results"]["psi"]
        diffs = [abs(a - b) for c in FEATURES for a, b in zip(ours_psi[c], theirs[c], strict=True)]
        flags = [
            (a >= 0.1) == bool(b)
            for c in FEATURES
            for a, b in zip(ours_psi[c], theirs[f"{c}:alert"], strict=True)
        ]
        lines += [
            "",
            "PSI agreement with Evidently's PSI (its own 30 bins vs our reference deciles): "
            f"median abs difference {statistics.median(diffs):.4f}, max {max(diffs):.4f}; "
            "same flag at 0.1 in "
            f"{sum(flags)} of {len(flags)} column-months.",
        ]
    if (
        tools.get("steward", {}).get("status") == "ok"
        and tools.get("nannyml", {}).get("status") == "ok"
    ):
        a, b = tools["steward"]["output"], tools["nannyml"]["output"]
        ds = max(abs(x - y) for x, y in zip(a["sensitivity"], b["sensitivity"], strict=True))
        dp = max(abs(x - y) for x, y in zip(a["ppv"], b["ppv"], strict=True))
        lines.append(
            "CBPE agreement with NannyML (which recalibrates the score on the reference "
            "only when that improves its calibration; here the score is calibrated, so the "
            f"formulas coincide): max abs difference {ds:.1e} in estimated sensitivity, "
            f"{dp:.1e} in estimated PPV."
        )
    inc = document.get("incremental")
    if inc:
        windows = inc["windows"]
        runs = ", ".join(f"{t:.2f}" for t in inc["run_s"])
        lines += [
            "",
            f"Incremental monitor run, {inc['predictions']:,.0f} stored predictions over two "
            f"years ({windows['day']} daily, {windows['week']} weekly, {windows['month']} monthly "
            f"window cubes; {inc['charts']} CUSUM charts): median {inc['median_run_s']:.2f} s per "
            f"run for the newest day (runs: {runs}), "
            f"{inc.get('median_month_run_s', float('nan')):.2f} s for everything due in the "
            f"newest month ({inc.get('findings_in_newest_month', 0):,} findings); control limits, "
            "simulated once at configuration: "
            f"{inc['control_limits_s']:.1f} s; building the cubes from rows (done by ingestion, "
            f"once per batch): {inc['build_cubes_s']:.1f} s.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
