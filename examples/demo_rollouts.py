"""The demo's rollouts: one of a worse version, rolled back by the controller, and one of a better version,
promoted through every step, both on delayed ground truth posted by a client; each decision's evidence is
printed as the audit history recorded it."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from registry_client.domain.rollout import RolloutState

if TYPE_CHECKING:
    from examples.demo_steps import Demo

MODEL = "winery"
#: Short steps, so both rollouts finish in well under a minute.
OPTIONS = (
    "--steps", "20,50,100", "--step-duration", "3s", "--max-step-duration", "40s", "--label-delay", "1s",
    "--min-outcomes", "40", "--margin", "0.05", "--max-p99-ratio", "4", "--max-error-rate-increase", "0.05",
)  # fmt: skip


class Clients(threading.Thread):
    """Real traffic on MODEL, and each request's true label posted a second later (the delayed ground truth)."""

    def __init__(self, demo: Demo) -> None:
        super().__init__(daemon=True)
        self.demo = demo
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        pending: deque[tuple[float, str, int]] = deque()
        rng = random.Random(11)
        auth = {"Authorization": f"Bearer {self.demo.feedback_token}"}
        with httpx.Client(base_url=self.demo.url, timeout=10) as http:
            while not self.stop.is_set():
                index = rng.randrange(len(self.demo.X_test))
                answer = http.post("/predict", json={"model": MODEL, "inputs": [self.demo.X_test[index].tolist()]})
                if answer.status_code == 200:
                    self.sent += 1
                    pending.append((time.monotonic() + 1.0, answer.json()["request_id"], int(self.demo.y_test[index])))
                while pending and pending[0][0] <= time.monotonic():
                    _, request_id, label = pending.popleft()
                    http.post("/feedback", json={"request_id": request_id, "outcome": [label]}, headers=auth)
                self.stop.wait(0.003)


class RolloutDemo:
    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.console = demo.console
        self.store = demo.registry.store

    def run(self) -> None:
        self.register()
        clients = Clients(self.demo)
        clients.start()
        try:
            self.console.rule("[bold]8. roll out v2 (trained on shuffled labels): the controller rolls it back")
            self.rollout("v2", "v2: retrained on the new labels")
            self.console.rule("[bold]9. roll out v3 (better than stable): promoted through every step")
            self.rollout("v3", "v3: logistic regression")
        finally:
            clients.stop.set()
            clients.join(10)
        self.demo.cli("history", MODEL)

    def register(self) -> None:
        self.console.rule(f"[bold]7. progressive delivery: three versions of {MODEL!r}, ground truth a second later")
        demo = self.demo
        labels = np.random.default_rng(0).permutation(demo.y_train)
        candidates = [
            ("v1", DecisionTreeClassifier(max_depth=2, random_state=0), demo.y_train),
            ("v2", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), labels),
            ("v3", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), demo.y_train),
        ]
        for expected, model, y in candidates:
            model.fit(demo.X_train, y)
            accuracy = float(model.score(demo.X_test, demo.y_test))
            version = demo.registry.register(MODEL, model, metrics={"test_accuracy": round(accuracy, 4)})
            assert version.version == expected
            self.console.print(f"registered [bold]{version.tag}[/bold] test accuracy={accuracy:.3f}")
        deadline = time.monotonic() + 60
        while httpx.get(f"{demo.url}/models/{MODEL}", headers=self._read()).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not load {MODEL} within 60 s")
            time.sleep(0.2)

    def _read(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.demo.read_token}"}

    def rollout(self, version: str, reason: str) -> None:
        self.demo.cli("rollout", "start", MODEL, version, *OPTIONS, "--reason", reason)
        deadline = time.monotonic() + 60
        state = self.store.get_rollout(MODEL)
        while state is not None and state.active and time.monotonic() < deadline:
            time.sleep(0.3)
            state = self.store.get_rollout(MODEL)
        if state is None or state.active:
            raise SystemExit(f"the rollout of {version} did not end within 60 s")
        self.demo.cli("rollout", "status", MODEL)
        self.show_evidence(state)

    def show_evidence(self, state: RolloutState) -> None:
        """Each decision that changed the plan, with the gates it was taken on (from the audit history)."""
        for entry in self.store.history(MODEL):
            evidence = entry.evidence or {}
            if evidence.get("rollout") != state.id or "gates" not in evidence:
                continue
            window = evidence["window"]
            table = Table("gate", "verdict", "n canary", "n stable", "estimate", "interval", "threshold", "method")
            table.title = (
                f"revision {entry.revision}: {evidence['action']} ({entry.reason}); window revisions "
                f"{window['revisions']}, {window['until'] - window['since']:.1f} s"
            )
            for gate in evidence["gates"]:
                table.add_row(
                    gate["gate"],
                    gate["verdict"],
                    str(gate["n_canary"]),
                    str(gate["n_stable"]),
                    _number(gate["estimate"]),
                    "-" if gate["low"] is None else f"[{gate['low']:+.4f}, {gate['high']:+.4f}]",
                    _number(gate["threshold"]),
                    gate["method"][:60],
                )
            self.console.print(table)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:+.4f}"
