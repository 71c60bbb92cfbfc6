"""The Redis store's rollout keys: rollout state, the controller's lease, request counts.

A part of :class:`~registry_client.store.redis.RedisStore`, its scripts loaded as
:class:`~registry_client.store.redis_scripts.ScriptedKeys` says. The lease is a string ``holder|token`` taken
with ``SET NX PX`` and renewed with ``PEXPIRE`` by its holder; each new holder's token comes from ``INCR`` on
a counter that never expires, so tokens only grow. A fenced write (plan or state) compares the lease's value
with its fence inside the same Lua script: a leader whose lease expired while it stalled finds another value,
or none, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

from redis.commands.core import Script

from registry_client.domain.request_counts import CountKey, RequestCount
from registry_client.domain.rollout import Fence, RolloutState
from registry_client.errors import LeaseLostError, RolloutConflictError
from registry_client.store.redis_scripts import ScriptedKeys

__all__ = ["PREFIX", "RolloutKeys", "fence_value", "lease_key"]

PREFIX = "canaryline"
_ROLLOUTS = f"{PREFIX}:rollouts"
_SEQS = f"{PREFIX}:rollout_seqs"

# KEYS: lease, token counter. ARGV: holder, ttl ms. Returns the token, or 0 while another holds the lease.
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held then
  local sep = string.find(held, '|', 1, true)
  if string.sub(held, 1, sep - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(held, sep + 1))
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'NX', 'PX', ARGV[2])
return token
"""

# KEYS: lease. ARGV: holder|token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: rollouts, seqs, lease. ARGV: model, seq, state, fence ('' for none).
_SAVE_ROLLOUT = """
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[4] then return -2 end
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if current ~= tonumber(ARGV[2]) - 1 then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return -1
"""


def lease_key(fence: Fence | str | None) -> str:
    """The key of a lease (by fence or name); a placeholder key when there is no fence (never read)."""
    name = fence.name if isinstance(fence, Fence) else fence
    return f"{PREFIX}:lease:{name or '-'}"


def fence_value(fence: Fence | None) -> str:
    return "" if fence is None else f"{fence.holder}|{fence.token}"


def _requests_key(model: str) -> str:
    return f"{PREFIX}:requests:{model}"


def _buckets_key(model: str) -> str:
    return f"{PREFIX}:request-buckets:{model}"


class RolloutKeys(ScriptedKeys):
    SCRIPTS: ClassVar[dict[str, str]] = {"_acquire": _ACQUIRE, "_release": _RELEASE, "_save_rollout": _SAVE_ROLLOUT}
    _acquire: Script
    _release: Script
    _save_rollout: Script

    def get_rollout(self, model: str) -> RolloutState | None:
        with self._errors(f"reading the rollout of {model!r}"):
            raw = self.client.hget(_ROLLOUTS, model)
        return RolloutState.model_validate_json(raw) if raw else None

    def rollouts(self) -> dict[str, RolloutState]:
        with self._errors("reading rollouts"):
            raw = cast("dict[bytes, bytes]", self.client.hgetall(_ROLLOUTS))
        return {k.decode(): RolloutState.model_validate_json(v) for k, v in sorted(raw.items())}

    def save_rollout(self, state: RolloutState, *, fence: Fence | None = None) -> None:
        model = state.spec.model
        with self._errors(f"saving the rollout of {model!r}"):
            current = int(
                self._save_rollout(
                    keys=[_ROLLOUTS, _SEQS, lease_key(fence)],
                    args=[model, state.seq, state.model_dump_json(), fence_value(fence)],
                )
            )
        if current == -2:
            raise LeaseLostError(f"lease {fence.name if fence else '?'!r} is no longer held by this controller")
        if current != -1:
            raise RolloutConflictError(
                f"model {model!r}: its rollout state is at seq {current}, not {state.seq - 1}; read it again and retry"
            )

    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> Fence | None:
        with self._errors(f"taking the lease {name!r}"):
            token = int(
                self._acquire(
                    keys=[lease_key(name), f"{PREFIX}:lease-token:{name}"], args=[holder, max(1, int(ttl_s * 1000))]
                )
            )
        return Fence(name=name, holder=holder, token=token) if token > 0 else None

    def release_lease(self, fence: Fence) -> None:
        with self._errors(f"releasing the lease {fence.name!r}"):
            self._release(keys=[lease_key(fence)], args=[fence_value(fence)])

    def add_request_counts(self, counts: Sequence[RequestCount]) -> None:
        if not counts:
            return
        with self._errors(f"adding {len(counts)} request counts"):
            pipe = self.client.pipeline(transaction=True)
            for count in counts:
                key = count.key
                field = f"{key.revision}|{key.version}|{key.route}|{int(key.keyed)}"
                if count.served:
                    pipe.hincrby(_requests_key(key.model), f"{field}|served", count.served)
                if count.failed:
                    pipe.hincrby(_requests_key(key.model), f"{field}|failed", count.failed)
                if count.buckets:
                    members = [f"{key.revision}|{key.version}|{key.route}|{b}" for b in count.buckets]
                    pipe.sadd(_buckets_key(key.model), *members)
            pipe.execute()

    def request_counts(self, model: str, revisions: Sequence[int]) -> list[RequestCount]:
        wanted = {str(r) for r in revisions}
        with self._errors(f"reading the request counts of {model!r}"):
            raw = cast("dict[bytes, bytes]", self.client.hgetall(_requests_key(model)))
            members = cast("set[bytes]", self.client.smembers(_buckets_key(model)))
        buckets: dict[tuple[int, str, str], set[int]] = {}
        for member in members:
            revision, version, route, found = member.decode().split("|")
            if revision in wanted:
                buckets.setdefault((int(revision), version, route), set()).add(int(found))
        totals: dict[CountKey, dict[str, int]] = {}
        for field, value in raw.items():
            revision, version, route, keyed, kind = field.decode().split("|")
            if revision in wanted:
                key = CountKey(model, version, int(revision), route, keyed == "1")
                totals.setdefault(key, {})[kind] = int(value)
        return [
            RequestCount(
                key,
                totals[key].get("served", 0),
                totals[key].get("failed", 0),
                frozenset(buckets.get((key.revision, key.version, key.route), ())) if key.keyed else frozenset(),
            )
            for key in sorted(totals, key=_order)
        ]


def _order(key: CountKey) -> tuple[Any, ...]:
    return (key.revision, key.version, key.route, key.keyed)
