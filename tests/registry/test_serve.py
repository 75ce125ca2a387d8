"""``steward serve`` starts the API on the configured database, and refuses unsafe settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from steward.cli.main import app
from steward.db.migrate import upgrade


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_refuses_to_start_without_a_secret_or_on_an_old_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'steward.db'}"
    runner = CliRunner()
    env: dict[str, str | None] = {"STEWARD_DATABASE_URL": url, "STEWARD_DEV": "0"}
    no_secret = runner.invoke(app, ["serve"], env=env | {"STEWARD_SECRET_KEY": None})
    assert no_secret.exit_code == 2
    assert "STEWARD_SECRET_KEY" in no_secret.output
    old = runner.invoke(app, ["serve"], env={"STEWARD_DATABASE_URL": url, "STEWARD_DEV": "1"})
    assert old.exit_code == 2
    assert "run steward db upgrade" in old.output


def test_serve_answers_health_over_http(tmp_path: Path) -> None:
    env = os.environ | {
        "STEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'steward.db'}",
        "STEWARD_SECRET_KEY": "a-long-random-test-secret-0123456789",
        "STEWARD_DEV": "0",
    }
    steward = [sys.executable, "-m", "steward"]
    upgrade(env["STEWARD_DATABASE_URL"])
    port = _free_port()
    server = subprocess.Popen(
        [*steward, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "steward serve did not answer in 60 s"
                assert server.poll() is None, "steward serve exited"
                time.sleep(0.3)
        assert response.status_code == 200
        assert response.json()["database"]["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=20)
