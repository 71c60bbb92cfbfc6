"""``canaryline feedback``: ground truth from a CSV or JSON Lines file, posted to a gateway with its token."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from registry_client.cli.context import invocation
from registry_client.cli.control import GatewayOpt
from registry_client.cli.names import ModelArg
from registry_client.cli.output import JsonOpt, console, err_console, fail, print_json

__all__ = ["feedback"]


def feedback(
    ctx: typer.Context,
    model: ModelArg,
    file: Annotated[Path, typer.Argument(help="CSV (request_id,outcome[,observed_at]) or JSON Lines file.")],
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Requests in flight at once.")] = 8,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post ground truth for MODEL's requests from FILE to the gateway; exits non-zero if any line is refused."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from registry_client.client.bulk_feedback import post_feedback_lines, read_feedback

    if not file.is_file():
        fail(f"{file} is not a file", 2)
    total = sum(1 for _ in read_feedback(file))
    columns = (TextColumn("feedback"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        invocation(ctx).client(gateway) as client,
        Progress(*columns, console=err_console, disable=as_json) as progress,
    ):
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
