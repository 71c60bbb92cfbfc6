"""Routing: which version of a model serves a request. Pure functions over a plan; no I/O.

1. Pinned: a requested version is served when the plan serves it (stable, canary or shadow).
2. Canary: with a routing key and a sticky canary, bucket = stable hash of (model, key) into 10,000
   buckets, canary when bucket < weight × 100; raising the weight only moves keys stable → canary.
   Without a key (or a non-sticky canary) the draw is random with the canary's weight.
3. Otherwise stable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from registry_client.domain.plan import Plan
from registry_client.errors import NotFoundError

__all__ = ["BUCKETS", "Decision", "Route", "bucket", "canary_threshold", "choose", "shadow_sampled"]

BUCKETS = 10_000
Route = Literal["stable", "canary", "pinned"]


@dataclass(frozen=True, slots=True)
class Decision:
    version: str
    route: Route
    revision: int


def bucket(model: str, key: str) -> int:
    """Stable across processes and restarts (unlike ``hash``): blake2b of model and key."""
    digest = hashlib.blake2b(f"{model}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def canary_threshold(weight: float) -> int:
    """Buckets below this serve the canary: weight (percent, two decimals) × 100."""
    return round(weight * 100)


def choose(plan: Plan, *, pin: str | None, key: str | None, draw: Callable[[], float]) -> Decision:
    """Decide the version for one request. ``draw`` returns a uniform float in [0, 1)."""
    if pin is not None:
        if pin in plan.serving_versions():
            return Decision(pin, "pinned", plan.revision)
        raise NotFoundError(
            f"model {plan.model!r} does not serve version {pin!r}; versions being served: "
            + ", ".join(plan.serving_versions()),
            code="version_not_served",
        )
    canary = plan.canary
    if canary is not None:
        threshold = canary_threshold(canary.weight)
        sticky = key is not None and canary.sticky
        if (bucket(plan.model, key) if sticky and key is not None else draw() * BUCKETS) < threshold:
            return Decision(canary.version, "canary", plan.revision)
    return Decision(plan.stable, "stable", plan.revision)


def shadow_sampled(plan: Plan, draw: Callable[[], float]) -> str | None:
    """The shadow version when this request is in the shadow's sample, else None."""
    shadow = plan.shadow
    if shadow is None:
        return None
    if shadow.sample >= 100 or draw() * 100 < shadow.sample:
        return shadow.version
    return None
