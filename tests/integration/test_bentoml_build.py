"""`bentoml build` packages the gateway with the project's bentofile.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bentoml_build_succeeds(tmp_path: Path) -> None:
    """Building into a temporary BentoML home yields a canaryline Bento holding both packages, the console's
    files, the PostgreSQL store's migration files and its driver among the Bento's requirements."""
    bentoml = Path(sys.executable).with_name("bentoml")
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [str(bentoml), "build", str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [bento] = [p for p in (tmp_path / "bentos" / "canaryline").iterdir() if p.name != "latest"]
    src = bento / "src"
    assert (src / "service" / "service.py").is_file()
    assert (src / "registry_client" / "registry" / "registry.py").is_file()
    assert (src / "service" / "rest" / "app.py").is_file()
    assert (src / "registry_client" / "console" / "static" / "vendor" / "uPlot.iife.min.js").is_file()
    assert (src / "registry_client" / "store" / "postgres" / "migrations" / "0001_initial.sql").is_file()
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "psycopg[binary]" in requirements and "psycopg-pool" in requirements
    assert not (src / "tests").exists()
    assert "service.service:Canaryline" in (bento / "bento.yaml").read_text()
