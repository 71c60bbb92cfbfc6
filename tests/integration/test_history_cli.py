"""`canaryline history` from the store: a rollout's decisions (a human's pause and resume, which change no
plan) beside the plan history, with actor and reason printed as typed."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from registry_client.registry.registry import Registry
from registry_client.rollout.commands import Rollouts
from registry_client.rollout.spec import build_spec
from tests.support.cli import canaryline, run_json, table_row

#: A reason holding rich markup and HTML: both must print as written.
REASON = "[bold]hold[/bold] for the <script>batch</script> [red]x"


def _paused_and_resumed(registry: Registry, model: str, iris_models: dict[str, object]) -> None:
    registry.register(model, iris_models["logreg"])
    registry.register(model, iris_models["logreg_c01"])
    rollouts = Rollouts(registry)
    spec = build_spec({"model": model, "version": "v2", "actor": "carol@ci", "reason": "try v2 slowly"})
    now = time.time()
    rollouts.start(spec, now=now)
    rollouts.pause(model, actor="alice@laptop", reason=REASON, now=now + 1)
    rollouts.resume(model, actor="bob@desk", reason="labels are back", now=now + 2)


def test_history_prints_a_pause_with_its_actor_and_reason_as_text(
    sqlite_registry: Registry, sqlite_url: str, model_name: str, iris_models, tmp_path: Path
) -> None:
    """A pause and a resume, which change no plan, are rows of history's rollout table with their actor and
    reason (markup and HTML printed literally); --json carries every decision of the rollout."""
    _paused_and_resumed(sqlite_registry, model_name, iris_models)
    done = canaryline("history", model_name, store_url=sqlite_url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{model_name}: plan history" in done.stdout
    assert f"{model_name}: decisions of the rollout of v2 over v1 (step)" in done.stdout
    assert "paused at step 1" in table_row(done.stdout, "alice@laptop", "pause", REASON)
    assert "step 1" in table_row(done.stdout, "bob@desk", "resume", "labels are back")
    table_row(done.stdout, "carol@ci", "start", "try v2 slowly")
    found = run_json("history", model_name, store_url=sqlite_url, home=tmp_path)
    assert [e["action"] for e in found["plan"]] == ["create"]
    assert [e["action"] for e in found["registry"]] == ["register", "register"]
    rollout = found["rollout"]
    assert (rollout["version"], rollout["stable"], rollout["phase"]) == ("v2", "v1", "step")
    assert [(d["action"], d["actor"], d["reason"]) for d in rollout["decisions"]] == [
        ("start", "carol@ci", "try v2 slowly"),
        ("pause", "alice@laptop", REASON),
        ("resume", "bob@desk", "labels are back"),
    ]


def test_history_of_a_model_without_a_rollout_has_no_decisions(
    sqlite_registry: Registry, sqlite_url: str, model_name: str, iris_models, tmp_path: Path
) -> None:
    """A model that never had a rollout: no rollout table, and null under rollout in --json."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    done = canaryline("history", model_name, store_url=sqlite_url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "plan history" in done.stdout and "decisions of the rollout" not in done.stdout
    found = orjson.loads(canaryline("history", model_name, "--json", store_url=sqlite_url, home=tmp_path).stdout)
    assert found["rollout"] is None and [e["action"] for e in found["plan"]] == ["create"]


def test_rollout_status_prints_the_last_reason_as_text(
    sqlite_registry: Registry, sqlite_url: str, model_name: str, iris_models, tmp_path: Path
) -> None:
    """`rollout status` ends with the last decision: a pause's reason holding markup and HTML, as typed."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    sqlite_registry.register(model_name, iris_models["logreg_c01"])
    rollouts = Rollouts(sqlite_registry)
    now = time.time()
    rollouts.start(build_spec({"model": model_name, "version": "v2", "actor": "carol@ci", "reason": "go"}), now=now)
    rollouts.pause(model_name, actor="alice@laptop", reason=REASON, now=now + 1)
    done = canaryline("rollout", "status", model_name, store_url=sqlite_url, home=tmp_path, env={"COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    printed = " ".join(done.stdout.split())  # the caption wraps at the table's width
    assert f"pause by alice@laptop: {REASON}" in printed, done.stdout
