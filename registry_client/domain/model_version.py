"""What the registry knows of one version, as every store keeps it: enough to load it on any node.

A :class:`ModelVersion` holds the version's task, framework (BentoML's module), params, metrics, data and code
versions, description, input width, classes and schema, BentoML's model options (what the framework adapter
loads with, e.g. ``model_class``), the SHA-256 of its files (:mod:`registry_client.registry.artifacts`), where
its artifact is (``artifact_uri``: ``bentoml:NAME:VERSION`` for the local BentoML model store, else an
fsspec URL of the archive) with the SHA-256 of that archive's bytes, who registered it and when, and, once
archived, who archived it, when and why. The record is immutable but for the archive fields.

A :class:`VersionEvent` is one entry of a model's registry audit: a version registered or archived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from registry_client.domain.plan import Plan
from registry_client.domain.schema import InputSchema
from registry_client.errors import ModelNotFoundError, VersionExistsError, VersionInUseError

__all__ = [
    "LOCAL_ARTIFACT_SCHEME",
    "ModelVersion",
    "Task",
    "VersionAction",
    "VersionEvent",
    "exists",
    "in_use",
    "serving_role",
    "unknown",
]

Task = Literal["classification", "regression"]
VersionAction = Literal["register", "archive"]
#: ``artifact_uri`` of a version that lives only in the BentoML model store of the node that registered it.
LOCAL_ARTIFACT_SCHEME = "bentoml:"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, as the store's catalog keeps it."""

    model: str
    version: str
    created: datetime
    task: Task
    framework: str
    sha256: str
    n_features: int | None
    classes: list[Any] | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_version: str | None = None
    code_version: str | None = None
    description: str = ""
    #: The named inputs it takes; None: a numeric matrix of ``n_features`` columns.
    input_schema: InputSchema | None = None
    #: BentoML's model options (``model_class`` for an XGBoost estimator): what the adapter loads with.
    options: dict[str, Any] = field(default_factory=dict)
    #: ``bentoml:NAME:VERSION`` (the local BentoML model store) or the archive's fsspec URL.
    artifact_uri: str = ""
    #: SHA-256 of the archive's bytes; None for a version in the local BentoML model store only.
    artifact_sha256: str | None = None
    created_by: str | None = None
    archived_at: datetime | None = None
    archived_by: str | None = None
    archive_reason: str | None = None

    @property
    def tag(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @property
    def remote(self) -> bool:
        """Whether its artifact is in an artifact store (any node can pull it), not only a local BentoML store."""
        return bool(self.artifact_uri) and not self.artifact_uri.startswith(LOCAL_ARTIFACT_SCHEME)

    def archive(self, *, at: datetime, actor: str, reason: str) -> ModelVersion:
        return replace(self, archived_at=at, archived_by=actor, archive_reason=reason)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (timestamps in ISO 8601); :meth:`from_dict` reads it back."""
        return {
            "model": self.model,
            "version": self.version,
            "created": self.created.isoformat(),
            "task": self.task,
            "framework": self.framework,
            "params": self.params,
            "metrics": self.metrics,
            "data_version": self.data_version,
            "code_version": self.code_version,
            "description": self.description,
            "sha256": self.sha256,
            "n_features": self.n_features,
            "classes": self.classes,
            "input_schema": self.input_schema.to_json() if self.input_schema is not None else None,
            "options": self.options,
            "artifact_uri": self.artifact_uri,
            "artifact_sha256": self.artifact_sha256,
            "created_by": self.created_by,
            "archived": self.archived,
            "archived_at": self.archived_at.isoformat() if self.archived_at is not None else None,
            "archived_by": self.archived_by,
            "archive_reason": self.archive_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersion:
        """The record :meth:`to_dict` wrote (a store's row)."""
        archived_at = data.get("archived_at")
        return cls.from_metadata(
            data,
            model=data["model"],
            version=data["version"],
            created=datetime.fromisoformat(data["created"]),
            framework=data["framework"],
            options=data.get("options") or {},
            artifact_uri=data.get("artifact_uri") or "",
            artifact_sha256=data.get("artifact_sha256"),
            created_by=data.get("created_by"),
            archived_at=datetime.fromisoformat(archived_at) if archived_at else None,
            archived_by=data.get("archived_by"),
            archive_reason=data.get("archive_reason"),
        )

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], **where: Any) -> ModelVersion:
        """The record of a version whose ``metadata`` carries what registration wrote under the same keys as
        :meth:`to_dict` (task, SHA-256, input width, classes, params, metrics, data and code versions,
        description, input schema): a BentoML model's ``model.yaml`` metadata or a store's record. ``where``
        gives the rest (model, version, created, framework, options, artifact, who and when)."""
        schema = metadata.get("input_schema")
        return cls(
            task=metadata["task"],
            sha256=metadata["sha256"],
            n_features=metadata.get("n_features"),
            classes=metadata.get("classes"),
            params=metadata.get("params") or {},
            metrics=metadata.get("metrics") or {},
            data_version=metadata.get("data_version"),
            code_version=metadata.get("code_version"),
            description=metadata.get("description") or "",
            input_schema=InputSchema.from_json(schema) if schema else None,
            **where,
        )


@dataclass(frozen=True)
class VersionEvent:
    """A version registered or archived: one entry of the model's registry audit, oldest first."""

    model: str
    version: str
    action: VersionAction
    at: datetime
    actor: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "action": self.action,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionEvent:
        return cls(
            model=data["model"],
            version=data["version"],
            action=data["action"],
            at=datetime.fromisoformat(data["at"]),
            actor=data["actor"],
            reason=data.get("reason") or "",
        )


def serving_role(plan: Plan | None, version: str) -> str | None:
    """``stable``, ``canary`` or ``shadow`` when ``plan`` serves ``version`` so, else None."""
    if plan is None:
        return None
    if plan.stable == version:
        return "stable"
    if plan.canary is not None and plan.canary.version == version:
        return "canary"
    if plan.shadow is not None and plan.shadow.version == version:
        return "shadow"
    return None


def in_use(model: str, version: str, role: str, revision: int) -> VersionInUseError:
    """The refusal to archive a version its plan serves."""
    return VersionInUseError(
        f"model {model!r} version {version!r} is the {role} version of plan revision {revision}: "
        "promote, clear or roll back first; a version a plan uses cannot be archived"
    )


def unknown(model: str, version: str) -> ModelNotFoundError:
    return ModelNotFoundError(f"model {model!r} has no version {version!r}")


def exists(model: str, version: str) -> VersionExistsError:
    return VersionExistsError(f"model {model!r} already has version {version!r}; versions are immutable")
