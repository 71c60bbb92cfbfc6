"""Outcomes Redis held before any sink ran, copied into PostgreSQL once.

The Redis store journals outcomes to ``canaryline:outcomes`` only once that stream exists, and the first
sink creates it (with its group): a fleet without a sink pays nothing for the journal. Outcomes posted
before then live only in their keys (``canaryline:outcome:{request_id}``,
``canaryline:outcome-of:{prediction_id}``, until their TTL), so after the journal exists the sink scans
those keys, 1,000 at a time (bounded memory), and merges them into PostgreSQL (a value that is not an
outcome, or one PostgreSQL refuses, is skipped and stays in Redis); an outcome posted during
the scan is both scanned and journaled, and the merge (never over a later-received outcome) writes it once.
``canaryline:sink:backfilled`` records that a scan finished, so it runs once per Redis, not once per start;
a sink stopped mid-scan leaves it unset, and the next one scans again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import cast

import orjson
import redis

from registry_client.domain.records import OutcomeRecord
from registry_client.store.redis_rollouts import PREFIX

__all__ = ["BACKFILLED", "backfilled", "mark_backfilled", "stored_outcomes"]

#: Set (to the time, in seconds) once the outcome keys have been copied into PostgreSQL.
BACKFILLED = f"{PREFIX}:sink:backfilled"
PAGE = 1000
_REQUEST = f"{PREFIX}:outcome:"
_PREDICTION = f"{PREFIX}:outcome-of:"


def backfilled(client: redis.Redis) -> bool:
    return bool(client.exists(BACKFILLED))


def mark_backfilled(client: redis.Redis) -> None:
    client.set(BACKFILLED, str(time.time()))


def stored_outcomes(client: redis.Redis) -> Iterator[list[OutcomeRecord]]:
    """Every outcome key's outcome, a page (up to 1,000) at a time."""
    for prefix in (_REQUEST, _PREDICTION):
        keys: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=PAGE):
            keys.append(key)
            if len(keys) >= PAGE:
                yield _read(client, prefix, keys)
                keys = []
        if keys:
            yield _read(client, prefix, keys)


def _read(client: redis.Redis, prefix: str, keys: list[bytes]) -> list[OutcomeRecord]:
    values = cast("list[bytes | None]", client.mget(keys))
    found = []
    for key, raw in zip(keys, values, strict=True):
        if raw is None:  # expired since the scan saw it
            continue
        name = key.decode(errors="replace").removeprefix(prefix)
        by_prediction = prefix == _PREDICTION
        try:
            data = orjson.loads(raw)
            found.append(
                OutcomeRecord(
                    request_id=data["request_id"] if by_prediction else name,
                    outcome=data["outcome"],
                    observed_at=float(data["observed_at"]),
                    received_at=float(data["received_at"]),
                    prediction_id=name if by_prediction else None,
                )
            )
        except (KeyError, TypeError, ValueError):  # not an outcome the store wrote: left where it is
            continue
    return found
