"""The sink's Redis side: the prediction streams and the outcome journal, read through one consumer group.

Streams: ``canaryline:log:{model}`` for every model in ``canaryline:models`` (looked up again at most
every second, so a model's first record is picked up without a restart) and ``canaryline:outcomes``. The
group (``CANARYLINE_SINK_GROUP``) is created on each stream at ID ``0`` the first time the sink sees it,
so every entry the stream still holds is delivered, including those written before any sink ran.

Each entry is handed to one consumer of the group and stays in the group's pending list until
:meth:`RedisSource.ack`, which the sink calls only after PostgreSQL committed it: a sink that dies
between the two leaves its entries pending, and they are delivered again, to itself when it restarts
under the same name (:meth:`RedisSource.own_pending`), or to another sink once they have been idle for
``claim_idle_ms`` (:meth:`RedisSource.claim`, XAUTOCLAIM).

An entry trimmed from its stream (MAXLEN) while it was pending comes back without fields: it is lost to
the sink, counted and acknowledged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import redis

from registry_client.store.redis import OUTCOMES_STREAM, RedisStore, log_key
from registry_client.store.redis_rollouts import PREFIX

__all__ = ["DEAD_LETTERS", "Entry", "RedisSource"]

#: Entries PostgreSQL refused or that could not be read, with the reason (trimmed to about 100,000).
DEAD_LETTERS = f"{PREFIX}:sink:dead"
_DISCOVER_S = 1.0
_Page = list[tuple[bytes, dict[bytes, bytes]]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: where it is, and its fields (empty: trimmed from the stream while pending)."""

    stream: str
    id: bytes
    fields: dict[bytes, bytes]


class RedisSource:
    """Not thread-safe: the sink's one loop owns it. Redis errors propagate as ``redis.RedisError``."""

    def __init__(
        self,
        store: RedisStore,
        *,
        group: str,
        consumer: str,
        batch: int,
        block_ms: int,
        claim_idle_ms: int,
        linger_ms: int = 0,
    ) -> None:
        self.store = store
        self.client = store.client
        self.group = group
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.linger_ms = linger_ms
        self._known: list[str] = []
        self._looked_at = -float("inf")
        self._turn = 0

    def streams(self) -> list[str]:
        """Every stream the sink drains, the group created on any seen for the first time."""
        if time.monotonic() - self._looked_at >= _DISCOVER_S:
            wanted = [OUTCOMES_STREAM, *(log_key(m) for m in self.store.logged_models())]
            for stream in wanted:
                if stream not in self._known:
                    self._create_group(stream)
                    self._known.append(stream)
            self._looked_at = time.monotonic()
        return self._known

    def _create_group(self, stream: str) -> None:
        try:
            self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # the group exists already: another sink, or an earlier run
                raise

    def _per_stream(self, streams: list[str]) -> int:
        return max(1, self.batch // max(len(streams), 1))

    def _read(self, start: str, block: int | None, limit: int | None = None) -> list[Entry]:
        """Up to ``limit`` entries (one batch): stream by stream (each turn starting one stream further, so
        none starves), without waiting; when none has an entry and ``block`` is given, one read of all that
        waits."""
        streams = self.streams()
        limit = self.batch if limit is None else limit
        self._turn = (self._turn + 1) % len(streams)
        taken: list[Entry] = []
        for stream in streams[self._turn :] + streams[: self._turn]:
            if len(taken) >= limit:
                break
            taken += self._group_read({stream: start}, limit - len(taken), None)
        if not taken and block is not None:
            taken = self._group_read(dict.fromkeys(streams, start), self._per_stream(streams), block)
        return taken

    def _group_read(self, streams: dict[str, str], count: int, block: int | None) -> list[Entry]:
        reply = cast(
            "list[tuple[bytes, _Page]] | None",
            self.client.xreadgroup(self.group, self.consumer, streams, count=count, block=block),  # type: ignore[arg-type]
        )
        return [Entry(name.decode(), entry_id, fields or {}) for name, page in reply or [] for entry_id, fields in page]

    def own_pending(self) -> list[Entry]:
        """Entries delivered to this consumer name before and never acknowledged (a previous run of it)."""
        return self._read("0", None)

    def new(self) -> list[Entry]:
        """Entries never delivered to the group, waiting up to ``block_ms`` for the first; when fewer than a
        batch came, ``linger_ms`` more for others to join them (one PostgreSQL transaction for many records
        instead of one each: every transaction has a fixed cost, a commit, the COPY's set-up and round trips)."""
        entries = self._read(">", self.block_ms)
        if entries and len(entries) < self.batch and self.linger_ms:
            time.sleep(self.linger_ms / 1000)
            entries += self._read(">", None, self.batch - len(entries))
        return entries

    def claim(self) -> tuple[list[Entry], int]:
        """Entries another consumer has left unacknowledged for ``claim_idle_ms``, now this one's (at most
        one batch), and how many pending entries were gone from their stream (trimmed; no longer pending)."""
        taken: list[Entry] = []
        gone = 0
        streams = self.streams()
        for stream in streams:
            reply: list[Any] = self.client.xautoclaim(
                stream,
                self.group,
                self.consumer,
                min_idle_time=self.claim_idle_ms,
                start_id="0-0",
                count=self._per_stream(streams),
            )
            taken += [Entry(stream, entry_id, fields or {}) for entry_id, fields in cast(_Page, reply[1])]
            gone += len(reply[2]) if len(reply) > 2 else 0
        return taken, gone

    def ack(self, entries: list[Entry]) -> None:
        """Acknowledge ``entries`` (one round trip): the group will not deliver them again."""
        if not entries:
            return
        by_stream: dict[str, list[bytes]] = {}
        for entry in entries:
            by_stream.setdefault(entry.stream, []).append(entry.id)
        pipe = self.client.pipeline(transaction=False)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self.group, *ids)
        pipe.execute()

    def set_aside(self, entries: list[tuple[Entry, str]]) -> None:
        """Copy entries that can never be written, each with its reason, to ``canaryline:sink:dead``, then
        acknowledge them, in one transaction: a refused record stops nothing behind it, and is kept."""
        if not entries:
            return
        pipe = self.client.pipeline(transaction=True)
        for entry, reason in entries:
            fields: dict[Any, Any] = {"stream": entry.stream, "id": entry.id, "reason": reason[:2000], **entry.fields}
            pipe.xadd(DEAD_LETTERS, fields, maxlen=100_000, approximate=True)
            pipe.xack(entry.stream, self.group, entry.id)
        pipe.execute()

    def lag(self) -> int | None:
        """Entries of the drained streams not yet delivered to the group (Redis' ``lag``); None: unknown."""
        total = 0
        for stream in self.streams():
            groups: list[dict[str, Any]] = self.client.xinfo_groups(stream)
            mine = next((g for g in groups if _text(g.get("name")) == self.group), None)
            if mine is None or mine.get("lag") is None:
                return None
            total += int(mine["lag"])
        return total


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
