"""The ``canaryline`` command: the registry's tables, serving, and the control plane."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from .errors import CanarylineError
from .registry import ModelVersion, Registry
from .settings import CanarylineSettings

__all__ = ["app", "main"]

app = typer.Typer(
    name="canaryline",
    help="Inference gateway with version tracing: registry, serving, traffic control and feedback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Pipes and CI logs get a wide table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit with ``code`` (2: the request was refused, 1: a failure)."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _registry() -> Registry:
    return Registry.from_settings(CanarylineSettings())


def _short(value: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"


@app.command()
def models(as_json: JsonOpt = False) -> None:
    """List registered models with their version count and stable version."""
    registry = _registry()
    rows = [
        {"model": name, "versions": len(registry.versions(name)), "stable": registry.stable(name)}
        for name in registry.models()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("model", "versions", "stable")
    for row in rows:
        table.add_row(str(row["model"]), str(row["versions"]), str(row["stable"] or "-"))
    console.print(table)


@app.command()
def versions(model: str, as_json: JsonOpt = False) -> None:
    """One row per registered version of MODEL, like an experiments table."""
    registry = _registry()
    found: list[ModelVersion] = registry.versions(model)
    stable = registry.stable(model)
    if as_json:
        print_json([{**v.to_dict(), "stable": v.version == stable} for v in found])
        return
    table = Table(
        "version",
        "created",
        "task",
        "params",
        "metrics",
        "data",
        "code",
        "sha256",
        "stable",
        title=f"{model}: {len(found)} versions",
    )
    for v in found:
        table.add_row(
            v.version,
            v.created.strftime("%Y-%m-%d %H:%M:%S"),
            v.task,
            _short(v.params),
            _short(v.metrics),
            v.data_version or "-",
            v.code_version or "-",
            v.sha256[:12],
            "✓" if v.version == stable else "",
        )
    console.print(table)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the gateway (``bentoml serve service.service:Canaryline``) in the foreground."""
    env = {**os.environ, "CANARYLINE_WORKERS": str(workers)}
    argv = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "service.service:Canaryline",
        "--port",
        str(port),
        "--host",
        host,
    ]
    os.execve(sys.executable, argv, env)  # noqa: S606 — replaces this process; signals go straight to BentoML


def main() -> None:
    try:
        app()
    except CanarylineError as exc:
        fail(exc.message, 2 if exc.status < 500 else 1)
