"""What every ``canaryline`` command shares: where it prints, how it fails, and its exit codes."""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from registry_client.errors import (
    BadRequestError,
    CanarylineError,
    ConflictError,
    GatewayRefusedError,
    InputError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    StartupError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)

__all__ = ["EXIT_CODES", "JsonOpt", "console", "err_console", "exit_code", "fail", "print_json"]

# Pipes and CI logs get a wide table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

#: Exit codes by error class, looked up along the raised error's class hierarchy: 2 when the request was
#: refused (the caller's to fix), 1 when something failed (worth retrying).
EXIT_CODES: dict[type[Exception], int] = {
    CanarylineError: 1,
    BadRequestError: 2,
    UnauthorizedError: 2,
    NotFoundError: 2,
    MethodNotAllowedError: 2,
    ConflictError: 2,
    PayloadTooLargeError: 2,
    UnsupportedMediaTypeError: 2,
    InputError: 2,
    GatewayRefusedError: 2,
    StartupError: 2,
}


def exit_code(exc: Exception) -> int:
    """The exit code for ``exc``: the entry of its nearest class in :data:`EXIT_CODES`."""
    return next(EXIT_CODES[kind] for kind in type(exc).__mro__ if kind in EXIT_CODES)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit with ``code`` (2: the request was refused, 1: a failure). The message is
    printed as it is: rich would take a ``[a-z0-9]`` in it (the naming rule's pattern) for a style and drop it."""
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
