"""Closed-loop load for throughput and CPU per request: as fast as the server answers, N connections.

The generator is wrk (C, one thread, epoll) with ``load_tests/wrk/post.lua`` cycling through
pre-built JSON bodies: it spends a few microseconds per request, so on its own core it never becomes
the bottleneck (locust's ``FastHttpUser`` tops out near 2,600 requests/s per core here, close to what the
echo floor serves). Without wrk on PATH the same load comes from an asyncio client in this process
(``generator: "python"`` in the report), good to ~3,000 requests/s: enough for every arm but the echo floor.
Latency from closed-loop runs is informational only; p99s come from :mod:`.fixed_rate`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .fixed_rate import quiet_gc
from .http1 import Connection

__all__ = ["ClosedLoopResult", "Target", "default_generator", "run_closed_loop"]

_LUA = Path(__file__).resolve().parent.parent / "wrk" / "post.lua"


@dataclass(frozen=True)
class Target:
    url: str  # http://host:port
    path: str
    bodies_file: Path


@dataclass
class ClosedLoopResult:
    ok: int
    errors: int
    seconds: float
    generator: str

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def default_generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run_closed_loop(targets: list[Target], *, seconds: float, connections: int, generator: str) -> ClosedLoopResult:
    """Load every target at once for ``seconds`` with ``connections`` each; counts summed over targets."""
    if generator == "wrk":
        return _wrk(targets, seconds, connections)
    with quiet_gc():
        return asyncio.run(_python(targets, seconds, connections))


def _wrk(targets: list[Target], seconds: float, connections: int) -> ClosedLoopResult:
    procs = []
    for target in targets:
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        argv += ["-s", str(_LUA), target.url]
        env = {**os.environ, "BENCH_BODIES": str(target.bodies_file), "BENCH_PATH": target.path}
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    ok = errors = 0
    longest = 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        line = next((x for x in out.splitlines() if x.startswith("BENCH_RESULT ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out[-2000:]}")
        counts = json.loads(line.removeprefix("BENCH_RESULT "))
        failed = counts["status"] + counts["connect"] + counts["read"] + counts["write"] + counts["timeout"]
        ok += counts["requests"] - counts["status"]
        errors += failed
        longest = max(longest, counts["duration_us"] / 1e6)
    return ClosedLoopResult(ok, errors, longest, "wrk")


async def _python(targets: list[Target], seconds: float, connections: int) -> ClosedLoopResult:
    ok = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(target: Target, bodies: list[bytes], offset: int) -> None:
        nonlocal ok, errors
        host, port = target.url.removeprefix("http://").split(":")
        conn = Connection(host, int(port))
        i = offset
        while time.perf_counter() < deadline:
            i += 1
            try:
                response = await conn.request("POST", target.path, bodies[i % len(bodies)])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                continue
            if response.status == 200:
                ok += 1
            else:
                errors += 1
        conn.close()

    started = time.perf_counter()
    jobs = []
    for target in targets:
        bodies = [line.encode() for line in target.bodies_file.read_text().splitlines() if line]
        jobs += [worker(target, bodies, n * 97) for n in range(connections)]
    await asyncio.gather(*jobs)
    return ClosedLoopResult(ok, errors, time.perf_counter() - started, "python")
