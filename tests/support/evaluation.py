"""Joined rows and plan histories for the evaluation tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registry_client.analysis.joined import JoinedRow
from registry_client.domain.plan import AuditEntry, Canary, Plan


def plan_history(*canaries: tuple[str, str | None]) -> list[AuditEntry]:
    """Audit entries of revisions 1, 2, …: (stable, canary or None) each, one second apart."""
    entries, before = [], None
    for revision, (stable, canary) in enumerate(canaries, start=1):
        plan = Plan(
            model="iris",
            stable=stable,
            canary=None if canary is None else Canary(version=canary, weight=30),
            revision=revision,
            updated_at=datetime.fromtimestamp(1_700_000_000 + revision, UTC),
        )
        entries.append(AuditEntry.of(plan, before=before, action="create" if before is None else "canary"))
        before = plan
    return entries


#: Canary v2 over stable v1 in revision 1: the plan of every joined_row().
CANARY_AT_1 = plan_history(("v1", "v2"))


def joined_row(
    request: str,
    version: str,
    route: str,
    prediction: Any,
    outcome: Any,
    *,
    shadow: bool = False,
    latency: float = 10.0,
    index: int = 0,
    prediction_id: str | None = None,
    model: str = "iris",
) -> JoinedRow:
    """A joined row of ``request`` at revision 1 (inputs [1.0, 2.0]); its prediction_id is ``p-``/``s-`` and
    the request unless given."""
    return JoinedRow(
        prediction_id=prediction_id or f"{'s' if shadow else 'p'}-{request}",
        request_id=request,
        ts=1_700_000_000.0,
        model=model,
        model_version=version,
        route=route,
        shadow=shadow,
        revision=1,
        row_index=index,
        inputs=[1.0, 2.0],
        prediction=prediction,
        outcome=outcome,
        latency_ms=latency,
    )
