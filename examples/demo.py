"""`make demo`: canaryline end to end on the embedded SQLite store.

Trains versions of a classifier on scikit-learn's wine data set (it ships with scikit-learn), registers
them, starts a real gateway, sends real HTTP traffic, and shows what was served and logged.
State lives under .demo/ (wiped by `make demo`), so the demo never touches ~/canaryline.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

DEMO_HOME = Path(".demo").resolve()
os.environ["CANARYLINE_HOME"] = str(DEMO_HOME)
os.environ["BENTOML_HOME"] = str(DEMO_HOME / "bentoml")  # read by BentoML at import, so set it first
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

from examples.demo_steps import Demo  # noqa: E402


def main() -> int:
    started = time.monotonic()
    demo = Demo(DEMO_HOME)
    try:
        demo.run()
    finally:
        demo.stop()
    demo.your_turn()
    demo.console.rule(f"[bold green]demo finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
