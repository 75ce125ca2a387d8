"""Bulk ingestion rate of predictions into PostgreSQL: the service and the HTTP endpoint.

Each run creates a fresh deployment (3 subgroup attributes, 2 thresholds, 2 input features) in
a new database on the PostgreSQL server and ingests ``--rows`` predictions in batches of
``--batch``, every batch one transaction that stores the events, aggregates them into the day,
week and month window cells and writes its audit event. ``service`` calls
``steward.surveillance.ingest.ingest_predictions`` with parsed rows; ``http`` POSTs the same rows
as NDJSON to ``/api/v1/deployments/{id}/predictions`` (parsing included; in-process ASGI client),
from ``--streams`` concurrent clients.

    nice uv run python benchmarks/ingest.py                      # 100,000 rows, 3 runs each
    nice uv run python benchmarks/ingest.py --rows 200000 --runs 5
    nice uv run python benchmarks/ingest.py --modes http --streams 2

Results go to benchmarks/results/ingest.json; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from steward.audit.context import AuditContext
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.db import migrate
from steward.db.base import utcnow
from steward.db.engine import make_engine
from steward.db.session import session_factory, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import create_organisation, organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance.deployments import MonitoringSettings, create_deployment
from steward.surveillance.ingest import ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.rows import PredictionRow

RESULTS = Path(__file__).resolve().parent / "results"
SERVER = os.environ.get(
    "STEWARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ACTOR = AuditContext(actor="benchmark:ingest", request_id="benchmark")
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
ETHNICITY = ("White", "Asian", "Black", "Mixed", "Other")
AGE = ("18-39", "40-59", "60-69", "70-79", "80+")


def records(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` realistic predictions over two weeks (about 0.6 s apart), as JSON-ready dicts."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(1.2, 12.0, n).round(6)
    seconds = np.sort(rng.integers(0, 14 * 86_400, n))
    heart = rng.normal(84, 14, n).round(1)
    resp = rng.normal(17, 4, n).round(1)
    sex = rng.integers(0, 2, n)
    ethnicity = rng.integers(0, len(ETHNICITY), n)
    age = rng.integers(0, len(AGE), n)
    patients = rng.integers(0, n // 2 + 1, n)
    return [
        {
            "event_id": f"{seed}-{i}",
            "patient_id": f"pt{patients[i]}",
            "encounter_id": f"enc{patients[i]}-{i % 3}",
            "time": (START + dt.timedelta(seconds=int(seconds[i]))).isoformat(),
            "score": float(scores[i]),
            "features": {"heart_rate": float(heart[i]), "resp_rate": float(resp[i])},
            "subgroups": {
                "sex": "FM"[sex[i]],
                "ethnicity": ETHNICITY[ethnicity[i]],
                "age_band": AGE[age[i]],
            },
        }
        for i in range(n)
    ]


def rows_of(batch: list[dict[str, Any]]) -> list[PredictionRow]:
    return [
        PredictionRow(
            event_id=r["event_id"],
            patient_id=r["patient_id"],
            encounter_id=r["encounter_id"],
            time=dt.datetime.fromisoformat(r["time"]),
            score=r["score"],
            features=r["features"],
            subgroups=r["subgroups"],
        )
        for r in batch
    ]


class Database:
    """A fresh migrated database on the server, dropped afterwards."""

    def __init__(self) -> None:
        server = make_url(SERVER).set(drivername="postgresql+psycopg")
        self.admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.name = f"steward_bench_ingest_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = server.set(database=self.name).render_as_string(hide_password=False)
        migrate.upgrade(self.url)
        self.engine = make_engine(self.url)
        self.backends: set[int] = set()

        @event.listens_for(self.engine, "connect")
        def _remember(dbapi_connection: Any, _record: Any) -> None:
            self.backends.add(int(dbapi_connection.info.backend_pid))

        self.sessions = session_factory(self.engine)
        with unit_of_work(self.sessions, ACTOR) as session:
            create_organisation(session, "north", "North", OrganisationKind.REGION)
            create_organisation(session, "rxa", "Riverside", parent_slug="north")
            create_organisation(session, "rxa-ed", "Riverside ED", OrganisationKind.SITE, "rxa")
            self.token, _ = create_token(
                session, organisation_by_slug(session, "rxa"), Role.DATA_SCIENTIST, utcnow(), 1
            )

    def deployment(self) -> uuid.UUID:
        with unit_of_work(self.sessions, ACTOR) as session:
            tool = register_tool(
                session, organisation_by_slug(session, "rxa"), f"Score {uuid.uuid4().hex[:6]}"
            )
            version = add_version(session, tool, "1.0")
            deployment, _ = create_deployment(
                session,
                version,
                organisation_by_slug(session, "rxa-ed"),
                "emergency department",
                MonitoringSettings(
                    thresholds=(0.1, 0.2),
                    outcome=OutcomeDefinition("deterioration", 48.0, "encounter", 12.0),
                    subgroups=("sex", "ethnicity", "age_band"),
                ),
            )
            return deployment.id

    def close(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


#: What a run returns: its wall seconds, and the CPU seconds of each PostgreSQL backend read at
#: its end while the connections are still open (a closed backend's CPU can no longer be read).
Run = tuple[float, dict[int, float]]


def run_service(db: Database, batches: list[list[dict[str, Any]]]) -> Run:
    deployment = db.deployment()
    parsed = [rows_of(b) for b in batches]
    now = START + dt.timedelta(days=15)
    began = time.perf_counter()
    for rows in parsed:
        with unit_of_work(db.sessions, ACTOR) as session:
            report = ingest_predictions(session, deployment, rows, now=now)
        assert report.accepted == len(rows), report
    return time.perf_counter() - began, _server_cpu(db)


def run_http(db: Database, batches: list[list[dict[str, Any]]], streams: int = 1) -> Run:
    from fastapi.testclient import TestClient

    from steward.api.app import create_app
    from steward.config import Settings

    deployment = db.deployment()
    bodies = ["\n".join(json.dumps(r) for r in b).encode() for b in batches]
    app = create_app(Settings(dev=True, database_url=db.url), db.engine)
    headers = {"Authorization": f"Bearer {db.token}", "Content-Type": "application/x-ndjson"}
    with TestClient(app) as client:

        def post(part: list[bytes]) -> None:
            for body in part:
                response = client.post(
                    f"/api/v1/deployments/{deployment}/predictions", content=body, headers=headers
                )
                assert response.status_code == 200, response.text
                assert response.json()["rejected"] == [], response.text[:500]

        began = time.perf_counter()
        # with several streams, one request is read and checked while another holds the
        # writers' lock (storing, merging cells, committing)
        parts = [bodies[i::streams] for i in range(streams)]
        with ThreadPoolExecutor(streams) as pool:
            list(pool.map(post, parts))
        # before the client closes: the app disposes of the engine's connections on shutdown
        return time.perf_counter() - began, _server_cpu(db)


def _load() -> float:
    return os.getloadavg()[0]


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a local process (a PostgreSQL backend), 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu(db: Database) -> dict[int, float]:
    return {pid: _cpu_of(pid) for pid in db.backends}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="service,http")
    parser.add_argument("--streams", type=int, default=1, help="concurrent HTTP clients")
    args = parser.parse_args()
    modes: dict[str, Callable[[Database, list[list[dict[str, Any]]]], Run]] = {
        "service": run_service,
        "http": partial(run_http, streams=args.streams),
    }
    db = Database()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        "rows": args.rows,
        "batch": args.batch,
        "streams": args.streams,
        "modes": {},
    }
    try:
        for mode in args.modes.split(","):
            runs = []
            for run in range(args.runs + 1):  # the first run warms caches and is not counted
                data = records(args.rows, seed=run * 7 + len(mode))
                batches = [data[i : i + args.batch] for i in range(0, len(data), args.batch)]
                load = _load()
                client, server = time.process_time(), _server_cpu(db)
                seconds, ended = modes[mode](db, batches)
                cpu = time.process_time() - client
                cpu += sum(used - server.get(pid, 0.0) for pid, used in ended.items())
                rate = args.rows / seconds
                print(
                    f"{mode} run {run}: {seconds:.2f} s wall, {rate:,.0f} predictions/s; "
                    f"CPU {cpu:.2f} s (client + PostgreSQL), {args.rows / cpu:,.0f} "
                    f"predictions per CPU second; load {load:.1f}"
                )
                if run:
                    runs.append(
                        {
                            "seconds": seconds,
                            "rate": rate,
                            "cpu_seconds": cpu,
                            "rate_per_cpu_second": args.rows / cpu,
                            "load_before": load,
                        }
                    )
            summary = {
                "runs": runs,
                "median_rate": statistics.median(r["rate"] for r in runs),
                "median_rate_per_cpu_second": statistics.median(
                    r["rate_per_cpu_second"] for r in runs
                ),
            }
            results["modes"][mode] = summary
            print(
                f"{mode}: median {summary['median_rate']:,.0f} predictions/s wall, "
                f"{summary['median_rate_per_cpu_second']:,.0f} per CPU second"
            )
    finally:
        db.close()
    RESULTS.mkdir(exist_ok=True)
    name = "ingest.json" if args.streams == 1 else f"ingest-{args.streams}-streams.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
