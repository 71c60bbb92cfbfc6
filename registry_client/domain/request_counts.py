"""Request counts: how many routed requests each version served or failed, per plan revision and route.

A failed request (the model refused the input, an output was not finite, the log could not keep the
record) writes no prediction record, so the log alone cannot give an error rate. The gateway counts every
routed request in-process and adds the counts to the store in batches (one write a second, off the request
path); the rollout's error and sample-ratio gates read them back per revision. A sticky canary routes a keyed
request by its key's bucket (one of 10,000), so for keyed requests the distinct buckets are kept too: the
sample-ratio gate counts buckets, not requests, for them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CountKey", "RequestCount"]


@dataclass(frozen=True, slots=True)
class CountKey:
    """What a count is kept by: the model, the version that served, the revision that routed, the route and
    whether the request carried a routing key."""

    model: str
    version: str
    revision: int
    route: str  # stable | canary | pinned
    keyed: bool


@dataclass(frozen=True, slots=True)
class RequestCount:
    """Requests counted under one key: ``served`` (answered and logged) and ``failed`` (refused after routing),
    and for keyed requests the distinct routing-key buckets seen (the unit a sticky canary assigns)."""

    key: CountKey
    served: int = 0
    failed: int = 0
    buckets: frozenset[int] = frozenset()
