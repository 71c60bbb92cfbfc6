"""The benchmark run: start every server once, then interleave the arms over rounds.

Servers start on both cores (so start-up is quick), then each process tree is pinned to core 0 and this
process (with the load generators it starts) to core 1. Within a round every closed-loop arm runs once,
in an order rotated each round; then the fixed-rate arms run at half of bare BentoML's throughput in
that round. CPU per request is the server tree's CPU time (plus Redis's, for arms that log to it)
between the start of an arm and the moment its work has drained, divided by the requests served.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from load_tests.models import IRIS, dataset, ensure_plan, register_models
from load_tests.processes import Server, core_busy_seconds, cpu_seconds, redis_server

from . import servers
from .bodies import gateway_bodies, v2_bodies, write_bodies
from .closed_loop import Target, run_closed_loop
from .config import BATCH_ROWS, Mode
from .fixed_rate import percentile, run_fixed_rate
from .layers import LAYERS, shares_of
from .model_floor import time_model
from .plans import MainPlan
from .propagation import measure_rollbacks
from .sink_arm import sink_server, wait_drained

__all__ = ["Arm", "Bench", "gateway_log_modes", "versions"]

SERVER_CORE, LOAD_CORE = 0, 1
_REPO = Path(__file__).resolve().parents[2]
_GCWATCH = Path(__file__).resolve().parent / "gcwatch"


@dataclass
class Arm:
    name: str
    targets: list[Server]
    path: str
    bodies: list[bytes]
    bodies_file: Path
    state: str | None = None  # the main gateway's plan this arm needs: stable, canary or shadow
    logs_to_redis: bool = False
    connections: int = 8
    #: Processes that take no load but work for the arm (the sink): their CPU is the arm's too.
    helpers: list[Server] = field(default_factory=list)


@dataclass
class Setup:
    store: str  # "redis" or "sqlite"
    pinned: bool
    generator: str
    started_s: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    model_floor: dict[str, float] = field(default_factory=dict)
    hot_path: dict[str, Any] = field(default_factory=dict)


class Bench:
    #: MLServer's runtimes its virtualenv needs beyond mlserver-sklearn.
    mlserver_runtimes: tuple[str, ...] = ()

    def __init__(
        self,
        mode: Mode,
        workdir: Path,
        *,
        generator: str,
        mlserver_venv: Path | None,
        say: Callable[[str], None],
    ) -> None:
        self.mode = mode
        self.workdir = workdir
        self.generator = generator
        self.mlserver_venv = mlserver_venv  # None: the MLServer arms are skipped
        self.say = say
        self.servers: dict[str, Server] = {}
        self.redis: Server | None = None
        self.postgres: tuple[str, str] | None = None  # (admin URL, the arm's database URL)
        self.databases: dict[str, tuple[str, str]] = {}  # arm → (admin URL, its database URL)
        self.arms: dict[str, Arm] = {}
        self.main: MainPlan | None = None
        self.setup_info = Setup(store="redis", pinned=False, generator=generator)
        self.rounds: list[dict[str, Any]] = []
        self.propagation: dict[str, Any] | None = None
        self.layers: dict[str, Any] | None = None  # the gateway's CPU per request by layer, from py-spy
        self.gc_log = workdir / "gc-pauses.log"
        self.latencies: dict[str, list[float]] = {}  # every fixed-rate latency of each arm, all rounds

    # -- set-up ------------------------------------------------------------------------------------
    def _store_url(self, db: int) -> str:
        if self.redis is not None:
            return f"{self.redis.url}/{db}"
        return f"sqlite:///{self.workdir / f'store-{db}.db'}"

    def _wanted(self) -> set[str]:
        arms = {*self.mode.closed_arms, *self.mode.fixed_arms}
        wanted = set()
        if "echo" in arms:
            wanted.add("echo")
        if arms & {"bentoml", "bentoml-noop"}:
            wanted.add("bentoml")
        if arms & {"gw-stable", "gw-canary", "gw-shadow", "gw-batch100"} or not self.mode.replicas:
            wanted.add("gw-main")
        if "gw-async" in arms:
            wanted.add("gw-async")
        if "gw-off" in arms and "off" in gateway_log_modes():
            wanted.add("gw-off")
        if "gw-postgres" in arms:
            wanted.add("gw-postgres")
        if "gw-sink" in arms:
            wanted.add("gw-sink")
        if arms & {"mlserver", "mlserver-batched", "mlserver-batch100"}:
            wanted.add("mlserver")
        if arms & {"replicas-1", "replicas-3"} and self.mode.replicas:
            wanted.add("replicas")
        return wanted

    def begin(self) -> Path:
        """What every set-up starts with: can servers and load be pinned apart, BENTOML_HOME, and our own
        Redis (else every gateway logs to SQLite); returns BENTOML_HOME."""
        cores = os.sched_getaffinity(0)
        self.setup_info.pinned = {SERVER_CORE, LOAD_CORE} <= cores
        if not self.setup_info.pinned:
            self.say(f"warning: cores {sorted(cores)} available, not 0 and 1: nothing is pinned")
        bentoml_home = self.workdir / "bentoml"
        os.environ["BENTOML_HOME"] = str(bentoml_home)  # read once, when this process first imports bentoml
        os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
        try:
            self.redis = redis_server(self.workdir / "redis").start().wait_ready(30)
        except (FileNotFoundError, TimeoutError) as exc:
            self.say(f"no redis-server ({exc}): every gateway logs to SQLite instead")
            self.setup_info.store = "sqlite"
        return bentoml_home

    def setup(self) -> None:
        started = time.monotonic()
        bentoml_home = self.begin()
        wanted = self._wanted()
        self.say("training and registering iris v1 (stable), v2 (canary), v3 (a slower forest, the shadow)")
        models = register_models(self._store_url(0), wine=False)
        for db in (1, 2, 3, 4):
            ensure_plan(self._store_url(db), IRIS, "v1")
        for name in ("gw-postgres", "gw-sink"):
            if name in wanted:
                self._postgres_database(name)
        self.postgres = self.databases.get("gw-postgres")
        mlserver_binary = self.mlserver_binary() if "mlserver" in wanted else None
        self._start(wanted, bentoml_home, models["v1"], mlserver_binary)
        self.launch()
        self._plans()
        self._define_arms()
        self.setup_info.model_floor = time_model(models["v1"], models["v3"])
        self.setup_info.hot_path = self._hot_path()
        self.setup_info.versions = versions(mlserver_binary)
        self.setup_info.started_s = round(time.monotonic() - started, 1)
        self.say(f"set up in {self.setup_info.started_s} s: {', '.join(sorted(self.servers))}")

    def _hot_path(self) -> dict[str, Any]:
        """The data plane's own CPU per request without HTTP (``load_tests.bench.hot_path``, on core 1)."""
        out = self.workdir / "hot-path.json"
        rounds, n = (2, 500) if self.mode.name == "smoke" else (3, 1500)
        argv = [sys.executable, "-m", "load_tests.bench.hot_path", "--rounds", str(rounds), "-n", str(n)]
        argv += ["--concurrency", str(self.mode.connections), "--json", str(out)]
        self.say("hot path without HTTP: the data plane's own CPU per request")
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, cwd=_REPO)
        if done.returncode != 0 or not out.exists():
            return {"error": (done.stderr or done.stdout)[-400:]}
        return dict(orjson.loads(out.read_bytes()))

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

    def _postgres_database(self, arm: str) -> None:
        """A fresh database on ``$BENCH_POSTGRES_URL`` (default: the local server) for a PostgreSQL arm,
        its schema applied and iris's plan saved; dropped by :meth:`close`. Its server is not pinned, and its
        CPU is not in the arm's CPU per request (the throughput ratio is the figure)."""
        import uuid

        import psycopg

        admin = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        name = f"bench_{uuid.uuid4().hex[:10]}"
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            self.setup_info.skipped[arm] = f"skipped: no PostgreSQL at {admin}: {exc}"
            self.say(self.setup_info.skipped[arm])
            return
        self.databases[arm] = (admin, admin.rsplit("/", 1)[0] + f"/{name}")
        ensure_plan(self.databases[arm][1], IRIS, "v1")

    def mlserver_binary(self) -> Path | None:
        if self.mlserver_venv is None:
            self.setup_info.skipped["mlserver"] = "skipped: --no-mlserver"
            return None
        self.say(f"MLServer {servers.MLSERVER_VERSION} in {self.mlserver_venv} (installed on first use)")
        try:
            return servers.ensure_mlserver(self.mlserver_venv, self.mlserver_runtimes)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            self.setup_info.skipped["mlserver"] = f"skipped: MLServer could not be installed: {exc}"
            self.say(self.setup_info.skipped["mlserver"])
            return None

    def _start(self, wanted: set[str], bentoml_home: Path, model: Any, mlserver_binary: Path | None) -> None:
        work = self.workdir
        if "echo" in wanted:
            self.servers["echo"] = servers.echo(work)
        if "bentoml" in wanted:
            self.servers["bentoml"] = servers.bare_bento(work, bentoml_home)
        if "gw-main" in wanted:
            self.servers["gw-main"] = servers.gateway("gw-main", work, bentoml_home, self._store_url(0))
        if "gw-async" in wanted:
            self.servers["gw-async"] = servers.gateway(
                "gw-async", work, bentoml_home, self._store_url(1), log_mode="async"
            )
        if "gw-off" in wanted:
            self.servers["gw-off"] = servers.gateway("gw-off", work, bentoml_home, self._store_url(3), log_mode="off")
        if "gw-postgres" in wanted and self.postgres is not None:
            self.servers["gw-postgres"] = servers.gateway("gw-postgres", work, bentoml_home, self.postgres[1])
        if "gw-sink" in wanted:
            self._sink_servers(bentoml_home)
        if "replicas" in wanted:
            for i in range(self.mode.replicas):
                self.servers[f"replica-{i}"] = servers.gateway(f"replica-{i}", work, bentoml_home, self._store_url(2))
        if mlserver_binary is not None:
            self.servers["mlserver"] = servers.mlserver(mlserver_binary, work, model)

    def launch(self) -> None:
        """Start every server in ``servers`` (each logging its GC pauses), wait until all are ready, then pin
        them (and Redis) to the server core and this process, with the load generators it starts, to the other."""
        self.say(f"starting {len(self.servers)} servers")
        python_path = os.pathsep.join(p for p in (str(_GCWATCH), os.environ.get("PYTHONPATH", "")) if p)
        for server in self.servers.values():  # every server logs its garbage-collection pauses (gcwatch/)
            server.env = {**server.env, "PYTHONPATH": python_path, "BENCH_GC_LOG": str(self.gc_log)}
            server.start()
        for server in self.servers.values():
            server.wait_ready(240)
        self._pin_all()
        if self.setup_info.pinned:
            os.sched_setaffinity(0, {LOAD_CORE})  # this process and the wrk processes it starts

    def _sink_servers(self, bentoml_home: Path) -> None:
        """The gw-sink arm's gateway (ack to Redis db 4) and the sink draining db 4 into its database."""
        if "gw-sink" not in self.databases:
            return
        if self.redis is None:
            self.setup_info.skipped["gw-sink"] = "skipped: the sink drains Redis, and there is no redis-server"
            return
        self.servers["gw-sink"] = servers.gateway("gw-sink", self.workdir, bentoml_home, self._store_url(4))
        self.servers["sink"] = sink_server(self.workdir, self._store_url(4), self.databases["gw-sink"][1])

    def _pin_all(self) -> None:
        if not self.setup_info.pinned:
            return
        for server in (*self.servers.values(), *([self.redis] if self.redis else [])):
            server.pin({SERVER_CORE})
        if "sink" in self.servers and os.environ.get("BENCH_SINK_CORE") == "load":
            self.servers["sink"].pin({LOAD_CORE})  # the sink on another machine, as deployed (sink_arm.py)

    def _plans(self) -> None:
        """Canary v2 at 10% on the async gateway and the replicas; the main gateway starts stable."""
        token = servers.ADMIN_TOKEN
        for name in ("gw-async", "gw-off", "gw-postgres", "gw-sink", "replica-0"):
            if name in self.servers:
                plan = MainPlan(self.servers[name].url, token)
                plan.to("canary")
                plan.close()
        if "gw-main" in self.servers:
            self.main = MainPlan(self.servers["gw-main"].url, token)

    def _define_arms(self) -> None:
        gw, v2 = gateway_bodies(), v2_bodies()
        gw_file = write_bodies(self.workdir / "bodies-gateway.txt", gw)
        v2_file = write_bodies(self.workdir / "bodies-v2.txt", v2)
        gw100, v2100 = gateway_bodies(200, rows=BATCH_ROWS), v2_bodies(200, rows=BATCH_ROWS)
        gw100_file = write_bodies(self.workdir / "bodies-gateway-100.txt", gw100)
        v2100_file = write_bodies(self.workdir / "bodies-v2-100.txt", v2100)
        s = self.servers
        redis = self.redis is not None

        wanted = {*self.mode.closed_arms, *self.mode.fixed_arms}

        def arm(name: str, keys: list[str], path: str, **kw: Any) -> None:
            if name not in wanted:
                return
            if all(k in s for k in keys):
                if name.endswith("-batch100"):
                    bodies, file = (v2100, v2100_file) if path.startswith("/v2/") else (gw100, gw100_file)
                else:
                    bodies, file = (v2, v2_file) if path.startswith("/v2/") else (gw, gw_file)
                self.arms[name] = Arm(name, [s[k] for k in keys], path, bodies, file, **kw)
            elif name not in self.setup_info.skipped:
                reason = self.setup_info.skipped.get(keys[0], f"skipped: {', '.join(keys)} not started")
                self.setup_info.skipped[name] = reason

        arm("echo", ["echo"], "/predict")
        arm("bentoml-noop", ["bentoml"], "/noop")
        arm("bentoml", ["bentoml"], "/predict")
        for state in ("stable", "canary", "shadow"):
            arm(f"gw-{state}", ["gw-main"], "/predict", state=state, logs_to_redis=redis)
        arm("gw-async", ["gw-async"], "/predict", logs_to_redis=redis)
        if "off" not in gateway_log_modes():
            self.setup_info.skipped["gw-off"] = "skipped: the gateway has no log mode 'off'"
        arm("gw-off", ["gw-off"], "/predict", logs_to_redis=redis)
        arm("gw-postgres", ["gw-postgres"], "/predict")
        if "sink" in s:
            arm("gw-sink", ["gw-sink"], "/predict", logs_to_redis=redis, helpers=[s["sink"]])
        arm("mlserver", ["mlserver"], "/v2/models/iris/infer")
        arm("mlserver-batched", ["mlserver"], "/v2/models/iris-batched/infer")
        arm("gw-batch100", ["gw-main"], "/predict", state="canary", logs_to_redis=redis)
        arm("mlserver-batch100", ["mlserver"], "/v2/models/iris/infer")
        replicas = [f"replica-{i}" for i in range(self.mode.replicas)]
        if replicas:
            total = self.mode.connections + (-self.mode.connections % len(replicas))  # divisible by the replicas
            arm("replicas-1", replicas[:1], "/predict", logs_to_redis=redis, connections=total)
            arm("replicas-3", replicas, "/predict", logs_to_redis=redis, connections=total // len(replicas))

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

    def close(self) -> None:
        if self.main is not None:
            self.main.close()
        for server in reversed(list(self.servers.values())):
            server.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.databases:
            import psycopg

            for admin, url in self.databases.values():
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def gateway_log_modes() -> tuple[str, ...]:
    """The gateway's log modes as its settings declare them (``off`` arrived after ``ack`` and ``async``)."""
    from registry_client.settings import GatewaySettings

    return typing.get_args(GatewaySettings.model_fields["log_mode"].annotation)


def versions(mlserver_binary: Path | None) -> dict[str, str]:
    """What was measured: Python and the servers' packages, wrk, Redis, the CPU, the commit and the command."""
    from importlib.metadata import version

    found = {
        "python": platform.python_version(),
        "bentoml": version("bentoml"),
        "scikit-learn": version("scikit-learn"),
        "starlette": version("starlette"),
        "uvicorn": version("uvicorn"),
    }
    if mlserver_binary is not None:
        found["mlserver"] = servers.MLSERVER_VERSION
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout
        found["wrk"] = out.split(" [")[0].strip()
    if shutil.which("redis-server"):
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False).stdout
        found["redis"] = out.split(" sha=")[0].removeprefix("Redis server ").strip()
    found["cpu"] = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.machine(),
    )
    found["cores"] = str(os.cpu_count())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0:  # which gateway code was measured: the commit, and whether service/ had edits on top
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "service", "registry_client"], capture_output=True, text=True, check=False
        ).stdout.strip()
        found["canaryline"] = head.stdout.strip() + (
            " + uncommitted changes in service/ or registry_client/" if dirty else ""
        )
    found["argv"] = " ".join(sys.argv)
    return found
