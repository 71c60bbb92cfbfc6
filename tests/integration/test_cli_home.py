"""The CLI on one home: BentoML's model store under CANARYLINE_HOME, and reads that need no gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.store import open_store

CANARYLINE = Path(sys.executable).with_name("canaryline")
_REGISTER = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from registry_client import Registry
X, y = load_iris(return_X_y=True)
print(Registry.from_env().register("iris", LogisticRegression(max_iter=300).fit(X, y)).version)
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user with only CANARYLINE_HOME set (no BENTOML_HOME, no gateway)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANARYLINE_", "BENTOML_HOME"))}
    return {**env, "CANARYLINE_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", **extra}


def _run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_one_home_holds_both_stores(tmp_path: Path) -> None:
    """With only CANARYLINE_HOME set, a version registered from Python lands in HOME/bentoml and HOME's
    SQLite store, and `canaryline versions` finds it there."""
    home = tmp_path / "home"
    registered = _run(sys.executable, "-c", _REGISTER, env=_env(home))
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.strip() == "v1"
    assert (home / "bentoml" / "models" / "iris").is_dir()
    assert (home / "canaryline.db").is_file()
    listed = _run(str(CANARYLINE), "versions", "iris", "--json", env=_env(home))
    assert listed.returncode == 0, listed.stderr
    assert [v["version"] for v in json.loads(listed.stdout)] == ["v1"]


def test_history_and_status_read_the_store_when_no_gateway_is_named(tmp_path: Path, model_name: str) -> None:
    """No --gateway and no CANARYLINE_GATEWAY: `history` prints the audit and `status` the plan, from the store."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    registry = Registry(open_store(url))
    X, y = load_iris(return_X_y=True)
    registry.register(model_name, LogisticRegression(max_iter=300).fit(X, y))
    registry.register(model_name, LogisticRegression(C=0.1, max_iter=300).fit(X, y))
    ControlPlane(registry).set_canary(
        model_name, "v2", weight=20, sticky=True, actor="alice", reason="try v2", expected_revision=None
    )
    env = _env(tmp_path, CANARYLINE_STORE=url, BENTOML_HOME=os.environ["BENTOML_HOME"])
    history = _run(str(CANARYLINE), "history", model_name, "--json", env=env)
    assert history.returncode == 0, history.stderr
    assert [(e["revision"], e["action"], e["actor"]) for e in json.loads(history.stdout)["plan"]] == [
        (1, "create", "registry"),
        (2, "canary", "alice"),
    ]
    status = _run(str(CANARYLINE), "status", model_name, env=env)
    assert status.returncode == 0, status.stderr
    assert "revision 2, stable v1, canary v2 at 20% (sticky)" in status.stdout
    assert "the plan in the store" in status.stdout
