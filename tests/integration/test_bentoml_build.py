"""`bentoml build` packages the gateway with the project's bentofile.yaml, and `bentoml containerize` would
build the image the Kubernetes manifests expect: no container engine runs here, so the Dockerfile and the
build context are generated the way containerize generates them and read instead of built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
#: The build context and Dockerfile of `bentoml containerize`, from BentoML's own function for them (the
#: one its containerize command calls before handing both to a builder), printed as JSON.
CONTAINERFILE = """
import json, os, sys
import bentoml
from bentoml._internal.container import construct_containerfile
with construct_containerfile(bentoml.get("canaryline:latest")) as (context, dockerfile):
    files = [os.path.relpath(os.path.join(d, f), context) for d, _, names in os.walk(context) for f in names]
    json.dump({"dockerfile": open(dockerfile).read(), "files": files}, sys.stdout)
"""


@dataclass(frozen=True)
class Built:
    bento: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The project built once into a temporary BentoML home."""
    home = tmp_path_factory.mktemp("bentoml-home")
    bentoml = Path(sys.executable).with_name("bentoml")
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [str(bentoml), "build", str(ROOT)], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [bento] = [p for p in (home / "bentos" / "canaryline").iterdir() if p.name != "latest"]
    return Built(bento, env)


def gateway_pod() -> dict:
    [statefulset] = [
        d
        for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "gateway.yaml").read_text())
        if d and d["kind"] == "StatefulSet"
    ]
    spec: dict = statefulset["spec"]["template"]["spec"]
    return spec


def test_bentoml_build_succeeds(built: Built) -> None:
    """Building into a temporary BentoML home yields a canaryline Bento holding both packages, the console's
    files, the PostgreSQL store's migration files and its driver among the Bento's requirements."""
    src = built.bento / "src"
    assert (src / "service" / "service.py").is_file()
    assert (src / "registry_client" / "registry" / "registry.py").is_file()
    assert (src / "service" / "rest" / "app.py").is_file()
    assert (src / "registry_client" / "console" / "static" / "vendor" / "uPlot.iife.min.js").is_file()
    assert (src / "registry_client" / "store" / "postgres" / "migrations" / "0001_initial.sql").is_file()
    requirements = (built.bento / "env" / "python" / "requirements.txt").read_text()
    assert "psycopg[binary]" in requirements and "psycopg-pool" in requirements
    assert not (src / "tests").exists()
    assert "service.service:Canaryline" in (built.bento / "bento.yaml").read_text()


def test_the_bento_holds_every_source_file_and_nothing_else_of_the_checkout(built: Built) -> None:
    """Every Python module of service/ and registry_client/ is in the Bento; the tests, benchmarks, examples,
    deploy files, virtualenv and bytecode caches are not."""
    src = built.bento / "src"
    for package in ("service", "registry_client"):
        modules = {p.relative_to(ROOT) for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts}
        assert modules and modules <= {p.relative_to(src) for p in (src / package).rglob("*.py")}
    top = {p.name for p in src.iterdir()}
    assert top <= {"service", "registry_client", "bentofile.yaml", "README.md"}, top
    assert not [p for p in src.rglob("*") if p.name in {"__pycache__", ".venv", ".git", "tests"}]


def test_the_bento_pins_the_packages_the_project_declares(built: Built) -> None:
    """The Bento's requirements are pyproject.toml's dependencies, range for range, and BentoML pinned to
    the version that built it (so the image serves with the BentoML the tests ran)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = (built.bento / "env" / "python" / "requirements.txt").read_text().splitlines()
    required = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    declared = {str(Requirement(d)) for d in project["dependencies"]}
    assert declared <= {str(r) for r in required}
    assert f"bentoml=={version('bentoml')}" in {str(r) for r in required}
    assert {r.name for r in required} - {Requirement(d).name for d in project["dependencies"]} == set()


def test_containerize_builds_the_image_the_manifests_run(built: Built, tmp_path: Path) -> None:
    """containerize's Dockerfile starts from Python 3.11, copies the Bento (no tests or virtualenv in its
    context), runs as the uid the pod's runAsUser names, exposes the port the pod declares, and has the
    Bento's entrypoint, whose default (no arguments, as the pod gives none) is `bentoml serve` on the Bento."""
    script = [sys.executable, "-c", CONTAINERFILE]
    result = subprocess.run(script, env=built.env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    generated = json.loads(result.stdout)
    (tmp_path / "Dockerfile").write_text(generated["dockerfile"])
    parser = DockerfileParser(path=str(tmp_path / "Dockerfile"))
    assert parser.baseimage.startswith("python:3.11")
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    [entrypoint] = [json.loads(value) for name, value in instructions if name == "ENTRYPOINT"]
    bento_path = parser.args["BENTO_PATH"]
    assert entrypoint == [f"{bento_path}/env/docker/entrypoint.sh"]
    assert not [name for name, _ in instructions if name == "CMD"]
    script_text = (built.bento / "env" / "docker" / "entrypoint.sh").read_text()
    assert 'set -- bentoml serve "$@" "$BENTO_PATH"' in script_text
    assert ("COPY", "--chown=bentoml:bentoml . ./") in instructions
    assert "src/service/service.py" in generated["files"] and "env/python/requirements.txt" in generated["files"]
    assert not [f for f in generated["files"] if f.split("/")[:2] in (["src", "tests"], ["src", ".venv"])]
    pod = gateway_pod()
    [container] = pod["containers"]
    [user] = [value for name, value in instructions if name == "USER"]
    assert (
        user == parser.args["BENTO_USER"] and int(parser.args["BENTO_USER_UID"]) == pod["securityContext"]["runAsUser"]
    )
    exposed = {int(value) for name, value in instructions if name == "EXPOSE"}
    assert {p["containerPort"] for p in container["ports"]} <= exposed
    assert "command" not in container and "args" not in container
