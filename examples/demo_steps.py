"""The demo's steps, each printing what a user would look at."""

from __future__ import annotations

import asyncio
import csv
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import sklearn
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from examples.demo_rollouts import RolloutDemo
from registry_client.client.gateway import GatewayClient
from registry_client.registry.registry import Registry
from registry_client.settings import CanarylineSettings

MODEL = "wine"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.console = Console(width=None if sys.stdout.isatty() else 160)
        self.settings = CanarylineSettings(home=home)
        self.registry = Registry.from_settings(self.settings)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_keys: list[str] = []
        self.truth: dict[str, int] = {}  # request_id → the data set's true label, posted later as ground truth
        # The demo's own tokens (admin, read, feedback), used by its gateway and its CLI calls.
        self.token = secrets.token_urlsafe(24)
        self.read_token = secrets.token_urlsafe(24)
        self.feedback_token = secrets.token_urlsafe(24)
        X, y = load_wine(return_X_y=True)
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            X, y, test_size=0.4, random_state=7, stratify=y
        )
        self.data_version = f"sklearn-{sklearn.__version__}/wine/split-seed7"

    # -- steps ---------------------------------------------------------------------------------
    def run(self) -> None:
        self.write_env()
        self.register_versions()
        self.cli("versions", MODEL)
        self.start_gateway()
        responses = self.send_traffic(300, "all traffic on the stable version")
        self.show_sample(responses[0])
        self.show_served(responses)
        self.release(responses)
        RolloutDemo(self).run()

    def release(self, served_so_far: list[dict[str, Any]]) -> None:
        """An SRE's release: canary v2 at 20% with sticky keys, shadow v3, promote (shadow stopped), then roll back."""
        self.console.rule("[bold]4. canary v2 at 20% (sticky keys) and shadow v3 on 100%")
        self.cli("canary", MODEL, "v2", "--weight", "20", "--reason", "v2: random forest, try on 20%")
        self.cli("shadow", MODEL, "v3", "--sample", "100", "--reason", "v3: watch it on real traffic")
        self.wait_for_shadow(ready=True)
        responses = self.send_traffic(600, "traffic with a canary and a shadow")
        self.show_served(responses)
        self.show_stickiness(responses)
        self.wait_for_shadow()
        self.cli("status", MODEL)
        self.console.rule("[bold]5. stop the shadow, promote v2, then roll back in one command")
        self.cli("shadow", MODEL, "--clear", "--reason", "v3 watched: its numbers are in the evaluation")
        self.cli("promote", MODEL, "v2", "--reason", "canary looked good")
        after_promote = self.send_traffic(100, "traffic after the promotion")
        self.show_served(after_promote)
        self.cli("rollback", MODEL, "--reason", "demo: v2 regressed, back to v1")
        after_rollback = self.send_traffic(100, "traffic after the rollback")
        self.show_served(after_rollback)
        self.cli("history", MODEL)
        self.check_log([*served_so_far, *responses, *after_promote, *after_rollback])
        self.feedback_and_evaluate([*served_so_far, *responses, *after_promote, *after_rollback])

    def feedback_and_evaluate(self, responses: list[dict[str, Any]]) -> None:
        """Ground truth arrives later by request ID; compare versions on real traffic; export for analysts."""
        self.console.rule("[bold]6. ground truth for 90% of requests, evaluation per version, export")
        truth_file = self.home / "ground_truth.csv"
        rng = random.Random(7)
        with truth_file.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["request_id", "outcome"])
            for response in responses:
                if rng.random() < 0.9:
                    writer.writerow([response["request_id"], self.truth[response["request_id"]]])
        self.cli("feedback", MODEL, str(truth_file))
        self.cli("eval", MODEL)
        export = self.home / "wine-predictions.parquet"
        self.cli("export", MODEL, "--out", str(export))
        import pyarrow.parquet as pq

        table = pq.read_table(export)
        joined = sum(v is not None for v in table.column("outcome").to_pylist())
        self.console.print(
            f"{export}: {table.num_rows} rows ({joined} with an outcome), columns: {', '.join(table.column_names)}"
        )

    def register_versions(self) -> None:
        self.console.rule("[bold]1. train and register three versions")
        candidates = [
            ("v1", make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000)), {"C": 0.05}),
            (
                "v2",
                RandomForestClassifier(n_estimators=50, max_depth=4, random_state=0),
                {"n_estimators": 50, "max_depth": 4},
            ),
            ("v3", make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)), {"C": 1.0}),
        ]
        for expected, model, params in candidates:
            model.fit(self.X_train, self.y_train)
            accuracy = float(model.score(self.X_test, self.y_test))
            version = self.registry.register(
                MODEL,
                model,
                params=params,
                metrics={"test_accuracy": round(accuracy, 4)},
                data_version=self.data_version,
                code_version="demo",
                description=type(model).__name__,
            )
            assert version.version == expected
            self.console.print(
                f"registered [bold]{version.tag}[/bold] sha256={version.sha256[:12]} test accuracy={accuracy:.3f}"
            )

    def start_gateway(self) -> None:
        self.console.rule(f"[bold]2. start the gateway on {self.url} (store: {self.settings.store_url()})")
        # Rollouts tick twice a second here (five seconds by default), so the demo's short steps are short.
        fast = {"CANARYLINE_ROLLOUT_TICK_S": "0.5", "CANARYLINE_REQUEST_COUNTS_FLUSH_S": "0.5"}
        env = {**os.environ, **self.token_env(), **fast}
        log = (self.home / "gateway.log").open("ab")
        canaryline = Path(sys.executable).with_name("canaryline")
        self.proc = subprocess.Popen(
            [str(canaryline), "serve", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the gateway exited; see {self.home / 'gateway.log'}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    self.console.print("gateway ready")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("the gateway did not become ready in 90 s")

    def send_traffic(self, n: int, what: str, *, keyed: bool = True) -> list[dict[str, Any]]:
        self.console.print(f"[bold]sending {n} real predictions:[/bold] {what}")
        rng = random.Random(len(what))
        payloads = []
        labels: list[int] = []
        self.last_keys = []
        for i in range(n):
            index = rng.randrange(len(self.X_test))
            labels.append(int(self.y_test[index]))
            payload: dict[str, Any] = {"model": MODEL, "inputs": [self.X_test[index].tolist()]}
            if keyed:
                payload["routing_key"] = f"customer-{i % 200}"
                self.last_keys.append(payload["routing_key"])
            payloads.append(payload)
        responses = asyncio.run(self._fire(payloads))
        self.truth.update((r["request_id"], label) for r, label in zip(responses, labels, strict=True))
        return responses

    async def _fire(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            gate = asyncio.Semaphore(16)

            async def one(payload: dict[str, Any]) -> dict[str, Any]:
                async with gate:
                    response = await client.post("/predict", json=payload)
                    response.raise_for_status()
                    return dict(response.json())

            return await asyncio.gather(*(one(p) for p in payloads))

    def show_sample(self, response: dict[str, Any]) -> None:
        self.console.print("a stamped response:")
        self.console.print_json(orjson.dumps(response).decode())

    def show_served(self, responses: list[dict[str, Any]]) -> None:
        counts = Counter((r["model_version"], r["route"]) for r in responses)
        table = Table("version", "route", "requests", "share", title="what was served")
        for (version, route), count in sorted(counts.items()):
            table.add_row(version, route, str(count), f"{100 * count / len(responses):.1f}%")
        self.console.print(table)

    def wait_for_shadow(self, *, ready: bool = False) -> None:
        """Shadow work runs in its own process after the answers: wait until it has loaded v3 (``ready``)
        or has caught up with the traffic sent so far."""
        with GatewayClient(self.url, read_token=self.read_token) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                counts = client.model(MODEL)["shadow"].get("v3", {})
                if counts.get("ready") if ready else counts and counts["in_flight"] == 0:
                    return
                time.sleep(0.2)

    def show_stickiness(self, responses: list[dict[str, Any]]) -> None:
        by_key: dict[str, set[str]] = {}
        for payload_key, response in zip(self.last_keys, responses, strict=True):
            by_key.setdefault(payload_key, set()).add(response["model_version"])
        moved = sum(len(v) > 1 for v in by_key.values())
        on_canary = sum(v == {"v2"} for v in by_key.values())
        self.console.print(
            f"sticky routing: {len(by_key)} customers, {on_canary} always on the canary, "
            f"{len(by_key) - on_canary - moved} always on stable, {moved} switched versions"
        )

    def check_log(self, responses: list[dict[str, Any]]) -> None:
        logged = {r.prediction_id for r in self.registry.store.iter_predictions(MODEL)}
        missing = [r["prediction_id"] for r in responses if r["prediction_id"] not in logged]
        self.console.print(
            f"prediction log: {len(logged)} records in the store for {len(responses)} responses so far; "
            f"missing: {len(missing)}"
        )
        if missing:
            raise SystemExit(f"{len(missing)} served predictions have no log record")

    def write_env(self) -> Path:
        """``.demo/env``: the demo's home and tokens, so ``source .demo/env`` picks up where the demo left off."""
        lines = [
            "# Written by `make demo`: its home (SQLite store and BentoML models) and its gateway's tokens.",
            "# `source .demo/env`, then `canaryline serve` serves what the demo registered (README, A session).",
            f"export CANARYLINE_HOME={self.home}",
            *(f"export {name}={value}" for name, value in self.token_env().items()),
        ]
        env_file = self.home / "env"
        env_file.write_text("\n".join(lines) + "\n")
        env_file.chmod(0o600)  # it holds the tokens
        return env_file

    def your_turn(self) -> None:
        """What to run next: the README's session on this demo's state."""
        self.console.rule("[bold]your turn (README, A session)")
        self.console.print(
            "source .venv/bin/activate && source .demo/env\n"
            "canaryline serve --port 3000 &\n"
            "canaryline status wine; canaryline eval wine      # `make demo` again starts over",
            highlight=False,
        )

    def token_env(self) -> dict[str, str]:
        return {
            "CANARYLINE_ADMIN_TOKEN": self.token,
            "CANARYLINE_READ_TOKEN": self.read_token,
            "CANARYLINE_FEEDBACK_TOKEN": self.feedback_token,
        }

    def cli(self, *args: str) -> None:
        canaryline = Path(sys.executable).with_name("canaryline")
        shown = " ".join(f'"{a}"' if " " in a else a for a in args)
        self.console.print(f"[bold cyan]$ canaryline {shown}[/bold cyan]")
        env = {**os.environ, "CANARYLINE_GATEWAY": self.url, **self.token_env()}
        subprocess.run([str(canaryline), *args], check=True, env=env)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            code = self.proc.wait(30)
            self.console.print(f"gateway stopped (exit code {code})")
        self.registry.store.close()
