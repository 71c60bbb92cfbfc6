"""One gateway's process tree: a preflight, then BentoML's server with a Prometheus directory of its own.

``canaryline serve`` runs ``python -m service.launcher serve service.service:Canaryline --port P --host H``.
Before BentoML starts, :func:`preflight` refuses in one line (``error: …`` on stderr, exit 2) what would
otherwise fail later: settings that break their rules (a missing or short token,
:class:`registry_client.settings.GatewaySettings`), a spool that cannot be written (naming the folder and
the errno), a port that is taken. BentoML would restart a refusing worker forever, or print a traceback
after it had started. Then BentoML's own CLI runs in this process, so signals reach its arbiter exactly as
with ``python -m bentoml``.

**Why a metrics directory of its own.** BentoML 1.4 keeps every worker's metric files in one directory,
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
import socket
import sys
import tempfile
from pathlib import Path

from registry_client.errors import SpoolUnavailableError, StartupError, StoreError
from registry_client.settings import GatewaySettings
from service.prediction_log.spool import check_writable

__all__ = ["check_port", "check_spool", "check_store", "main", "preflight", "private_metrics_dir"]


def private_metrics_dir() -> Path:
    """A new, empty directory for this process tree's Prometheus files."""
    return Path(tempfile.mkdtemp(prefix="canaryline-metrics-"))


def check_spool(settings: GatewaySettings) -> None:
    """Refuse to start when the spool folder cannot be written (read-only mount, no space), naming it and the errno.

    A worker started some other way (a raw ``bentoml serve``) still starts with an unwritable spool, logs it
    once and reports not ready until the disk takes writes again.
    """
    folder = settings.home / "spool"
    try:
        check_writable(folder)
    except SpoolUnavailableError as exc:
        raise StartupError(
            f"refusing to start: the prediction-log spool {folder} cannot be written: {exc.errno_name} ({exc.reason}); "
            "set CANARYLINE_HOME to a writable folder with free space"
        ) from exc


def check_store(settings: GatewaySettings) -> None:
    """Refuse to start when the PostgreSQL store (or the history database, ``CANARYLINE_HISTORY_DSN``) cannot
    be used; bring its schema up to date when it can.

    Migrating here, once per ``serve``, means the workers find the schema ready. The SQLite and Redis stores
    are left to the workers: a Redis that is down at start is served from the spool until it is back.
    """
    urls = [settings.store_url()]
    if settings.history_dsn is not None:  # the sink's database, for feedback older than Redis' index
        urls.append(str(settings.history_dsn))
    for url in urls:
        if not url.startswith(("postgresql://", "postgres://")):
            continue
        from registry_client.store.postgres import prepare_database

        try:
            prepare_database(url, settings.store_timeout_s)
        except StoreError as exc:
            where = "" if url == urls[0] else " (CANARYLINE_HISTORY_DSN)"
            raise StartupError(f"refusing to start{where}: {exc.message}") from exc


def check_port(host: str, port: int) -> None:
    """Refuse to start when ``host:port`` cannot be bound (a listener is there); the probe closes at once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise StartupError(f"cannot serve on {host}:{port}: {exc}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free to take
        try:
            probe.bind(address)
        except OSError as exc:
            raise StartupError(
                f"cannot serve on port {port} of {host}: {exc.strerror} (is another gateway running there?)"
            ) from exc


def preflight(argv: list[str]) -> None:
    """Everything ``serve`` checks before BentoML starts; StartupError with one line when it must not."""
    settings = GatewaySettings.from_env()
    check_spool(settings)
    check_store(settings)
    host = argv[argv.index("--host") + 1] if "--host" in argv else "127.0.0.1"
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 3000
    check_port(host, port)


def main(argv: list[str]) -> int:
    """Run BentoML's CLI with ``argv`` on a private metrics directory (after the preflight for ``serve``);
    its exit code."""
    if argv[:1] == ["serve"]:
        try:
            preflight(argv)
        except StartupError as exc:
            sys.stderr.write(f"error: {exc.message}\n")
            return 2
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
