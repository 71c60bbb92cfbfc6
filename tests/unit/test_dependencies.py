"""One dependency source: the Bento installs exactly what the package declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _requirements(lines: list[str]) -> dict[str, str]:
    parsed = [Requirement(line) for line in lines]
    return {req.name.lower(): str(req) for req in parsed}


def test_bentofile_packages_equal_the_package_dependencies() -> None:
    """bentofile.yaml's python packages are pyproject.toml's dependencies, name for name and range for range."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text(encoding="utf-8"))
    assert _requirements(bento["python"]["packages"]) == _requirements(project["dependencies"])


def test_bentofile_packages_every_source_package() -> None:
    """The Bento includes every package the gateway imports from, with its py.typed marker."""
    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text(encoding="utf-8"))
    for package in ("service", "registry_client"):
        assert f"{package}/**/*.py" in bento["include"]
        assert f"{package}/py.typed" in bento["include"]
