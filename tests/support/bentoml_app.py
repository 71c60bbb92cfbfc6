"""What BentoML's own app factory builds for the canaryline service, read in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["built_middleware"]

REPO = Path(__file__).resolve().parents[2]
_CODE = (
    "from service.service import Canaryline\n"
    "app = Canaryline.to_asgi(is_main=True)\n"
    "print(','.join(m.cls.__name__ for m in app.user_middleware))\n"
)


def built_middleware(home: Path) -> list[str]:
    """The class names of the middleware ``Canaryline.to_asgi`` installs, in order (a fresh process, so
    BentoML's imports and class swaps happen as in ``bentoml serve``)."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "CANARYLINE_HOME": str(home)}
    env.pop("BENTOML_HOME", None)
    done = subprocess.run(
        [sys.executable, "-c", _CODE], capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1].split(",")
