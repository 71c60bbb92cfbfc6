"""``canaryline retention``: drop the PostgreSQL store's day partitions older than the retention limit.

Retention is a decision, not an accident: nothing is dropped unless ``CANARYLINE_RETENTION_DAYS`` (or
``--days``) says how long to keep, and only whole UTC days older than that go, with the outcomes of their
predictions (:mod:`registry_client.store.postgres.retention`). The SQLite and Redis stores have no day
partitions: the command refuses them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from registry_client.cli.context import invocation
from registry_client.cli.output import JsonOpt, console, fail, print_json

__all__ = ["retention"]


def retention(
    ctx: typer.Context,
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="Keep this many days [default: $CANARYLINE_RETENTION_DAYS]."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be dropped; drop nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Drop the day partitions of predictions older than the retention limit, with their outcomes."""
    from registry_client.store.postgres import PostgresStore

    settings = invocation(ctx).settings
    limit = days or settings.retention_days
    if limit is None:
        fail("set CANARYLINE_RETENTION_DAYS or pass --days: retention drops nothing without a limit", 2)
    store = invocation(ctx).registry().store
    if not isinstance(store, PostgresStore):
        fail(f"retention drops day partitions of the PostgreSQL store; {settings.shown_store_url()} has none", 2)
    pruned = store.prune(limit, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "days": limit,
                "cutoff": pruned.cutoff.isoformat(),
                "dry_run": pruned.dry_run,
                "partitions": pruned.partitions,
                "predictions": pruned.predictions,
                "outcomes": pruned.outcomes,
            }
        )
        return
    verb = "would drop" if dry_run else "dropped"
    console.print(
        f"{verb} {len(pruned.partitions)} day partitions before {pruned.cutoff:%Y-%m-%d %H:%M} UTC "
        f"({pruned.predictions} predictions, {pruned.outcomes} outcomes); kept everything younger than {limit} days",
        highlight=False,
    )
