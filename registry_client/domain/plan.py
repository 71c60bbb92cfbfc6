"""The routing plan of one model, and the audit entry written for every change of it.

A plan is a value: changing one means building the next revision with :meth:`Plan.evolve`; the
store keeps the current plan and appends an :class:`AuditEntry` per revision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry_client.errors import PlanError

__all__ = ["AuditEntry", "Canary", "Plan", "PlanAction", "Shadow", "first_error", "utcnow"]

PlanAction = Literal["create", "promote", "canary", "clear_canary", "shadow", "clear_shadow", "rollback"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _two_decimals(value: float, field: str) -> float:
    if round(value, 2) != value:
        raise ValueError(f"{field} {value} has more than two decimals")
    return value


class Canary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    #: Percent of unpinned traffic, 0 < weight <= 100, at most two decimals.
    weight: float = Field(gt=0, le=100)
    sticky: bool = True

    @field_validator("weight")
    @classmethod
    def _weight_precision(cls, value: float) -> float:
        return _two_decimals(value, "weight")


class Shadow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    #: Percent of primary requests mirrored to the shadow version, 0 < sample <= 100.
    sample: float = Field(default=100.0, gt=0, le=100)

    @field_validator("sample")
    @classmethod
    def _sample_precision(cls, value: float) -> float:
        return _two_decimals(value, "sample")


class Plan(BaseModel):
    """Which versions of ``model`` serve, and how traffic is split between them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    stable: str
    canary: Canary | None = None
    shadow: Shadow | None = None
    revision: int = Field(ge=1)
    updated_at: datetime = Field(default_factory=utcnow)
    actor: str = "system"
    reason: str = ""

    @model_validator(mode="after")
    def _distinct_versions(self) -> Plan:
        if self.canary is not None and self.canary.version == self.stable:
            raise ValueError(f"canary version {self.canary.version!r} is the stable version")
        if self.shadow is not None and self.shadow.version == self.stable:
            raise ValueError(f"shadow version {self.shadow.version!r} is the stable version")
        return self

    def serving_versions(self) -> tuple[str, ...]:
        """Every version this plan needs loaded: stable first, then canary and shadow."""
        versions = [self.stable]
        for extra in (self.canary, self.shadow):
            if extra is not None and extra.version not in versions:
                versions.append(extra.version)
        return tuple(versions)

    def evolve(self, *, actor: str, reason: str, **changes: Any) -> Plan:
        """The next revision with ``changes`` applied; raises PlanError when it would be invalid."""
        data = self.model_dump()
        data.update(changes)
        data.update(revision=self.revision + 1, updated_at=utcnow(), actor=actor, reason=reason)
        try:
            return Plan.model_validate(data)
        except ValueError as exc:
            raise PlanError(f"model {self.model!r}: {first_error(exc)}") from exc

    @classmethod
    def initial(cls, model: str, stable: str, *, actor: str = "registry", reason: str = "") -> Plan:
        return cls(model=model, stable=stable, revision=1, actor=actor, reason=reason or "first version")


class AuditEntry(BaseModel):
    """One change of a plan, as it is kept in the append-only history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    revision: int
    at: datetime
    actor: str
    action: PlanAction
    reason: str
    before: Plan | None
    after: Plan
    #: What an automatic decision was taken on (a rollout's window, counts, estimates, intervals, method and
    #: thresholds), so it can be recomputed from the export; None for a change a human made.
    evidence: dict[str, Any] | None = None

    @classmethod
    def of(
        cls, plan: Plan, *, before: Plan | None, action: PlanAction, evidence: dict[str, Any] | None = None
    ) -> AuditEntry:
        """The entry recording ``plan`` (who, when and why come from the plan itself)."""
        return cls(
            model=plan.model,
            revision=plan.revision,
            at=plan.updated_at,
            actor=plan.actor,
            action=action,
            reason=plan.reason,
            before=before,
            after=plan,
            evidence=evidence,
        )


def first_error(exc: ValueError) -> str:
    """The first validation problem of a pydantic error as ``field: message``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(part) for part in first.get("loc", ()))
        msg = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"{loc}: {msg}" if loc else msg
    return str(exc)
