"""``make load``: locust, headless and time-bounded, against a gateway this script starts and stops itself.

It trains iris (v1, v2, v3) and wine (v1) on scikit-learn's bundled data sets into a temporary
BENTOML_HOME, starts ``canaryline serve`` logging to Redis (a throwaway redis-server, ``$REDIS_URL``, or
SQLite when neither exists), puts a canary (iris v2 at 10%) and a shadow (iris v3 on 100%) in place, and
runs ``load_tests/locustfile.py``. It prints p50/p95/p99 and failures per route and version, and exits 1
when any request failed.

Options (or environment variables, for ``make load``): ``--duration`` / ``LOAD_DURATION`` (seconds, 60),
``--users`` / ``LOAD_USERS`` (11: 8 predicting, 2 posting feedback, 1 SRE), ``--predict-rate`` /
``LOAD_PREDICT_RATE`` (predictions per second per predicting user, 25), ``--workers`` / ``LOAD_WORKERS`` (1).
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from load_tests.processes import Server, free_port, http_ok, redis_server

HERE = Path(__file__).resolve().parent
_COLUMNS = ("requests", "failures", "p50 ms", "p95 ms", "p99 ms", "max ms", "req/s")


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m load_tests.run_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=int(env.get("LOAD_DURATION", "60")), help="seconds of load")
    parser.add_argument("--users", type=int, default=int(env.get("LOAD_USERS", "11")), help="locust users")
    parser.add_argument("--predict-rate", type=float, default=float(env.get("LOAD_PREDICT_RATE", "25")))
    parser.add_argument("--workers", type=int, default=int(env.get("LOAD_WORKERS", "1")), help="gateway workers")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, locust CSVs)")
    return parser


def _say(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", flush=True)


class LoadRun:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.token = secrets.token_urlsafe(24)
        self.read_token = secrets.token_urlsafe(24)
        self.feedback_token = secrets.token_urlsafe(24)
        self.redis: Server | None = None
        self.gateway: Server | None = None

    def store_url(self) -> str:
        if os.environ.get("REDIS_URL"):
            return os.environ["REDIS_URL"]
        try:
            self.redis = redis_server(self.workdir / "redis").start().wait_ready(30)
        except (FileNotFoundError, TimeoutError) as exc:
            _say(f"no Redis ({exc}): the gateway logs to SQLite")
            return f"sqlite:///{self.workdir / 'canaryline.db'}"
        return f"{self.redis.url}/0"

    def start(self) -> str:
        os.environ["BENTOML_HOME"] = str(self.workdir / "bentoml")  # before bentoml is first imported
        os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
        from load_tests.models import register_models

        store = self.store_url()
        _say(f"registering iris v1–v3 and wine v1 (store {store})")
        register_models(store)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        canaryline = Path(sys.executable).with_name("canaryline")
        env = {
            "BENTOML_HOME": os.environ["BENTOML_HOME"],
            "BENTOML_DO_NOT_TRACK": "true",
            "CANARYLINE_STORE": store,
            "CANARYLINE_HOME": str(self.workdir / "home"),
            "CANARYLINE_ADMIN_TOKEN": self.token,
            "CANARYLINE_READ_TOKEN": self.read_token,
            "CANARYLINE_FEEDBACK_TOKEN": self.feedback_token,
        }
        argv = [str(canaryline), "serve", "--port", str(port), "--workers", str(self.args.workers)]
        self.gateway = Server("gateway", argv, http_ok(url + "/readyz"), self.workdir / "gateway.log", url=url, env=env)
        _say(f"starting the gateway on {url} with {self.args.workers} worker(s)")
        self.gateway.start().wait_ready(120)
        self._release_start(url)
        return url

    def _release_start(self, url: str) -> None:
        from registry_client.client.gateway import GatewayClient

        with GatewayClient(url, token=self.token, actor="load-test") as client:
            client.set_canary("iris", "v2", weight=10, reason="load test: canary v2 on 10%")
            client.set_shadow("iris", "v3", sample=100, reason="load test: shadow v3 on 100%")
            deadline = time.monotonic() + 60
            while not client.model("iris")["shadow"].get("v3", {}).get("ready") and time.monotonic() < deadline:
                time.sleep(0.2)
        _say("plan: iris v1 stable, v2 canary at 10% (sticky), v3 shadow on 100%; wine v1 stable")

    def locust(self, url: str) -> int:
        prefix = self.workdir / "locust"
        argv = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless"]
        argv += ["-u", str(self.args.users), "-r", str(self.args.users), "-t", f"{self.args.duration}s"]
        argv += ["--host", url, "--csv", str(prefix), "--only-summary", "--stop-timeout", "5"]
        argv += ["--admin-token", self.token, "--feedback-token", self.feedback_token]
        argv += ["--predict-rate", str(self.args.predict_rate)]
        argv += ["--loglevel", "WARNING"]
        _say(f"locust: {self.args.users} users for {self.args.duration} s")
        with (self.workdir / "locust.log").open("w") as log:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE.parent, bufsize=1
            )
            assert proc.stdout is not None
            for line in proc.stdout:  # the SRE's steps and the feedback scenario's fate, as they happen
                log.write(line)
                if line.startswith(("SRE ", "POST /feedback")):
                    _say(line.rstrip())
            return proc.wait()

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self.redis is not None:
            self.redis.stop()


def _table(rows: list[dict[str, str]]) -> tuple[str, int]:
    """Locust's stats CSV as a table by request name; returns it and the number of failed requests."""
    out = [f"{'request (route / version)':<44}" + "".join(f"{c:>10}" for c in _COLUMNS)]
    failed = 0
    for row in sorted(rows, key=lambda r: (r["Name"] == "Aggregated", r["Name"])):
        failures = int(row["Failure Count"])
        failed += failures if row["Name"] != "Aggregated" else 0
        values = (
            row["Request Count"],
            str(failures),
            row["50%"],
            row["95%"],
            row["99%"],
            f"{float(row['Max Response Time']):.0f}",
            f"{float(row['Requests/s']):.1f}",
        )
        name = "all requests" if row["Name"] == "Aggregated" else row["Name"]
        out.append(f"{name:<44}" + "".join(f"{v:>10}" for v in values))
    return "\n".join(out), failed


def _failures(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="canaryline-load-"))
    run = LoadRun(args, workdir)
    try:
        url = run.start()
        code = run.locust(url)
    except BaseException:
        if run.gateway is not None:
            print(run.gateway.log_tail(), file=sys.stderr)
        raise
    finally:
        run.stop()
    stats = workdir / "locust_stats.csv"
    if not stats.exists():
        print((workdir / "locust.log").read_text(errors="replace")[-4000:], file=sys.stderr)
        _say(f"locust wrote no statistics (exit code {code}); kept {workdir}")
        return 1
    with stats.open() as handle:
        table, failed = _table(list(csv.DictReader(handle)))
    print(table)
    for failure in _failures(workdir / "locust_failures.csv"):
        print(f"FAILED {failure['Occurrences']}× {failure['Name']}: {failure['Error']}")
    if args.keep:
        _say(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if failed or code != 0:
        _say(f"{failed} requests failed (locust exit code {code})")
        return 1
    _say("no request failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
