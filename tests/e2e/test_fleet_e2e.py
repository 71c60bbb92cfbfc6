"""A fleet without shared disks, on real processes: two gateways with their own BentoML homes (two nodes), one
SQLite store and one file:// artifact location; versions registered from a third home through the CLI (the
CI job) are pulled, canaried and served by both; a tampered archive is refused by a node that has not cached
it while the others keep serving; an unreachable artifact store keeps the previous revision serving and
/readyz names what is missing; once it is back, a version posted to one node's registry HTTP API (a training
job holding the admin token) is canaried and served by both."""

from __future__ import annotations

import os
import subprocess
from functools import partial
from pathlib import Path

import httpx
import pytest
import xgboost as xgb

from tests.support.cli import CANARYLINE
from tests.support.servers import GATEWAYS, GatewayProcess, admin_client, wait_until
from tests.support.tokens import ADMIN_TOKEN, TOKEN_ENV, bearer

pytestmark = pytest.mark.e2e
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
MODEL = "iris"


@pytest.fixture(scope="module")
def xgboost_files(tmp_path_factory: pytest.TempPathFactory, iris) -> list[Path]:
    """Four training runs' XGBoost JSON files (different numbers of trees)."""
    X, y = iris
    folder = tmp_path_factory.mktemp("runs")
    files = []
    for i, trees in enumerate((3, 6, 9, 12), start=1):
        path = folder / f"run-{i}.json"
        xgb.XGBClassifier(n_estimators=trees, max_depth=2).fit(X, y).get_booster().save_model(path)
        files.append(path)
    return files


class Fleet:
    def __init__(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.root = tmp_path
        self.store = f"sqlite:///{tmp_path / 'store.db'}"
        self.artifacts = tmp_path / "artifacts"
        self.artifacts.mkdir()
        self.started: list[GatewayProcess] = request.node.stash.setdefault(GATEWAYS, [])

    def register(self, file: Path, batch: int) -> dict[str, str]:
        """The CI job: its own home (and BentoML store), the shared store and artifact location."""
        env = {k: v for k, v in os.environ.items() if k != "BENTOML_HOME" and not k.startswith("CANARYLINE_")}
        env.update(
            CANARYLINE_HOME=str(self.root / "ci"),
            CANARYLINE_STORE=self.store,
            CANARYLINE_ARTIFACTS=f"file://{self.artifacts}",
        )
        done = subprocess.run(
            [str(CANARYLINE), "register", MODEL, str(file), "--framework", "xgboost", "--version", f"v{batch}",
             "--data-version", f"batch-{batch}", "--metric", "accuracy=0.95"],
            env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return {"stdout": done.stdout}

    def node(self, name: str, *, ready: bool = True) -> GatewayProcess:
        home = self.root / name
        env = {
            **TOKEN_ENV,
            "BENTOML_HOME": str(home / "bentoml"),
            "CANARYLINE_HOME": str(home),
            "CANARYLINE_STORE": self.store,
            "CANARYLINE_ARTIFACTS": f"file://{self.artifacts}",
            "CANARYLINE_PLAN_POLL_S": "0.2",
            "CANARYLINE_ROLLOUT_CONTROLLER": "0",
        }
        gateway = GatewayProcess(env=env, logfile=self.root / f"{name}.log")
        self.started.append(gateway)
        return gateway.start(ready=ready, timeout=120)


def post_version(gateway: GatewayProcess, file: Path, version: str) -> dict:
    """The training job without the CLI: the model file as the body of POST /registry/models/{model}/versions."""
    response = httpx.post(
        f"{gateway.url}/registry/models/{MODEL}/versions",
        params={"framework": "xgboost", "version": version, "data_version": "batch-http"},
        content=file.read_bytes(),
        headers={**bearer(ADMIN_TOKEN), "Content-Type": "application/octet-stream", "X-Canaryline-Actor": "trainer"},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    return response.json()


def readiness(gateway: GatewayProcess) -> dict:
    return httpx.get(gateway.url + "/readyz", timeout=5).json()


def served(gateway: GatewayProcess, n: int = 60) -> dict[str, set]:
    """Versions and revisions stamped on ``n`` keyed predictions."""
    stamps: dict[str, set] = {"versions": set(), "revisions": set()}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for i in range(n):
            response = http.post("/predict", json={"model": MODEL, "inputs": ROWS, "routing_key": f"user-{i}"})
            assert response.status_code == 200, response.text
            assert response.headers["x-model-version"] == response.json()["model_version"]
            stamps["versions"].add(response.json()["model_version"])
            stamps["revisions"].add(response.json()["revision"])
    return stamps


def missing(gateway: GatewayProcess, tag: str) -> bool:
    return bool(readiness(gateway).get("missing_artifacts") == [tag])


def at_revision(gateway: GatewayProcess, revision: int) -> bool:
    return readiness(gateway).get("models", {}).get(MODEL) == revision


def test_versions_registered_by_a_ci_job_are_pulled_canaried_and_served_by_two_nodes(
    tmp_path: Path, request: pytest.FixtureRequest, xgboost_files: list[Path]
) -> None:
    """Two nodes with no shared disk serve what the CI job registers, through the CLI or a node's HTTP API; a
    tampered archive and an unreachable artifact store are refused by the nodes that lack the version, and
    serving continues on what is cached."""
    fleet = Fleet(tmp_path, request)
    fleet.register(xgboost_files[0], 1)
    a, b = fleet.node("node-a"), fleet.node("node-b")
    assert served(a)["versions"] == served(b)["versions"] == {"v1"}

    fleet.register(xgboost_files[1], 2)
    admin_client(a).set_canary(MODEL, "v2", weight=50, reason="batch 2")
    for node in (a, b):
        wait_until(partial(at_revision, node, 2), 60, "revision 2 on both nodes", 0.2)
        assert served(node) == {"versions": {"v1", "v2"}, "revisions": {2}}
        assert (tmp_path / ("node-a" if node is a else "node-b") / "bentoml" / "models" / MODEL / "v2").is_dir()

    # bytes changed in the artifact store after registration: a new node refuses v2, the others serve it
    [archive] = (fleet.artifacts / MODEL / "v2").glob("*.bentomodel")
    archive.write_bytes(archive.read_bytes()[:-8] + b"tampered")
    c = fleet.node("node-c", ready=False)
    wait_until(lambda: "archive SHA-256 is" in str(readiness(c).get("errors", {})), 120, "node-c refusing v2", 0.5)
    detail = readiness(c)
    assert detail["ready"] is False and "version 'v2'" in detail["errors"][MODEL]
    assert httpx.get(c.url + "/readyz", timeout=5).status_code == 503
    assert not (tmp_path / "node-c" / "bentoml" / "models" / MODEL / "v2").exists()
    for node in (a, b):
        assert served(node)["versions"] == {"v1", "v2"}

    # the artifact store unreachable: v3 cannot be pulled, revision 2 keeps serving, /readyz names v3
    fleet.register(xgboost_files[2], 3)
    fleet.artifacts.rename(tmp_path / "artifacts-unmounted")
    admin_client(a).set_canary(MODEL, "v3", weight=50, reason="batch 3")
    for node in (a, b):
        wait_until(partial(missing, node, f"{MODEL}:v3"), 60, "v3 missing", 0.2)
        detail = readiness(node)
        assert detail["ready"] is True and "cannot be pulled" in detail["errors"][MODEL]
        assert served(node) == {"versions": {"v1", "v2"}, "revisions": {2}}

    # the artifact store back: a version posted to node a's registry API is archived there, canaried, and pulled
    # and served by both nodes, each answer stamped with it
    (tmp_path / "artifacts-unmounted").rename(fleet.artifacts)
    record = post_version(a, xgboost_files[3], "web1")
    assert (record["version"], record["created_by"], record["data_version"]) == ("web1", "trainer", "batch-http")
    assert record["artifact_uri"].startswith(f"file://{fleet.artifacts}")
    admin_client(a).set_canary(MODEL, "web1", weight=50, reason="posted over HTTP")
    for node in (a, b):
        wait_until(partial(at_revision, node, 4), 60, "revision 4 on both nodes", 0.2)
        assert served(node) == {"versions": {"v1", "web1"}, "revisions": {4}}
    assert (tmp_path / "node-b" / "bentoml" / "models" / MODEL / "web1").is_dir()  # pulled, not shared
