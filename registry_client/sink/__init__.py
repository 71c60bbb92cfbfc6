"""``canaryline sink``: the gateways' Redis streams drained into PostgreSQL, the analysts' store of record.

Gateways log to Redis (an ack costs a Lua call in memory); one or more sink processes, in one Redis
consumer group, copy every prediction record and outcome into PostgreSQL, at least once from Redis and
exactly once into PostgreSQL (on ``prediction_id``), acknowledging an entry only after PostgreSQL
committed it. Modules: :mod:`~registry_client.sink.source` (Redis: streams, group, claims),
:mod:`~registry_client.sink.batch` (entries read back), :mod:`~registry_client.sink.target` (PostgreSQL),
:mod:`~registry_client.sink.mirror` (plans and their audit), :mod:`~registry_client.sink.catalog` (versions and
the registry audit), :mod:`~registry_client.sink.loop` (the loop).
"""

from __future__ import annotations

from registry_client.sink.loop import Sink, Totals
from registry_client.sink.source import DEAD_LETTERS, RedisSource
from registry_client.sink.target import PostgresTarget

__all__ = ["DEAD_LETTERS", "PostgresTarget", "RedisSource", "Sink", "Totals"]
