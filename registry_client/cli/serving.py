"""``canaryline serve``: the gateway in the foreground, in this process.

It replaces itself with ``python -m service.launcher serve service.service:Canaryline …``, which refuses
in one line, before BentoML starts, what would otherwise fail later (invalid settings or tokens, an
unwritable spool, a busy port: :mod:`service.launcher`), then runs BentoML's server so signals reach its
arbiter directly. The CLI never imports the gateway: it only names it.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from registry_client.cli.context import invocation

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the gateway (BentoML serving ``service.service:Canaryline``) in the foreground."""
    settings = invocation(ctx).settings
    # BentoML's parent process resolves its model store too: the same home as the workers'.
    env = {**os.environ, "CANARYLINE_WORKERS": str(workers), "BENTOML_HOME": str(settings.model_store())}
    argv = [sys.executable, "-m", "service.launcher", "serve", "service.service:Canaryline"]
    argv += ["--port", str(port), "--host", host]
    os.execve(sys.executable, argv, env)  # noqa: S606 — replaces this process; signals go straight to BentoML
