"""The Redis store's version catalog: one record per registered version, and the registry audit.

A part of :class:`~registry_client.store.redis.RedisStore`, its scripts loaded as
:class:`~registry_client.store.redis_scripts.ScriptedKeys` says. Keys: ``canaryline:versions:{model}``
hash version → record JSON (written once, never changed);
``canaryline:archived:{model}`` hash version → ``{"at", "by", "reason"}`` once archived;
``canaryline:registered`` set of models with versions; ``canaryline:version-events:{model}`` list of event JSON.
Registering (record, event and, for a model without a plan, the first plan with its audit entry, epoch and
notification) and archiving (checking the plan and marking the version) are each one Lua script, so they are
atomic with every plan change, which is a script too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

import orjson
from redis.commands.core import Script

from registry_client.domain.model_version import ModelVersion, VersionEvent, exists, in_use, unknown
from registry_client.domain.plan import AuditEntry, Plan
from registry_client.domain.versions import version_key
from registry_client.store.redis_rollouts import PREFIX
from registry_client.store.redis_scripts import ScriptedKeys

__all__ = ["EPOCH_KEY", "PLANS_CHANNEL", "PLANS_KEY", "REVISIONS_KEY", "CatalogKeys", "plan_keys"]

PLANS_CHANNEL = f"{PREFIX}:plans"
PLANS_KEY = f"{PREFIX}:plans"
REVISIONS_KEY = f"{PREFIX}:plan_revisions"
EPOCH_KEY = f"{PREFIX}:plans:epoch"
_REGISTERED = f"{PREFIX}:registered"

# KEYS: versions, registered, events, plans, revisions, history, epoch.
# ARGV: model, version, record, event, plan, entry, channel. Returns -1 (exists), 0 (planned already), 1 (plan made).
_REGISTER = """
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return -1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[4])
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
redis.call('HSET', KEYS[5], ARGV[1], 1)
redis.call('RPUSH', KEYS[6], ARGV[6])
redis.call('INCR', KEYS[7])
redis.call('PUBLISH', ARGV[7], ARGV[1])
return 1
"""

# KEYS: versions, archived, events, plans. ARGV: model, version, archive JSON, event JSON.
_ARCHIVE = """
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return {'missing'} end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {'archived'} end
local raw = redis.call('HGET', KEYS[4], ARGV[1])
if raw then
  local plan = cjson.decode(raw)
  local role = nil
  if plan.stable == ARGV[2] then role = 'stable'
  elseif type(plan.canary) == 'table' and plan.canary.version == ARGV[2] then role = 'canary'
  elseif type(plan.shadow) == 'table' and plan.shadow.version == ARGV[2] then role = 'shadow' end
  if role then return {'in_use', role, tostring(plan.revision)} end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[4])
return {'ok'}
"""


def plan_keys(model: str) -> tuple[str, str, str, str]:
    """The plans hash, the revisions hash, the model's history list and the epoch counter."""
    return PLANS_KEY, REVISIONS_KEY, f"{PREFIX}:history:{model}", EPOCH_KEY


def _versions_key(model: str) -> str:
    return f"{PREFIX}:versions:{model}"


def _archived_key(model: str) -> str:
    return f"{PREFIX}:archived:{model}"


def _events_key(model: str) -> str:
    return f"{PREFIX}:version-events:{model}"


def _record(raw: bytes, archived: bytes | None) -> ModelVersion:
    record = ModelVersion.from_dict(orjson.loads(raw))
    if archived is None:
        return record
    mark = orjson.loads(archived)
    return record.archive(at=datetime.fromisoformat(mark["at"]), actor=mark["by"], reason=mark["reason"])


class CatalogKeys(ScriptedKeys):
    SCRIPTS: ClassVar[dict[str, str]] = {"_register": _REGISTER, "_archive": _ARCHIVE}
    _register: Script
    _archive: Script

    def register_version(self, record: ModelVersion, *, first_plan: Plan) -> bool:
        event = VersionEvent(record.model, record.version, "register", record.created, record.created_by or "registry")
        entry = AuditEntry.of(first_plan, before=None, action="create")
        keys = [_versions_key(record.model), _REGISTERED, _events_key(record.model), *plan_keys(record.model)]
        with self._errors(f"registering {record.tag}"):
            answer = self._register(
                keys=keys,
                args=[
                    record.model,
                    record.version,
                    orjson.dumps(record.to_dict()),
                    orjson.dumps(event.to_dict()),
                    first_plan.model_dump_json(),
                    entry.model_dump_json(),
                    PLANS_CHANNEL,
                ],
            )
        if int(answer) == -1:
            raise exists(record.model, record.version)
        return int(answer) == 1

    def get_version(self, model: str, version: str) -> ModelVersion | None:
        with self._errors(f"reading {model}:{version}"):
            pipe = self.client.pipeline(transaction=False)
            pipe.hget(_versions_key(model), version)
            pipe.hget(_archived_key(model), version)
            raw, archived = pipe.execute()
        return _record(raw, archived) if raw is not None else None

    def list_versions(self, model: str) -> list[ModelVersion]:
        with self._errors(f"listing the versions of {model!r}"):
            pipe = self.client.pipeline(transaction=False)
            pipe.hgetall(_versions_key(model))
            pipe.hgetall(_archived_key(model))
            raw, archived = cast("tuple[dict[bytes, bytes], dict[bytes, bytes]]", pipe.execute())
        found = [_record(body, archived.get(version)) for version, body in raw.items()]
        return sorted(found, key=lambda v: version_key(v.version))

    def list_models(self) -> list[str]:
        with self._errors("listing registered models"):
            return sorted(m.decode() for m in cast("set[bytes]", self.client.smembers(_REGISTERED)))

    def archive_version(self, model: str, version: str, *, actor: str, reason: str, at: datetime) -> ModelVersion:
        mark = {"at": at.isoformat(), "by": actor, "reason": reason}
        event = VersionEvent(model, version, "archive", at, actor, reason)
        with self._errors(f"archiving {model}:{version}"):
            answer = cast(
                "list[Any]",
                self._archive(
                    keys=[_versions_key(model), _archived_key(model), _events_key(model), PLANS_KEY],
                    args=[model, version, orjson.dumps(mark), orjson.dumps(event.to_dict())],
                ),
            )
        outcome = answer[0].decode()
        if outcome == "missing":
            raise unknown(model, version)
        if outcome == "in_use":
            raise in_use(model, version, answer[1].decode(), int(answer[2]))
        found = self.get_version(model, version)
        assert found is not None  # records are never deleted
        return found

    def version_events(self, model: str) -> list[VersionEvent]:
        with self._errors(f"reading the registry audit of {model!r}"):
            raw = cast("list[bytes]", self.client.lrange(_events_key(model), 0, -1))
        return [VersionEvent.from_dict(orjson.loads(item)) for item in raw]
