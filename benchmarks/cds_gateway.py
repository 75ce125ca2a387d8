"""Latency the CDS Hooks gateway adds over calling the supplier directly, on loopback.

Three processes: a minimal supplier CDS service (uvicorn), ``steward serve`` with the gateway on
a fresh SQLite database (or ``--database-url``), and this load generator, which keeps
``--concurrency`` calls in flight (200 by default) and alternates rounds of direct calls and
calls through the gateway, each with a fresh EHR token (signed beforehand with the CDS Hooks
specification's example key, so signing is not timed).

    nice uv run python benchmarks/cds_gateway.py                  # 200 in flight, 2 x 2,000 calls
    nice uv run python benchmarks/cds_gateway.py --calls 5000 --rounds 3 --json out.json

Reported: p50 and p99 latency of each, and the difference (the latency the gateway adds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "integration" / "cdshooks" / "data" / "spec"
ISSUER = "https://fhir-ehr.example.com/"
CARDS = {
    "cards": [
        {
            "uuid": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "summary": "Sepsis risk 23% in the next 12 hours",
            "indicator": "warning",
            "source": {"label": "Sepsis Risk Model"},
        }
    ]
}


async def supplier_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The supplier: reads the request and answers one card, as fast as uvicorn allows."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = json.dumps(CARDS).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def _setup(database_url: str, supplier_url: str) -> None:
    from steward.audit.context import AuditContext
    from steward.db import migrate
    from steward.db.engine import make_engine
    from steward.db.session import session_factory, unit_of_work
    from steward.integration.cdshooks.services import ServiceSpec, register_service
    from steward.registry.kinds import OrganisationKind
    from steward.registry.models import DeploymentStatus, LifecycleState
    from steward.registry.organisations import create_organisation
    from steward.registry.tools import add_version, deploy, register_tool

    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with unit_of_work(session_factory(engine), AuditContext("benchmark")) as session:
        trust = create_organisation(session, "bench", "Bench Trust", OrganisationKind.TRUST)
        site = create_organisation(session, "bench-main", "Main", OrganisationKind.SITE, "bench")
        tool = register_tool(session, trust, "Sepsis Risk")
        version = add_version(session, tool, "1.0")
        deploy(session, version, site, "ED").status = DeploymentStatus.LIVE
        tool.state = LifecycleState.DEPLOYED
        spec = ServiceSpec("sepsis", "patient-view", "Sepsis risk", supplier_url)
        register_service(session, version, spec)
    engine.dispose()


def _tokens(audience: str, count: int) -> list[str]:
    key = jwt.PyJWK(json.loads((SPEC / "jwk-private.json").read_text())).key
    now = int(time.time())
    return [
        jwt.encode(
            {
                "iss": ISSUER,
                "aud": audience,
                "iat": now,
                "exp": now + 3600,
                "jti": str(uuid.uuid4()),
            },
            key,
            algorithm="ES384",
            headers={"kid": "example-kid", "typ": "JWT"},
        )
        for _ in range(count)
    ]


async def _round(
    url: str, body: bytes, tokens: list[str] | None, calls: int, width: int
) -> list[float]:
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    latencies: list[float] = []
    empty: list[int] = []
    failed: list[str] = []
    queue = iter(range(calls))
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            for index in queue:
                headers = {"Content-Type": "application/json"}
                if tokens is not None:
                    headers["Authorization"] = f"Bearer {tokens[index]}"
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.TransportError as error:
                    failed.append(f"{error.__class__.__name__}: {error}")
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {response.status_code} {response.text[:200]}")
                if not response.json()["cards"]:
                    empty.append(index)

        await asyncio.gather(*(worker() for _ in range(width)))
    if empty:
        print(f"{url}: {len(empty)} of {calls} answers had no card", file=sys.stderr)
    if failed:
        print(f"{url}: {len(failed)} of {calls} calls failed, e.g. {failed[0]}", file=sys.stderr)
    return latencies


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and path")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--budget", type=float, default=5.0, help="supplier time budget (s)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve-supplier", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_supplier:
        import uvicorn

        uvicorn.run(supplier_app, host="127.0.0.1", port=args.serve_supplier, log_level="warning")
        return
    with tempfile.TemporaryDirectory() as folder:
        run(args, Path(folder))


def run(args: argparse.Namespace, folder: Path) -> None:
    database_url = args.database_url or f"sqlite:///{folder / 'steward.db'}"
    supplier_port, gateway_port = _port(), _port()
    supplier_url = f"http://127.0.0.1:{supplier_port}/cds-services/sepsis"
    gateway_base = f"http://127.0.0.1:{gateway_port}"
    gateway_url = f"{gateway_base}/cds/bench-main/cds-services/sepsis"
    _setup(database_url, supplier_url)
    (folder / "jwks.json").write_text((SPEC / "jwks.json").read_text())
    env = os.environ | {
        "STEWARD_DATABASE_URL": database_url,
        "STEWARD_SECRET_KEY": "benchmark-secret-0123456789abcdef",
        "STEWARD_DEV": "1",
        "STEWARD_CDS_BASE_URL": gateway_base,
        "STEWARD_CDS_ISSUERS": json.dumps({ISSUER: {"jwks_file": str(folder / "jwks.json")}}),
        "STEWARD_CDS_MAX_CONNECTIONS": str(args.concurrency),
        "STEWARD_CDS_TIMEOUT_SECONDS": str(args.budget),
        "STEWARD_SCHEDULER_EMBEDDED": "0",
    }
    log = (folder / "gateway.log").open("w")
    processes = [
        subprocess.Popen([sys.executable, __file__, "--serve-supplier", str(supplier_port)]),
        subprocess.Popen(
            [str(Path(sys.executable).parent / "steward"), "serve", "--port", str(gateway_port)],
            env=env,
            stdout=log,
            stderr=log,
        ),
    ]
    try:
        _wait(f"http://127.0.0.1:{supplier_port}/")
        _wait(f"{gateway_base}/api/v1/health")
        pids = {"supplier": processes[0].pid, "gateway": processes[1].pid}
        results = asyncio.run(_measure(args, supplier_url, gateway_url, pids))
        results["outcomes"] = _outcomes(database_url)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        log.close()
        errors = [
            line for line in (folder / "gateway.log").read_text().splitlines() if "rror" in line
        ]
        if errors:
            print("gateway log:", *errors[:5], sep="\n  ", file=sys.stderr)
    _report(args, results)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(
    args: argparse.Namespace, supplier_url: str, gateway_url: str, pids: dict[str, int]
) -> dict[str, Any]:
    body = (SPEC / "request-patient-view.json").read_bytes()
    width = args.concurrency
    # Warm-up: connections, code paths and caches on both paths, not timed.
    await _round(supplier_url, body, None, width, width)
    await _round(gateway_url, body, _tokens(gateway_url, width), width, width)
    direct: list[float] = []
    gateway: list[float] = []
    cpu = {"gateway": 0.0, "supplier": 0.0}
    for _ in range(args.rounds):
        tokens = _tokens(gateway_url, args.calls)
        direct += await _round(supplier_url, body, None, args.calls, width)
        before = _cpu_seconds(pids["gateway"])
        gateway += await _round(gateway_url, body, tokens, args.calls, width)
        # The log job runs after each response; give the last ones time to finish.
        await asyncio.sleep(1.0)
        cpu["gateway"] += _cpu_seconds(pids["gateway"]) - before
    calls = args.calls * args.rounds
    return {
        "direct": direct,
        "gateway": gateway,
        "gateway_cpu_ms_per_call": round(cpu["gateway"] / calls * 1000, 3),
    }


def _outcomes(database_url: str) -> Any:
    from sqlalchemy import func, select

    from steward.db.engine import make_engine
    from steward.integration.cdshooks.models import CdsCall

    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(select(CdsCall.outcome, func.count()).group_by(CdsCall.outcome))
        counted = {str(outcome.value): int(n) for outcome, n in rows}
    engine.dispose()
    return counted


def _report(args: argparse.Namespace, results: dict[str, list[float]]) -> None:
    summary: dict[str, Any] = {
        "concurrency": args.concurrency,
        "calls_per_path": len(results["direct"]),
        "load_average": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    summary["gateway_outcomes"] = results.pop("outcomes")
    summary["gateway_cpu_ms_per_call"] = results.pop("gateway_cpu_ms_per_call")
    for name, values in results.items():
        summary[name] = {
            "p50_ms": round(_quantile(values, 0.5), 2),
            "p99_ms": round(_quantile(values, 0.99), 2),
        }
    summary["added"] = {
        key: round(summary["gateway"][key] - summary["direct"][key], 2)
        for key in ("p50_ms", "p99_ms")
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
