"""The version catalog in PostgreSQL: ``model_versions`` rows (one per version) and ``version_events``.

Registering is one transaction: the row goes in (``ON CONFLICT`` takes only a row written before schema 4,
which the catalog ignores until it is adopted), its event is appended, and a model without a plan gets its
first plan through :func:`~registry_client.store.postgres.plans.save_plan` in a savepoint (a concurrent
registration that created the plan first makes it a conflict, rolled back alone: the version stays, not
stable). Archiving locks the row and the plans epoch row (which every plan change updates first), so no plan
can start using the version between the check and the mark.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from registry_client.domain.model_version import ModelVersion, VersionEvent, exists, in_use, serving_role, unknown
from registry_client.domain.plan import Plan
from registry_client.domain.schema import InputSchema
from registry_client.domain.versions import version_key
from registry_client.errors import PlanConflictError
from registry_client.store.postgres import plans
from registry_client.store.postgres.connection import Connection

__all__ = ["archive_version", "get_version", "list_models", "list_versions", "register_version", "version_events"]

#: What registering writes; the archive columns follow in reads.
_WRITTEN = (
    "name", "version", "task", "framework", "params", "metrics", "data_version", "code_version", "description",
    "sha256", "artifact_uri", "created_at", "created_by", "n_features", "classes", "input_schema", "options",
    "artifact_sha256",
)  # fmt: skip
_SELECT = (
    f"SELECT {', '.join(_WRITTEN)}, archived_at, archived_by, archive_reason "  # noqa: S608
    "FROM canaryline.model_versions WHERE options IS NOT NULL"
)
# A row written before schema 4 (options NULL) is replaced; any other is a version that exists.
_INSERT = (
    f"INSERT INTO canaryline.model_versions ({', '.join(_WRITTEN)}) "  # noqa: S608
    f"VALUES ({', '.join(f'%({c})s' for c in _WRITTEN)}) ON CONFLICT (name, version) DO UPDATE SET "
    f"{', '.join(f'{c} = excluded.{c}' for c in _WRITTEN[2:])} "
    "WHERE canaryline.model_versions.options IS NULL RETURNING 1"
)


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _row(record: ModelVersion) -> dict[str, Any]:
    return {
        "name": record.model,
        "version": record.version,
        "task": record.task,
        "framework": record.framework,
        "params": Jsonb(record.params),
        "metrics": Jsonb(record.metrics),
        "data_version": record.data_version,
        "code_version": record.code_version,
        "description": record.description,
        "sha256": record.sha256,
        "artifact_uri": record.artifact_uri,
        "created_at": record.created,
        "created_by": record.created_by,
        "n_features": record.n_features,
        "classes": _json(record.classes),
        "input_schema": _json(record.input_schema.to_json() if record.input_schema is not None else None),
        "options": Jsonb(record.options),
        "artifact_sha256": record.artifact_sha256,
    }


def _record(row: tuple[Any, ...]) -> ModelVersion:
    (name, version, task, framework, params, metrics, data_version, code_version, description, sha256) = row[:10]
    (artifact_uri, created_at, created_by, n_features, classes, input_schema, options, artifact_sha256) = row[10:18]
    archived_at, archived_by, archive_reason = row[18:]
    return ModelVersion(
        model=name,
        version=version,
        created=created_at,
        task=task,
        framework=framework,
        sha256=sha256,
        n_features=n_features,
        classes=classes,
        params=params or {},
        metrics=metrics or {},
        data_version=data_version,
        code_version=code_version,
        description=description or "",
        input_schema=InputSchema.from_json(input_schema) if input_schema else None,
        options=options or {},
        artifact_uri=artifact_uri or "",
        artifact_sha256=artifact_sha256,
        created_by=created_by,
        archived_at=archived_at,
        archived_by=archived_by,
        archive_reason=archive_reason,
    )


def _append_event(conn: Connection, event: VersionEvent) -> None:
    conn.execute(
        "INSERT INTO canaryline.version_events (model, version, action, at, actor, reason) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (event.model, event.version, event.action, event.at, event.actor, event.reason),
    )


def register_version(conn: Connection, record: ModelVersion, *, first_plan: Plan) -> bool:
    with conn.transaction():
        written = conn.execute(_INSERT, _row(record)).fetchone()
        if written is None:
            raise exists(record.model, record.version)
        _append_event(
            conn,
            VersionEvent(record.model, record.version, "register", record.created, record.created_by or "registry"),
        )
        if plans.get_plan(conn, record.model) is not None:
            return False
        try:
            plans.save_plan(conn, first_plan, before=None, action="create")  # a savepoint inside this transaction
        except PlanConflictError:
            return False  # a concurrent registration planned the model first
    return True


def get_version(conn: Connection, model: str, version: str) -> ModelVersion | None:
    row = conn.execute(f"{_SELECT} AND name = %s AND version = %s", (model, version)).fetchone()
    return _record(row) if row else None


def list_versions(conn: Connection, model: str) -> list[ModelVersion]:
    rows = conn.execute(f"{_SELECT} AND name = %s", (model,)).fetchall()
    return sorted((_record(row) for row in rows), key=lambda v: version_key(v.version))


def list_models(conn: Connection) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT name FROM canaryline.model_versions WHERE options IS NOT NULL ORDER BY name"
    ).fetchall()
    return [str(name) for (name,) in rows]


def archive_version(
    conn: Connection, model: str, version: str, *, actor: str, reason: str, at: datetime
) -> ModelVersion:
    with conn.transaction():
        conn.execute("SELECT epoch FROM canaryline.plans_epoch FOR UPDATE")  # plan changes wait for us
        row = conn.execute(f"{_SELECT} AND name = %s AND version = %s FOR UPDATE", (model, version)).fetchone()
        if row is None:
            raise unknown(model, version)
        record = _record(row)
        if record.archived:
            return record
        plan = plans.get_plan(conn, model)
        role = serving_role(plan, version)
        if plan is not None and role is not None:
            raise in_use(model, version, role, plan.revision)
        conn.execute(
            "UPDATE canaryline.model_versions SET archived_at = %s, archived_by = %s, archive_reason = %s "
            "WHERE name = %s AND version = %s",
            (at, actor, reason, model, version),
        )
        _append_event(conn, VersionEvent(model, version, "archive", at, actor, reason))
    return record.archive(at=at, actor=actor, reason=reason)


def version_events(conn: Connection, model: str) -> list[VersionEvent]:
    rows = conn.execute(
        "SELECT model, version, action, at, actor, reason FROM canaryline.version_events WHERE model = %s ORDER BY seq",
        (model,),
    ).fetchall()
    return [VersionEvent(*row) for row in rows]
