"""``python -m load_tests.bench.overload [--quick]``: what the concurrency limit buys under overload, as ratios.

Two gateways (ack logging to Redis, one worker, iris v1 stable) differ only in ``CANARYLINE_MAX_CONCURRENCY``:
``limited`` has the default, ``unlimited`` one so high it never sheds (the gateway before the limit). Per round,
interleaved: the limited gateway with as many connections as its limit (the peak: the most it admits, so
the biggest micro-batches), then at ``--overload`` × the limit in connections, closed loop, with clients of
two kinds: ``polite`` ones wait the ``Retry-After`` of a 503 (times a random 0.5-1.5, as clients with jitter
do) before their next request, ``eager`` ones send it at once (the worst case: every spare connection turns
into a stream of 503s, each costing the worker CPU); then the unlimited gateway at the same connections.
Goodput is 200s per second; latency percentiles are over admitted requests (200s) only, from send to answer;
``rss_mb`` is the worker's resident memory after the arm; "other load" is the share of the server core that
processes not ours took meanwhile (this machine is shared).

``--sweep`` first runs the unlimited gateway at 1…128 connections: throughput and p99 by concurrency, the
measurement the default limit is chosen from. Servers run pinned to core 0 and this process to core 1,
like ``python -m load_tests.bench``. Writes ``load_tests/reports/overload-{quick,full}.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from load_tests.models import IRIS, ensure_plan, register_models
from load_tests.processes import Server, core_busy_seconds, redis_server

from . import servers
from .bodies import gateway_bodies
from .fixed_rate import percentile, quiet_gc
from .http1 import Connection

HERE = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = 0, 1
UNLIMITED = 1_000_000


@dataclass
class Run:
    connections: int
    seconds: float = 0.0
    rss_mb: float = 0.0
    other_cpu: float = 0.0
    server_cpu: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)  # of 200s
    failures: int = 0

    def figures(self) -> dict[str, Any]:
        ok = self.statuses[200]
        return {
            "connections": self.connections,
            "goodput": round(ok / self.seconds, 1) if self.seconds else 0.0,
            "shed_per_s": round(self.statuses[503] / self.seconds, 1) if self.seconds else 0.0,
            "ok": ok,
            "shed": self.statuses[503],
            "other": sum(n for s, n in self.statuses.items() if s not in (200, 503)) + self.failures,
            "rss_mb": self.rss_mb,
            "other_cpu": self.other_cpu,
            "server_cpu": self.server_cpu,
            **{f"p{q}_ms": round(percentile(self.latencies_ms, q), 2) for q in (50, 99)},
        }


async def _closed_loop(url: str, bodies: list[bytes], connections: int, seconds: float, polite: bool) -> Run:
    host, port = url.removeprefix("http://").split(":")
    run = Run(connections)
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        conn = Connection(host, int(port))
        jitter = random.Random(offset)
        i = offset
        while time.perf_counter() < deadline:
            i += 1
            sent = time.perf_counter()
            try:
                response = await conn.request("POST", "/predict", bodies[i % len(bodies)])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                run.failures += 1
                continue
            run.statuses[response.status] += 1
            if response.status == 200:
                run.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
            elif polite and "retry-after" in response.headers:
                wait = float(response.headers["retry-after"]) * jitter.uniform(0.5, 1.5)
                await asyncio.sleep(max(0.0, min(wait, deadline - time.perf_counter())))
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n * 97) for n in range(connections)))
    run.seconds = time.perf_counter() - started
    return run


def closed_loop(
    server: Server, bodies: list[bytes], connections: int, seconds: float, *, polite: bool = True, ours: list[Server]
) -> Run:
    def others() -> float:  # the server core's busy time not spent in our servers
        return core_busy_seconds(SERVER_CORE) - sum(s.cpu_seconds() for s in ours)

    before, cpu = others(), server.cpu_seconds()
    with quiet_gc():
        run = asyncio.run(_closed_loop(server.url, bodies, connections, seconds, polite))
    run.other_cpu = round(max(others() - before, 0.0) / run.seconds, 3)
    run.server_cpu = round((server.cpu_seconds() - cpu) / run.seconds, 3)
    run.rss_mb = max(_rss_mb(pid) for pid in server.pids())
    return run


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return round(kb / 1024, 1)


def _say(message: str) -> None:
    print(f"[overload {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m load_tests.bench.overload", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 s arms (else 4 rounds of 8 s)")
    parser.add_argument(
        "--limit", type=int, help="CANARYLINE_MAX_CONCURRENCY of the limited gateway (default: its default)"
    )
    parser.add_argument("--overload", type=float, default=4.0, help="connections as a multiple of the limit")
    parser.add_argument("--peak-connections", type=int, help="connections of the peak arm (default: the limit)")
    parser.add_argument("--sweep", action="store_true", help="first, throughput and p99 by concurrency (no limit)")
    parser.add_argument("--out", type=Path, default=HERE / "reports", help="report directory")
    return parser


def _default_limit() -> int:
    from registry_client.settings import GatewaySettings

    return int(GatewaySettings.model_fields["max_concurrency"].default)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rounds, seconds = (2, 4.0) if args.quick else (4, 8.0)
    limit = args.limit or _default_limit()
    overload = round(args.overload * limit)
    peak = args.peak_connections or limit
    workdir = Path(tempfile.mkdtemp(prefix="canaryline-overload-"))
    os.environ["BENTOML_HOME"] = str(workdir / "bentoml")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    started: list[Server] = []
    data: dict[str, Any] = {"limit": limit, "overload_connections": overload, "rounds": [], "sweep": []}
    try:
        redis = redis_server(workdir / "redis").start().wait_ready(30)
        started.append(redis)
        register_models(redis.url, wine=False)
        gateways = {
            "limited": servers.gateway("limited", workdir, workdir / "bentoml", redis.url, max_concurrency=str(limit)),
            "unlimited": servers.gateway(
                "unlimited", workdir, workdir / "bentoml", redis.url.replace("/0", "/1"), max_concurrency=str(UNLIMITED)
            ),
        }
        ensure_plan(redis.url.replace("/0", "/1"), IRIS, "v1")
        for server in gateways.values():
            started.append(server.start())
        for server in gateways.values():
            server.wait_ready(240)
        pinned = {SERVER_CORE, LOAD_CORE} <= os.sched_getaffinity(0)
        if pinned:
            for server in started:
                server.pin({SERVER_CORE})
            os.sched_setaffinity(0, {LOAD_CORE})
        bodies = gateway_bodies()
        _say(f"limit {limit}, overload {overload} connections, {rounds} rounds of {seconds} s, pinned: {pinned}")
        for server in gateways.values():  # warm-up
            closed_loop(server, bodies, peak, 1.0, ours=started)
        if args.sweep:
            for connections in (1, 2, 4, 8, 16, 32, 64, 128):
                figures = closed_loop(gateways["unlimited"], bodies, connections, seconds, ours=started).figures()
                data["sweep"].append(figures)
                _say(f"sweep c={connections:<3} {figures['goodput']:>7} req/s p99 {figures['p99_ms']} ms")
        for index in range(rounds):
            arms = {  # arm: (gateway, clients honour Retry-After)
                "polite": (gateways["limited"], True),
                "eager": (gateways["limited"], False),
                "unlimited": (gateways["unlimited"], True),
            }
            order = list(arms)[index % 3 :] + list(arms)[: index % 3]  # rotated each round
            round_ = {"peak": closed_loop(gateways["limited"], bodies, peak, seconds, ours=started).figures()}
            for arm in order:
                server, polite = arms[arm]
                round_[arm] = closed_loop(server, bodies, overload, seconds, polite=polite, ours=started).figures()
            data["rounds"].append(round_)
            for arm, figures in round_.items():
                _say(
                    f"round {index + 1} {arm:<9} c={figures['connections']:<4} goodput {figures['goodput']:>7}/s, "
                    f"shed {figures['shed_per_s']:>7}/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
                    f"worker RSS {figures['rss_mb']} MB, other processes on core 0: {figures['other_cpu']:.0%}"
                )
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    data["computed"] = computed = _ratios(data["rounds"])
    report = _markdown(data, quick=args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"overload-{'quick' if args.quick else 'full'}"
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    stem.with_suffix(".md").write_text(report)
    print(report)
    failed = sum(r[arm]["other"] for r in data["rounds"] for arm in r)
    return 1 if failed or not computed else 0


def _ratios(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-round ratios to the same round's peak, and their medians over rounds."""
    if not rounds:
        return {}
    computed: dict[str, Any] = {"p99_peak_ms": statistics.median(r["peak"]["p99_ms"] for r in rounds)}
    for arm in ("polite", "eager", "unlimited"):
        goodput = [round(r[arm]["goodput"] / r["peak"]["goodput"], 3) for r in rounds if r["peak"]["goodput"]]
        computed[arm] = {
            "goodput_vs_peak": round(statistics.median(goodput), 3) if goodput else None,
            "goodput_vs_peak_per_round": goodput,
            "p99_ms": round(statistics.median(r[arm]["p99_ms"] for r in rounds), 2),
            "shed_share": round(
                statistics.median(r[arm]["shed"] / max(r[arm]["shed"] + r[arm]["ok"], 1) for r in rounds), 3
            ),
            "rss_mb": max(r[arm]["rss_mb"] for r in rounds),
        }
    return computed


def _markdown(data: dict[str, Any], *, quick: bool) -> str:
    c = data["computed"]
    mode = "quick" if quick else "full"
    lines = [f"# Overload ({mode}): limit {data['limit']}, {data['overload_connections']} connections", ""]
    if c:
        lines += [
            f"p99 at peak ({data['rounds'][0]['peak']['connections']} connections): {c['p99_peak_ms']} ms.",
            "",
            "| at overload | goodput vs peak | bound | | p99 of 200s | shed | worker RSS |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        for arm, label in (
            ("polite", "limited, clients honour Retry-After"),
            ("eager", "limited, clients retry at once"),
        ):
            f = c[arm]
            status = "pass" if (f["goodput_vs_peak"] or 0) >= 0.9 else "miss"
            lines.append(
                f"| {label} | {f['goodput_vs_peak']} {f['goodput_vs_peak_per_round']} | ≥ 0.9 | {status} | "
                f"{f['p99_ms']} ms | {f['shed_share']:.0%} | {f['rss_mb']} MB |"
            )
        f = c["unlimited"]
        lines.append(
            f"| no limit (before) | {f['goodput_vs_peak']} {f['goodput_vs_peak_per_round']} | | | {f['p99_ms']} ms | "
            f"{f['shed_share']:.0%} | {f['rss_mb']} MB |"
        )
    lines += [
        "",
        "| round | arm | connections | goodput/s | shed/s | p50 ms | p99 ms | RSS MB | server CPU | other load "
        "| failed |",
    ]
    lines.append("| --- " * 11 + "|")
    for i, round_ in enumerate(data["rounds"], 1):
        for arm, f in round_.items():
            lines.append(
                f"| {i} | {arm} | {f['connections']} | {f['goodput']} | {f['shed_per_s']} | {f['p50_ms']} | "
                f"{f['p99_ms']} | {f['rss_mb']} | {f['server_cpu']:.0%} | {f['other_cpu']:.0%} | {f['other']} |"
            )
    if data["sweep"]:
        lines += ["", "| connections (no limit) | throughput/s | p50 ms | p99 ms |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {f['connections']} | {f['goodput']} | {f['p50_ms']} | {f['p99_ms']} |" for f in data["sweep"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
