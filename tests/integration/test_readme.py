"""The README's examples run: its Python block registers a real model as it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry_client.settings import CanarylineSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registration example executes unchanged against a fresh store and its asserts hold."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    # Registry.from_env() reads CANARYLINE_*; point it at a fresh home (the BentoML home is the session's).
    monkeypatch.setenv("CANARYLINE_HOME", str(tmp_path))
    monkeypatch.delenv("CANARYLINE_STORE", raising=False)
    model = f"iris{tmp_path.name[-8:].lower().replace('_', '')}"
    code = blocks[0].replace('"iris"', repr(model))
    exec(compile(code, str(README), "exec"), {})  # noqa: S102 — running our own documentation
    assert (tmp_path / "canaryline.db").exists()
    assert CanarylineSettings().store_url().endswith("canaryline.db")


def test_readme_shows_the_two_commands_first() -> None:
    """`make demo` and `make test` are the first commands a reader meets."""
    text = README.read_text()
    first_block = text.split("```bash", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
