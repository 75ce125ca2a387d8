"""API latency with a large registry: a tool page read, a lifecycle transition and an audit page,
with 10,000 tools and 1,000,000 audit events on PostgreSQL, and `steward audit verify` over them.

Builds a fresh database on the PostgreSQL server (``--server``), migrates it, registers the tools
through the registry's services (so their audit events are real), pads the audit chain with
synthetic events up to ``--events`` (hashed and chained like any other), starts ``steward serve``
on it and times requests one at a time from this process over loopback.

    nice uv run python benchmarks/api_latency.py                        # 10,000 tools, 1M events
    nice uv run python benchmarks/api_latency.py --tools 500 --events 20000 --requests 50

Reported: p50 and p95 server round-trip per request kind (ms), and the verification time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from latency import summary, timed
from steward.audit.context import AuditContext
from steward.audit.recorder import append_events
from steward.auth.roles import Role
from steward.auth.tokens import create_token
from steward.db import migrate
from steward.db.base import utcnow
from steward.db.engine import make_engine
from steward.db.session import session_factory, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.organisations import create_organisation, organisation_by_slug
from steward.registry.tools import register_tool

ROOT = Path(__file__).resolve().parents[1]
SEEDER = AuditContext(actor="benchmark:seed", request_id="benchmark")
BATCH = 5_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database(server: str) -> str:
    name = f"steward_bench_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _drop(server: str, url: str) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, tools: int, events: int) -> tuple[list[str], str]:
    """Register the tools, pad the audit chain to ``events``; returns tool ids and a token."""
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with unit_of_work(sessions, SEEDER) as session:
        create_organisation(session, "bench", "Bench Region", OrganisationKind.REGION)
        trust = create_organisation(session, "bench-trust", "Bench Trust", parent_slug="bench")
        token, _ = create_token(session, trust, Role.COMMITTEE_CHAIR, utcnow(), days=1)
    ids: list[str] = []
    for start in range(0, tools, BATCH):
        with unit_of_work(sessions, SEEDER) as session:
            org = organisation_by_slug(session, "bench-trust")
            for i in range(start, min(tools, start + BATCH)):
                ids.append(str(register_tool(session, org, f"Tool {i:05d}", "benchmark").id))
    with engine.connect() as connection:
        have = connection.execute(text("select seq from audit_chain_head")).scalar_one()
    while have < events:
        count = min(BATCH * 4, events - have)
        changes = [
            {
                "entity_type": "benchmark",
                "entity_id": str(have + i),
                "action": "benchmark.padded",
                "before": None,
                "after": {"n": have + i},
            }
            for i in range(count)
        ]
        with unit_of_work(sessions, SEEDER) as session:
            append_events(session, SEEDER, changes)
        have += count
    engine.dispose()
    return ids, token


def _wait_for(client: httpx.Client, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"steward serve exited: {server.stderr.read() if server.stderr else ''}"
            )
        try:
            client.get("/api/v1/health")
            return
        except httpx.TransportError:
            time.sleep(0.25)
    raise RuntimeError("steward serve did not answer within 3 minutes")


def measure(url: str, ids: list[str], token: str, requests: int) -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, "STEWARD_DATABASE_URL": url, "STEWARD_DEV": "1"}
    env["STEWARD_SCHEDULER_EMBEDDED"] = "0"
    server = subprocess.Popen(
        [sys.executable, "-m", "steward", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as c:
            _wait_for(c, server)
            rng = random.Random(0)
            for _ in range(10):  # warm up connections and caches
                c.get(f"/api/v1/tools/{rng.choice(ids)}")
            reads = [timed(c, "GET", f"/api/v1/tools/{rng.choice(ids)}") for _ in range(requests)]
            moves = [
                timed(
                    c,
                    "POST",
                    f"/api/v1/tools/{tool}/transitions",
                    json={"to": "rejected", "reason": "benchmark"},
                )
                for tool in rng.sample(ids, requests)
            ]
            head = c.get("/api/v1/audit?limit=1").json()["head"]["seq"]
            pages = [
                timed(c, "GET", f"/api/v1/audit?after={rng.randrange(head)}&limit=100")
                for _ in range(requests)
            ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    started = time.perf_counter()
    verify = subprocess.run(
        [sys.executable, "-m", "steward", "audit", "verify"],
        env={**os.environ, "STEWARD_DATABASE_URL": url},
        capture_output=True,
        text=True,
    )
    verified = time.perf_counter() - started
    return {
        "tool_read": summary(reads),
        "transition": summary(moves),
        "audit_page": summary(pages),
        "audit_verify_s": round(verified, 1),
        "audit_verify_exit": verify.returncode,
        "audit_events": head,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--tools", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    url = _database(args.server)
    try:
        started = time.perf_counter()
        ids, token = seed(url, args.tools, args.events)
        seeded = time.perf_counter() - started
        result = measure(url, ids, token, args.requests)
    finally:
        _drop(args.server, url)
    result |= {
        "tools": args.tools,
        "seed_s": round(seeded, 1),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "load_average": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
