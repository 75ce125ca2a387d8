"""``steward demo`` end to end: a fresh home is migrated, seeded and served; the printed URL and
accounts work; a busy port is reported; a second run seeds nothing; other data is never touched."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from steward.cli.main import app
from steward.demo.people import DEMO_PASSWORD, USERS

START_LIMIT = 240  # seconds: seeding runs three real evaluations on a shared, loaded machine


def _two_free_ports() -> tuple[socket.socket, int]:
    """A socket holding port P (so the demo finds it busy) where P + 1 is free."""
    while True:
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = int(holder.getsockname()[1])
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                holder.close()
                continue
        return holder, port


def _read_until(process: subprocess.Popen[str], marker: str) -> str:
    """Standard output up to the line containing ``marker`` (fails after START_LIMIT)."""
    lines: queue.Queue[str] = queue.Queue()
    stream = process.stdout
    assert stream is not None

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + START_LIMIT
    while marker not in seen:
        assert time.monotonic() < deadline, f"no {marker!r} within {START_LIMIT} s:\n{seen}"
        try:
            seen += lines.get(timeout=1)
        except queue.Empty:
            assert process.poll() is None, f"steward demo exited:\n{seen}"
    return seen


def _sign_in(base: str, email: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=10) as client:
        form = client.get("/signin").text
        match = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert match is not None
        client.post(
            "/signin",
            data={
                "csrf_token": match.group(1),
                "next": "/portfolio",
                "email": email,
                "password": DEMO_PASSWORD,
            },
        )
        return client.get("/portfolio")


def test_demo_seeds_and_serves_the_app_then_reruns_without_seeding(tmp_path: Path) -> None:
    env = os.environ | {"STEWARD_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("STEWARD_SECRET_KEY", None)
    env.pop("STEWARD_DATABASE_URL", None)
    holder, busy = _two_free_ports()
    demo = subprocess.Popen(
        [sys.executable, "-m", "steward", "demo", "--port", str(busy)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = _read_until(demo, "Press Ctrl+C")
        port = busy + 1
        assert f"port {busy} is busy; serving on port {port} instead" in output
        assert re.search(rf"^Steward demo: http://127\.0\.0\.1:{port}$", output, re.M)
        assert "seeded the demo region: 9 tools" in output
        assert f"password for every account: {DEMO_PASSWORD}" in output
        for person in USERS:
            assert person.email in output
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/api/v1/health", timeout=10)
        assert health.status_code == 200
        assert health.json()["database"]["backend"] == "sqlite"
        portfolio = _sign_in(base, USERS[0].email)
        assert portfolio.status_code == 200
        assert "FractureFinder" in portfolio.text
    finally:
        holder.close()
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    secret = tmp_path / "home" / "demo-secret-key"
    assert secret.stat().st_mode & 0o077 == 0  # readable by its owner only

    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "steward",
            "demo",
            "--no-serve",
            "--rows",
            "20000",
            "--dir",
            str(tmp_path / "reports"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_LIMIT,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "already seeded; nothing to do" in again.stdout
    assert (tmp_path / "reports" / "deterioration-validation.html").exists()


def test_demo_refuses_a_database_holding_other_data(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"STEWARD_HOME": str(tmp_path), "STEWARD_DATABASE_URL": None}
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    created = runner.invoke(app, ["orgs", "create", "rxa", "--name", "Riverside"], env=env)
    assert created.exit_code == 0, created.output
    refused = runner.invoke(app, ["demo", "--no-serve"], env=env)
    assert refused.exit_code == 2
    assert "only an empty database" in refused.output
