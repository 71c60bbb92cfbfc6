"""`canaryline feedback` and GatewayClient.post_feedback against a real `canaryline serve` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from registry_client.client.gateway import GatewayClient
from registry_client.errors import GatewayClientError
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.tokens import FEEDBACK_TOKEN, TOKEN_ENV

pytestmark = pytest.mark.e2e
ROW = [5.1, 3.5, 1.4, 0.2]


def run_feedback(
    *args: str, gateway: str, home: Path, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`canaryline feedback ARGS` with every token in its environment but the variables in ``without``."""
    env = {**os.environ, "CANARYLINE_GATEWAY": gateway, "CANARYLINE_HOME": str(home), **TOKEN_ENV}
    env = {key: value for key, value in env.items() if key not in without}
    command = [str(Path(sys.executable).with_name("canaryline")), "feedback", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_bulk_feedback_posts_good_lines_and_reports_refused_ones(
    gateway_factory, sqlite_url: str, model_name: str, iris_models, tmp_path: Path
) -> None:
    """Good lines are joined; unknown ids, bad labels and unreadable lines are counted with reasons; exit 2."""
    Registry(open_store(sqlite_url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(sqlite_url)
    for request_id, rows in (("a-1", [ROW]), ("a-2", [ROW, ROW]), ("a-3", [ROW])):
        response = httpx.post(gateway.url + "/predict", json={"inputs": rows}, headers={"X-Request-ID": request_id})
        assert response.status_code == 200, response.text
    ground_truth = tmp_path / "truth.csv"
    ground_truth.write_text('request_id,outcome\na-1,0\na-2,"[0, 2]"\nnever-1,1\na-3,setosa\na-3,\n')
    done = run_feedback(model_name, str(ground_truth), "--json", gateway=gateway.url, home=tmp_path)
    assert done.returncode == 2, done.stderr
    summary = orjson.loads(done.stdout)
    assert (summary["accepted"], summary["replaced"], summary["refused"]) == (2, 0, 3)
    assert [(r["line"], r["request_id"], r["status"], r["code"]) for r in summary["refusals"]] == [
        (4, "never-1", 404, "unknown_request"),
        (5, "a-3", 422, "invalid_input"),
        (6, "a-3", None, "invalid_line"),
    ]
    outcomes = open_store(sqlite_url).get_outcomes(["a-1", "a-2", "a-3"])
    assert {k: v.outcome for k, v in outcomes.items()} == {"a-1": [0], "a-2": [0, 2]}

    again = tmp_path / "again.jsonl"
    again.write_text('{"request_id": "a-1", "outcome": 1}\n{"request_id": "a-3", "outcome": 2, "observed_at": 17}\n')
    done = run_feedback(model_name, str(again), gateway=gateway.url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "accepted 2 (1 replaced an earlier outcome), refused 0" in done.stdout


def test_gateway_client_posts_one_outcome(gateway_factory, sqlite_url: str, model_name: str, iris_models) -> None:
    """post_feedback returns the 202 body; a refusal raises GatewayClientError with the gateway's status."""
    Registry(open_store(sqlite_url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(sqlite_url)
    httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}, headers={"X-Request-ID": "c-1"})
    with GatewayClient(gateway.url, feedback_token=FEEDBACK_TOKEN) as client:
        body = client.post_feedback("c-1", 0, observed_at="2024-01-02T03:04:05Z", model=model_name)
        assert (body["model"], body["versions"], body["observed_at"]) == (model_name, ["v1"], 1_704_164_645.0)
        with pytest.raises(GatewayClientError) as caught:
            client.post_feedback("c-1", 9)
    assert (caught.value.status, caught.value.code) == (422, "invalid_input")


def test_the_cli_posts_outcomes_with_the_feedback_token_only(
    gateway_factory, sqlite_url: str, model_name: str, iris_models, tmp_path: Path
) -> None:
    """`canaryline feedback` presents CANARYLINE_FEEDBACK_TOKEN; with only the admin token every line is a 401."""
    Registry(open_store(sqlite_url)).register(model_name, iris_models["logreg"])
    gateway = gateway_factory(sqlite_url)
    httpx.post(gateway.url + "/predict", json={"inputs": [ROW]}, headers={"X-Request-ID": "t-1"})
    truth = tmp_path / "truth.csv"
    truth.write_text("request_id,outcome\nt-1,0\n")
    admin_only = ("CANARYLINE_FEEDBACK_TOKEN", "CANARYLINE_READ_TOKEN")
    refused = run_feedback(model_name, str(truth), "--json", gateway=gateway.url, home=tmp_path, without=admin_only)
    assert refused.returncode == 2, refused.stderr
    assert [(r["status"], r["code"]) for r in orjson.loads(refused.stdout)["refusals"]] == [(401, "unauthorized")]
    assert open_store(sqlite_url).get_outcomes(["t-1"]) == {}
    done = run_feedback(model_name, str(truth), gateway=gateway.url, home=tmp_path)
    assert done.returncode == 0 and "accepted 1" in done.stdout, done.stderr
