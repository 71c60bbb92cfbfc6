"""A real S3-compatible server for artifact-store tests: moto's ``moto_server`` process on a free port.

moto implements S3's REST API in-process (buckets, objects, multipart uploads, HEAD, DELETE, list) and keeps
objects in memory; s3fs talks to it over HTTP exactly as to AWS, through botocore's signing and retries. It
does not model AWS's consistency, IAM policies or latency, so these tests check our use of fsspec/s3fs, not
S3 itself.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.servers import free_port, wait_until

#: Credentials moto accepts (any); given to s3fs explicitly so no real AWS account is ever consulted.
S3_KEY, S3_SECRET = "testing-key", "testing-secret"


@dataclass
class MotoServer:
    logfile: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def options(self) -> dict[str, object]:
        """fsspec storage options for s3fs against this server (CANARYLINE_ARTIFACTS_OPTIONS)."""
        return {
            "endpoint_url": self.url,
            "key": S3_KEY,
            "secret": S3_SECRET,
            "client_kwargs": {"region_name": "eu-west-1"},  # buckets are created there (a LocationConstraint)
        }

    def start(self) -> MotoServer:
        binary = shutil.which("moto_server")
        if binary is None:
            raise FileNotFoundError("moto_server is not installed (pip install 'moto[server]')")
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-H", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(self.answers, 60, f"moto_server on port {self.port}", 0.2)
        return self

    def answers(self) -> bool:
        try:
            return httpx.get(self.url + "/", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None
