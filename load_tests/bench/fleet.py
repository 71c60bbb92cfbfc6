"""The benchmark's fleet: every server started once, pinned, given its plan, and the arms defined over it.

Servers start on both cores (so start-up is quick), then each process tree is pinned to core 0 and this
process (with the load generators it starts) to core 1. :class:`Fleet` holds what the set-up made (servers,
Redis, the PostgreSQL arms' databases, the main gateway's plan, the arms) and stops it all in :meth:`Fleet.close`;
:class:`~load_tests.bench.runner.Bench` measures the arms over it.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from load_tests.models import IRIS, ensure_plan, register_models
from load_tests.processes import Server, redis_server

from . import servers
from .bodies import gateway_bodies, v2_bodies, write_bodies
from .config import BATCH_ROWS, Mode
from .model_floor import time_model
from .plans import MainPlan
from .sink_arm import sink_server

__all__ = ["LOAD_CORE", "SERVER_CORE", "Arm", "Fleet", "Setup", "gateway_log_modes", "versions"]

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


class Fleet:
    """Every server the chosen arms need, started and pinned once, and the arms defined over them."""

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
        self.gc_log = workdir / "gc-pauses.log"  # every server's garbage-collection pauses

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
