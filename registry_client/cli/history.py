"""``canaryline history``: a model's audit, oldest first, in up to three tables.

The plan's changes (every revision, with actor and reason); the registry audit (versions registered and
archived; from the store only: the gateway has no route for it); and the decisions of the model's latest
rollout: the controller's (begin, advance, promote, rollback, …) and a human's (pause, resume, abort,
promote), from the CLI or the console alike, with actor and reason. A pause or resume changes no plan, so
it is only in that third table. The store keeps each model's latest rollout, so an earlier rollout's
decisions are gone once another starts; the plan changes they made stay in the first table.

Every cell is printed as text: actors and reasons are whatever a caller typed, and ``[bold]`` in one is
printed as written, not taken for rich markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from registry_client.cli.context import invocation
from registry_client.cli.control import ReadGatewayOpt, describe_plan
from registry_client.cli.names import ModelArg
from registry_client.cli.output import JsonOpt, console, print_json
from registry_client.client.gateway import GatewayClient
from registry_client.control import ControlPlane
from registry_client.errors import GatewayRefusedError, RolloutNotFoundError

__all__ = ["history"]


def _at(iso: str) -> str:
    return iso[:19].replace("T", " ")


def _table(title: str, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> Table:
    table = Table(*columns, title=Text(title))
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _record(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What history keeps of a rollout state (``model_dump(mode="json")`` or the gateway's): which
    rollout, where it ended up, and every decision."""
    if state is None:
        return None
    keys = ("id", "stable", "phase", "decisions")
    return {"version": state["spec"]["version"], **{key: state[key] for key in keys}}


def _revision(entry: dict[str, Any]) -> str:
    return "" if entry["revision"] is None else str(entry["revision"])


def _where(decision: dict[str, Any]) -> str:
    step = decision["step"] + 1
    phase: str = decision["phase"]
    return {"step": f"step {step}", "paused": f"paused at step {step}"}.get(phase, phase)


def _from_gateway(client: GatewayClient, model: str) -> dict[str, Any]:
    entries = client.history(model)
    try:
        state: dict[str, Any] | None = client.rollout(model)
    except GatewayRefusedError as exc:
        if exc.code != RolloutNotFoundError.code:
            raise
        state = None
    return {"model": model, "plan": entries, "registry": None, "rollout": _record(state)}


def _from_store(ctx: typer.Context, model: str) -> dict[str, Any]:
    registry = invocation(ctx).registry()
    entries = [entry.model_dump(mode="json") for entry in ControlPlane(registry).history(model)]
    state = registry.store.get_rollout(model)
    return {
        "model": model,
        "plan": entries,
        "registry": [event.to_dict() for event in registry.events(model)],
        "rollout": _record(state.model_dump(mode="json") if state is not None else None),
    }


def history(ctx: typer.Context, model: ModelArg, gateway: ReadGatewayOpt = None, as_json: JsonOpt = False) -> None:
    """MODEL's audit, oldest first: plan changes, the registry audit (from the store) and the latest
    rollout's decisions (pause, resume, abort, promote, step, … with actor and reason)."""
    if invocation(ctx).asks_gateway(gateway):
        with invocation(ctx).client(gateway) as client:
            found = _from_gateway(client, model)
    else:
        found = _from_store(ctx, model)
    if as_json:
        print_json(found)
        return
    _print(found)


def _print(found: dict[str, Any]) -> None:
    model = found["model"]
    plan = [
        (_revision(e), _at(e["at"]), e["actor"], e["action"], describe_plan(e["after"], heading=False), e["reason"])
        for e in found["plan"]
    ]
    console.print(_table(f"{model}: plan history", ("rev", "at", "actor", "action", "plan after", "reason"), plan))
    if found["registry"]:
        events = [(_at(e["at"]), e["actor"], e["action"], e["version"], e["reason"]) for e in found["registry"]]
        console.print(_table(f"{model}: registry audit", ("at", "actor", "action", "version", "reason"), events))
    rollout = found["rollout"]
    if rollout is None:
        return
    decisions = [
        (_at(d["at"]), d["actor"], d["action"], _where(d), _revision(d), d["reason"]) for d in rollout["decisions"]
    ]
    title = f"{model}: decisions of the rollout of {rollout['version']} over {rollout['stable']} ({rollout['phase']})"
    console.print(_table(title, ("at", "actor", "action", "phase after", "rev", "reason"), decisions))
