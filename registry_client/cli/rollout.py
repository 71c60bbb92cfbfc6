"""``canaryline rollout start | status | pause | resume | abort | promote``: progressive delivery.

The CLI writes the spec and reads the state only; the leading gateway's controller does the rest, so closing
the terminal changes nothing. Changes go through a gateway's admin API with the admin token, like ``canary``;
``status`` asks a gateway when one is named and reads the store otherwise.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from registry_client.cli.context import invocation
from registry_client.cli.control import GatewayOpt, ReadGatewayOpt, ReasonOpt
from registry_client.cli.names import ModelArg, VersionArg
from registry_client.cli.output import JsonOpt, console, print_json
from registry_client.rollout.commands import Rollouts
from registry_client.rollout.spec import build_spec, read_spec_file

__all__ = ["abort", "app", "describe", "pause", "promote", "resume", "start", "status"]

app = typer.Typer(help="Progressive delivery gated on ground truth: step a version up, or roll it back.")
_TERMINAL = ("promoted", "rolled_back", "aborted", "ended")


@app.command()
def start(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why: recorded with every decision.")] = None,
    spec_file: Annotated[Path | None, typer.Option("--spec", help="A YAML file of these options.")] = None,
    steps: Annotated[str | None, typer.Option(help="Canary weights in percent; 100 promotes. [5,25,50,100]")] = None,
    step_duration: Annotated[str | None, typer.Option(help="Least time per step, e.g. 10m. [10m]")] = None,
    max_step_duration: Annotated[str | None, typer.Option(help="Pause (or roll back) without a verdict. [1h]")] = None,
    shadow_first: Annotated[str | None, typer.Option(help="Run as a 100% shadow for this long first.")] = None,
    min_agreement: Annotated[
        float | None, typer.Option(help="With --shadow-first: least share of rows predicted as stable does.")
    ] = None,
    margin: Annotated[float | None, typer.Option(help="Non-inferiority margin on accuracy / MAE. [0.01]")] = None,
    label_delay: Annotated[str | None, typer.Option(help="Only requests older than this count. [1h]")] = None,
    min_outcomes: Annotated[int | None, typer.Option(help="Outcomes per arm before any verdict. [200]")] = None,
    max_p99_ratio: Annotated[float | None, typer.Option(help="Canary p99 / stable p99 at most. [1.2]")] = None,
    max_error_rate_increase: Annotated[float | None, typer.Option(help="Error-rate increase at most. [0.005]")] = None,
    on_timeout: Annotated[str | None, typer.Option(help="pause or rollback at max-step-duration. [pause]")] = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start rolling VERSION of MODEL out step by step; the gateways' controller promotes or rolls it back."""
    options: dict[str, Any] = read_spec_file(spec_file) if spec_file is not None else {}
    given = {
        "reason": reason,
        "steps": steps,
        "step_duration": step_duration,
        "max_step_duration": max_step_duration,
        "shadow_first": shadow_first,
        "min_agreement": min_agreement,
        "margin": margin,
        "label_delay": label_delay,
        "min_outcomes": min_outcomes,
        "max_p99_ratio": max_p99_ratio,
        "max_error_rate_increase": max_error_rate_increase,
        "on_timeout": on_timeout,
    }
    options.update({k: v for k, v in given.items() if v is not None}, model=model, version=version)
    spec = build_spec(options)  # refused here, with the field named, before anything is sent
    body = spec.model_dump(mode="json", exclude={"model", "actor"})
    with invocation(ctx).client(gateway) as client:
        state = client.start_rollout(model, body)
    if as_json:
        print_json(state)
        return
    console.print(
        f"{model}: rollout of {version} started (steps {', '.join(f'{w:g}%' for w in spec.steps)}); "
        f"the controller applies the first step at its next tick",
        highlight=False,
    )


@app.command()
def status(
    ctx: typer.Context,
    model: ModelArg,
    gateway: ReadGatewayOpt = None,
    as_json: JsonOpt = False,
    watch: Annotated[bool, typer.Option("--watch", help="Print it again every 2 s until the rollout ends.")] = False,
) -> None:
    """Phase, step, weight, time in step, and each gate's counts, estimate, interval, threshold and verdict."""
    while True:
        state = _read(ctx, model, gateway)
        if as_json:
            print_json(state)
        else:
            console.print(describe(state))
        if not watch or state["phase"] in _TERMINAL:
            return
        time.sleep(2)


def _read(ctx: typer.Context, model: str, gateway: str | None) -> dict[str, Any]:
    if invocation(ctx).asks_gateway(gateway):
        with invocation(ctx).client(gateway) as client:
            return client.rollout(model)
    return Rollouts(invocation(ctx).registry()).get(model).model_dump(mode="json")


def _number(value: float | None, spec: str = "+.4f") -> str:
    return "-" if value is None else format(value, spec)


def describe(state: dict[str, Any]) -> Table:
    """The rollout as a table of its gates, titled with its phase, step, weight and time in step."""
    spec = state["spec"]
    steps = [w for w in spec["steps"] if w < 100]
    where = state["phase"]
    if state["phase"] in ("step", "paused") and state.get("revisions"):
        where += f" {state['step'] + 1}/{len(steps)} at {steps[state['step']]:g}%"
    in_step = time.time() - state["step_started_at"]
    title = (
        f"{spec['model']}: rollout of {spec['version']} over {state['stable']}: {where}, "
        f"{in_step:.0f}s in step (min {spec['step_duration_s']:g}s, max {spec['max_step_duration_s']:g}s)"
    )
    table = Table("gate", "verdict", "n canary", "n stable", "estimate", "interval", "threshold", "needed", "reason")
    table.title = Text(title)
    for gate in state.get("last_gates") or []:
        interval = f"[{_number(gate['low'])}, {_number(gate['high'])}]" if gate["low"] is not None else "-"
        cells = (
            gate["gate"],
            gate["verdict"],
            str(gate["n_canary"]),
            str(gate["n_stable"]),
            _number(gate["estimate"]),
            interval,
            _number(gate["threshold"], "g"),
            "-" if gate.get("needed") is None else str(gate["needed"]),
            gate["reason"],
        )
        table.add_row(*(Text(cell) for cell in cells))  # as text: reasons are user input, never rich markup
    last = (state.get("decisions") or [None])[-1]
    if last is not None:
        at = datetime.fromisoformat(last["at"]).strftime("%H:%M:%S")
        table.caption = Text(f"last decision {at} {last['action']} by {last['actor']}: {last['reason']}")
    return table


def _command(ctx: typer.Context, model: str, command: str, reason: str, gateway: str | None, as_json: bool) -> None:
    with invocation(ctx).client(gateway) as client:
        state = client.rollout_command(model, command, reason=reason, force=command == "promote")
    if as_json:
        print_json(state)
        return
    console.print(f"{model}: rollout of {state['spec']['version']} is {state['phase']}", highlight=False)


@app.command()
def pause(
    ctx: typer.Context, model: ModelArg, reason: ReasonOpt, gateway: GatewayOpt = None, as_json: JsonOpt = False
) -> None:
    """Stop deciding: the canary keeps its weight until resumed or ended."""
    _command(ctx, model, "pause", reason, gateway, as_json)


@app.command()
def resume(
    ctx: typer.Context, model: ModelArg, reason: ReasonOpt, gateway: GatewayOpt = None, as_json: JsonOpt = False
) -> None:
    """Decide again, with the step's clock restarted."""
    _command(ctx, model, "resume", reason, gateway, as_json)


@app.command()
def abort(
    ctx: typer.Context, model: ModelArg, reason: ReasonOpt, gateway: GatewayOpt = None, as_json: JsonOpt = False
) -> None:
    """End the rollout; its canary (or shadow) is cleared and stable stays."""
    _command(ctx, model, "abort", reason, gateway, as_json)


@app.command()
def promote(
    ctx: typer.Context,
    model: ModelArg,
    reason: ReasonOpt,
    force: Annotated[bool, typer.Option("--force", help="Required: promote whatever the gates say.")] = False,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the rollout's version stable now and end the rollout (--force: the gates are not consulted)."""
    if not force:
        raise typer.BadParameter("promoting before the gates pass needs --force", param_hint="--force")
    _command(ctx, model, "promote", reason, gateway, as_json)
