"""The model registry: immutable, human-readable versions in the BentoML model store.

A version is saved as BentoML tag ``name:version``, through BentoML's own module for its framework
(:mod:`registry_client.registry.frameworks`); its task, params, metrics, data and code versions,
description, feature count, input schema and the artifact's SHA-256 are its metadata. The first
version of a model becomes its stable version in the store's routing plan.

A version registered with ``sample=`` (its training DataFrame) or ``schema=`` takes named inputs
(:mod:`registry_client.domain.schema`); one without takes a numeric matrix.

The task is the estimator's own (the framework adapter tells it; ``task=`` may be given and must
agree, and is needed only when the framework cannot tell). Every version of a model has the same task
and input width, since outcomes, evaluation and the canary comparison treat its versions as
interchangeable: a version that differs is refused before anything is written. So is one whose input
schema differs from its model's other versions (named or not, fields, kinds), unless the registration
says ``allow_schema_change=True``: a canary that refuses the callers' fields would break them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from registry_client.domain.plan import Plan
from registry_client.domain.schema import InputSchema
from registry_client.domain.versions import (
    VERSION_PATTERN,
    is_version_name,
    next_default_version,
    sort_versions,
    validate_version,
)
from registry_client.errors import (
    CanarylineError,
    InvalidTaskError,
    InvalidVersionError,
    ModelNotFoundError,
    PlanConflictError,
    VersionExistsError,
)
from registry_client.registry.admission import check_compatible, schema_of, task_of
from registry_client.registry.artifacts import digest_files, read_artifact, read_verified
from registry_client.registry.frameworks import FrameworkAdapter, Task, adapter_for_model, adapter_for_module
from registry_client.registry.mlflow_models import MlflowModel
from registry_client.settings import CanarylineSettings
from registry_client.store import Store, VersionCatalog, store_of

__all__ = ["LoadedVersion", "ModelVersion", "Registry", "Task", "load_version", "version_info"]

_TASKS: tuple[Task, ...] = ("classification", "regression")
_NAME_RE = re.compile(VERSION_PATTERN)
_DEFAULT_NAME_ATTEMPTS = 5


@dataclass(frozen=True)
class ModelVersion:
    """What the registry knows of one registered version."""

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

    @property
    def tag(self) -> str:
        return f"{self.model}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
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
        }


@dataclass(frozen=True)
class LoadedVersion:
    """A version whose artifact passed its SHA-256 check, with the model object ready to predict."""

    info: ModelVersion
    model: Any


def _json_safe(value: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        result: dict[str, Any] = orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))
    except TypeError as exc:
        raise CanarylineError(f"{what} must be JSON-serialisable: {exc}") from exc
    return result


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def from_settings(cls, settings: CanarylineSettings) -> Registry:
        """The registry of ``settings``: its store, and BentoML's model store under the same home."""
        settings.use_model_store()
        return cls(store_of(settings))

    @classmethod
    def from_env(cls) -> Registry:
        return cls.from_settings(CanarylineSettings())

    # -- writing -------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        model: Any,
        *,
        version: str | None = None,
        task: Task | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        data_version: str | None = None,
        code_version: str | None = None,
        description: str = "",
        sample: Any = None,
        schema: Any = None,
        allow_schema_change: bool = False,
    ) -> ModelVersion:
        """Save ``model`` as a new immutable version of ``name``; never overwrites an existing one.

        ``task`` defaults to the estimator's own; raises InvalidTaskError when a given task contradicts
        it or when it cannot be told and none is given, and IncompatibleVersionError when the model's
        existing versions have another task or input width, or (unless ``allow_schema_change``) another
        input schema. ``sample`` (a pandas DataFrame, e.g. the training frame) or ``schema`` (an
        :class:`InputSchema` or its JSON) makes it a named-input version; SchemaError when the schema's
        fields are not the columns the model was fitted on. All are raised before anything is written.
        """
        import bentoml

        if not _NAME_RE.fullmatch(name):
            raise InvalidVersionError(f"model name {name!r} is invalid: it must match {VERSION_PATTERN}")
        if task is not None and task not in _TASKS:
            raise InvalidTaskError(f"model {name!r}: task {task!r} is invalid: use 'classification' or 'regression'")
        if version is not None:
            validate_version(version)
        adapter = adapter_for_model(model)
        task = task_of(name, model, adapter, task)
        n_features = adapter.n_features(model)
        input_schema = schema_of(name, model, adapter, sample, schema)
        existing = [info for info in (version_info(name, v) for v in self._bento_versions(name)) if info]
        check_compatible(name, existing, task, n_features, input_schema, allow_schema_change=allow_schema_change)
        self.store.ping()  # fail before writing anything when the plan cannot be recorded
        classes = adapter.classes(model)
        metadata: dict[str, Any] = {
            "canaryline": 1,
            "task": task,
            "params": _json_safe(params or {}, "params"),
            "metrics": _json_safe(metrics or {}, "metrics"),
            "data_version": data_version,
            "code_version": code_version,
            "description": description,
            "n_features": n_features,
            "classes": classes if task == "classification" else None,
            "input_schema": input_schema.to_json() if input_schema is not None else None,
        }
        metadata = {key: value for key, value in metadata.items() if value is not None}  # BentoML refuses None
        attempts = 1 if version is not None else _DEFAULT_NAME_ATTEMPTS
        for _ in range(attempts):
            chosen = version or next_default_version(self._bento_versions(name))
            try:
                saved = self._save(name, chosen, model, adapter, metadata)
                break
            except VersionExistsError:
                if version is not None:
                    raise
        else:  # every default name was taken by concurrent registrations
            raise VersionExistsError(f"model {name!r}: could not pick a free default version name")
        try:
            if isinstance(self.store, VersionCatalog):
                self.store.record_version(_catalog_row(saved))
            if self.store.get_plan(name) is None:
                self.store.save_plan(Plan.initial(name, chosen), before=None, action="create")
        except PlanConflictError:
            pass  # another registration created the plan first; ours is then not stable
        except BaseException:
            bentoml.models.delete(saved.tag)  # no half-written state: the version goes with the plan
            raise
        return saved

    def import_mlflow(self, name: str, uri: str, **options: Any) -> ModelVersion:
        """Register the MLflow model at ``uri`` (a directory, ``runs:/…``, ``models:/name/version`` or
        ``models:/name@alias``) as a new version of ``name``; its MLflow signature is the input schema
        unless ``schema=`` or ``sample=`` is given. ``options`` are :meth:`register`'s."""
        model = MlflowModel(uri)
        if options.get("schema") is None and options.get("sample") is None:
            options["schema"] = model.schema()
        return self.register(name, model, **options)

    def _save(
        self, name: str, version: str, model: Any, adapter: FrameworkAdapter, metadata: dict[str, Any]
    ) -> ModelVersion:
        """Save through the framework's BentoML module, then add the artifact's SHA-256 to model.yaml.

        Until the digest is written the version is not a canaryline version (:func:`version_info` needs
        it), so no reader ever sees it half-saved.
        """
        from pathlib import Path

        import bentoml
        from bentoml.exceptions import BentoMLException

        tag = f"{name}:{version}"
        if version in self._bento_versions(name):
            raise VersionExistsError(f"model {name!r} already has version {version!r}; versions are immutable")
        try:
            adapter.save(tag, model, labels={"canaryline": "1"}, metadata=metadata)
        except BentoMLException as exc:
            if "already exists" in str(exc):
                raise VersionExistsError(
                    f"model {name!r} already has version {version!r}; versions are immutable"
                ) from exc
            raise
        try:
            saved = bentoml.models.get(tag)
            saved.info.metadata["sha256"] = digest_files(read_artifact(Path(saved.path_of("/"))))
            saved.flush()  # type: ignore[no-untyped-call]
        except BaseException:
            bentoml.models.delete(tag)
            raise
        return self.get(name, version)

    # -- reading -------------------------------------------------------------------------------
    def _bento_versions(self, name: str) -> list[str]:
        import bentoml
        from bentoml.exceptions import NotFound

        try:
            return [str(m.tag.version) for m in bentoml.models.list(name)]
        except NotFound:
            return []

    def models(self) -> list[str]:
        """Names of the models that have at least one canaryline version."""
        import bentoml

        names = {str(m.tag.name) for m in bentoml.models.list() if m.info.labels.get("canaryline") == "1"}
        return sorted(names)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every registered version, ordered numerically (``v2`` before ``v10``)."""
        found = {v.version: v for v in (self._info(name, ver) for ver in self._bento_versions(name)) if v}
        if not found:
            raise ModelNotFoundError(f"model {name!r} has no registered versions")
        return [found[v] for v in sort_versions(found)]

    def get(self, name: str, version: str) -> ModelVersion:
        info = self._info(name, version)
        if info is None:
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}")
        return info

    def _info(self, name: str, version: str) -> ModelVersion | None:
        return version_info(name, version)

    def stable(self, name: str) -> str | None:
        plan = self.store.get_plan(name)
        return plan.stable if plan else None

    def load(self, name: str, version: str) -> LoadedVersion:
        """Read the artifact, verify its SHA-256 and load the model from exactly those bytes."""
        return load_version(name, version)


def _catalog_row(info: ModelVersion) -> dict[str, Any]:
    """``info`` as a row of a store's version catalog; the artifact is the BentoML model store's tag."""
    return {
        "name": info.model,
        "version": info.version,
        "task": info.task,
        "framework": info.framework,
        "params": info.params,
        "metrics": info.metrics,
        "data_version": info.data_version,
        "code_version": info.code_version,
        "description": info.description,
        "sha256": info.sha256,
        "artifact_uri": f"bentoml:{info.tag}",
        "created_at": info.created,
        "created_by": None,
    }


def version_info(name: str, version: str) -> ModelVersion | None:
    """What the BentoML model store holds for ``name:version``, or None when it is not a canaryline version."""
    import bentoml
    from bentoml.exceptions import NotFound

    if not is_version_name(version):
        return None  # BentoML would resolve 'latest', lowercase 'V1' or refuse '../v1' with a ValueError
    try:
        bento_model = bentoml.models.get(f"{name}:{version}")
    except (NotFound, ValueError):
        return None
    if str(bento_model.tag.version) != version:  # an alias or a normalised spelling: not this exact version
        return None
    meta: dict[str, Any] = dict(bento_model.info.metadata)
    if meta.get("canaryline") != 1 or "sha256" not in meta:
        return None
    return ModelVersion(
        model=name,
        version=version,
        created=bento_model.info.creation_time,
        task=meta["task"],
        framework=bento_model.info.module,
        sha256=meta["sha256"],
        n_features=meta.get("n_features"),
        classes=meta.get("classes"),
        params=meta.get("params") or {},
        metrics=meta.get("metrics") or {},
        data_version=meta.get("data_version"),
        code_version=meta.get("code_version"),
        description=meta.get("description") or "",
        input_schema=InputSchema.from_json(meta["input_schema"]) if meta.get("input_schema") else None,
    )


def load_version(name: str, version: str) -> LoadedVersion:
    """Read ``name:version``'s artifact, verify its SHA-256 and load the model from exactly those bytes.

    Needs only the BentoML model store, so a shadow process can load versions without a canaryline store.
    """
    from pathlib import Path

    import bentoml

    info = version_info(name, version)
    if info is None:
        raise ModelNotFoundError(f"model {name!r} has no version {version!r}")
    bento_model = bentoml.models.get(info.tag)
    files = read_verified(Path(bento_model.path_of("/")), info.sha256, what=f"model {name!r} version {version!r}")
    options = bento_model.info.options.to_dict()
    model = adapter_for_module(info.framework).load(files, options, task=info.task, classes=info.classes)
    return LoadedVersion(info=info, model=model)
