"""deploy/grafana and deploy/prometheus: they parse, read only metrics the gateway exports, and promtool agrees."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from prometheus_client import generate_latest

from registry_client.domain.plan import Canary, Plan, Shadow
from registry_client.domain.records import PredictionRecord
from registry_client.store.postgres import PostgresStore
from service.observability.metrics import Metrics
from tests.support.prometheus import DASHBOARD, RULES, exposed_names, metric_names, promtool
from tests.support.records import make_record
from tests.support.versions import make_version

PROMETHEUS = RULES.parent
PG_DATASOURCE = "grafana-postgresql-datasource"


def record(version: str, route: str, predictions: list, *, shadow: bool = False) -> PredictionRecord:
    return make_record(
        prediction_id=f"p-{version}-{route}",
        request_id="r1",
        model_version=version,
        route=route,
        revision=2,
        rows=len(predictions),
        predictions=predictions,
        shadow=shadow,
    )


def exported() -> set[str]:
    """Every series name the gateway's metrics expose once each of them has been used."""
    metrics = Metrics()
    metrics.observe_request("iris", "v1", "stable", 200, 0.001)
    metrics.request().answered(400)  # refused before routing: empty labels
    metrics.shed("/predict")
    for event in ("submitted", "dropped", "error"):
        metrics.shadow_event(event, "iris", "v3")
    metrics.shadow_ran("iris", "v3", rows=2, disagreements=1)
    for kind in ("written", "spooled", "dropped", "refused"):
        metrics.logged(kind, [record("v1", "stable", [0])])
    metrics.spooled_bytes(10)
    metrics.spool_state(available=False)
    metrics.spool_error("ENOSPC")
    metrics.writer_error("writer")
    metrics.store_write(0.002)
    classifier = [record("v1", "stable", [0, 1]), record("v3", "shadow", [0, 0], shadow=True)]
    metrics.outcome(classifier, [0, 1], regression=False)
    metrics.outcome([record("v1", "stable", [1.5])], [2.0], regression=True)
    plan = Plan(
        model="iris",
        stable="v1",
        canary=Canary(version="v2", weight=20),
        shadow=Shadow(version="v3", sample=50),
        revision=2,
    )
    metrics.plan_applied(plan)
    metrics.version_unloaded("iris", "v0")
    metrics.load_failed("iris", "v4")
    metrics.rollout_ticked("iris", "v2", phase="paused", step=0, weight=20.0, verdicts={"quality": "inconclusive"})
    metrics.rollout_decided("iris", "v2", "pause")
    return exposed_names(generate_latest(metrics.registry).decode())


def dashboard_queries(dashboard: dict) -> list[str]:
    """Every PromQL expression in the dashboard: panel targets, annotations and template variables."""
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if "expr" in t]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    exprs += [
        v["definition"]
        for v in dashboard["templating"]["list"]
        if v["type"] == "query" and v["datasource"]["type"] == "prometheus"
    ]
    return exprs


def dashboard_sql(dashboard: dict) -> dict[str, str]:
    """Every SQL query in the dashboard (PostgreSQL panels and variables), by panel title or variable name."""
    queries = {p["title"]: t["rawSql"] for p in dashboard["panels"] for t in p.get("targets", []) if "rawSql" in t}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query" and variable["datasource"]["type"] == PG_DATASOURCE:
            queries[f"${variable['name']}"] = variable["definition"]
    return queries


def concrete_sql(query: str, model: str) -> str:
    """Grafana's macros and the model variable filled in as Grafana does for PostgreSQL (the last day, hourly)."""
    query = re.sub(r"\$__timeGroupAlias\((\w+), '1h'\)", r"date_trunc('hour', \1) AS time", query)
    query = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 day' AND now()", query)
    assert "$__" not in query, f"a Grafana macro this test does not fill in: {query}"
    return query.replace("$pgmodel", f"'{model}'")


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def as_rules(exprs: list[str], tmp_path: Path) -> Path:
    """A rules file recording each of ``exprs`` (Grafana's variables filled in), for promtool to parse."""
    concrete = [e.replace("$__rate_interval", "1m").replace("$model", ".*") for e in exprs]
    concrete = [re.sub(r"^label_values\((.+), \w+\)$", r"\1", e) for e in concrete]  # Grafana's, not PromQL
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(concrete)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return path


def test_dashboard_has_the_panels_an_sre_needs() -> None:
    """Traffic share, p50/p99, errors, shadow disagreement, accuracy, spool and plan annotations, per version."""
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    for needed in (
        "Traffic share per version",
        "Latency p50 / p99 per version",
        "Error rate per version",
        "Shadow disagreement",
        "Online accuracy per version",
        "Spool size",
    ):
        assert needed in titles
    [annotation] = [a for a in dashboard["annotations"]["list"] if "expr" in a]
    assert "canaryline_plan_revision" in annotation["expr"] and annotation["enable"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_dashboard_and_rule_query_reads_an_exported_metric() -> None:
    """Each canaryline name in the dashboard and the rules is a series the gateway exposes."""
    names = metric_names(dashboard_queries(json.loads(DASHBOARD.read_text())) + rule_exprs())
    assert names, "the queries name no canaryline metric"
    assert names <= exported(), f"not exported: {sorted(names - exported())}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query (as recording rules, with Grafana's variables filled in)."""
    result = promtool("check", "rules", str(as_rules(dashboard_queries(json.loads(DASHBOARD.read_text())), tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_validate_and_fire_as_intended() -> None:
    """`promtool check rules` passes, and `promtool test rules` shows each alert firing (or quiet) as meant."""
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(PROMETHEUS / "canaryline-rules.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {rule.get("alert") for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    assert {
        "CanaryErrorRateAboveStable",
        "CanaryLatencyAboveStable",
        "CanaryAccuracyBelowStable",
        "PredictionLogSpoolGrowing",
        "PredictionLogSpoolUnavailable",
        "GatewayShedding",
        "VersionLoadFailures",
        "RolloutPaused",
    } <= alerts


def test_scrape_config_validates(tmp_path: Path) -> None:
    """prometheus.yml loads our rules and passes `promtool check config` (Kubernetes discovery swapped out).

    Debian's Prometheus is built without Kubernetes service discovery, so the check runs on a copy whose
    pod discovery is replaced by a static target; everything else (relabelling, rule files) is as shipped.
    """
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == [RULES.name]
    [job] = config["scrape_configs"]
    assert job["kubernetes_sd_configs"][0]["role"] == "pod" and job["metrics_path"] == "/metrics"
    del job["kubernetes_sd_configs"]
    job["static_configs"] = [{"targets": ["127.0.0.1:3000"]}]
    (tmp_path / RULES.name).write_text(RULES.read_text())
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_reads_accuracy_and_label_coverage_from_postgresql() -> None:
    """A second data source, PostgreSQL: accuracy and label coverage per version, over the joined view."""
    dashboard = json.loads(DASHBOARD.read_text())
    [source] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource" and v["query"] == PG_DATASOURCE]
    queries = dashboard_sql(dashboard)
    for title in ("Accuracy per version (PostgreSQL)", "Label coverage per version (PostgreSQL)"):
        assert "canaryline.joined" in queries[title]
    for panel in dashboard["panels"]:
        if any("rawSql" in t for t in panel.get("targets", [])):
            assert panel["datasource"] == {"type": PG_DATASOURCE, "uid": "${" + source["name"] + "}"}


@pytest.mark.postgres
def test_every_dashboard_sql_query_runs_on_the_schema(postgres_db: str) -> None:
    """Each panel's and variable's SQL runs on a real PostgreSQL with the schema applied, with the right numbers:
    of three stable rows in the last day, two labelled and one of them right."""
    store = PostgresStore(postgres_db, timeout_s=30.0)
    store.check()
    now = time.time()
    store.append_predictions(
        [
            dataclasses.replace(record("v1", "stable", [label]), prediction_id=f"p{i}", request_id=f"r{i}", ts=now - i)
            for i, label in enumerate([0, 1, 2])
        ]
    )
    store.put_outcome("r0", [0], now, now)
    store.put_outcome("r1", [2], now, now)
    store.register_version(
        make_version("iris", "v1", sha256="0" * 64, created=datetime.now(UTC)), first_plan=Plan.initial("iris", "v1")
    )
    store.close()
    queries = dashboard_sql(json.loads(DASHBOARD.read_text()))
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        results = {title: conn.execute(concrete_sql(q, "iris").encode()).fetchall() for title, q in queries.items()}
    assert results["$pgmodel"] == [("iris",)]
    [(_, version, accuracy)] = results["Accuracy per version (PostgreSQL)"]
    assert (version, float(accuracy)) == ("iris v1", 0.5)
    [(_, _, coverage)] = results["Label coverage per version (PostgreSQL)"]
    assert float(coverage) == pytest.approx(2 / 3)
    [row] = results["Accuracy and label coverage per version, whole range (PostgreSQL)"]
    assert row[:4] == ("iris", "v1", 3, 2) and float(row[5]) == 0.5
