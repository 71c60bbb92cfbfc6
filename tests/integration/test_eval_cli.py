"""`canaryline eval` and `canaryline export` as real subprocesses over a store seeded through the ASGI app.

The numbers eval prints must equal an independent computation (numpy, scipy) from the rows export wrote.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats
from sklearn.datasets import load_diabetes

from registry_client.control import ControlPlane
from registry_client.domain.plan import Plan
from registry_client.domain.records import PredictionRecord
from registry_client.registry.registry import Registry
from registry_client.store import Store, open_store
from tests.support.cli import anchor_rows, canaryline, check_two_proportions, read_jsonl, run_json, wilson
from tests.support.gateways import gateway
from tests.support.tokens import FEEDBACK_TOKEN, bearer

REQUESTS = 90


@dataclass
class Seeded:
    model: str
    url: str
    truths: dict[str, list[int]] = field(default_factory=dict)  # request_id -> the labels posted last


@pytest.fixture
def seeded(store: Store, tmp_path: Path, model_name: str, iris, iris_models) -> Iterator[Seeded]:
    """Real classifier traffic on each store: stable v1, sticky canary v2, shadow v3 on every other request,
    outcomes posted to /feedback for four requests in five (one posted twice). Every request holds an anchor
    row each version gets right and one each gets wrong, then one or two random rows."""
    X, y = iris
    anchors = anchor_rows(X, y, [iris_models["logreg"], iris_models["tree"], iris_models["logreg_c01"]])
    shadow_model = iris_models["logreg_c01"]
    models = {model_name: [iris_models["logreg"], iris_models["tree"], shadow_model]}

    def canary(control: ControlPlane) -> object:
        return control.set_canary(
            model_name, "v2", weight=40, sticky=True, actor="test", reason="seed", expected_revision=None
        )

    rng = np.random.default_rng(7)
    seeded = Seeded(model_name, store.url)
    with gateway(store.url, tmp_path, models, plans=canary) as built:
        client = built.client
        for i in range(REQUESTS):
            index = [*anchors, *rng.choice(len(y), size=2 if i % 4 == 0 else 1, replace=False)]
            rows = X[index].tolist()
            request_id = f"req-{i}"
            response = client.post(
                "/predict",
                json={"model": model_name, "inputs": rows, "routing_key": f"user-{i}"},
                headers={"X-Request-ID": request_id},
            )
            assert response.status_code == 200, response.text
            if i % 2 == 0:
                store.append_predictions(
                    [
                        PredictionRecord(
                            prediction_id=f"shadow-{i}",
                            request_id=request_id,
                            ts=time.time(),
                            model=model_name,
                            model_version="v3",
                            route="shadow",
                            revision=response.json()["revision"],
                            inputs=rows,
                            predictions=shadow_model.predict(X[index]).tolist(),
                            latency_ms=float(rng.gamma(2.0, 1.0)),
                            instance="test",
                            shadow=True,
                        )
                    ]
                )
            if i % 5 == 0:
                continue
            truth = y[index].tolist()
            if i == 3:  # wrong labels first, then the truth: the store keeps the latest, counted once
                wrong = [(label + 1) % 3 for label in truth]
                wrong_body = {"request_id": request_id, "outcome": wrong}
                assert client.post("/feedback", json=wrong_body, headers=bearer(FEEDBACK_TOKEN)).status_code == 202
            answer = client.post(
                "/feedback", json={"request_id": request_id, "outcome": truth}, headers=bearer(FEEDBACK_TOKEN)
            )
            assert answer.status_code == 202, answer.text
            seeded.truths[request_id] = truth
    yield seeded


def expected_groups(rows: list[dict[str, Any]]) -> dict[tuple[str, str, bool], dict[str, Any]]:
    keys = {(r["model_version"], r["route"], r["shadow"]) for r in rows}
    groups = {}
    for key in keys:
        mine = [r for r in rows if (r["model_version"], r["route"], r["shadow"]) == key]
        scored = [r for r in mine if r["outcome"] is not None]
        latencies = list({r["prediction_id"]: r["latency_ms"] for r in mine}.values())
        correct = int(sum(r["prediction"] == r["outcome"] for r in scored))
        groups[key] = {
            "predictions": len(latencies),
            "rows": len(mine),
            "outcomes": len(scored),
            "accuracy": wilson(correct, len(scored)) if scored else None,
            "latency": tuple(np.percentile(latencies, [50, 95, 99])),
        }
    return groups


def check_report(report: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    expected = expected_groups(rows)
    got = {(g["model_version"], g["route"], g["shadow"]): g for g in report["groups"]}
    assert set(got) == set(expected)
    for key, want in expected.items():
        group = got[key]
        assert (group["predictions"], group["rows"], group["outcomes"]) == (
            want["predictions"],
            want["rows"],
            want["outcomes"],
        )
        accuracy = group["accuracy"]
        assert (accuracy["value"], accuracy["low"], accuracy["high"]) == pytest.approx(want["accuracy"], abs=1e-12)
        latency = group["latency_ms"]
        assert (latency["p50"], latency["p95"], latency["p99"]) == pytest.approx(want["latency"])
        assert group["error_rate"] is None

    primary = [r for r in rows if not r["shadow"] and r["outcome"] is not None]
    canary = np.array([r["prediction"] == r["outcome"] for r in primary if r["route"] == "canary"], dtype=float)
    stable = np.array([r["prediction"] == r["outcome"] for r in primary if r["route"] == "stable"], dtype=float)
    [comparison] = report["canary_vs_stable"]  # one canary episode: revision 2, all the seeded traffic
    assert (comparison["canary_version"], comparison["stable_version"], comparison["revisions"]) == ("v2", "v1", [2])
    check_two_proportions(comparison, canary, stable)

    by_row = {(r["request_id"], r["row_index"]): r for r in rows if not r["shadow"]}
    pairs = [(s, by_row[s["request_id"], s["row_index"]]) for s in rows if s["shadow"]]
    [shadow] = report["shadows"]
    assert (shadow["shadow_version"], shadow["pairs"]) == ("v3", len(pairs))
    assert shadow["agreement"] == pytest.approx(np.mean([s["prediction"] == p["prediction"] for s, p in pairs]))
    judged = [
        (s["prediction"] == p["outcome"], p["prediction"] == p["outcome"]) for s, p in pairs if p["outcome"] is not None
    ]
    assert shadow["paired_outcomes"] == len(judged)
    b = sum(s and not p for s, p in judged)
    c = sum(p and not s for s, p in judged)
    assert shadow["difference"]["value"] == pytest.approx((b - c) / len(judged))
    assert shadow["p_value"] == pytest.approx(stats.binomtest(min(b, c), b + c, 0.5).pvalue if b + c else 1.0)


def test_eval_equals_an_independent_computation_from_the_export(seeded, tmp_path: Path) -> None:
    """eval --json per version/route, canary vs stable and shadow equal numpy/scipy over export's rows."""
    model, url = seeded.model, seeded.url
    out = tmp_path / "rows.jsonl"
    done = canaryline("export", model, "--out", str(out), store_url=url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(out)
    assert f"wrote {len(rows)} rows of {model}" in done.stdout
    assert len({r["request_id"] for r in rows}) == REQUESTS
    assert sum(r["outcome"] is not None for r in rows if not r["shadow"]) > 0
    report = run_json("eval", model, store_url=url, home=tmp_path)
    assert (report["model"], report["task"], report["stable_version"]) == (model, "classification", "v1")
    assert report["error_rate"] is None and "not available from the store" in report["notes"]["error_rate"]
    assert {g["route"] for g in report["groups"]} == {"stable", "canary", "shadow"}
    check_report(report, rows)


def test_the_reposted_outcome_is_joined_once_with_its_latest_value(seeded, tmp_path: Path) -> None:
    """The request posted twice has one row per input row in the export, with the second (true) labels."""
    model, url = seeded.model, seeded.url
    out = tmp_path / "rows.jsonl"
    assert canaryline("export", model, "--out", str(out), store_url=url, home=tmp_path).returncode == 0
    reposted = [r for r in read_jsonl(out) if r["request_id"] == "req-3"]
    assert [(r["shadow"], r["row_index"]) for r in reposted] == [(False, 0), (False, 1), (False, 2)]
    assert [r["outcome"] for r in reposted] == seeded.truths["req-3"]


def test_since_and_until_bound_eval_and_export_alike(seeded, tmp_path: Path) -> None:
    """With --since/--until, eval counts exactly the rows export writes for the same window."""
    model, url = seeded.model, seeded.url
    everything = tmp_path / "all.jsonl"
    assert canaryline("export", model, "--out", str(everything), store_url=url, home=tmp_path).returncode == 0
    exported = [{**r, "ts": datetime.fromisoformat(r["ts"]).timestamp()} for r in read_jsonl(everything)]
    stamps = sorted({r["ts"] for r in exported if not r["shadow"]})
    # Midway between exported stamps (microseconds), so the rounding of ts cannot move a row across a bound.
    since, until = repr((stamps[19] + stamps[20]) / 2), repr((stamps[69] + stamps[70]) / 2)
    window = tmp_path / "window.parquet"
    done = canaryline(
        "export", model, "--out", str(window), "--since", since, "--until", until, store_url=url, home=tmp_path
    )
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(window).to_pylist()
    expected = [r for r in exported if float(since) <= r["ts"] < float(until)]
    assert sorted(r["prediction_id"] for r in rows) == sorted(r["prediction_id"] for r in expected)
    assert len({r["request_id"] for r in rows if not r["shadow"]}) == 50
    report = run_json("eval", model, "--since", since, "--until", until, store_url=url, home=tmp_path)
    assert (report["since"], report["until"]) == (float(since), float(until))
    expected_counts = expected_groups(rows)
    assert {(g["model_version"], g["route"], g["shadow"]): g["rows"] for g in report["groups"]} == {
        key: group["rows"] for key, group in expected_counts.items()
    }


def test_eval_prints_tables(seeded, tmp_path: Path) -> None:
    """Without --json eval prints the per-version table, the comparison, the shadow table and the note."""
    model, url = seeded.model, seeded.url
    done = canaryline("eval", model, store_url=url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    comparison = "canary v2 vs stable v1, revision 2,"
    for text in ("per version and route", "accuracy (95% CI)", comparison, "shadow vs primary", "error rate"):
        assert text in done.stdout


@pytest.fixture
def regression_store(sqlite_url: str, tmp_path: Path, model_name: str, diabetes_ridge) -> str:
    """Forty real regressor predictions through the ASGI app, thirty of them with outcomes."""
    X, y = load_diabetes(return_X_y=True)
    models = {model_name: [diabetes_ridge]}
    with gateway(sqlite_url, tmp_path, models, regression={model_name}) as built:
        client = built.client
        for i in range(40):
            rows = X[i : i + 1 + i % 2].tolist()
            client.post("/predict", json={"model": model_name, "inputs": rows}, headers={"X-Request-ID": f"r-{i}"})
            if i % 4:
                outcome = y[i : i + 1 + i % 2].tolist()
                body = {"request_id": f"r-{i}", "outcome": outcome}
                assert client.post("/feedback", json=body, headers=bearer(FEEDBACK_TOKEN)).status_code == 202
    return sqlite_url


def test_regression_eval_equals_numpy_over_the_parquet_export(
    regression_store: str, model_name: str, tmp_path: Path
) -> None:
    """MAE with its t interval and RMSE from eval equal numpy/scipy over the exported Parquet rows."""
    out = tmp_path / "rows.parquet"
    done = canaryline("export", model_name, "--out", str(out), store_url=regression_store, home=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(out).to_pylist()
    errors = np.array([r["prediction"] - r["outcome"] for r in rows if r["outcome"] is not None])
    report = run_json("eval", model_name, store_url=regression_store, home=tmp_path)
    [group] = report["groups"]
    assert (group["rows"], group["outcomes"]) == (len(rows), errors.size)
    assert group["accuracy"] is None
    low, high = stats.t.interval(0.95, errors.size - 1, loc=np.abs(errors).mean(), scale=stats.sem(np.abs(errors)))
    mae = group["mae"]
    assert (mae["value"], mae["low"], mae["high"]) == pytest.approx((np.abs(errors).mean(), max(0.0, low), high))
    assert group["rmse"]["value"] == pytest.approx(math.sqrt(float(np.mean(errors**2))))


def test_refusals_exit_2_with_a_message(sqlite_url: str, tmp_path: Path, model_name: str) -> None:
    """Unknown model, bad --since and an unsupported export format exit 2 and say why on stderr."""
    unknown = canaryline("eval", model_name, store_url=sqlite_url, home=tmp_path)
    assert unknown.returncode == 2 and "has no routing plan" in unknown.stderr
    bad_time = canaryline("eval", model_name, "--since", "last tuesday", store_url=sqlite_url, home=tmp_path)
    assert bad_time.returncode == 2 and "--since must be ISO 8601 text or epoch seconds" in bad_time.stderr
    missing = canaryline("export", model_name, "--out", str(tmp_path / "x.jsonl"), store_url=sqlite_url, home=tmp_path)
    assert missing.returncode == 2 and "no routing plan and no logged predictions" in missing.stderr
    store = open_store(sqlite_url)
    store.save_plan(Plan.initial(model_name, "v1"), before=None, action="create")
    store.close()
    wrong = canaryline("export", model_name, "--out", str(tmp_path / "rows.txt"), store_url=sqlite_url, home=tmp_path)
    assert wrong.returncode == 2 and "unsupported extension '.txt'" in wrong.stderr


def test_eval_refuses_a_task_the_models_versions_do_not_have(
    sqlite_url: str, tmp_path: Path, model_name: str, iris_models
) -> None:
    """eval --task regression on a classifier exits 2 with one line naming the model and its task."""
    store = open_store(sqlite_url)
    Registry(store).register(model_name, iris_models["logreg"])
    store.close()
    done = canaryline("eval", model_name, "--task", "regression", store_url=sqlite_url, home=tmp_path)
    assert done.returncode == 2, done.stdout
    assert f"model '{model_name}' is a classification model" in done.stderr
    assert "--task regression does not apply" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    agreeing = canaryline("eval", model_name, "--task", "classification", store_url=sqlite_url, home=tmp_path)
    assert agreeing.returncode == 0, agreeing.stderr
