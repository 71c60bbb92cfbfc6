"""One gateway's process tree: BentoML's server, with a Prometheus multiprocess directory of its own.

``canaryline serve`` runs ``python -m service.launcher ARGS``, which runs BentoML's own CLI with
``ARGS`` (``serve service.service:Canaryline --port … --host …``) in this process, so signals reach
BentoML's arbiter exactly as with ``python -m bentoml``.

**Why a directory of its own.** BentoML 1.4 keeps every worker's metric files in one directory,
``$BENTOML_HOME/prometheus_multiproc_dir`` (``BentoMLContainer.prometheus_multiproc_dir``), and every
server start empties it (``bentoml.serving.ensure_prometheus_dir``) before it even binds its port. A
second gateway on the same ``BENTOML_HOME`` (or a ``serve`` that then fails on a busy port) deleted a
running gateway's files: its ``/metrics`` then showed the newcomer's counters, or nothing, until a
restart. Each process tree now gets a fresh temporary directory, set on that container before BentoML
reads it and removed when the server exits (a SIGKILLed tree leaves its own directory behind in the
system's temporary directory; it never touches another gateway's).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["main", "private_metrics_dir"]


def private_metrics_dir() -> Path:
    """A new, empty directory for this process tree's Prometheus files."""
    return Path(tempfile.mkdtemp(prefix="canaryline-metrics-"))


def main(argv: list[str]) -> int:
    """Run BentoML's CLI with ``argv`` on a private metrics directory; its exit code."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml_cli.cli import cli

    directory = private_metrics_dir()
    BentoMLContainer.prometheus_multiproc_dir.set(str(directory))
    try:
        cli.main(args=argv, prog_name="bentoml", standalone_mode=True)
    except SystemExit as exc:  # click ends with sys.exit; keep its code
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
