"""The model registry: immutable, human-readable versions, recorded in the store, their archives anywhere.

The store's catalog (:meth:`~registry_client.store.base.Store.register_version`) is what a version *is*: any
machine that reaches the store lists and reads versions, with no BentoML model store present. A version is
saved as BentoML tag ``name:version`` through BentoML's own module for its framework
(:mod:`registry_client.registry.frameworks`), then published (:mod:`registry_client.registry.publish`): its
archive to the artifact store (``CANARYLINE_ARTIFACTS``) when there is one, its record with the model's first
plan to the store, all or nothing. A gateway that lacks a version pulls it (:mod:`registry_client.registry.pull`)
and verifies it against the store's record before anything loads.

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

from pathlib import Path
from typing import Any

import orjson

from registry_client.domain.model_version import ModelVersion, VersionEvent, exists, unknown
from registry_client.domain.plan import utcnow
from registry_client.domain.versions import (
    check_names,
    next_default_version,
    validate_model_name,
    validate_version,
)
from registry_client.errors import (
    CanarylineError,
    InvalidTaskError,
    ModelNotFoundError,
    VersionExistsError,
)
from registry_client.registry.adapter import FrameworkAdapter, Task
from registry_client.registry.admission import check_compatible, schema_of, task_of
from registry_client.registry.artifact_store import ArtifactStore, delete_artifact
from registry_client.registry.artifacts import digest_files, read_artifact
from registry_client.registry.frameworks import adapter_for_model
from registry_client.registry.local_models import (
    LoadedVersion,
    bento_model,
    bento_versions,
    load_version,
    version_info,
)
from registry_client.registry.mlflow_models import MlflowModel
from registry_client.registry.model_files import load_model_file
from registry_client.registry.publish import publish
from registry_client.registry.pull import ArtifactCache
from registry_client.settings import CanarylineSettings
from registry_client.store import Store, store_of

__all__ = ["LoadedVersion", "ModelVersion", "Registry", "Task", "load_version", "version_info"]

_TASKS: tuple[Task, ...] = ("classification", "regression")
_DEFAULT_NAME_ATTEMPTS = 5
_SYSTEM_ACTOR = "registry"


def _json_safe(value: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        result: dict[str, Any] = orjson.loads(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))
    except TypeError as exc:
        raise CanarylineError(f"{what} must be JSON-serialisable: {exc}") from exc
    return result


class Registry:
    def __init__(
        self,
        store: Store,
        *,
        artifacts: ArtifactStore | None = None,
        cache: ArtifactCache | None = None,
        max_file_bytes: int | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.cache = cache or ArtifactCache(max_bytes=None, max_archive_bytes=max_file_bytes)
        self.max_file_bytes = max_file_bytes

    @classmethod
    def from_settings(cls, settings: CanarylineSettings) -> Registry:
        """The registry of ``settings``: its store, artifact store and cache bound, and BentoML's model store
        under the same home."""
        settings.use_model_store()
        return cls(
            store_of(settings),
            artifacts=ArtifactStore(settings.artifacts, settings.artifacts_options) if settings.artifacts else None,
            cache=ArtifactCache(
                max_bytes=settings.artifact_cache_bytes,
                max_archive_bytes=settings.max_model_file_bytes,
                options=settings.artifacts_options,
            ),
            max_file_bytes=settings.max_model_file_bytes,
        )

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
        actor: str = _SYSTEM_ACTOR,
    ) -> ModelVersion:
        """Save ``model`` as a new immutable version of ``name`` and publish it; never overwrites one.

        ``task`` defaults to the estimator's own; raises InvalidTaskError when a given task contradicts
        it or when it cannot be told and none is given, and IncompatibleVersionError when the model's
        existing versions have another task or input width, or (unless ``allow_schema_change``) another
        input schema. ``sample`` (a pandas DataFrame, e.g. the training frame) or ``schema`` (an
        :class:`InputSchema` or its JSON) makes it a named-input version; SchemaError when the schema's
        fields are not the columns the model was fitted on. VersionExistsError for a version the store (or
        this node's BentoML store) has. All are raised before anything is written; a failure while
        publishing removes what was saved.
        """
        import bentoml

        validate_model_name(name)
        if task is not None and task not in _TASKS:
            raise InvalidTaskError(f"model {name!r}: task {task!r} is invalid: use 'classification' or 'regression'")
        if version is not None:
            validate_version(version)
        adapter = adapter_for_model(model)
        task = task_of(name, model, adapter, task)
        n_features = adapter.n_features(model)
        input_schema = schema_of(name, model, adapter, sample, schema)
        registered = self.store.list_versions(name)  # fails before writing anything when the store is down
        active = [v for v in registered if not v.archived]
        check_compatible(name, active, task, n_features, input_schema, allow_schema_change=allow_schema_change)
        metadata: dict[str, Any] = {
            "canaryline": 1,
            "task": task,
            "params": _json_safe(params or {}, "params"),
            "metrics": _json_safe(metrics or {}, "metrics"),
            "data_version": data_version,
            "code_version": code_version,
            "description": description,
            "n_features": n_features,
            "classes": adapter.classes(model) if task == "classification" else None,
            "input_schema": input_schema.to_json() if input_schema is not None else None,
        }
        metadata = {key: value for key, value in metadata.items() if value is not None}  # BentoML refuses None
        taken = {v.version for v in registered}
        for _ in range(1 if version is not None else _DEFAULT_NAME_ATTEMPTS):
            chosen = version or next_default_version([*taken, *bento_versions(name)])
            if chosen in taken:
                raise exists(name, chosen)
            try:
                saved = self._save(name, chosen, model, adapter, metadata)
            except CanarylineError as exc:
                if version is not None or exc.code != "version_exists":
                    raise
                continue  # a registration on this node took the name: pick the next one
            try:
                return publish(self.store, saved, self.artifacts, actor=actor)
            except CanarylineError as exc:
                bentoml.models.delete(saved.tag)  # no half-written state: the local copy goes with the record
                if version is not None or exc.code != "version_exists":
                    raise
                taken.add(chosen)  # a registration elsewhere took the default name first: pick the next one
            except BaseException:
                bentoml.models.delete(saved.tag)
                raise
        raise VersionExistsError(f"model {name!r}: concurrent registrations took every default name tried")

    def register_file(
        self, name: str, path: Path, *, framework: str, trust_pickle: bool = False, **options: Any
    ) -> ModelVersion:
        """Register the model file at ``path`` (each framework's own format: :mod:`.model_files`) as a version
        of ``name``; ModelFileError (a pickle without ``trust_pickle``, a file that is not a model of
        ``framework``) or PayloadTooLargeError before anything is written. ``options`` are :meth:`register`'s."""
        validate_model_name(name)
        if options.get("version") is not None:
            validate_version(options["version"])
        model = load_model_file(path, framework, trust_pickle=trust_pickle, max_bytes=self.max_file_bytes)
        return self.register(name, model, **options)

    def adopt(self, tag: str, *, task: Task | None = None, actor: str = _SYSTEM_ACTOR) -> ModelVersion:
        """Register ``name:version`` saved in this node's BentoML model store (by canaryline or by any
        ``bentoml.<framework>.save_model`` canaryline supports); it stays there whatever happens."""
        from registry_client.registry.adoption import describe_saved

        name, _, version = tag.partition(":")
        validate_model_name(name)
        validate_version(version)
        found = bento_model(name, version)
        if found is None:
            raise ModelNotFoundError(f"this node's BentoML model store has no model {tag!r}")
        if self.store.get_version(name, version) is not None:
            raise exists(name, version)
        record = version_info(name, version) or describe_saved(found, name, version, task)
        active = [v for v in self.store.list_versions(name) if not v.archived]
        check_compatible(name, active, record.task, record.n_features, record.input_schema, allow_schema_change=True)
        return publish(self.store, record, self.artifacts, actor=actor)

    def import_mlflow(self, name: str, uri: str, **options: Any) -> ModelVersion:
        """Register the MLflow model at ``uri`` (a directory, ``runs:/…``, ``models:/name/version`` or
        ``models:/name@alias``) as a new version of ``name``; its MLflow signature is the input schema
        unless ``schema=`` or ``sample=`` is given. ``options`` are :meth:`register`'s."""
        model = MlflowModel(uri)
        if options.get("schema") is None and options.get("sample") is None:
            options["schema"] = model.schema()
        return self.register(name, model, **options)

    def archive(self, model: str, version: str, *, actor: str, reason: str = "", prune: bool = False) -> ModelVersion:
        """Archive a version no plan uses (VersionInUseError otherwise); it stays listed and in the audit.
        With ``prune``, its archive is deleted from the artifact store too."""
        check_names(model, version)
        record = self.store.archive_version(model, version, actor=actor, reason=reason, at=utcnow())
        if prune and record.remote:
            delete_artifact(record.artifact_uri, self.cache.options)
        return record

    def _save(
        self, name: str, version: str, model: Any, adapter: FrameworkAdapter, metadata: dict[str, Any]
    ) -> ModelVersion:
        """Save through the framework's BentoML module, then add the artifact's SHA-256 to model.yaml."""
        import bentoml
        from bentoml.exceptions import BentoMLException

        tag = f"{name}:{version}"
        if version in bento_versions(name):
            raise exists(name, version)
        try:
            adapter.save(tag, model, labels={"canaryline": "1"}, metadata=metadata)
        except BentoMLException as exc:
            if "already exists" in str(exc):
                raise exists(name, version) from exc
            raise
        try:
            saved = bentoml.models.get(tag)
            saved.info.metadata["sha256"] = digest_files(read_artifact(Path(saved.path_of("/"))))
            saved.flush()  # type: ignore[no-untyped-call]
        except BaseException:
            bentoml.models.delete(tag)
            raise
        info = version_info(name, version)
        assert info is not None  # just saved with canaryline's metadata
        return info

    # -- reading -------------------------------------------------------------------------------
    def models(self) -> list[str]:
        """Names of the models that have at least one registered version, from the store."""
        return self.store.list_models()

    def versions(self, name: str, include_archived: bool = False) -> list[ModelVersion]:
        """The model's versions from the store, ordered numerically (``v2`` before ``v10``); archived ones only
        with ``include_archived``. ModelNotFoundError when the model has none, or its name breaks the rule."""
        check_names(name)
        found = self.store.list_versions(name)
        if not found:
            raise ModelNotFoundError(f"model {name!r} has no registered versions")
        return [v for v in found if include_archived or not v.archived]

    def get(self, name: str, version: str) -> ModelVersion:
        """The store's record of exactly ``name:version``; a version saved in this node's BentoML store before
        the store kept records is read from there (``canaryline adopt`` records it). ModelNotFoundError when
        there is none, naming the rule when a name breaks it (it reaches neither the store nor BentoML)."""
        check_names(name, version)
        info = self.store.get_version(name, version) or version_info(name, version)
        if info is None:
            raise unknown(name, version)
        return info

    def events(self, name: str) -> list[VersionEvent]:
        """The model's registry audit: versions registered and archived, with actor and time."""
        check_names(name)
        return self.store.version_events(name)

    def stable(self, name: str) -> str | None:
        check_names(name)
        plan = self.store.get_plan(name)
        return plan.stable if plan else None

    def load(self, name: str, version: str) -> LoadedVersion:
        """The version, pulled into this node's BentoML store when it lacks it, verified against the store's
        record (archive and files) and loaded from exactly the verified bytes."""
        return self.cache.load(self.get(name, version))

    def evict_cached(self, keep: set[tuple[str, str]]) -> list[str]:
        """Delete pulled versions outside ``keep`` while the cache is over its bound; the tags deleted."""
        return self.cache.evict(keep, self.store.list_versions)
