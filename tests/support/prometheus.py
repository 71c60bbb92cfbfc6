"""promtool and a real Prometheus server, both from Debian's `prometheus` package (`make test` installs it).

Under CI=true a missing tool fails the test that needs it; elsewhere that test is skipped, saying why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port, wait_until

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "canaryline-rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "canaryline.json"
#: A canaryline metric name in a PromQL expression.
_METRIC = re.compile(r"\bcanaryline_[a-z0-9_]+")


def tool(name: str) -> str:
    """The path of ``name`` (promtool, prometheus); fails under CI=true when missing, else skips."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed: it comes with Debian's `prometheus` package (`apt-get install prometheus`)"
        if IN_CI:
            pytest.fail(f"{reason}; it is required under CI=true (`make test` installs it)")
        pytest.skip(reason)
    return path


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``promtool args…``; the result's returncode, stdout and stderr are the caller's to check."""
    return subprocess.run(
        [tool("promtool"), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def metric_names(exprs: list[str]) -> set[str]:
    """The canaryline series names that PromQL ``exprs`` read (as exposed: ``…_total``, ``…_bucket``)."""
    return {name for expr in exprs for name in _METRIC.findall(expr)}


def exposed_names(exposition: str) -> set[str]:
    """The canaryline sample names in a ``/metrics`` exposition."""
    return {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line.startswith("canaryline_")}


@dataclass
class PrometheusServer:
    """`prometheus` on a free port with a config of the test's own and a throwaway TSDB."""

    config: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> PrometheusServer:
        binary = tool("prometheus")
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self._ready, timeout, f"prometheus on port {self.port}", 0.2)
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log()[-2000:]}")
        try:
            return httpx.get(self.url + "/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> list[dict]:
        """The result vector of an instant query."""
        body = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.proc = None
