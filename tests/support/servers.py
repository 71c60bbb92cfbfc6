"""Real servers for tests: throwaway redis-server and PostgreSQL instances, and `canaryline serve` gateways."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path

import httpx
import pytest

from registry_client.client.gateway import GatewayClient
from tests.support.tokens import ADMIN_TOKEN

#: The gateways a test uses, on its item's stash: a failed test's report carries the tail of each one's log.
GATEWAYS = pytest.StashKey[list["GatewayProcess"]]()

#: The store timeout tests give a PostgreSQL store that is not under test for its timeout: a new connection on
#: this loaded 2-core machine (a forked backend, the pool's checks) has taken over the default 2 s.
LOADED_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], object], timeout: float = 15, what: str = "the condition", interval: float = 0.05
) -> None:
    """Poll ``predicate`` every ``interval`` seconds until it is truthy; TimeoutError naming ``what`` after
    ``timeout`` seconds. The one way tests wait: a deadline, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RedisServer:
    """A redis-server process of our own, on a free port, keeping nothing on disk."""

    workdir: Path
    port: int = field(default_factory=free_port)
    #: Keep data across a stop and a start (append-only file, fsync always), for fault tests.
    persistent: bool = False
    #: Allow ``DEBUG SLEEP`` from local connections, for tests that stall the server.
    debug_command: bool = False
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                *(["--enable-debug-command", "local"] if self.debug_command else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, 10, f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def postgres_binary(name: str) -> str:
    """``initdb``, ``pg_ctl`` … from PATH, else from Debian's ``/usr/lib/postgresql/<major>/bin``."""
    found = shutil.which(name) or next(iter(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (Debian package postgresql)")
    return found


@dataclass
class PostgresServer:
    """A PostgreSQL cluster of our own (initdb + pg_ctl) on a free port, trust auth, in a fresh folder.

    PostgreSQL refuses to run as root: when the tests run as root, the cluster belongs to the ``postgres``
    system user and every server command runs through ``runuser``; its folder is made directly under the
    system temp directory, since pytest's own (mode 0700, root's) cannot be entered by that user.
    ``stop(mode="immediate")`` is a crash; ``remove()`` deletes the folder.
    """

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="canaryline-pg-")))
    port: int = field(default_factory=free_port)
    #: Durability off: these clusters are thrown away, and fsync only slows the suite down.
    fast: bool = True

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def init(self) -> PostgresServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        initdb = postgres_binary("initdb")
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self.init()
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            postgres_binary("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.workdir / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(postgres_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        path = self.workdir / "log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class GatewayProcess:
    """`canaryline serve` on a free port, with its own environment; stopped with SIGTERM."""

    env: Mapping[str, str]
    logfile: Path
    workers: int = 1
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    #: Clients made by :func:`admin_client`, closed by :meth:`stop` (an unclosed one leaks its socket).
    clients: list[GatewayClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, ready: bool = True, timeout: float = 60) -> GatewayProcess:
        canaryline = Path(sys.executable).with_name("canaryline")
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(canaryline),
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        probe = "/readyz" if ready else "/livez"
        try:
            wait_until(
                lambda: self._status(probe) == 200,
                timeout,
                f"gateway {probe} on port {self.port}",
                0.2,
            )
        except TimeoutError:
            self.stop()
            raise TimeoutError(f"gateway did not become ready; its log:\n{self.log()[-4000:]}") from None
        return self

    def _status(self, path: str) -> int | None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {self.proc.returncode}; its log:\n{self.log()[-4000:]}")
        try:
            return httpx.get(self.url + path, timeout=1).status_code
        except httpx.HTTPError:
            return None

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def stop(self, timeout: float = 30) -> int | None:
        while self.clients:
            self.clients.pop().close()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code


def admin_client(gateway: GatewayProcess) -> GatewayClient:
    """A control-plane client of ``gateway`` presenting the admin token, as actor ``tests``; closed when the
    gateway stops, so a test may use it without a ``with`` block and leak no socket."""
    client = GatewayClient(gateway.url, token=ADMIN_TOKEN, actor="tests")
    gateway.clients.append(client)
    return client
