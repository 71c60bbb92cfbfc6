"""``canaryline models`` and ``versions``: the registry's tables, read from the store of the settings (no BentoML
model store needed); and ``import-mlflow``, which registers an MLflow model as a new version."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from registry_client.cli.context import invocation
from registry_client.cli.names import ModelArg, version_name
from registry_client.cli.output import JsonOpt, console, print_json

__all__ = ["import_mlflow", "models", "versions"]


def models(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List registered models with their version count and stable version."""
    registry = invocation(ctx).registry()
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


def versions(
    ctx: typer.Context,
    model: ModelArg,
    include_archived: Annotated[bool, typer.Option("--all", help="archived versions too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """One row per registered version of MODEL, like an experiments table."""
    registry = invocation(ctx).registry()
    found = registry.versions(model, include_archived=include_archived)
    stable = registry.stable(model)
    if as_json:
        print_json([{**v.to_dict(), "stable": v.version == stable} for v in found])
        return
    table = Table(
        "version", "created", "task", "framework", "inputs", "params", "metrics", "data", "code", "sha256",
        "stable",
        title=f"{model}: {len(found)} versions" + (" (archived included)" if include_archived else ""),
    )  # fmt: skip
    for v in found:
        table.add_row(
            v.version,
            v.created.strftime("%Y-%m-%d %H:%M:%S"),
            v.task,
            v.framework.removeprefix("bentoml."),
            v.input_schema.describe() if v.input_schema is not None else f"{v.n_features or '?'} numbers",
            _short(v.params),
            _short(v.metrics),
            v.data_version or "-",
            v.code_version or "-",
            v.sha256[:12],
            "✓" if v.version == stable else ("archived" if v.archived else ""),
        )
    console.print(table)


def import_mlflow(
    ctx: typer.Context,
    model: ModelArg,
    uri: str,
    task: Annotated[str | None, typer.Option(help="classification or regression, when MLflow cannot tell")] = None,
    version: Annotated[
        str | None, typer.Option(help="the version's name (default: the next vN)", callback=version_name)
    ] = None,
    description: Annotated[str, typer.Option(help="what this version is")] = "",
    allow_schema_change: Annotated[
        bool, typer.Option("--allow-schema-change", help="accept inputs that differ from the other versions'")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register the MLflow model at URI (a directory, runs:/..., models:/name/version) as a version of MODEL."""
    registered = (
        invocation(ctx)
        .registry()
        .import_mlflow(
            model,
            uri,
            task=task,
            version=version,
            description=description,
            allow_schema_change=allow_schema_change,
        )
    )
    if as_json:
        print_json(registered.to_dict())
        return
    inputs = registered.input_schema.describe() if registered.input_schema is not None else "a numeric matrix"
    console.print(f"{model}: registered {registered.version} ({registered.task}, mlflow) taking {inputs}")


def _short(value: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
