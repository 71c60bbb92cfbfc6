"""The ``canaryline`` command: the registry's tables, serving, the control plane, and outcomes.

Commands, by group: ``models``, ``versions``, ``import-mlflow`` (:mod:`~registry_client.cli.registry`);
``register``, ``adopt``, ``archive`` (:mod:`~registry_client.cli.registration`); ``serve``
(:mod:`~registry_client.cli.serving`); ``status``, ``promote``, ``canary``, ``shadow``, ``rollback``
(:mod:`~registry_client.cli.control`); ``history`` (:mod:`~registry_client.cli.history`); ``feedback``
(:mod:`~registry_client.cli.feedback`); ``eval``, ``export`` (:mod:`~registry_client.cli.analysis`); ``retention``
(:mod:`~registry_client.cli.retention`); ``sink`` (:mod:`~registry_client.cli.sink`);
``rollout start | status | pause | resume | abort | promote``
(:mod:`~registry_client.cli.rollout`). The settings are read once per invocation, by the app's
callback; an error ends the command with one line and the exit code of
:data:`~registry_client.cli.output.EXIT_CODES`.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from registry_client.cli import (
    analysis,
    control,
    feedback,
    history,
    registration,
    registry,
    retention,
    rollout,
    serving,
    sink,
)
from registry_client.cli.context import Invocation
from registry_client.cli.output import exit_code, fail
from registry_client.errors import CanarylineError, StartupError
from registry_client.settings import CanarylineSettings

__all__ = ["app", "main"]

app = typer.Typer(
    name="canaryline",
    help="Inference gateway with version tracing: registry, serving, traffic control and feedback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _settings(ctx: typer.Context) -> None:
    """Inference gateway with version tracing: registry, serving, traffic control and feedback."""
    invocation = Invocation(CanarylineSettings.from_env(refusing="invalid settings"))
    ctx.obj = invocation
    ctx.call_on_close(invocation.close)


_COMMANDS: list[tuple[str, Callable[..., None]]] = [
    ("models", registry.models),
    ("versions", registry.versions),
    ("import-mlflow", registry.import_mlflow),
    ("register", registration.register),
    ("adopt", registration.adopt),
    ("archive", registration.archive),
    ("serve", serving.serve),
    ("status", control.status),
    ("promote", control.promote),
    ("canary", control.canary),
    ("shadow", control.shadow),
    ("rollback", control.rollback),
    ("history", history.history),
    ("feedback", feedback.feedback),
    ("eval", analysis.evaluate_model),
    ("export", analysis.export),
    ("retention", retention.retention),
    ("sink", sink.sink),
]
for _name, _command in _COMMANDS:
    app.command(name=_name)(_command)
app.add_typer(rollout.app, name="rollout")


def main() -> None:
    try:
        app()
    except (CanarylineError, StartupError) as exc:
        fail(exc.message, exit_code(exc))
