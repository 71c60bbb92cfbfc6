"""`canaryline eval` after a real release (canary, promote, rollback, a second canary) through the admin API:
each canary is compared only with the stable traffic of the plan revisions it ran in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from registry_client.store import Store
from tests.support.cli import anchor_rows, canaryline, check_two_proportions, read_jsonl, run_json
from tests.support.gateways import gateway
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, bearer

REQUESTS_PER_REVISION = 40
#: (admin action, body) that makes each revision after the first; None: revision 1, from registration.
RELEASE: list[tuple[str, dict[str, Any]] | None] = [
    None,  # 1: stable v1
    ("canary", {"version": "v2", "weight": 30}),  # 2: canary v2 over stable v1
    ("canary", {"version": "v2", "weight": 60}),  # 3: the same canary, more traffic
    ("promote", {"version": "v2"}),  # 4: stable v2, the canary ends
    ("rollback", {}),  # 5: stable v1 again
    ("canary", {"version": "v3", "weight": 40}),  # 6: a second canary, v3 over stable v1
]
EPISODES = [("v2", "v1", [2, 3]), ("v3", "v1", [6])]


@dataclass
class Released:
    model: str
    store: Store
    at: dict[int, float]  # revision -> when it was saved (epoch seconds), from the audit history


@pytest.fixture
def released(store: Store, tmp_path: Path, model_name: str, iris, iris_models) -> Iterator[Released]:
    """The release above through the in-process gateway's admin API, with 40 real requests under every revision
    (sticky keys, each request holding the anchor rows and one random row) and the true labels posted for each."""
    X, y = iris
    models = [iris_models["logreg"], iris_models["tree"], iris_models["logreg_c01"]]
    anchors = anchor_rows(X, y, models)
    rng = np.random.default_rng(5)
    with gateway(store.url, tmp_path, {model_name: models}) as built:
        client = built.client
        for revision, step in enumerate(RELEASE, start=1):
            if step is not None:
                action, body = step
                answer = client.post(
                    f"/admin/models/{model_name}/{action}",
                    json={**body, "reason": f"revision {revision}"},
                    headers=bearer(ADMIN_TOKEN),
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["applied_revision"] == revision
            for i in range(REQUESTS_PER_REVISION):
                index = [*anchors, int(rng.integers(len(y)))]
                request_id = f"rev{revision}-{i}"
                response = client.post(
                    "/predict",
                    json={"model": model_name, "inputs": X[index].tolist(), "routing_key": f"user-{i}"},
                    headers={"X-Request-ID": request_id},
                )
                assert response.status_code == 200 and response.json()["revision"] == revision, response.text
                posted = client.post(
                    "/feedback",
                    json={"request_id": request_id, "outcome": y[index].tolist()},
                    headers=bearer(FEEDBACK_TOKEN),
                )
                assert posted.status_code == 202, posted.text
    at = {entry.revision: entry.at.timestamp() for entry in store.history(model_name)}
    yield Released(model_name, store, at)


def _correct(rows: list[dict[str, Any]], route: str, version: str, revisions: list[int] | None) -> np.ndarray:
    """0/1 per primary row with an outcome on ``route`` and ``version`` (under ``revisions``; None: any)."""
    return np.array(
        [
            r["prediction"] == r["outcome"]
            for r in rows
            if not r["shadow"]
            and r["outcome"] is not None
            and r["route"] == route
            and r["model_version"] == version
            and (revisions is None or r["revision"] in revisions)
        ],
        dtype=float,
    )


def test_each_canary_is_compared_only_with_stable_traffic_of_its_own_revisions(
    released: Released, tmp_path: Path
) -> None:
    """One comparison per canary episode, equal to a z test over that episode's revisions; pooling differs."""
    url = released.store.url
    out = tmp_path / "rows.jsonl"
    assert canaryline("export", released.model, "--out", str(out), store_url=url, home=tmp_path).returncode == 0
    rows = read_jsonl(out)
    assert sorted({r["revision"] for r in rows}) == [1, 2, 3, 4, 5, 6]
    report = run_json("eval", released.model, store_url=url, home=tmp_path)
    comparisons = report["canary_vs_stable"]
    assert [(c["canary_version"], c["stable_version"], c["revisions"]) for c in comparisons] == EPISODES
    for comparison, (canary_version, stable_version, revisions) in zip(comparisons, EPISODES, strict=True):
        canary = _correct(rows, "canary", canary_version, revisions)
        stable = _correct(rows, "stable", stable_version, revisions)
        check_two_proportions(comparison, canary, stable)
        assert comparison["since"] == pytest.approx(released.at[revisions[0]], abs=1e-6)
        ended = released.at.get(revisions[-1] + 1)
        assert comparison["until"] == (None if ended is None else pytest.approx(ended, abs=1e-6))
    # The skewed answer: every canary row against every stable row, whatever the version or the revision.
    pooled_canary = np.concatenate([_correct(rows, "canary", v, None) for v in ("v2", "v3")])
    pooled_stable = np.concatenate([_correct(rows, "stable", v, None) for v in ("v1", "v2")])
    for comparison in comparisons:
        assert pooled_stable.size > comparison["n_stable"]
        skewed = (pooled_canary.size, pooled_stable.size, pooled_canary.mean() - pooled_stable.mean())
        assert skewed != (comparison["n_canary"], comparison["n_stable"], comparison["difference"]["value"])


def test_eval_prints_each_comparison_with_its_revisions_and_time_range(released: Released, tmp_path: Path) -> None:
    """The table names each canary episode's versions, its revisions and the UTC time range it covers."""
    done = canaryline("eval", released.model, store_url=released.store.url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "canary v2 vs stable v1, revisions 2-3" in done.stdout
    assert "canary v3 vs stable v1, revision 6" in done.stdout
    assert "still in force" in done.stdout
