"""The README's "A session" runs as written against a real gateway: its curl call and CLI commands."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import httpx
import orjson
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from registry_client.registry import Registry
from registry_client.store import open_store
from tests.support.tokens import TOKEN_ENV

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def session_steps() -> list[tuple[str, list[str]]]:
    """Each ``$`` command of the session block (continuation lines joined) with the lines it prints."""
    section = README.read_text().split("## A session", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    command: str | None = None
    for line in block.splitlines():
        if command is not None and command.endswith("\\"):
            command = command[:-1] + " " + line.strip()
            steps[-1] = (command, [])
        elif line.startswith("$ "):
            command = line[2:]
            steps.append((command, []))
        else:
            steps[-1][1].append(line)
    return steps


def test_the_readme_session_works_as_written(gateway_factory, sqlite_url: str, model_name: str) -> None:
    """Predict, a 20% canary, then rollback: every command succeeds and prints what the README shows."""
    X, y = load_wine(return_X_y=True)
    registry = Registry(open_store(sqlite_url))
    registry.register(model_name, make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y))
    registry.register(model_name, RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y))
    gateway = gateway_factory(sqlite_url)
    env = {**os.environ, "CANARYLINE_GATEWAY": gateway.url, **TOKEN_ENV}
    steps = session_steps()
    assert [shlex.split(command)[:2] for command, _ in steps] == [
        ["canaryline", "serve"],
        ["curl", "-s"],
        ["canaryline", "canary"],
        ["canaryline", "rollback"],
    ]
    for command, printed in steps[1:]:
        argv = shlex.split(command.replace("wine", model_name))
        expected = "\n".join(printed).replace("wine", model_name)
        if argv[0] == "curl":
            headers = dict(value.split(": ", 1) for flag, value in pairwise(argv) if flag == "-H")
            response = httpx.post(gateway.url + "/predict", content=argv[argv.index("-d") + 1], headers=headers)
            assert response.status_code == 200, response.text
            shown, body = orjson.loads(expected.replace("\n", "")), response.json()
            stamps = ("model", "model_version", "request_id", "route", "revision")
            assert {k: body[k] for k in stamps} == {k: shown[k] for k in stamps}
            assert set(body) == set(shown)
            continue
        canaryline = Path(sys.executable).with_name("canaryline")
        result = subprocess.run(
            [str(canaryline), *argv[1:]], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, f"{command}: exit {result.returncode}: {result.stderr}"
        actor = re.compile(r"\(by [^:]+: ")
        assert actor.sub("(by ACTOR: ", result.stdout.strip()) == actor.sub("(by ACTOR: ", expected), command
