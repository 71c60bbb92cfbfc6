"""The README's "A session" as a newcomer runs it: `make demo`, then each command exactly as written."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.servers import free_port, wait_until

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
ACTIVATE = "source .venv/bin/activate && source .demo/env"


def session_steps() -> list[tuple[str, list[str]]]:
    """Each ``$`` command of the session block (continuation lines joined, comments after two spaces
    dropped) with the lines it prints."""
    section = README.read_text().split("## A session", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if steps and steps[-1][0].endswith("\\"):
            steps[-1] = (steps[-1][0][:-1] + " " + line.strip(), [])
        elif line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return [(re.sub(r"\s{2,}#.*$", "", command).strip(), printed) for command, printed in steps]


@pytest.fixture
def after_make_demo(tmp_path: Path) -> Iterator[Path]:
    """A folder where `make demo` has just run (its state in ./.demo), for a user with no canaryline or
    BentoML settings of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CANARYLINE_", "BENTOML_HOME"))}
    env.update(PYTHONPATH=str(REPO), BENTOML_DO_NOT_TRACK="true")
    demo = subprocess.run(
        [sys.executable, "-m", "examples.demo"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,  # the demo ends with two rollouts (about a minute more on a loaded machine)
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert (tmp_path / ".demo" / "env").is_file()
    yield tmp_path


def test_the_readme_session_works_as_written_after_make_demo(after_make_demo: Path) -> None:
    """With the venv on PATH and `.demo/env` sourced, `canaryline serve`, the curl call, the canary, the
    rollback and the history print what the README shows (IDs, times and the actor aside)."""
    steps = session_steps()
    assert steps[0][0] == ACTIVATE
    port = str(free_port())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith(("CANARYLINE_", "BENTOML_HOME"))}

    def shell(command: str) -> list[str]:
        """The command as a user types it, on a free port instead of 3000 (which the CLI then defaults to)."""
        gateway = f"export CANARYLINE_GATEWAY=http://127.0.0.1:{port}"
        return ["bash", "-c", f"source .demo/env && {gateway} && {command.replace('3000', port)}"]

    serve, *rest = steps[1:]
    assert serve[0] == "canaryline serve --port 3000 &"
    gateway = subprocess.Popen(
        shell("exec canaryline serve --port 3000"),
        cwd=after_make_demo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        ready = ["curl", "-sf", f"localhost:{port}/readyz"]
        wait_until(lambda: subprocess.run(ready, capture_output=True, check=False).returncode == 0, 90, "the gateway")
        for command, printed in rest:
            done = subprocess.run(
                shell(command), check=False, cwd=after_make_demo, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{command}: exit {done.returncode}: {done.stderr}"
            if command.startswith("curl"):
                shown, answered = orjson.loads("".join(printed)), orjson.loads(done.stdout)
                assert set(answered) == set(shown)
                stamps = ("model", "model_version", "request_id", "route", "revision", "predictions")
                assert {k: answered[k] for k in stamps} == {k: shown[k] for k in stamps}
                assert answered["probabilities"] == [pytest.approx(row, abs=1e-4) for row in shown["probabilities"]]
            elif printed:
                actor = re.compile(r"\(by [^:]+: ")
                assert actor.sub("(by ACTOR: ", done.stdout.strip()) == actor.sub("(by ACTOR: ", "\n".join(printed))
            else:
                assert "rollback" in done.stdout and "v2 regressed" in done.stdout, done.stdout
    finally:
        os.killpg(gateway.pid, signal.SIGTERM)
        gateway.wait(30)
