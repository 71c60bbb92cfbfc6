"""``canaryline register``, ``adopt`` and ``archive``: versions written from a training job, adopted from a
BentoML model store, and archived once no plan uses them. Each writes to the store of the settings (and the
artifact store, ``CANARYLINE_ARTIFACTS``) all or nothing; a refusal exits 2 with one line saying why."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from registry_client.cli.context import actor, invocation
from registry_client.cli.names import ModelArg, VersionArg, version_name
from registry_client.cli.output import JsonOpt, console, print_json
from registry_client.domain.model_version import ModelVersion
from registry_client.errors import InputError
from registry_client.registry.model_files import FRAMEWORKS

__all__ = ["adopt", "archive", "parse_pairs", "register"]

_NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def parse_pairs(pairs: list[str], option: str) -> dict[str, Any]:
    """``k=v`` pairs as a dict: a value that is JSON (``0.1``, ``true``, ``[1, 2]``) is that value, any other is
    text. InputError for a pair without ``=``, an empty key, a key given twice, or NaN / infinity."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InputError(f"{option} {pair!r}: expected KEY=VALUE")
        if key in found:
            raise InputError(f"{option} {key!r} is given twice")
        if raw.strip().lower() in _NON_FINITE:
            raise InputError(f"{option} {key!r}: {raw!r} is not a finite number; NaN and infinity are refused")
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{option} {key!r}: {raw!r} is not a finite number")
        found[key] = value
    return found


def _report(registered: ModelVersion, source: str, as_json: bool) -> None:
    if as_json:
        print_json(registered.to_dict())
        return
    framework = registered.framework.removeprefix("bentoml.")
    console.print(
        f"{registered.model}: registered {registered.version} ({registered.task}, {framework}) from {source}; "
        f"artifact {registered.artifact_uri}",
        highlight=False,
        soft_wrap=True,
    )


def register(
    ctx: typer.Context,
    model: ModelArg,
    file: Annotated[Path, typer.Argument(help="the model file the training job wrote")],
    framework: Annotated[str, typer.Option(help=f"the file's framework: {', '.join(FRAMEWORKS)}")],
    version: Annotated[
        str | None, typer.Option(help="the version's name (default: the next vN)", callback=version_name)
    ] = None,
    task: Annotated[str | None, typer.Option(help="classification or regression, when the file cannot tell")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="a training parameter, KEY=VALUE")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="an evaluation result, KEY=VALUE")] = None,
    data_version: Annotated[str | None, typer.Option(help="the data it was trained on (e.g. the batch)")] = None,
    code_version: Annotated[str | None, typer.Option(help="the code that trained it (e.g. the commit)")] = None,
    description: Annotated[str, typer.Option(help="what this version is")] = "",
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="allow a scikit-learn pickle: unpickling runs its code")
    ] = False,
    allow_schema_change: Annotated[
        bool, typer.Option("--allow-schema-change", help="accept inputs that differ from the other versions'")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register FILE (XGBoost .json/.ubj, LightGBM .txt, ONNX .onnx, or a scikit-learn pickle with
    --trust-pickle) as a new version of MODEL, with its params, metrics, data and code versions."""
    params = parse_pairs(param or [], "--param")
    metrics = parse_pairs(metric or [], "--metric")
    registered = (
        invocation(ctx)
        .registry()
        .register_file(
            model,
            file,
            framework=framework,
            trust_pickle=trust_pickle,
            version=version,
            task=task,
            params=params,
            metrics=metrics,
            data_version=data_version,
            code_version=code_version,
            description=description,
            allow_schema_change=allow_schema_change,
            actor=actor(),
        )
    )
    _report(registered, str(file), as_json)


def adopt(
    ctx: typer.Context,
    tag: Annotated[str, typer.Argument(help="NAME:VERSION in this machine's BentoML model store")],
    task: Annotated[str | None, typer.Option(help="classification or regression, when the model cannot tell")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a model already saved in the BentoML model store (BENTOML_HOME) as that version."""
    registered = invocation(ctx).registry().adopt(tag, task=task, actor=actor())  # type: ignore[arg-type]
    _report(registered, f"BentoML's {tag}", as_json)


def archive(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    reason: Annotated[str, typer.Option(help="why it is archived")] = "",
    prune: Annotated[bool, typer.Option("--prune", help="delete its archive from the artifact store too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Archive VERSION of MODEL (refused while its plan uses it); it stays in the history and in versions --all."""
    archived = invocation(ctx).registry().archive(model, version, actor=actor(), reason=reason, prune=prune)
    if as_json:
        print_json(archived.to_dict())
        return
    console.print(f"{model}: archived {version}" + (" and deleted its archive" if prune else ""), highlight=False)
