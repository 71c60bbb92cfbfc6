"""MLServer's codecs as a client library, from MLServer's own virtualenv.

``mlserver==1.7.1`` cannot share the gateway's environment: pip resolves it only by downgrading what the
gateway runs on (starlette 1.10 → 0.46, fastapi 0.165 → 0.115, protobuf 7 → 6: MLServer pins
``fastapi<0.116`` and ``protobuf<7``), so the tests would no longer exercise the starlette the Bento
installs. It lives in the benchmarks' virtualenv instead (``load_tests/.venv-mlserver``, made on first use,
about a minute with a warm pip cache), and :func:`mlserver_codec` runs ``tests/support/mlserver_codec.py``
there. Under ``CI=true`` a virtualenv that cannot be made fails the test; elsewhere it skips.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from load_tests.bench.servers import ensure_mlserver

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / "load_tests" / ".venv-mlserver"
SCRIPT = Path(__file__).with_name("mlserver_codec.py")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def mlserver_python(runtimes: tuple[str, ...] = ()) -> Path:
    """The Python of MLServer's virtualenv, made when missing (with MLServer's ``runtimes`` beyond scikit-learn's:
    ``"xgboost"``, ``"lightgbm"``)."""
    try:
        return ensure_mlserver(VENV, runtimes).with_name("python")
    except RuntimeError as exc:
        if IN_CI:
            pytest.fail(f"MLServer's virtualenv is required under CI=true and could not be made: {exc}")
        pytest.skip(f"no MLServer virtualenv: {exc}")


def mlserver_codec(command: dict[str, Any]) -> list[Any]:
    """``command`` (see mlserver_codec.py) run by MLServer's codecs; its JSON answer."""
    done = subprocess.run(
        [str(mlserver_python()), "-I", str(SCRIPT)],  # isolated: tests/support's modules are not importable
        input=json.dumps(command, allow_nan=False),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: list[Any] = json.loads(done.stdout)
    return answer
