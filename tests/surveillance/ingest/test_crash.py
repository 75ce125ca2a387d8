"""The crash test: a real ``steward serve`` is killed (SIGKILL) during bulk ingestion, restarted,
and the client sends everything again; every event is then stored exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from steward.audit.verify import verify_database
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.db.base import utcnow
from steward.db.engine import READ_ONLY
from steward.db.session import StewardSession, unit_of_work
from steward.registry.organisations import organisation_by_slug
from steward.surveillance.models import OutcomeEvent, PredictionEvent, ScoreCell

from ._support import ACTOR, T0, make_deployment

BATCHES, ROWS = 8, 1000


def _stored(engine: Engine) -> int:
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return int(connection.scalar(select(func.count()).select_from(PredictionEvent)) or 0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bodies() -> list[tuple[str, bytes]]:
    """Prediction batches, each followed by outcomes of some of its patients."""
    bodies = []
    for b in range(BATCHES):
        predictions = [
            {
                "event_id": f"p{b}-{i}",
                "patient_id": f"pt{b}-{i % 500}",
                "encounter_id": f"e{b}-{i % 500}",
                "time": (T0 + timedelta(minutes=b * ROWS + i)).isoformat(),
                "score": (i * 7919 % 1000) / 1000,
                "subgroups": {"sex": "FM"[i % 2]},
            }
            for i in range(ROWS)
        ]
        outcomes = [
            {
                "event_id": f"o{b}-{j}",
                "patient_id": f"pt{b}-{j}",
                "encounter_id": f"e{b}-{j}",
                "outcome": "deterioration",
                "value": int(j % 3 == 0),
                "time": (T0 + timedelta(minutes=b * ROWS + 600)).isoformat(),
            }
            for j in range(0, 500, 5)
        ]
        bodies.append(("predictions", "\n".join(json.dumps(p) for p in predictions).encode()))
        bodies.append(("outcomes", "\n".join(json.dumps(o) for o in outcomes).encode()))
    return bodies


class Server:
    """``steward serve`` as a child process on a loopback port."""

    def __init__(self, url: str, port: int) -> None:
        env = os.environ | {
            "STEWARD_DATABASE_URL": url,
            "STEWARD_SECRET_KEY": "a-long-random-test-secret-0123456789",
            "STEWARD_DEV": "0",
            "STEWARD_SCHEDULER_EMBEDDED": "0",
        }
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "steward", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{self.base}/health", timeout=2)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, "steward serve did not answer in 90 s"
                assert self.process.poll() is None, "steward serve exited"
                time.sleep(0.2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def _send(
    server: Server, deployment: uuid.UUID, token: str, bodies: list[tuple[str, bytes]]
) -> list[dict[str, int]]:
    results = []
    with httpx.Client(timeout=120) as client:
        for kind, body in bodies:
            response = client.post(
                f"{server.base}/deployments/{deployment}/{kind}",
                content=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/x-ndjson",
                },
            )
            assert response.status_code == 200, response.text
            report = response.json()
            assert report["rejected"] == []
            results.append(report)
    return results


def test_killed_during_bulk_ingestion_every_event_is_stored_exactly_once(
    db_url: str, engine: Engine, sessions: sessionmaker[StewardSession], tmp_path: Path
) -> None:
    deployment = make_deployment(sessions, window_hours=24)
    with unit_of_work(sessions, ACTOR) as session:
        organisation = organisation_by_slug(session, "rxa")
        token, _ = create_token(session, organisation, Role.DATA_SCIENTIST, utcnow(), 1)
    bodies = _bodies()
    port = _free_port()
    server = Server(db_url, port)
    answered: list[dict[str, int]] = []

    def client() -> None:
        # the server dies under one of the requests
        with contextlib.suppress(httpx.TransportError, AssertionError):
            answered.extend(_send(server, deployment, token, bodies))

    sender = threading.Thread(target=client)
    sender.start()
    deadline = time.monotonic() + 300
    # kill once some batches are committed, while the next one is being ingested; the polling
    # reads without taking SQLite's write lock, so it never holds the server up
    while _stored(engine) < 2 * ROWS:
        assert time.monotonic() < deadline, "no batch was stored in 300 s"
        time.sleep(0.05)
    time.sleep(0.2)
    server.kill()
    sender.join(timeout=120)
    assert len(answered) < len(bodies), "the server was killed only after the client finished"

    server = Server(db_url, port)
    try:
        again = _send(server, deployment, token, bodies)
    finally:
        server.kill()
    n_predictions = BATCHES * ROWS
    n_outcomes = BATCHES * 100  # every fifth of 500 patients per batch
    assert sum(r["accepted"] + r["duplicates"] for r in again) == n_predictions + n_outcomes
    assert sum(r["accepted"] for r in again) > 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PredictionEvent)) == n_predictions
        assert session.scalar(select(func.count()).select_from(OutcomeEvent)) == n_outcomes
        for grain in ("day", "week", "month"):
            counted = session.scalar(
                select(func.sum(ScoreCell.n)).where(
                    ScoreCell.deployment_id == deployment,
                    ScoreCell.grain == grain,
                    ScoreCell.dim == "",
                )
            )
            assert counted == n_predictions
        positives = session.scalar(
            select(func.count()).select_from(PredictionEvent).where(PredictionEvent.label == 1)
        )
        cell_positives = session.scalar(
            select(func.sum(ScoreCell.n)).where(
                ScoreCell.deployment_id == deployment,
                ScoreCell.grain == "day",
                ScoreCell.dim == "",
                ScoreCell.label == 1,
            )
        )
        assert positives == cell_positives
        assert positives > 0
    assert verify_database(engine).broken_at is None
