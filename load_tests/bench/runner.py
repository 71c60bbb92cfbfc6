"""The benchmark run: the arms interleaved over rounds, on the fleet set up once (:mod:`~load_tests.bench.fleet`).

Within a round every closed-loop arm runs once, in an order rotated each round; then the fixed-rate arms run
at half of bare BentoML's throughput in that round. CPU per request is the server tree's CPU time (plus
Redis's, for arms that log to it) between the start of an arm and the moment its work has drained, divided by
the requests served.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from load_tests.models import IRIS, dataset
from load_tests.processes import core_busy_seconds, cpu_seconds

from . import servers
from .closed_loop import Target, run_closed_loop
from .config import Mode
from .fixed_rate import percentile, run_fixed_rate
from .fleet import SERVER_CORE, Arm, Fleet, Setup
from .layers import LAYERS, shares_of
from .propagation import measure_rollbacks
from .sink_arm import wait_drained

__all__ = ["Bench", "run_meta"]


class Bench(Fleet):
    """The fleet's arms measured: closed-loop and fixed-rate runs, rounds, propagation and the layer profile."""

    def __init__(
        self,
        mode: Mode,
        workdir: Path,
        *,
        generator: str,
        mlserver_venv: Path | None,
        say: Callable[[str], None],
    ) -> None:
        super().__init__(mode, workdir, generator=generator, mlserver_venv=mlserver_venv, say=say)
        self.rounds: list[dict[str, Any]] = []
        self.propagation: dict[str, Any] | None = None
        self.layers: dict[str, Any] | None = None  # the gateway's CPU per request by layer, from py-spy
        self.latencies: dict[str, list[float]] = {}  # every fixed-rate latency of each arm, all rounds

    # -- profiling -----------------------------------------------------------------------------------
    def profile_layers(self, seconds: float) -> None:
        """py-spy on the main gateway's worker during a closed-loop gw-canary run: CPU per request by layer."""
        arm = self.arms.get("gw-canary")
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if arm is None or not Path(py_spy).exists():
            self.layers = {"error": "no gw-canary arm or no py-spy (pip install py-spy)"}
            return
        self._prepare(arm)
        worker = next((p for p in arm.targets[0].pids() if "worker" in _cmdline(p)), max(arm.targets[0].pids()))
        raw = self.workdir / "layers.txt"
        argv = [py_spy, "record", "--gil", "--nonblocking", "-r", "250", "-f", "raw", "-o", str(raw)]
        spy = subprocess.Popen(
            [*argv, "-d", str(round(seconds)), "--pid", str(worker)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.say(f"profiling gw-canary's worker with py-spy for {seconds:.0f} s (layer split)")
        figures = self.closed(arm, seconds)
        spy.wait(timeout=seconds + 60)
        shares = shares_of(raw) if raw.exists() else Counter()
        total = sum(shares.values())
        cpu = figures["cpu_us_per_req"]
        self.layers = {
            "samples": total,
            "cpu_us_per_req": cpu,
            "redis_cpu_us_per_req": figures["redis_cpu_us_per_req"],
            "throughput": figures["throughput"],
            "other_cpu_share": figures["other_cpu_share"],
            "layers": {
                layer: {"share": round(shares[layer] / total, 3), "us_per_req": round(shares[layer] / total * cpu, 1)}
                for layer in LAYERS
            }
            if total
            else {},
        }

    # -- arms ----------------------------------------------------------------------------------------
    def _prepare(self, arm: Arm) -> None:
        if arm.state is not None and self.main is not None:
            self.main.to(arm.state)
        if self.setup_info.pinned:
            for server in arm.targets:
                server.pin({SERVER_CORE})  # a shadow process started since set-up inherits it; this makes sure

    def _settle(self, arm: Arm) -> dict[str, Any]:
        """Wait until the arm's work has drained (shadow jobs, queued log records, the sink's backlog) before
        reading CPU; what the sink still had to drain when the load stopped."""
        if arm.state == "shadow" and self.main is not None:
            self.main.wait_shadow_idle()
        time.sleep(0.2)
        return wait_drained(self._store_url(4)) if arm.helpers else {}

    def _cpu(self, pids: list[int], arm: Arm) -> tuple[float, float, float]:
        """CPU seconds of the arm's servers, of Redis (when the arm logs to it), and of whatever else ran on
        the server core: core 0's busy time minus every server and Redis we started (all pinned there)."""
        redis = cpu_seconds(self.redis.pids()) if (self.redis and arm.logs_to_redis) else 0.0
        ours = sum(server.cpu_seconds() for server in (*self.servers.values(), *([self.redis] if self.redis else [])))
        return cpu_seconds(pids), redis, core_busy_seconds(SERVER_CORE) - ours

    def _gc_pauses(self, pids: list[int], since: float) -> dict[str, Any]:
        """Garbage-collection pauses of 5 ms or more in ``pids`` since wall time ``since``."""
        pauses, cpu = [], []
        if self.gc_log.exists():
            for line in self.gc_log.read_text().splitlines():
                ts, pid, _generation, ms, *rest = line.split()
                if float(ts) >= since and int(pid) in pids:
                    pauses.append(float(ms))
                    cpu.append(float(rest[0]) if rest else float(ms))
        return {
            "gc_pauses": len(pauses),
            "gc_max_ms": round(max(pauses), 1) if pauses else 0.0,
            "gc_max_cpu_ms": round(max(cpu), 1) if cpu else 0.0,  # the collection's own CPU, without preemption
            "gc_total_ms": round(sum(pauses), 1),
        }

    def closed(self, arm: Arm, seconds: float) -> dict[str, Any]:
        self._prepare(arm)
        pids = [pid for server in (*arm.targets, *arm.helpers) for pid in server.pids()]
        cpu0, redis0, other0 = self._cpu(pids, arm)
        since = time.time()
        wall0 = time.perf_counter()
        targets = [Target(server.url, arm.path, arm.bodies_file) for server in arm.targets]
        result = run_closed_loop(targets, seconds=seconds, connections=arm.connections, generator=self.generator)
        drained = self._settle(arm)
        cpu1, redis1, other1 = self._cpu(pids, arm)
        wall = time.perf_counter() - wall0
        served = max(result.ok, 1)
        return {
            "throughput": round(result.throughput, 1),
            "ok": result.ok,
            "errors": result.errors,
            "seconds": round(result.seconds, 2),
            "cpu_us_per_req": round((cpu1 - cpu0) / served * 1e6, 1),
            "redis_cpu_us_per_req": round((redis1 - redis0) / served * 1e6, 1),
            "server_cpu_share": round((cpu1 - cpu0) / result.seconds, 3) if result.seconds else None,
            "other_cpu_share": round(max(other1 - other0, 0.0) / wall, 3),
            "generator": result.generator,
            **self._gc_pauses(pids, since),
            **drained,
        }

    def fixed(self, arm: Arm, rate: float, seconds: float) -> dict[str, Any]:
        self._prepare(arm)
        pids = [pid for server in (*arm.targets, *arm.helpers) for pid in server.pids()]
        cpu0, redis0, other0 = self._cpu(pids, arm)
        since = time.time()
        wall0 = time.perf_counter()
        result = run_fixed_rate(arm.targets[0].url, arm.path, arm.bodies, rate=rate, seconds=seconds)
        self._settle(arm)
        self.latencies.setdefault(arm.name, []).extend(result.latencies_ms)
        cpu1, redis1, other1 = self._cpu(pids, arm)
        wall = time.perf_counter() - wall0
        served = max(result.sent - result.errors, 1)
        return {
            "rate": round(rate, 1),
            "sent": result.sent,
            "errors": result.errors,
            "p50_ms": round(result.p(50), 3),
            "p95_ms": round(result.p(95), 3),
            "p99_ms": round(result.p(99), 3),
            "max_ms": round(max(result.latencies_ms, default=float("nan")), 3),
            "late_starts": result.late_starts,
            "other_cpu_share": round(max(other1 - other0, 0.0) / wall, 3),
            **self._gc_pauses(pids, since),
            "versions": dict(result.versions),
            "cpu_us_per_req": round((cpu1 - cpu0) / served * 1e6, 1),
            "redis_cpu_us_per_req": round((redis1 - redis0) / served * 1e6, 1),
        }

    # -- the run -------------------------------------------------------------------------------------
    def run(self) -> None:
        mode = self.mode
        closed = [a for a in mode.closed_arms if a in self.arms]
        fixed = [a for a in mode.fixed_arms if a in self.arms]
        if mode.warmup_s:
            self.say(f"warm-up: {mode.warmup_s} s per arm")
            for name in closed:
                self.closed(self.arms[name], mode.warmup_s)
        baseline: list[
            float
        ] = []  # MLServer's (else bare BentoML's) throughputs so far: half load is half their median
        for index in range(mode.rounds):
            shift = index % max(len(closed), 1)
            round_: dict[str, Any] = {"round": index + 1, "closed": {}, "fixed": {}}
            for name in closed[shift:] + closed[:shift]:
                round_["closed"][name] = figures = self._quietest(partial(self.closed, seconds=mode.closed_s), name)
                self.say(
                    f"round {index + 1} {name:<17} {figures['throughput']:>8.1f} req/s "
                    f"{figures['cpu_us_per_req']:>8.1f} µs CPU/req (+{figures['redis_cpu_us_per_req']} Redis) "
                    f"errors {figures['errors']}, other processes on core 0: {figures['other_cpu_share']:.0%}"
                )
            base = (
                round_["closed"].get("mlserver")
                or round_["closed"].get("bentoml")
                or next(iter(round_["closed"].values()), None)
            )
            if base:
                baseline.append(base["throughput"])
            rate = round_["rate"] = round(0.5 * statistics.median(baseline), 1) if baseline else 50.0
            fshift = index % max(len(fixed), 1)
            for name in fixed[fshift:] + fixed[:fshift]:
                round_["fixed"][name] = figures = self._quietest(
                    partial(self.fixed, rate=rate, seconds=mode.fixed_s), name
                )
                self.say(
                    f"round {index + 1} {name:<17} at {rate:.0f}/s: p50 {figures['p50_ms']} ms, "
                    f"p99 {figures['p99_ms']} ms, errors {figures['errors']}, "
                    f"other processes on core 0: {figures['other_cpu_share']:.0%}, "
                    f"server GC pauses ≥5 ms: {figures['gc_pauses']} (longest {figures['gc_max_ms']} ms)"
                )
            self.rounds.append(round_)
        self.propagation = self._propagation()

    def _quietest(self, measure: Callable[[Arm], dict[str, Any]], name: str) -> dict[str, Any]:
        """Measure ``name``; again (up to ``retries`` times) while other processes crowd the server core."""
        runs = [measure(self.arms[name])]
        while runs[-1]["other_cpu_share"] > self.mode.noise_limit and len(runs) <= self.mode.retries:
            self.say(f"{name}: other processes took {runs[-1]['other_cpu_share']:.0%} of core 0; measuring again")
            runs.append(measure(self.arms[name]))
        best = min(runs, key=lambda figures: figures["other_cpu_share"])
        best["attempts"] = len(runs)
        return best

    def _propagation(self) -> dict[str, Any] | None:
        names = [f"replica-{i}" for i in range(self.mode.replicas) if f"replica-{i}" in self.servers]
        if not names and "gw-main" in self.servers:
            names = ["gw-main"]
            if self.main is not None:
                self.main.to("stable")
        if not names or not self.mode.changes:
            return None
        self.say(f"rollback propagation: {self.mode.changes} rollbacks across {len(names)} replica(s)")
        result = measure_rollbacks(
            [self.servers[n].url for n in names],
            model=IRIS,
            token=servers.ADMIN_TOKEN,
            changes=self.mode.changes,
            body=orjson.dumps({"model": IRIS, "inputs": [dataset(IRIS).rows[0]]}),
        )
        return {"replicas": len(names), **asdict(result)}

    def pooled_latencies(self) -> dict[str, dict[str, float]]:
        """Each fixed-rate arm's percentiles over all its rounds together (every round ran it at the same rate)."""
        return {
            arm: {
                "samples": len(values),
                **{f"p{q:g}_ms": round(percentile(values, q), 3) for q in (50, 95, 99, 99.9)},
            }
            for arm, values in self.latencies.items()
        }

    def shadow_stats(self) -> dict[str, Any] | None:
        return self.main.shadow_stats() if self.main is not None else None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def run_meta(mode: Mode, setup: Setup, started: float) -> dict[str, Any]:
    """What every report's ``meta`` opens with: the mode's bounds and how the run was set up."""
    return {
        "mode": mode.name,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": mode.rounds,
        "closed_s": mode.closed_s,
        "fixed_s": mode.fixed_s,
        "warmup_s": mode.warmup_s,
        "connections": mode.connections,
        "noise_limit": mode.noise_limit,
        "retries": mode.retries,
        "generator": setup.generator,
        "store": setup.store,
        "pinned": setup.pinned,
        "setup_s": setup.started_s,
        "elapsed_s": round(time.monotonic() - started, 1),
        "skipped": setup.skipped,
        "versions": setup.versions,
    }
