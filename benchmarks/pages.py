"""Page latency of the web application with the demo data: portfolio, tool page, public register,
audit trail and approvals inbox, as served by ``steward serve`` on loopback.

Seeds the demo (``steward.demo.seed_demo``: the demo region, its people and tools, evaluations,
hazard logs, pending approvals) into a fresh SQLite database under a temporary STEWARD_HOME, as
``steward demo`` does, starts ``steward serve`` on it, signs in through the sign-in form as the
committee chair and times each page one request at a time from this process.

    nice uv run python benchmarks/pages.py                 # 50 requests per page
    nice uv run python benchmarks/pages.py --requests 200 --json benchmarks/results/pages.json

Reported: p50, p95 and maximum round-trip per page (ms); the target is p95 under 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from latency import summary, timed
from steward.db import migrate
from steward.db.engine import make_engine
from steward.demo.people import DEMO_PASSWORD, USERS
from steward.demo.seed import seed_demo

CHAIR = next(person.email for person in USERS if person.key == "chair")
TARGET_P95_MS = 200.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TOOL_LINK = re.compile(r'href="(/tools/[0-9a-f-]{36})"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(client: httpx.Client, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            stderr = server.stderr.read() if server.stderr else ""
            raise RuntimeError(f"steward serve exited: {stderr}")
        try:
            client.get("/api/v1/health")
            return
        except httpx.TransportError:
            time.sleep(0.25)
    raise RuntimeError("steward serve did not answer within 2 minutes")


def _sign_in(client: httpx.Client) -> None:
    form = client.get("/signin")
    token = CSRF.search(form.text)
    if token is None:
        raise RuntimeError("no CSRF token on the sign-in form")
    fields = {"email": CHAIR, "password": DEMO_PASSWORD, "csrf_token": token.group(1)}
    response = client.post("/signin", data=fields | {"next": "/portfolio"})
    if response.status_code != 303:
        raise RuntimeError(f"sign-in refused: {response.status_code}")


def measure(home: Path, requests: int) -> dict[str, dict[str, float]]:
    port = _free_port()
    env = {
        **os.environ,
        "STEWARD_HOME": str(home),
        "STEWARD_SECRET_KEY": "benchmark-secret-key-not-for-production",
        "STEWARD_SCHEDULER_EMBEDDED": "0",
    }
    env.pop("STEWARD_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "steward", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as chair, httpx.Client(base_url=base) as anon:
            _wait_for(chair, server)
            _sign_in(chair)
            portfolio = chair.get("/portfolio").text
            tool = TOOL_LINK.search(portfolio)
            if tool is None:
                raise RuntimeError("no tool on the demo portfolio")
            pages = {
                "portfolio": (chair, "/portfolio"),
                "tool page": (chair, tool.group(1)),
                "public register": (anon, "/register"),
                "audit trail": (chair, "/audit"),
                "approvals inbox": (chair, "/approvals"),
            }
            results = {}
            for name, (client, path) in pages.items():
                for _ in range(5):  # warm up templates, connections and caches
                    timed(client, "GET", path, expect=200)
                results[name] = summary(
                    [timed(client, "GET", path, expect=200) for _ in range(requests)]
                )
                results[name]["path"] = path  # type: ignore[assignment]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def _table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'page':<18} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  p95 < 200 ms",
    ]
    for name, row in results.items():
        ok = "yes" if row["p95_ms"] < TARGET_P95_MS else "NO"
        lines.append(
            f"{name:<18} {row['n']:>5} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}"
            f"  {ok}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="steward-bench-pages-") as folder:
        home = Path(folder)
        url = f"sqlite:///{home / 'steward.db'}"
        started = time.perf_counter()
        migrate.upgrade(url)
        engine = make_engine(url)
        seed_demo(engine)
        engine.dispose()
        seeded = time.perf_counter() - started
        results = measure(home, args.requests)
    print(_table(results))
    report = {
        "pages": results,
        "database": "SQLite (the demo's default)",
        "seed_s": round(seeded, 1),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "load_average": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "pages"}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
