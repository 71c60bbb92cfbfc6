"""``canaryline status``, ``promote``, ``canary``, ``shadow`` and ``rollback``: the control plane.

Changes go to a gateway's admin API (``--gateway``, ``$CANARYLINE_GATEWAY`` or the local one) with the admin
token, so the gateway that saves a revision applies it before answering and every other worker and replica
follows through the store. ``status`` reads a gateway when one is named, else the store (as ``history``
does: :mod:`~registry_client.cli.history`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from registry_client.cli.context import invocation
from registry_client.cli.names import ModelArg, VersionArg, version_name
from registry_client.cli.output import JsonOpt, console, err_console, fail, print_json
from registry_client.control import ControlPlane
from registry_client.settings import redact_url

__all__ = ["canary", "describe_plan", "promote", "rollback", "shadow", "status"]


GatewayOpt = Annotated[
    str | None,
    typer.Option("--gateway", help="Gateway base URL [default: $CANARYLINE_GATEWAY or http://127.0.0.1:3000]"),
]
ReadGatewayOpt = Annotated[
    str | None,
    typer.Option("--gateway", help="Ask this gateway [default: $CANARYLINE_GATEWAY; unset: read the store]"),
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: recorded in the audit history.")]
ExpectOpt = Annotated[
    int | None, typer.Option("--expected-revision", help="Refuse (409) if the plan is no longer at this revision.")
]


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


def status(ctx: typer.Context, model: ModelArg, gateway: ReadGatewayOpt = None, as_json: JsonOpt = False) -> None:
    """What the gateway serves for MODEL: plan in force, loaded versions, load errors, shadow counters.

    With no gateway named, the plan comes from the store (what every gateway applies)."""
    if not invocation(ctx).asks_gateway(gateway):
        _status_from_store(ctx, model, as_json)
        return
    with invocation(ctx).client(gateway) as client:
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


def _status_from_store(ctx: typer.Context, model: str, as_json: bool) -> None:
    registry = invocation(ctx).registry()
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


def promote(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    reason: ReasonOpt,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make VERSION the stable version of MODEL."""
    with invocation(ctx).client(gateway) as client:
        _report(client.promote(model, version, reason=reason, expected_revision=expected_revision), as_json)


def canary(
    ctx: typer.Context,
    model: ModelArg,
    reason: ReasonOpt,
    version: Annotated[
        str | None, typer.Argument(help="Version to canary (omit with --clear).", callback=version_name)
    ] = None,
    weight: Annotated[float | None, typer.Option(help="Percent of traffic, up to two decimals.")] = None,
    sticky: Annotated[bool, typer.Option("--sticky/--no-sticky", help="Same routing key, same version.")] = True,
    clear: Annotated[bool, typer.Option("--clear", help="End the canary.")] = False,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a share of MODEL's traffic to VERSION, or end the canary with --clear."""
    with invocation(ctx).client(gateway) as client:
        if clear:
            result = client.clear_canary(model, reason=reason, expected_revision=expected_revision)
        elif version is None or weight is None:
            fail("canary needs VERSION and --weight (or --clear)", 2)
        else:
            result = client.set_canary(
                model, version, weight=weight, sticky=sticky, reason=reason, expected_revision=expected_revision
            )
    _report(result, as_json)


def shadow(
    ctx: typer.Context,
    model: ModelArg,
    reason: ReasonOpt,
    version: Annotated[
        str | None, typer.Argument(help="Version to mirror traffic to (omit with --clear).", callback=version_name)
    ] = None,
    sample: Annotated[float, typer.Option(help="Percent of primary requests mirrored.")] = 100.0,
    clear: Annotated[bool, typer.Option("--clear", help="Stop shadowing.")] = False,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mirror a sample of MODEL's traffic to VERSION (clients never see it), or stop with --clear."""
    with invocation(ctx).client(gateway) as client:
        if clear:
            result = client.clear_shadow(model, reason=reason, expected_revision=expected_revision)
        elif version is None:
            fail("shadow needs VERSION (or --clear)", 2)
        else:
            result = client.set_shadow(
                model, version, sample=sample, reason=reason, expected_revision=expected_revision
            )
    _report(result, as_json)


def rollback(
    ctx: typer.Context,
    model: ModelArg,
    reason: ReasonOpt,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Roll back to this version instead of the previous stable.", callback=version_name),
    ] = None,
    expected_revision: ExpectOpt = None,
    gateway: GatewayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Clear the canary and shadow; with neither, make the previous stable version stable again (or --to)."""
    with invocation(ctx).client(gateway) as client:
        _report(client.rollback(model, to=to, reason=reason, expected_revision=expected_revision), as_json)
