"""The shared store: Redis, one per fleet of gateway replicas.

Layout (documented in the README):

- ``canaryline:plans`` hash model → plan JSON; ``canaryline:plan_revisions`` hash model → revision;
  ``canaryline:history:{model}`` list of audit JSON (append-only); ``canaryline:plans:epoch`` counter,
  incremented with every change, and a message on channel ``canaryline:plans`` naming the model.
- ``canaryline:log:{model}`` stream, one entry per prediction record (fields ``pid`` and ``r``),
  trimmed approximately to ``stream_maxlen`` entries.
- ``canaryline:req:{request_id}`` hash prediction_id → ``stream-key|entry-id``, expiring after
  ``index_ttl_s``: the request-id index, and what makes writes idempotent on prediction_id.
- ``canaryline:models`` set of models that have a log; ``canaryline:trimmed`` hash model → records the
  stream's MAXLEN trimming has removed (measured in the write script: length before + added - after, so
  the approximate ``~`` trimming is counted exactly, in the same round trip).
- ``canaryline:outcome:{request_id}`` string, the request's outcome as JSON
  ``{"outcome", "observed_at", "received_at"}`` (``outcome`` holds one value per row), expiring after
  ``index_ttl_s`` like the request-id index; a later outcome for the request replaces it.
- ``canaryline:outcome-of:{prediction_id}`` string, the same JSON plus ``request_id``, for an outcome
  that names one primary prediction of a reused request ID (same TTL); a later one naming it replaces
  it. Keyed by prediction so the joined view reads a page's with one MGET, as it does request outcomes.
- ``canaryline:outcomes`` stream, once ``canaryline sink`` has created it: one entry per outcome written
  (field ``o``: the JSON plus ``request_id`` and ``prediction_id``) in the same script, trimmed like the log;
  the journal the sink drains into PostgreSQL (without a sink, nothing is journaled and nothing is kept).
- The version catalog (:mod:`registry_client.store.redis_catalog`): ``canaryline:versions:{model}``,
  ``canaryline:archived:{model}``, ``canaryline:registered`` and ``canaryline:version-events:{model}``.
- Rollouts (:mod:`registry_client.store.redis_rollouts`): ``canaryline:rollouts`` hash model → state JSON,
  ``canaryline:rollout_seqs`` hash model → seq; ``canaryline:lease:{name}`` string ``holder|token`` set with
  ``SET NX PX`` (``canaryline:lease-token:{name}`` the counter its tokens come from);
  ``canaryline:requests:{model}`` hash ``revision|version|route|keyed|served|failed`` → count, and
  ``canaryline:request-buckets:{model}`` set of ``revision|version|route|bucket`` (keyed requests' buckets).

Every change is one Lua script, so a failure never leaves a half-written plan or record.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, cast

import orjson
import redis
from redis.commands.core import Script

from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.domain.rollout import Fence
from registry_client.errors import LeaseLostError, PlanConflictError, StoreError, StoreUnavailableError
from registry_client.store.base import LogBounds
from registry_client.store.redis_catalog import EPOCH_KEY, PLANS_CHANNEL, PLANS_KEY, REVISIONS_KEY, CatalogKeys
from registry_client.store.redis_rollouts import PREFIX, RolloutKeys, fence_value, lease_key

__all__ = [
    "CONSUMER_GROUP",
    "OUTCOMES_STREAM",
    "PLANS_CHANNEL",
    "RedisStore",
    "log_key",
    "outcome_key",
    "prediction_outcome_key",
]

#: Consumer group created with every model's log stream, for external readers (at-least-once).
CONSUMER_GROUP = "canaryline"
_Page = list[tuple[bytes, dict[bytes, bytes]]]
_MODELS = f"{PREFIX}:models"
_TRIMMED = f"{PREFIX}:trimmed"
#: Every outcome written, in write order: what ``canaryline sink`` drains into PostgreSQL.
OUTCOMES_STREAM = f"{PREFIX}:outcomes"

# KEYS: plans, revisions, history, epoch, lease. ARGV: model, revision, plan, entry, channel, fence ('' for none).
_SAVE_PLAN = """
if ARGV[6] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[6] then return -2 end
local current = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if current ~= tonumber(ARGV[2]) - 1 then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[5], ARGV[1])
return -1
"""

# KEYS: models-set, trimmed-hash, then (request-index key, stream key) per record.
# ARGV: stream maxlen, index ttl, then (prediction_id, model, body) per record, then the consumer group.
# Returns {written, model, trimmed, model, trimmed, ...}: what XADD's MAXLEN trimming removed from each
# stream (its length before + records added - its length after), also added to the trimmed-hash.
_APPEND = """
local written = 0
local k = 0
local before, added, model_of = {}, {}, {}
for i = 3, #KEYS, 2 do
  local a = 3 + 3 * k
  local pid = ARGV[a]
  local stream = KEYS[i + 1]
  if redis.call('HEXISTS', KEYS[i], pid) == 0 then
    if before[stream] == nil then
      before[stream] = redis.call('XLEN', stream)
      added[stream] = 0
      model_of[stream] = ARGV[a + 1]
    end
    local id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'pid', pid, 'r', ARGV[a + 2])
    added[stream] = added[stream] + 1
    redis.call('HSET', KEYS[i], pid, stream .. '|' .. id)
    redis.call('EXPIRE', KEYS[i], ARGV[2])
    if redis.call('SADD', KEYS[1], ARGV[a + 1]) == 1 then
      -- a model's first record: give its stream the consumer group external readers share
      redis.pcall('XGROUP', 'CREATE', stream, ARGV[#ARGV], '0')
    end
    written = written + 1
  end
  k = k + 1
end
local out = {written}
for stream, length in pairs(before) do
  local trimmed = length + added[stream] - redis.call('XLEN', stream)
  if trimmed > 0 then
    redis.call('HINCRBY', KEYS[2], model_of[stream], trimmed)
    table.insert(out, model_of[stream])
    table.insert(out, trimmed)
  end
end
return out
"""


# KEYS: the outcome key, the outcomes stream. ARGV: outcome JSON, ttl, journal JSON, stream maxlen.
# Returns 1 when an earlier outcome was replaced.
_PUT_OUTCOME = """
local replaced = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[3]) end
return replaced
"""


def log_key(model: str) -> str:
    return f"{PREFIX}:log:{model}"


def _request_key(request_id: str) -> str:
    return f"{PREFIX}:req:{request_id}"


def outcome_key(request_id: str) -> str:
    return f"{PREFIX}:outcome:{request_id}"


def prediction_outcome_key(prediction_id: str) -> str:
    return f"{PREFIX}:outcome-of:{prediction_id}"


class RedisStore(RolloutKeys, CatalogKeys):
    SCRIPTS: ClassVar[dict[str, str]] = {"_save_plan": _SAVE_PLAN, "_append": _APPEND, "_put_outcome": _PUT_OUTCOME}
    _save_plan: Script
    _append: Script
    _put_outcome: Script

    def __init__(
        self,
        url: str,
        *,
        stream_maxlen: int = 1_000_000,
        index_ttl_s: int = 7 * 24 * 3600,
        socket_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.stream_maxlen = stream_maxlen
        self.index_ttl_s = index_ttl_s
        self.client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=30,
        )
        self._load_scripts()
        self._pubsub: redis.client.PubSub | None = None
        self._trimmed: dict[str, int] = {}
        self._trim_lock = threading.Lock()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailableError(f"Redis at {self._where()} is unreachable while {doing}: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreError(f"Redis at {self._where()} failed while {doing}: {exc}") from exc

    def _where(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        return f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}/{kwargs.get('db', 0)}"

    def ping(self) -> None:
        with self._errors("pinging"):
            self.client.ping()

    # -- plans ---------------------------------------------------------------------------------
    def get_plan(self, model: str) -> Plan | None:
        with self._errors(f"reading the plan of {model!r}"):
            raw = self.client.hget(PLANS_KEY, model)
        return Plan.model_validate_json(raw) if raw else None

    def plans(self) -> dict[str, Plan]:
        with self._errors("reading plans"):
            raw = cast("dict[bytes, bytes]", self.client.hgetall(PLANS_KEY))
        return {k.decode(): Plan.model_validate_json(v) for k, v in sorted(raw.items())}

    def plans_epoch(self) -> int:
        with self._errors("reading the plans epoch"):
            value = self.client.get(EPOCH_KEY)
        return int(value or 0)

    def wait_plan_change(self, timeout: float) -> None:
        """Return when a message arrives on ``canaryline:plans``, or after ``timeout``; meant for one thread."""
        try:
            if self._pubsub is None:
                self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                self._pubsub.subscribe(PLANS_CHANNEL)
            if self._pubsub.get_message(timeout=timeout) is not None:
                while self._pubsub.get_message(timeout=0) is not None:  # coalesce a burst of changes
                    pass
        except redis.RedisError:
            if self._pubsub is not None:
                self._pubsub.close()
            self._pubsub = None
            time.sleep(timeout)  # Redis is down: fall back to the caller's periodic check

    def save_plan(
        self,
        plan: Plan,
        *,
        before: Plan | None,
        action: PlanAction,
        evidence: dict[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> AuditEntry:
        entry = AuditEntry.of(plan, before=before, action=action, evidence=evidence)
        with self._errors(f"saving the plan of {plan.model!r}"):
            current = self._save_plan(
                keys=[PLANS_KEY, REVISIONS_KEY, f"{PREFIX}:history:{plan.model}", EPOCH_KEY, lease_key(fence)],
                args=[
                    plan.model,
                    plan.revision,
                    plan.model_dump_json(),
                    entry.model_dump_json(),
                    PLANS_CHANNEL,
                    fence_value(fence),
                ],
            )
        if int(current) == -2:
            raise LeaseLostError(f"lease {fence.name if fence else '?'!r} is no longer held by this controller")
        if int(current) != -1:
            raise PlanConflictError(
                f"model {plan.model!r}: the plan is at revision {current}, "
                f"not {plan.revision - 1}; read it again and retry"
            )
        return entry

    def history(self, model: str) -> list[AuditEntry]:
        with self._errors(f"reading the history of {model!r}"):
            raw = cast("list[bytes]", self.client.lrange(f"{PREFIX}:history:{model}", 0, -1))
        return [AuditEntry.model_validate_json(item) for item in raw]

    # -- prediction log ------------------------------------------------------------------------
    def append_predictions(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        keys: list[str] = [_MODELS, _TRIMMED]
        args: list[Any] = [self.stream_maxlen, self.index_ttl_s]
        for record in records:
            keys += (_request_key(record.request_id), log_key(record.model))
            args += (record.prediction_id, record.model, record.to_json())
        args.append(CONSUMER_GROUP)
        with self._errors(f"writing {len(records)} prediction records"):
            answer = cast("list[Any]", self._append(keys=keys, args=args))
        if len(answer) > 1:
            with self._trim_lock:
                for model, count in zip(answer[1::2], answer[2::2], strict=True):
                    name = model.decode()
                    self._trimmed[name] = self._trimmed.get(name, 0) + int(count)

    def take_trimmed(self) -> dict[str, int]:
        """Records trimmed from each model's stream by this process's writes since the last call."""
        with self._trim_lock:
            taken, self._trimmed = self._trimmed, {}
        return taken

    def log_bounds(self, model: str) -> LogBounds:
        """The oldest record the model's stream still holds and how many records trimming has removed."""
        with self._errors(f"reading the bounds of {model!r}'s log"):
            pipe = self.client.pipeline(transaction=False)
            pipe.xrange(log_key(model), count=1)
            pipe.hget(_TRIMMED, model)
            first, trimmed = pipe.execute()
        oldest = PredictionRecord(**orjson.loads(first[0][1][b"r"])).ts if first else None
        return LogBounds(
            oldest_ts=oldest,
            trimmed=int(trimmed or 0),
            max_records=self.stream_maxlen,
            outcome_ttl_s=self.index_ttl_s,
        )

    def logged_models(self) -> list[str]:
        """The models that have a log stream, by name."""
        with self._errors("listing logged models"):
            return sorted(m.decode() for m in cast("set[bytes]", self.client.smembers(_MODELS)))

    def iter_predictions(
        self, model: str | None = None, *, since: float | None = None, until: float | None = None
    ) -> Iterator[PredictionRecord]:
        low = -math.inf if since is None else since
        high = math.inf if until is None else until
        for name in [model] if model is not None else self.logged_models():
            start = "-"
            while True:
                with self._errors(f"reading the log of {name!r}"):
                    page = cast(_Page, self.client.xrange(log_key(name), min=start, count=1000))
                if not page:
                    break
                for _, fields in page:
                    record = PredictionRecord(**orjson.loads(fields[b"r"]))
                    if low <= record.ts < high:  # stream ids are write times, not ts: filter each record
                        yield record
                start = "(" + page[-1][0].decode()

    def count_predictions(self, model: str | None = None) -> int:
        with self._errors("counting prediction records"):
            return sum(int(self.client.xlen(log_key(m))) for m in ([model] if model else self.logged_models()))

    def predictions_for_request(self, request_id: str) -> list[PredictionRecord]:
        with self._errors(f"looking up request {request_id!r}"):
            index = cast("dict[bytes, bytes]", self.client.hgetall(_request_key(request_id)))
            pipe = self.client.pipeline(transaction=False)
            for where in index.values():
                stream, entry_id = where.decode().split("|", 1)
                pipe.xrange(stream, min=entry_id, max=entry_id)
            pages = pipe.execute()
        records = [PredictionRecord(**orjson.loads(page[0][1][b"r"])) for page in pages if page]
        return sorted(records, key=lambda r: (r.shadow, r.ts))

    # -- outcomes ------------------------------------------------------------------------------
    def put_outcome(
        self,
        request_id: str,
        outcome: Any,
        observed_at: float,
        received_at: float,
        *,
        prediction_id: str | None = None,
    ) -> bool:
        data = {"outcome": outcome, "observed_at": observed_at, "received_at": received_at}
        if prediction_id is None:
            key = outcome_key(request_id)
        else:
            key, data["request_id"] = prediction_outcome_key(prediction_id), request_id
        journal = orjson.dumps({**data, "request_id": request_id, "prediction_id": prediction_id})
        with self._errors(f"writing the outcome of request {request_id!r}"):
            replaced = self._put_outcome(
                keys=[key, OUTCOMES_STREAM], args=[orjson.dumps(data), self.index_ttl_s, journal, self.stream_maxlen]
            )
        return bool(replaced)

    def get_outcomes(self, request_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        wanted = list(dict.fromkeys(request_ids))
        if not wanted:
            return {}
        with self._errors(f"reading the outcomes of {len(wanted)} requests"):
            values = cast("list[bytes | None]", self.client.mget([outcome_key(r) for r in wanted]))
        found: dict[str, OutcomeRecord] = {}
        for request_id, raw in zip(wanted, values, strict=True):
            if raw is not None:
                data = orjson.loads(raw)
                found[request_id] = OutcomeRecord(request_id, data["outcome"], data["observed_at"], data["received_at"])
        return found

    def get_prediction_outcomes(self, prediction_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        wanted = list(dict.fromkeys(prediction_ids))
        if not wanted:
            return {}
        with self._errors(f"reading the outcomes of {len(wanted)} predictions"):
            values = cast("list[bytes | None]", self.client.mget([prediction_outcome_key(p) for p in wanted]))
        found: dict[str, OutcomeRecord] = {}
        for prediction_id, raw in zip(wanted, values, strict=True):
            if raw is not None:
                data = orjson.loads(raw)
                found[prediction_id] = OutcomeRecord(
                    data["request_id"], data["outcome"], data["observed_at"], data["received_at"], prediction_id
                )
        return found

    def close(self) -> None:
        if self._pubsub is not None:
            self._pubsub.close()
        self.client.close()
