"""What users do to a live gateway, for locust: ``locust -f load_tests/locustfile.py --host http://GATEWAY``.

- :class:`Predictor`: steady predictions with routing keys (iris mostly, wine too). Each answer is named
  by what served it, ``/predict iris v1 stable``, so locust's table splits latency and failures by route
  and version; an answer without its stamps is a failure.
- :class:`FeedbackPoster`: posts the true label of a request answered earlier (``POST /feedback``). A
  gateway without that route answers 404 with no canaryline error code: the scenario is then skipped with
  a message (not counted as failed); any other refusal is a real failure.
- :class:`Sre`: one user walking a release through the admin API while the load runs, at fractions of
  ``--run-time``: promote the canary (40%), **roll back** to the first stable version (50%; ``--to``,
  since a plain rollback would first clear the shadow and keep the promoted version), canary again at 10% (60%).

``python -m load_tests.run_load`` starts a gateway with iris v1 stable, v2 canary at 10% and v3 shadow on
100% and runs these users headless; ``--admin-token`` (default ``$CANARYLINE_ADMIN_TOKEN``) authorizes
the SRE's calls and ``--feedback-token`` (default ``$CANARYLINE_FEEDBACK_TOKEN``) the outcomes.
"""

from __future__ import annotations

import os
import random
import time
from collections import deque
from typing import Any

from locust import FastHttpUser, between, constant_throughput, events, task
from locust.exception import StopUser

from load_tests.models import IRIS, WINE, dataset

_DATA = {name: dataset(name) for name in (IRIS, WINE)}
#: (request_id, model, true label) of answered predictions, oldest first: what FeedbackPoster reports on.
_ANSWERED: deque[tuple[str, str, int]] = deque(maxlen=50_000)
_FEEDBACK = {"absent": False}
_STAMPS = ("model", "model_version", "request_id", "prediction_id", "route", "revision", "predictions")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--admin-token", default=os.environ.get("CANARYLINE_ADMIN_TOKEN", ""), help="admin token")
    parser.add_argument(
        "--feedback-token", default=os.environ.get("CANARYLINE_FEEDBACK_TOKEN", ""), help="feedback token"
    )
    parser.add_argument("--release-model", default=IRIS, help="model the SRE releases")
    parser.add_argument("--canary-version", default="v2", help="version the SRE canaries and promotes")
    parser.add_argument("--stable-version", default="v1", help="version the SRE rolls back to")
    parser.add_argument("--predict-rate", type=float, default=25.0, help="predictions per second per Predictor")


class Predictor(FastHttpUser):
    weight = 8

    def wait_time(self) -> float:
        return constant_throughput(self.environment.parsed_options.predict_rate)(self)

    @task
    def predict(self) -> None:
        model = IRIS if random.random() < 0.8 else WINE
        data = _DATA[model]
        i = random.randrange(len(data.rows))
        payload = {"model": model, "inputs": [data.rows[i]], "routing_key": f"customer-{random.randrange(5000)}"}
        with self.client.post("/predict", json=payload, catch_response=True) as response:
            if response.status_code != 200:
                response.request_meta["name"] = f"/predict {model} (refused)"
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
                return
            body = response.json()
            missing = [field for field in _STAMPS if field not in body]
            if missing:
                response.request_meta["name"] = f"/predict {model} (unstamped)"
                response.failure(f"answer without {', '.join(missing)}")
                return
            response.request_meta["name"] = f"/predict {body['model']} {body['model_version']} {body['route']}"
            _ANSWERED.append((body["request_id"], model, data.labels[i]))


class FeedbackPoster(FastHttpUser):
    weight = 2
    wait_time = constant_throughput(10)

    @task
    def feedback(self) -> None:
        if _FEEDBACK["absent"]:
            raise StopUser
        if not _ANSWERED:
            return
        request_id, model, label = _ANSWERED.popleft()
        payload = {"request_id": request_id, "outcome": label, "model": model}
        headers = {"Authorization": f"Bearer {self.environment.parsed_options.feedback_token}"}
        with self.client.post("/feedback", json=payload, headers=headers, catch_response=True) as response:
            if response.status_code == 202:
                return
            code = _error_code(response)
            if response.status_code in (404, 405) and code != "unknown_request":
                response.request_meta["name"] = "/feedback (route absent: scenario skipped)"
                response.success()
                if not _FEEDBACK["absent"]:
                    _FEEDBACK["absent"] = True
                    print(
                        f"POST /feedback answered {response.status_code} ({code or 'no canaryline error'}): this "
                        "gateway has no feedback route yet, so the feedback scenario is skipped",
                        flush=True,
                    )
                raise StopUser
            response.failure(f"{response.status_code} {code}: {(response.text or '')[:200]}")


def _error_code(response: Any) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


class Sre(FastHttpUser):
    """The release timeline, at fractions of the run time (60 s when none is given)."""

    fixed_count = 1
    wait_time = between(0.1, 0.2)
    timeline = ((0.40, "promote"), (0.50, "rollback"), (0.60, "canary"))

    def on_start(self) -> None:
        self.started = time.monotonic()
        self.steps = list(self.timeline)
        options = self.environment.parsed_options
        self.run_time = float(options.run_time or 60) if options else 60.0
        self.headers = {"Authorization": f"Bearer {options.admin_token}", "X-Canaryline-Actor": "load-test-sre"}

    @task
    def release(self) -> None:
        if not self.steps or time.monotonic() - self.started < self.steps[0][0] * self.run_time:
            return
        _, action = self.steps.pop(0)
        options = self.environment.parsed_options
        body: dict[str, Any] = {"reason": f"load test: {action}"}
        if action in ("promote", "canary"):
            body["version"] = options.canary_version
        if action == "rollback":
            body["to"] = options.stable_version
        if action == "canary":
            body["weight"] = 10
        path = f"/admin/models/{options.release_model}/{action}"
        with self.client.post(path, json=body, headers=self.headers, name=f"admin {action}", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {(r.text or '')[:300]}")
            else:
                plan = r.json()["plan"]
                canary = plan.get("canary") or {}
                print(f"SRE {action}: stable {plan['stable']}, canary {canary.get('version')}", flush=True)
