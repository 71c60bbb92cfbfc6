"""The ``canaryline`` command: the registry's tables, serving, the control plane, and outcomes
(``feedback`` posts ground truth to a gateway; ``eval`` and ``export`` read the store directly)."""

from __future__ import annotations

import getpass
import os
import re
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, cast

import orjson
import typer
from rich.console import Console
from rich.table import Table

from .client import GatewayClient
from .errors import CanarylineError, ModelNotFoundError
from .registry import ModelVersion, Registry, Task
from .settings import CanarylineSettings
from .timestamps import TimestampError, parse_timestamp

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


GatewayOpt = Annotated[
    str | None,
    typer.Option("--gateway", help="Gateway base URL [default: $CANARYLINE_GATEWAY or http://127.0.0.1:3000]"),
]
ReadGatewayOpt = Annotated[
    str | None,
    typer.Option("--gateway", help="Ask this gateway [default: $CANARYLINE_GATEWAY; unset: read the store]"),
]
_DEFAULT_GATEWAY = "http://127.0.0.1:3000"
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: recorded in the audit history.")]
ExpectOpt = Annotated[
    int | None, typer.Option("--expected-revision", help="Refuse (409) if the plan is no longer at this revision.")
]


def _client(gateway: str | None) -> GatewayClient:
    """A client presenting each endpoint's token: CANARYLINE_ADMIN_TOKEN, _READ_TOKEN and _FEEDBACK_TOKEN."""
    settings = CanarylineSettings()
    tokens = (settings.admin_token, settings.read_token, settings.feedback_token)
    admin, read, feedback = (t.get_secret_value() if t is not None else None for t in tokens)
    return GatewayClient(
        gateway or settings.gateway or _DEFAULT_GATEWAY,
        token=admin,
        read_token=read,
        feedback_token=feedback,
        actor=_actor(),
    )


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    actor = re.sub(r"[^A-Za-z0-9._@:+-]", "-", f"{user}@{socket.gethostname()}")[:64]
    return actor or "cli"


def describe_plan(plan: dict[str, Any], *, heading: bool = True) -> str:
    """One line: (model and revision,) stable, canary and shadow."""
    parts = [f"{plan['model']}: revision {plan['revision']}"] if heading else []
    parts.append(f"stable {plan['stable']}")
    if plan.get("canary"):
        c = plan["canary"]
        parts.append(f"canary {c['version']} at {c['weight']:g}% ({'sticky' if c['sticky'] else 'random'})")
    if plan.get("shadow"):
        parts.append(f"shadow {plan['shadow']['version']} at {plan['shadow']['sample']:g}%")
    return ", ".join(parts)


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    line = describe_plan(result["plan"])
    if result.get("apply_error"):
        err_console.print(f"[yellow]saved, but this gateway could not apply it:[/yellow] {result['apply_error']}")
    console.print(f"{line} [dim](by {result['plan']['actor']}: {result['plan']['reason']})[/dim]", highlight=False)


def _asks_gateway(gateway: str | None) -> bool:
    """Whether a read names a gateway (``--gateway`` or ``$CANARYLINE_GATEWAY``); else it reads the store."""
    return bool(gateway or CanarylineSettings().gateway)


@app.command()
def status(model: str, gateway: ReadGatewayOpt = None, as_json: JsonOpt = False) -> None:
    """What the gateway serves for MODEL: plan in force, loaded versions, load errors, shadow counters.

    With no gateway named, the plan comes from the store (what every gateway applies)."""
    if not _asks_gateway(gateway):
        _status_from_store(model, as_json)
        return
    with _client(gateway) as client:
        info = client.model(model)
    if as_json:
        print_json(info)
        return
    if info.get("plan"):
        plan = info["plan"]
        console.print(describe_plan(plan), highlight=False)
        console.print(f"  last change: {plan['updated_at']} by {plan['actor']}: {plan['reason']}", highlight=False)
    console.print(f"  loaded versions: {', '.join(info['versions']) or 'none'}", highlight=False)
    if info.get("error"):
        err_console.print(f"  [red]not applied:[/red] {info['error']}", highlight=False)
    for version, counts in (info.get("shadow") or {}).items():
        console.print(f"  shadow {version}: " + ", ".join(f"{k}={v}" for k, v in counts.items()), highlight=False)


def _status_from_store(model: str, as_json: bool) -> None:
    from .control import ControlPlane
    from .store import redact_url

    registry = _registry()
    plan = ControlPlane(registry).plan(model).model_dump(mode="json")
    where = redact_url(registry.store.url)
    if as_json:
        print_json({"model": model, "plan": plan, "source": "store", "store": where})
        return
    console.print(describe_plan(plan), highlight=False)
    console.print(f"  last change: {plan['updated_at']} by {plan['actor']}: {plan['reason']}", highlight=False)
    console.print(
        f"  [dim](the plan in the store {where}; loaded versions and shadow counters: --gateway URL)[/dim]",
        highlight=False,
    )


@app.command()
def promote(
    model: str,
    version: str,
    reason: ReasonOpt,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make VERSION the stable version of MODEL."""
    with _client(gateway) as client:
        _report(client.promote(model, version, reason=reason, expected_revision=expected_revision), as_json)


@app.command()
def canary(
    model: str,
    reason: ReasonOpt,
    version: Annotated[str | None, typer.Argument(help="Version to canary (omit with --clear).")] = None,
    weight: Annotated[float | None, typer.Option(help="Percent of traffic, up to two decimals.")] = None,
    sticky: Annotated[bool, typer.Option("--sticky/--no-sticky", help="Same routing key, same version.")] = True,
    clear: Annotated[bool, typer.Option("--clear", help="End the canary.")] = False,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a share of MODEL's traffic to VERSION, or end the canary with --clear."""
    with _client(gateway) as client:
        if clear:
            result = client.clear_canary(model, reason=reason, expected_revision=expected_revision)
        elif version is None or weight is None:
            fail("canary needs VERSION and --weight (or --clear)", 2)
        else:
            result = client.set_canary(
                model, version, weight=weight, sticky=sticky, reason=reason, expected_revision=expected_revision
            )
    _report(result, as_json)


@app.command()
def shadow(
    model: str,
    reason: ReasonOpt,
    version: Annotated[str | None, typer.Argument(help="Version to mirror traffic to (omit with --clear).")] = None,
    sample: Annotated[float, typer.Option(help="Percent of primary requests mirrored.")] = 100.0,
    clear: Annotated[bool, typer.Option("--clear", help="Stop shadowing.")] = False,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mirror a sample of MODEL's traffic to VERSION (clients never see it), or stop with --clear."""
    with _client(gateway) as client:
        if clear:
            result = client.clear_shadow(model, reason=reason, expected_revision=expected_revision)
        elif version is None:
            fail("shadow needs VERSION (or --clear)", 2)
        else:
            result = client.set_shadow(
                model, version, sample=sample, reason=reason, expected_revision=expected_revision
            )
    _report(result, as_json)


@app.command()
def rollback(
    model: str,
    reason: ReasonOpt,
    to: Annotated[
        str | None, typer.Option("--to", help="Roll back to this version instead of the previous stable.")
    ] = None,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Clear the canary and shadow; with neither, make the previous stable version stable again (or --to)."""
    with _client(gateway) as client:
        _report(client.rollback(model, to=to, reason=reason, expected_revision=expected_revision), as_json)


@app.command()
def history(model: str, gateway: ReadGatewayOpt = None, as_json: JsonOpt = False) -> None:
    """Every change of MODEL's routing plan, oldest first (from the store, or from a gateway when named)."""
    if _asks_gateway(gateway):
        with _client(gateway) as client:
            entries = client.history(model)
    else:
        from .control import ControlPlane

        entries = [entry.model_dump(mode="json") for entry in ControlPlane(_registry()).history(model)]
    if as_json:
        print_json(entries)
        return
    table = Table("rev", "at", "actor", "action", "plan after", "reason", title=f"{model}: plan history")
    for e in entries:
        after = describe_plan(e["after"], heading=False)
        table.add_row(str(e["revision"]), e["at"][:19].replace("T", " "), e["actor"], e["action"], after, e["reason"])
    console.print(table)


SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only predictions at or after T (ISO 8601, or epoch seconds).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Only predictions before T (ISO 8601, or epoch seconds).")
]


def _window(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    bounds: list[float | None] = []
    for name, value in (("--since", since), ("--until", until)):
        try:
            bounds.append(None if value is None else parse_timestamp(value))
        except TimestampError as exc:
            fail(f"{name} {exc}", 2)
    low, high = bounds
    if low is not None and high is not None and low >= high:
        fail(f"--since ({since}) must be before --until ({until})", 2)
    return low, high


@app.command(name="eval")
def evaluate_model(
    model: str,
    since: SinceOpt = None,
    until: UntilOpt = None,
    task: Annotated[
        str | None,
        typer.Option(help="classification or regression [default: the task of the stable version, from the registry]"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Quality and latency of MODEL per version and route, each canary vs its stable, and shadow versions.

    Reads the store directly: the prediction log joined with the outcomes posted to /feedback. Each canary
    is compared with the stable traffic of the plan revisions it ran in (see the plan history).
    """
    from .evaluation import EvaluationError, evaluate
    from .evaluation_view import evaluation_json, evaluation_tables
    from .joined import joined_rows

    low, high = _window(since, until)
    if task not in (None, "classification", "regression"):
        fail(f"--task must be classification or regression, not {task!r}", 2)
    registry = _registry()
    stable = registry.stable(model)
    known = None if stable is None else registry.get(model, stable).task  # every version has the same task
    if known is not None and task not in (None, known):
        raise EvaluationError(f"model {model!r} is a {known} model (all its versions): --task {task} does not apply")
    if known is None and task is None:
        raise ModelNotFoundError(f"model {model!r} has no routing plan in the store: register it, or pass --task")
    chosen = cast("Task", known or task)
    rows = joined_rows(registry.store, model, since=low, until=high)
    report = evaluate(rows, task=chosen, history=registry.store.history(model))
    if as_json:
        print_json(evaluation_json(report, model=model, stable=stable, since=low, until=high))
    else:
        console.print(evaluation_tables(report, model=model))


@app.command()
def export(
    model: str,
    out: Annotated[Path, typer.Option("--out", help="File to write: .parquet, .csv or .jsonl.")],
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Write MODEL's logged rows joined with their outcomes to a file, streaming (bounded memory).

    Labels are typed by the model's registered classes (or its task); a warning says when they are of
    several types and are written as JSON text.
    """
    from .export import export_rows
    from .joined import joined_rows
    from .label_types import Labels

    low, high = _window(since, until)
    registry = _registry()
    store = registry.store
    try:
        if store.get_plan(model) is None and store.count_predictions(model) == 0:
            raise ModelNotFoundError(f"model {model!r} has no routing plan and no logged predictions in the store")
        try:
            labels = Labels.of_versions(registry.versions(model))
        except ModelNotFoundError:  # logged, but no longer in this BentoML model store: the values decide
            labels = None
        if labels is not None and labels.note:
            err_console.print(f"[yellow]warning:[/yellow] {labels.note}", highlight=False, soft_wrap=True)
        written = export_rows(joined_rows(store, model, since=low, until=high), out, labels=labels)
    finally:
        store.close()
    console.print(f"wrote {written} rows of {model} to {out}", highlight=False)


@app.command()
def feedback(
    model: str,
    file: Annotated[Path, typer.Argument(help="CSV (request_id,outcome[,observed_at]) or JSON Lines file.")],
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Requests in flight at once.")] = 8,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post ground truth for MODEL's requests from FILE to the gateway; exits non-zero if any line is refused."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .bulk_feedback import post_feedback_lines, read_feedback

    if not file.is_file():
        fail(f"{file} is not a file", 2)
    total = sum(1 for _ in read_feedback(file))
    columns = (TextColumn("feedback"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with _client(gateway) as client, Progress(*columns, console=err_console, disable=as_json) as progress:
        task_id = progress.add_task("feedback", total=total)
        summary = post_feedback_lines(
            client,
            read_feedback(file),
            model=model,
            concurrency=concurrency,
            on_done=lambda: progress.advance(task_id),
        )
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_feedback(summary.to_dict())
    if summary.refused:
        sys.exit(1 if summary.failed else 2)


def _print_feedback(result: dict[str, Any]) -> None:
    replaced = f"{result['replaced']} replaced an earlier outcome"
    console.print(f"accepted {result['accepted']} ({replaced}), refused {result['refused']}", highlight=False)
    refusals = result["refusals"]
    if not refusals:
        return
    table = Table("line", "request_id", "status", "code", "reason", title="refused lines")
    for r in refusals[:_SHOWN_REFUSALS]:
        table.add_row(str(r["line"]), r["request_id"] or "-", str(r["status"] or "-"), r["code"], r["message"])
    err_console.print(table)
    if len(refusals) > _SHOWN_REFUSALS:
        err_console.print(f"… and {len(refusals) - _SHOWN_REFUSALS} more (--json lists them all)", highlight=False)


_SHOWN_REFUSALS = 20


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the gateway (BentoML serving ``service.service:Canaryline``) in the foreground.

    Refuses in one line, before BentoML starts, when the settings are invalid (a missing or short
    token), the spool cannot be written (naming the folder and errno) or the port is taken; BentoML
    would otherwise restart a refusing worker forever, or print a traceback after it had started.
    """
    from service.composition import check_spool
    from service.settings import GatewaySettings

    settings = GatewaySettings.from_env()
    check_spool(settings)
    _refuse_busy_port(host, port)
    # BentoML's parent process resolves its model store too: the same home as the workers'.
    env = {**os.environ, "CANARYLINE_WORKERS": str(workers), "BENTOML_HOME": str(settings.model_store())}
    argv = [sys.executable, "-m", "service.launcher", "serve", "service.service:Canaryline"]
    argv += ["--port", str(port), "--host", host]
    os.execve(sys.executable, argv, env)  # noqa: S606 — replaces this process; signals go straight to BentoML


def _refuse_busy_port(host: str, port: int) -> None:
    """Exit 2 when ``host:port`` cannot be bound (a listener is there); the probe socket is closed at once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc}", 2)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free to take
        try:
            probe.bind(address)
        except OSError as exc:
            fail(f"cannot serve on port {port} of {host}: {exc.strerror} (is another gateway running there?)", 2)


def main() -> None:
    from service.errors import GatewayError

    try:
        app()
    except CanarylineError as exc:
        fail(exc.message, 2 if exc.status < 500 else 1)
    except GatewayError as exc:  # e.g. StartupError from `serve`'s preflight
        fail(exc.message, 2)
