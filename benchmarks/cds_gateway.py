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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
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


_RESPONSE_BODY = json.dumps(CARDS).encode()
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_RESPONSE_BODY)).encode()
    + b"\r\n\r\n"
    + _RESPONSE_BODY
)


class _Supplier(asyncio.Protocol):
    """The supplier: a keep-alive HTTP/1.1 responder that answers every request with one card.

    Written on bare asyncio so that it costs a few microseconds per call: the benchmark measures
    the gateway, not a web framework standing in for a supplier.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(_RESPONSE)


def _serve_supplier(port: int) -> None:
    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(
            _Supplier, "127.0.0.1", port, backlog=1024
        )
        await server.serve_forever()

    _event_loop_policy()
    asyncio.run(serve())


def _event_loop_policy() -> None:
    """uvloop where installed (as for ``steward serve``), so the load generator is cheap too."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


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
    from sqlalchemy import func, select

    from steward.audit.context import AuditContext
    from steward.db import migrate
    from steward.db.engine import make_engine
    from steward.db.session import session_factory, unit_of_work
    from steward.integration.cdshooks.services import ServiceSpec, register_service
    from steward.registry.kinds import OrganisationKind
    from steward.registry.models import DeploymentStatus, LifecycleState, Organisation
    from steward.registry.organisations import create_organisation
    from steward.registry.tools import add_version, deploy, register_tool

    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(Organisation)):
            raise SystemExit(f"{database_url} already holds data: give an empty database")
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


@dataclass
class Round:
    """The calls of one round on one path: client round trips, and for calls through the
    gateway the supplier time it reported (``Server-Timing: supplier;dur=``), in ms."""

    latencies: list[float] = field(default_factory=list)
    supplier: list[float | None] = field(default_factory=list)
    empty: int = 0
    failed: list[str] = field(default_factory=list)


async def _round(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    tokens: list[str] | None,
    calls: int,
    width: int,
) -> Round:
    """``calls`` calls to ``url``, ``width`` in flight at every moment (closed loop)."""
    result = Round()
    queue = iter(range(calls))

    async def worker() -> None:
        for index in queue:
            headers = {"Content-Type": "application/json"}
            if tokens is not None:
                headers["Authorization"] = f"Bearer {tokens[index]}"
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    payload = await response.read()
                    status = response.status
                    timing = response.headers.get("Server-Timing", "")
            except aiohttp.ClientError as error:
                result.failed.append(f"{error.__class__.__name__}: {error}")
                continue
            result.latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"{url}: HTTP {status} {payload[:200]!r}")
            if b'"cards":[]' in payload.replace(b" ", b""):
                result.empty += 1
            result.supplier.append(_supplier_ms(timing))

    await asyncio.gather(*(worker() for _ in range(width)))
    if result.empty:
        print(f"{url}: {result.empty} of {calls} answers had no card", file=sys.stderr)
    if result.failed:
        print(
            f"{url}: {len(result.failed)} of {calls} calls failed, e.g. {result.failed[0]}",
            file=sys.stderr,
        )
    return result


def _supplier_ms(server_timing: str) -> float | None:
    for metric in server_timing.split(","):
        name, _, params = metric.strip().partition(";")
        if name == "supplier" and params.startswith("dur="):
            return float(params[4:])
    return None


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and path")
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds (direct, gateway)")
    parser.add_argument("--workers", type=int, default=1, help="gateway server processes")
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--budget", type=float, default=5.0, help="supplier time budget (s)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--serve-supplier", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_supplier:
        _serve_supplier(args.serve_supplier)
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
    serve = [str(Path(sys.executable).parent / "steward"), "serve", "--port", str(gateway_port)]
    if args.workers > 1:
        serve += ["--workers", str(args.workers)]
    processes = [
        subprocess.Popen([sys.executable, __file__, "--serve-supplier", str(supplier_port)]),
        subprocess.Popen(serve, env=env, stdout=log, stderr=log),
    ]
    try:
        _wait(f"http://127.0.0.1:{supplier_port}/")
        _wait(f"{gateway_base}/api/v1/health")
        _event_loop_policy()
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
    """User + system CPU time of a process and its children (uvicorn workers), in seconds."""
    total = 0.0
    for task in [pid, *_children(pid)]:
        fields = Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    found = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in path.read_text().split()]
    return found


async def _measure(
    args: argparse.Namespace, supplier_url: str, gateway_url: str, pids: dict[str, int]
) -> dict[str, Any]:
    body = (SPEC / "request-patient-view.json").read_bytes()
    width = args.concurrency
    connector = aiohttp.TCPConnector(limit=width, limit_per_host=width)
    timeout = aiohttp.ClientTimeout(total=args.budget + 60)
    rounds: list[dict[str, Any]] = []
    cpu = {"gateway": 0.0, "supplier": 0.0, "load generator": 0.0}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm-up: connections, code paths and caches on both paths, not timed.
        for _ in range(2):
            await _round(session, supplier_url, body, None, width * 2, width)
            await _round(
                session, gateway_url, body, _tokens(gateway_url, width * 2), width * 2, width
            )
        for _ in range(args.rounds):
            tokens = _tokens(gateway_url, args.calls)
            direct = await _round(session, supplier_url, body, None, args.calls, width)
            before = {
                "gateway": _cpu_seconds(pids["gateway"]),
                "supplier": _cpu_seconds(pids["supplier"]),
                "load generator": time.process_time(),
            }
            gateway = await _round(session, gateway_url, body, tokens, args.calls, width)
            after_calls = time.process_time()
            # The log job runs after each response; give the last ones time to finish.
            await asyncio.sleep(1.0)
            cpu["gateway"] += _cpu_seconds(pids["gateway"]) - before["gateway"]
            cpu["supplier"] += _cpu_seconds(pids["supplier"]) - before["supplier"]
            cpu["load generator"] += after_calls - before["load generator"]
            rounds.append({"direct": direct, "gateway": gateway})
    calls = args.calls * args.rounds
    return {
        "rounds": rounds,
        "cpu_ms_per_call": {k: round(v / calls * 1000, 3) for k, v in cpu.items()},
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


def _percentiles(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_quantile(values, 0.5), 2), "p99_ms": round(_quantile(values, 0.99), 2)}


def _report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    rounds: list[dict[str, Round]] = results["rounds"]
    per_round = []
    for pair in rounds:
        direct = _percentiles(pair["direct"].latencies)
        gateway = _percentiles(pair["gateway"].latencies)
        per_round.append(
            {
                "direct": direct,
                "gateway": gateway,
                "added": {k: round(gateway[k] - direct[k], 2) for k in direct},
            }
        )
    added_per_call = [
        latency - supplier
        for pair in rounds
        for latency, supplier in zip(
            pair["gateway"].latencies, pair["gateway"].supplier, strict=True
        )
        if supplier is not None
    ]
    summary: dict[str, Any] = {
        "concurrency": args.concurrency,
        "workers": args.workers,
        "rounds": args.rounds,
        "calls_per_round_and_path": args.calls,
        "load_average": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "gateway_outcomes": results["outcomes"],
        "cpu_ms_per_call": results["cpu_ms_per_call"],
        "per_round": per_round,
        # Difference of percentiles, each the median over the paired rounds.
        "added_median_of_rounds": {
            k: round(statistics.median(r["added"][k] for r in per_round), 2)
            for k in ("p50_ms", "p99_ms")
        },
        "direct_median_of_rounds": {
            k: round(statistics.median(r["direct"][k] for r in per_round), 2)
            for k in ("p50_ms", "p99_ms")
        },
        "gateway_median_of_rounds": {
            k: round(statistics.median(r["gateway"][k] for r in per_round), 2)
            for k in ("p50_ms", "p99_ms")
        },
        # Per call: the EHR's round trip minus the supplier time the gateway measured.
        "added_per_call": _percentiles(added_per_call) if added_per_call else None,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
