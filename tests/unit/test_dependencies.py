"""One dependency source: the Bento installs exactly what the package declares."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from pathspec import PathSpec  # BentoML matches its include patterns with it

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


def test_the_console_files_ship_in_the_wheel_and_the_bento() -> None:
    """Every file of the console (registry_client/console/static) is package data and in the Bento's include."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    bento = yaml.safe_load((ROOT / "bentofile.yaml").read_text(encoding="utf-8"))
    package_data = project["tool"]["setuptools"]["package-data"]["registry_client"]
    static = ROOT / "registry_client" / "console" / "static"
    files = [path for path in static.rglob("*") if path.is_file()]
    assert {"index.html", "app.js", "vendor/uPlot.iife.min.js", "vendor/uPlot.LICENSE"} <= {
        path.relative_to(static).as_posix() for path in files
    }
    base = ROOT / "registry_client"
    shipped = {path for pattern in package_data for path in base.glob(pattern) if path.is_file()}
    assert set(files) <= shipped
    included = PathSpec.from_lines("gitwildmatch", bento["include"])
    assert all(included.match_file(path.relative_to(ROOT).as_posix()) for path in files)
