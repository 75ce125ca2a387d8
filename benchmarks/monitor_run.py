"""Incremental monitor run from the window store: the scheduler's daily tick for a deployment
with ``--rows`` stored predictions over two years, on PostgreSQL (or SQLite).

The deployment (threshold 0.2, subgroups ethnicity and sex: 8 levels) gets two years of
simulated predictions (calibrated score, outcomes known), aggregated into its day, week and
month window cells month by month with ingestion's own functions (``cells.score_deltas`` and
``store.add_score_cells``; the events themselves are not stored, which would only add ingestion
time). A first tick at 2025-12-30 runs everything due then, including the simulation of the 16
CUSUM control limits (done once per reference period and cached). Then, timed:

- **daily tick**: at 2025-12-31 06:00, the runs of the newest day window (every day-grain
  monitor, each reading its history from the store and recomputing the charts from the first
  window);
- **month-end tick**: at 2026-01-01 06:00, the runs due then (the day, the week if one closed,
  and December's monthly monitors).

Between repetitions the timed ticks' runs and alerts are deleted so the tick plans them again.

    nice uv run python benchmarks/monitor_run.py                       # 10M predictions
    nice uv run python benchmarks/monitor_run.py --rows 1000000 --runs 3 --database sqlite

Results go to benchmarks/results/monitor-run-<rows>.json; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from ingest import ACTOR, Database
from steward.db import migrate
from steward.db.engine import make_engine
from steward.db.session import session_factory, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.models import LifecycleState, Tool
from steward.registry.organisations import create_organisation, organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance.alerts.models import Alert
from steward.surveillance.cells import ScoreBatch, score_deltas, score_edges
from steward.surveillance.deployments import (
    MonitoringSettings,
    create_deployment,
    monitoring_config,
)
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.models import ScoreCell
from steward.surveillance.scheduler.models import MonitorRun
from steward.surveillance.scheduler.stored import StoredMonitorsSuite
from steward.surveillance.scheduler.worker import Scheduler, TickReport
from steward.surveillance.store import add_score_cells

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
START = dt.date(2024, 1, 1)
END = dt.date(2026, 1, 1)
THRESHOLD = 0.2
WARM = dt.datetime(2025, 12, 30, 6, tzinfo=dt.UTC)
DAILY = dt.datetime(2025, 12, 31, 6, tzinfo=dt.UTC)
MONTH_END = dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)


def _sessions(kind: str) -> tuple[Any, Any, Any]:
    """Session factory on a fresh migrated database, and a function that drops it."""
    if kind == "postgresql":
        database = Database()
        return database.sessions, database.engine, database.close
    path = Path(tempfile.mkdtemp()) / "monitor-run.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with unit_of_work(sessions, ACTOR) as session:
        create_organisation(session, "north", "North", OrganisationKind.REGION)
        create_organisation(session, "rxa", "Riverside", parent_slug="north")
        create_organisation(session, "rxa-ed", "Riverside ED", OrganisationKind.SITE, "rxa")
    return sessions, engine, engine.dispose


def _deployment(sessions: Any) -> uuid.UUID:
    with unit_of_work(sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), "Deterioration")
        deployment, _ = create_deployment(
            session,
            add_version(session, tool, "1.0"),
            organisation_by_slug(session, "rxa-ed"),
            "ED",
            MonitoringSettings(
                thresholds=(THRESHOLD,),
                outcome=OutcomeDefinition("deterioration", 48.0),
                subgroups=("ethnicity", "sex"),
            ),
        )
        deployment.created_at = dt.datetime.combine(START, dt.time(), dt.UTC)
        session.get_one(Tool, tool.id).state = LifecycleState.DEPLOYED
        return deployment.id


def _fill(sessions: Any, deployment_id: uuid.UUID, rows: int) -> float:
    """Two years of window cells, month by month; returns the predictions stored."""
    sys.path.insert(0, str(ROOT.parent / "tests"))
    from surveillance._simulate import label_codes, simulate  # type: ignore[import-not-found]

    volume, stored, month, seed = rows / (END - START).days, 0.0, START, 1
    while month < END:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        chunk = simulate((following - month).days, seed=seed, volume=volume, start=month)
        epoch = (month - dt.date(1970, 1, 1)).days
        batch = ScoreBatch(
            scores=chunk.p,
            days=chunk.day + epoch,
            labels=label_codes(chunk.y),
            weights=np.ones(chunk.p.size),
            subgroups={k: (list(names), codes) for k, (names, codes) in chunk.attributes.items()},
        )
        with unit_of_work(sessions, ACTOR) as session:
            edges = _edges(session, deployment_id)
            add_score_cells(session, deployment_id, score_deltas(batch, edges))
        stored += chunk.p.size
        month, seed = following, seed + 1
    return stored


def _edges(session: Any, deployment_id: uuid.UUID) -> Any:
    config = monitoring_config(session, deployment_id)
    assert config is not None
    return score_edges(config.thresholds)


def _forget(sessions: Any, deployment_id: uuid.UUID, since: dt.datetime) -> None:
    """Delete the runs and alerts of windows ending after ``since``, so a tick plans them again."""
    with unit_of_work(sessions, ACTOR) as session:
        session.execute(
            delete(Alert).where(Alert.deployment_id == deployment_id, Alert.window_end > since)
        )
        session.execute(
            delete(MonitorRun).where(
                MonitorRun.deployment_id == deployment_id, MonitorRun.window_end > since
            )
        )


def _timed(scheduler: Scheduler, at: dt.datetime, deployment_id: uuid.UUID) -> tuple[float, Any]:
    began = time.perf_counter()
    report: TickReport = scheduler.tick(at, deployment_id)
    seconds = time.perf_counter() - began
    failed = [r.error for r in report.runs if r.status != "done"]
    assert not failed, failed
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    sessions, _engine, close = _sessions(args.database)
    try:
        deployment_id = _deployment(sessions)
        began = time.perf_counter()
        stored = _fill(sessions, deployment_id, args.rows)
        fill_s = time.perf_counter() - began
        with sessions() as session:
            cells = session.scalar(
                select(func.count()).where(ScoreCell.deployment_id == deployment_id)
            )
        print(f"{stored:,.0f} predictions in {cells:,} cells ({fill_s:.1f} s)", flush=True)
        scheduler = Scheduler(sessions, StoredMonitorsSuite(), {}, worker="benchmark")
        warm_s, warm = _timed(scheduler, WARM, deployment_id)
        print(f"first tick (control limits included): {warm_s:.1f} s, {len(warm.runs)} runs")
        results: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "database": args.database,
            "predictions": stored,
            "cells": cells,
            "fill_s": fill_s,
            "first_tick_s": warm_s,
            "ticks": {},
        }
        for name, at in (("daily", DAILY), ("month_end", MONTH_END)):
            timings, runs, load = [], 0, os.getloadavg()[0]
            for _ in range(args.runs):
                _forget(sessions, deployment_id, at - dt.timedelta(days=1, hours=6))
                seconds, report = _timed(scheduler, at, deployment_id)
                timings.append(seconds)
                runs = len(report.runs)
            results["ticks"][name] = {
                "seconds": timings,
                "median_s": statistics.median(timings),
                "runs": runs,
                "load_before": load,
            }
            print(
                f"{name} tick: median {statistics.median(timings):.2f} s "
                f"({', '.join(f'{t:.2f}' for t in timings)}), {runs} runs, load {load:.1f}",
                flush=True,
            )
    finally:
        close()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"monitor-run-{args.rows}-{args.database}.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
