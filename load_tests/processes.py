"""Server processes for load tests and benchmarks: start, wait until ready, pin to cores, read CPU time, stop.

CPU time is read from ``/proc/<pid>/stat`` (``utime + stime``, every thread of the process) summed over
the process tree, so a server's worker processes and helper processes (BentoML's workers, the gateway's
shadow process) are all counted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = [
    "Server",
    "core_busy_seconds",
    "cpu_seconds",
    "free_port",
    "http_ok",
    "pin",
    "redis_server",
    "tree_pids",
    "wait_until",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


_HANDED_OUT: set[int] = set()  # a port the OS offers again is not handed to a second server of ours


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def http_ok(url: str) -> Callable[[], bool]:
    """A probe: True when GET ``url`` answers 200."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from the 3rd (state) on; comm may hold spaces


def tree_pids(root: int) -> list[int]:
    """``root`` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of ``pids`` (all their threads), in seconds; vanished pids count zero."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / _CLK_TCK


def core_busy_seconds(core: int) -> float:
    """Time core ``core`` spent running anything (user, nice, system, irq, softirq, steal), in seconds."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in line.split()[1:9])
            return (user + nice + system + irq + softirq + steal) / _CLK_TCK
    return 0.0


def pin(pids: Iterable[int], cores: set[int]) -> None:
    """Set the CPU affinity of every thread of ``pids``; children started later inherit it."""
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(tid), cores)


@dataclass
class Server:
    """One server process (and its children), started in its own session and stopped with SIGTERM."""

    name: str
    argv: list[str]
    probe: Callable[[], bool]
    logfile: Path
    #: Where clients reach it: an HTTP base URL, or a ``redis://`` URL.
    url: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 120) -> Server:
        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited before it was ready; its log:\n{self.log_tail()}")
            return self.probe()

        try:
            wait_until(ready, timeout, f"{self.name} to be ready", 0.2)
        except TimeoutError:
            raise TimeoutError(f"{self.name} was not ready in {timeout:.0f} s; its log:\n{self.log_tail()}") from None
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not started"
        return self.proc.pid

    def pids(self) -> list[int]:
        return tree_pids(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pids())

    def pin(self, cores: set[int]) -> None:
        pin(self.pids(), cores)

    def log_tail(self, chars: int = 4000) -> str:
        return self.logfile.read_text(errors="replace")[-chars:] if self.logfile.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None


def redis_server(workdir: Path, port: int | None = None) -> Server:
    """A redis-server of our own on a free port, keeping nothing on disk (not started yet)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not on PATH (apt-get install redis-server, or set REDIS_URL)")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(workdir), "--daemonize", "no", "--loglevel", "warning"]
    return Server("redis", argv, answers, workdir / "redis.log", url=f"redis://127.0.0.1:{port}")
