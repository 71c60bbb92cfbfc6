"""A real two-worker gateway after known traffic: exact /metrics per version and route, promtool, Prometheus, logs.

One gateway (two workers, so every counter is a sum over processes) serves a module's worth of traffic:
a classifier with a 50% sticky canary and a 100% shadow, a regressor, and a model whose artifact was
tampered with. The tests read its scrape, its store and its log; one starts a real Prometheus on it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import bentoml
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from registry_client.control import ControlPlane
from registry_client.domain.records import PredictionRecord
from registry_client.registry.registry import Registry
from registry_client.store import Store, open_store
from service.observability.logs import REQUEST_FIELDS
from tests.support.prometheus import DASHBOARD, RULES, PrometheusServer, exposed_names, metric_names, promtool
from tests.support.servers import GatewayProcess, wait_until
from tests.support.tokens import FEEDBACK_TOKEN, TOKEN_ENV, bearer

pytestmark = pytest.mark.e2e
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
BROKEN_TRACE_ID = "5c1e0d4a6b7f8e9d0a1b2c3d4e5f6a7b"
UNPINNED = 24
FEEDBACK = 10
#: Families that only appear after a fault (store down, spool full, failing or overloaded shadow).
FAULT_ONLY = {
    "canaryline_log_records_spooled_total",
    "canaryline_log_records_dropped_total",
    "canaryline_log_records_refused_total",
    "canaryline_shadow_errors_total",
    "canaryline_shadow_dropped_total",
}


@dataclasses.dataclass
class Scraped:
    """What the module's traffic produced: the gateway, its final scrape and what the clients saw."""

    gateway: GatewayProcess
    store: Store
    model: str
    regressor: str
    broken: str
    text: str
    #: (model, version, route, outcome) → answers the clients got
    answers: Counter[tuple[str, str, str, str]]
    responses: dict[str, dict]  # request_id → 200 body (classifier, unpinned)
    truths: dict[str, int]  # request_id → outcome posted

    def sample(self, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(self.text):
            for s in family.samples:
                if s.name == name and s.labels == labels:
                    return s.value
        return None

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(self.text)
            for s in family.samples
            if s.name == name
        }

    def records(self) -> list[PredictionRecord]:
        return list(self.store.iter_predictions(self.model))


def _post(url: str, **kwargs) -> httpx.Response:
    return httpx.post(url + "/predict", timeout=30, **kwargs)  # a new connection each: both workers get some


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory, iris, iris_models, diabetes_ridge) -> Iterator[Scraped]:
    tmp = tmp_path_factory.mktemp("metrics-e2e")
    url = f"sqlite:///{tmp / 'store.db'}"
    store = open_store(url)
    registry = Registry(store)
    model = f"m{uuid.uuid4().hex[:10]}"
    regressor, broken = model + "r", model + "b"
    for name in ("logreg", "tree", "logreg_c01"):
        registry.register(model, iris_models[name])
    registry.register(regressor, diabetes_ridge, task="regression")
    registry.register(broken, iris_models["tree"])
    artifact = Path(bentoml.models.get(f"{broken}:v1").path_of("saved_model.pkl"))
    artifact.write_bytes(artifact.read_bytes()[:-1] + b"\x00")
    control = ControlPlane(registry)
    control.set_canary(model, "v2", weight=50, sticky=True, actor="test", reason="half", expected_revision=None)
    control.set_shadow(model, "v3", sample=100, actor="test", reason="all", expected_revision=None)
    env = {
        "BENTOML_HOME": os.environ["BENTOML_HOME"],
        "CANARYLINE_STORE": url,
        "CANARYLINE_HOME": str(tmp / "home"),
        **TOKEN_ENV,
        "CANARYLINE_LOG_LEVEL": "debug",
    }
    gateway = GatewayProcess(env=env, logfile=tmp / "gateway.log", workers=2).start()
    try:
        yield _drive(gateway, store, model, regressor, broken, iris)
    finally:
        gateway.stop()
        store.close()


def _drive(gateway: GatewayProcess, store: Store, model: str, regressor: str, broken: str, iris) -> Scraped:
    """Send the known traffic, post outcomes, wait for the shadow to catch up, and scrape once."""
    X, y = iris
    answers: Counter[tuple[str, str, str, str]] = Counter()
    responses: dict[str, dict] = {}
    for i in range(UNPINNED + 1):
        headers = {"X-Request-ID": f"u{i}"}
        if i == UNPINNED:
            headers = {"X-Request-ID": "traced", "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
        body = {"model": model, "inputs": [list(X[i * 6])], "routing_key": f"user-{i}"}
        response = _post(gateway.url, json=body, headers=headers)
        assert response.status_code == 200, response.text
        responses[response.json()["request_id"]] = response.json()
        answers[(model, response.json()["model_version"], response.json()["route"], "ok")] += 1
    for _ in range(3):
        assert _post(gateway.url, json={"model": model, "inputs": [list(X[0])]}, headers={"X-Model-Version": "v1"})
        answers[(model, "v1", "pinned", "ok")] += 1
    for _ in range(2):
        narrow = _post(gateway.url, json={"model": model, "inputs": [[1.0]]}, headers={"X-Model-Version": "v2"})
        assert narrow.status_code == 422
        answers[(model, "v2", "pinned", "client_error")] += 1
    for _ in range(3):
        assert _post(gateway.url, content=b"{not json").status_code == 400
        answers[("", "", "", "client_error")] += 1
    refused = _post(
        gateway.url,
        json={"model": broken, "inputs": [list(X[0])]},
        headers={"X-Request-ID": "broken-1", "traceparent": f"00-{BROKEN_TRACE_ID}-b7ad6b7169203331-01"},
    )
    assert refused.status_code == 503 and _post(gateway.url, json={"model": broken, "inputs": [list(X[0])]})
    answers[("", "", "", "server_error")] += 2
    for rows in ([[0.02] * 10], [[-0.03] * 10]):
        response = _post(gateway.url, json={"model": regressor, "inputs": rows})
        assert response.status_code == 200
        answers[(regressor, "v1", "stable", "ok")] += 1
        outcome = {"request_id": response.json()["request_id"], "outcome": 150.0}
        assert httpx.post(gateway.url + "/feedback", json=outcome, headers=bearer(FEEDBACK_TOKEN)).status_code == 202
    unpinned = UNPINNED + 1

    def shadow_done() -> bool:
        text = httpx.get(gateway.url + "/metrics").text
        done = sum(
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "canaryline_log_records_written_total" and s.labels.get("route") == "shadow"
        )
        return done >= unpinned

    wait_until(shadow_done, 60, "every shadow record written", 0.25)
    # Outcomes after the shadow records are in the store, so that each joins its shadow record too.
    truths = {f"u{i}": int(y[i * 6]) if i % 3 else (int(y[i * 6]) + 1) % 3 for i in range(FEEDBACK)}
    for request_id, truth in truths.items():
        outcome = {"request_id": request_id, "outcome": truth}
        response = httpx.post(gateway.url + "/feedback", json=outcome, headers=bearer(FEEDBACK_TOKEN))
        assert response.status_code == 202, response.text
    text = httpx.get(gateway.url + "/metrics").text
    return Scraped(gateway, store, model, regressor, broken, text, answers, responses, truths)


def test_requests_are_exact_per_version_route_and_outcome_across_two_workers(scraped: Scraped) -> None:
    """canaryline_requests_total equals what the clients saw, summed over both workers' processes."""
    counted = {
        (d["model"], d["version"], d["route"], d["outcome"]): value
        for d, value in ((dict(k), v) for k, v in scraped.samples("canaryline_requests_total").items())
        if value
    }
    assert counted == dict(scraped.answers)
    assert {v for (m, v, r, _) in scraped.answers if m == scraped.model and r in ("stable", "canary")} == {"v1", "v2"}
    assert len({r.instance for r in scraped.records()}) == 2, "both workers served, so the values are merged sums"
    per_series: Counter[tuple[str, str, str]] = Counter()
    for (model, version, route, _), count in scraped.answers.items():
        per_series[(model, version, route)] += count
    for (model, version, route), count in per_series.items():
        labels = {"model": model, "version": version, "route": route}
        assert scraped.sample("canaryline_request_duration_seconds_count", **labels) == count
        assert scraped.sample("canaryline_request_duration_seconds_bucket", **labels, le="+Inf") == count


def test_log_records_and_shadow_counters_are_exact(scraped: Scraped) -> None:
    """Records written per version and route (shadow included); shadow runs and disagreements match the store."""
    model = scraped.model
    records = scraped.records()
    written = Counter((r.model_version, r.route) for r in records)
    for (version, route), count in written.items():
        labels = {"model": model, "version": version, "route": route}
        assert scraped.sample("canaryline_log_records_written_total", **labels) == count
    unpinned = UNPINNED + 1
    assert written[("v3", "shadow")] == unpinned
    primary = {r.request_id: r for r in records if not r.shadow}
    disagreements = sum(
        a != b
        for r in records
        if r.shadow
        for a, b in zip(r.predictions, primary[r.request_id].predictions, strict=True)
    )
    shadow = {"model": model, "version": "v3"}
    assert scraped.sample("canaryline_shadow_submitted_total", **shadow) == unpinned
    assert scraped.sample("canaryline_shadow_runs_total", **shadow) == unpinned
    assert scraped.sample("canaryline_shadow_compared_rows_total", **shadow) == unpinned
    assert scraped.sample("canaryline_shadow_disagreements_total", **shadow) == disagreements
    assert scraped.sample("canaryline_shadow_errors_total", **shadow) is None


def test_outcomes_are_counted_per_version_and_route(scraped: Scraped) -> None:
    """Outcomes received (primary) and joined (primary and shadow) per series, with the right rows counted correct."""
    model, records = scraped.model, scraped.records()
    received: Counter[tuple[str, str]] = Counter()
    correct: Counter[tuple[str, str]] = Counter()
    joined: Counter[tuple[str, str]] = Counter()
    for r in records:
        if r.request_id in scraped.truths:
            joined[(r.model_version, r.route)] += 1
            correct[(r.model_version, r.route)] += r.predictions[0] == scraped.truths[r.request_id]
            if not r.shadow:
                received[(r.model_version, r.route)] += 1
    assert sum(received.values()) == FEEDBACK and joined[("v3", "shadow")] == FEEDBACK
    for (version, route), count in joined.items():
        labels = {"model": model, "version": version, "route": route}
        assert scraped.sample("canaryline_outcomes_received_total", **labels) == (received[(version, route)] or None)
        assert scraped.sample("canaryline_outcomes_joined_total", **labels) == count
        assert scraped.sample("canaryline_outcome_rows_total", **labels) == count
        assert scraped.sample("canaryline_outcome_correct_rows_total", **labels) == correct[(version, route)]
    for version in {v for v, _ in joined}:
        accuracy = scraped.sample("canaryline_online_accuracy_ratio", model=model, version=version)
        assert accuracy is not None and 0 <= accuracy <= 1
    mae = scraped.sample("canaryline_online_mean_absolute_error", model=scraped.regressor, version="v1")
    assert mae is not None and mae > 0


def test_plan_gauges_and_load_failures(scraped: Scraped) -> None:
    """Revision, canary weight, shadow sample and loaded versions per model; the tampered version's failures."""
    model = scraped.model
    assert scraped.sample("canaryline_plan_revision", model=model) == 3  # create, canary, shadow
    assert scraped.sample("canaryline_plan_canary_weight_ratio", model=model) == 0.5
    assert scraped.sample("canaryline_plan_shadow_sample_ratio", model=model) == 1
    for version in ("v1", "v2", "v3"):
        assert scraped.sample("canaryline_version_loaded", model=model, version=version) == 1
    failures = scraped.sample("canaryline_version_load_failures_total", model=scraped.broken, version="v1")
    assert failures is not None and failures >= 2  # at least once in each worker (and again on each retry)
    assert scraped.sample("canaryline_plan_revision", model=scraped.broken) is None


def test_the_scrape_passes_promtool_check_metrics(scraped: Scraped) -> None:
    """`promtool check metrics` finds no problem in a real scrape (ours and BentoML's metrics together)."""
    result = promtool("check", "metrics", stdin=scraped.text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_reads_metrics_the_real_gateway_exports(scraped: Scraped) -> None:
    """Every metric the dashboard queries is in the real scrape (those that appear only on faults aside)."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", []) if "expr" in t]  # PromQL, not the SQL panels
    missing = metric_names(exprs) - FAULT_ONLY - exposed_names(scraped.text)
    assert not missing, f"the dashboard queries metrics the gateway did not export: {sorted(missing)}"


def test_a_prometheus_server_scrapes_the_gateway(scraped: Scraped, tmp_path: Path) -> None:
    """A real Prometheus on a free port scrapes the gateway, answers a query, and evaluates our rules."""
    (tmp_path / RULES.name).write_text(RULES.read_text())
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [RULES.name],
        "scrape_configs": [
            {"job_name": "canaryline", "static_configs": [{"targets": [scraped.gateway.url.removeprefix("http://")]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    server = PrometheusServer(tmp_path / "prometheus.yml", tmp_path / "prometheus").start()
    try:
        ok = sum(n for (m, _, _, outcome), n in scraped.answers.items() if m == scraped.model and outcome == "ok")
        query = f'sum(canaryline_requests_total{{model="{scraped.model}", outcome="ok"}})'
        wait_until(lambda: server.query(query), 20, "Prometheus to scrape the gateway", 0.25)
        [result] = server.query(query)
        assert float(result["value"][1]) == ok
        [up] = server.query('up{job="canaryline"}')
        assert up["value"][1] == "1"

        def rules_evaluated() -> list[dict]:
            groups = httpx.get(server.url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
            return [
                rule for group in groups for rule in group["rules"] if rule.get("lastEvaluation", "").startswith("2")
            ]

        every = sum(len(group["rules"]) for group in yaml.safe_load(RULES.read_text())["groups"])
        wait_until(lambda: len(rules_evaluated()) == every, 20, "every rule evaluated")
        assert {rule["health"] for rule in rules_evaluated()} == {"ok"}, server.log()[-2000:]
        recorded = f'canaryline:requests:rate5m{{model="{scraped.model}"}}'
        wait_until(lambda: server.query(recorded), 20, "a recording rule's first result (two scrapes)", 0.25)
        assert {r["metric"]["version"] for r in server.query(recorded)} >= {"v1", "v2"}
    finally:
        server.stop()


def test_a_traceparent_is_continued_into_the_record_and_the_log(scraped: Scraped) -> None:
    """BentoML's OpenTelemetry middleware keeps the incoming trace: its ID is in the record and the log lines."""
    [record] = [r for r in scraped.store.predictions_for_request("traced") if not r.shadow]
    assert record.trace_id == TRACE_ID
    [shadow] = [r for r in scraped.store.predictions_for_request("traced") if r.shadow]
    assert shadow.trace_id == TRACE_ID
    # Without a traceparent the middleware starts a trace: every record still leads to one, its own.
    untraced = [r.trace_id for r in scraped.records() if not r.shadow and r.request_id != "traced"]
    assert all(t and len(t) == 32 and t != TRACE_ID for t in untraced) and len(set(untraced)) == len(untraced)
    lines = [json.loads(line) for line in scraped.gateway.log().splitlines() if line.startswith("{")]
    [served] = [line for line in lines if line["event"] == "prediction_served" and line["request_id"] == "traced"]
    body = scraped.responses["traced"]
    assert (served["trace_id"], served["prediction_id"], served["model"]) == (
        TRACE_ID,
        body["prediction_id"],
        body["model"],
    )
    assert (served["model_version"], served["route"], served["revision"]) == (
        body["model_version"],
        body["route"],
        body["revision"],
    )
    [failed] = [line for line in lines if line["event"] == "request_failed" and line["request_id"] == "broken-1"]
    assert failed["trace_id"] == BROKEN_TRACE_ID and failed["level"] == "error"


def test_every_worker_log_line_is_json_with_the_request_fields(scraped: Scraped) -> None:
    """Each line a worker writes (ours and BentoML's) is one JSON object with time, level, event and context keys."""
    lines = scraped.gateway.log().splitlines()
    # The only other lines come from `bentoml serve` itself (the process that starts the workers).
    workers = [line for line in lines if "[cli]" not in line and line.strip()]
    assert len(workers) > UNPINNED
    for line in workers:
        entry = json.loads(line)
        assert {"timestamp", "level", "event", *REQUEST_FIELDS} <= set(entry), line
    served = [json.loads(line) for line in workers if '"prediction_served"' in line]
    assert len(served) == sum(n for (_, _, _, outcome), n in scraped.answers.items() if outcome == "ok")
    assert all(line["prediction_id"] and line["model_version"] and line["route"] for line in served)
    assert any('"logger": "bentoml' in line for line in workers)  # BentoML's own lines are JSON too
