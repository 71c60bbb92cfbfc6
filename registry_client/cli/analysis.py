"""``canaryline eval`` and ``export``: the prediction log joined with its outcomes, read from the store.

``eval`` reports quality and latency per version and route, each canary against the stable traffic of
the plan revisions it ran in, and shadow versions against the primary on the same requests. ``export``
streams the joined rows to Parquet, CSV or JSON Lines in bounded memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, cast

import typer

from registry_client.cli.context import invocation
from registry_client.cli.names import ModelArg
from registry_client.cli.output import JsonOpt, console, err_console, fail, print_json
from registry_client.domain.timestamps import parse_timestamp
from registry_client.errors import ModelNotFoundError, TimestampError
from registry_client.registry.registry import Task

__all__ = ["evaluate_model", "export"]


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


def evaluate_model(
    ctx: typer.Context,
    model: ModelArg,
    since: SinceOpt = None,
    until: UntilOpt = None,
    task: Annotated[
        str | None,
        typer.Option(help="classification or regression [default: the task of the stable version, from the registry]"),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the charts and tables as one self-contained HTML file."),
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option(
            "--png",
            help="Also write each chart as DIR/<chart>.png, drawn in headless Chromium (canaryline[png], "
            "CANARYLINE_CHROMIUM).",
            file_okay=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Quality and latency of MODEL per version and route, each canary vs its stable, and shadow versions.

    Reads the store directly: the prediction log joined with the outcomes posted to /feedback (on PostgreSQL
    scored and grouped by the database, which sends back only aggregates). Each canary is compared with the
    stable traffic of the plan revisions it ran in (see the plan history). The tables end with a verdict on
    the latest canary episode in words.
    """
    from registry_client.analysis.report import evaluate_model as evaluate
    from registry_client.cli.evaluation_view import evaluation_tables

    low, high = _window(since, until)
    if task not in (None, "classification", "regression"):
        fail(f"--task must be classification or regression, not {task!r}", 2)
    if html is not None and not html.parent.is_dir():
        fail(f"--html {html}: folder {html.parent} does not exist", 2)
    if png is not None and not png.parent.is_dir():
        fail(f"--png {png}: folder {png.parent} does not exist", 2)
    registry = invocation(ctx).registry()
    found = evaluate(registry, model, since=low, until=high, task=cast("Task | None", task))
    for warning in found.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    if html is not None or png is not None:
        from registry_client.analysis.timeline import timeline
        from registry_client.cli.evaluation_html import report_html

        over_time = timeline(registry.store, model, task=found.report.task, now=time.time(), since=low, until=high)
        page = report_html(found, timeline=over_time)
        if html is not None:
            html.write_text(page, encoding="utf-8")
            err_console.print(f"wrote the evaluation of {model} to {html}", highlight=False)
        if png is not None:
            from registry_client.cli.evaluation_png import write_pngs

            charts = write_pngs(page, png, chromium=invocation(ctx).settings.chromium_path())
            names = ", ".join(path.name for path in charts) or "none (nothing to draw)"
            err_console.print(f"wrote {len(charts)} charts of {model} to {png}: {names}", highlight=False)
    if as_json:
        print_json(found.to_json())
    else:
        console.print(evaluation_tables(found))


def export(
    ctx: typer.Context,
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", help="File to write: .parquet, .csv or .jsonl.")],
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Write MODEL's logged rows joined with their outcomes to a file, streaming (bounded memory).

    Labels are typed by the model's registered classes (or its task); a warning says when they are of
    several types and are written as JSON text.
    """
    from registry_client.analysis.export import export_rows
    from registry_client.analysis.joined import joined_rows
    from registry_client.analysis.labels import Labels

    low, high = _window(since, until)
    registry = invocation(ctx).registry()
    store = registry.store
    if store.get_plan(model) is None and store.count_predictions(model) == 0:
        raise ModelNotFoundError(f"model {model!r} has no routing plan and no logged predictions in the store")
    try:
        labels = Labels.of_versions(registry.versions(model))
    except ModelNotFoundError:  # logged, but no longer in this BentoML model store: the values decide
        labels = None
    if labels is not None and labels.note:
        err_console.print(f"[yellow]warning:[/yellow] {labels.note}", highlight=False, soft_wrap=True)
    written = export_rows(joined_rows(store, model, since=low, until=high), out, labels=labels)
    console.print(f"wrote {written} rows of {model} to {out}", highlight=False)
