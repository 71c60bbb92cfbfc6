"""A gateway's pull: bring a version's archive from the artifact store into this node's BentoML model store.

A version whose record names an artifact store (``artifact_uri`` not ``bentoml:``) and that this node's
BentoML store lacks is pulled: the archive's bytes are read (at most ``max_bytes``), their SHA-256 compared
with the record's ``artifact_sha256`` *before* BentoML unpacks anything, and only then imported. Loading
then verifies the files against the record's ``sha256`` (:func:`~registry_client.registry.local_models.load_local`).
A folder here whose files no longer match the record is replaced by a fresh pull.

The cache bound (``CANARYLINE_ARTIFACT_CACHE_BYTES``): :meth:`ArtifactCache.evict` deletes pulled versions (those
whose record names an artifact store, so they can be pulled again) that no plan needs, oldest first, until
what such versions take is within the bound.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog

from registry_client.domain.model_version import ModelVersion
from registry_client.errors import ArtifactIntegrityError, ArtifactUnavailableError
from registry_client.registry.artifact_store import read_artifact_bytes
from registry_client.registry.local_models import LoadedVersion, bento_model, folder_bytes, load_local

__all__ = ["ArtifactCache"]

log = structlog.get_logger("canaryline.artifacts")


class ArtifactCache:
    def __init__(self, *, max_bytes: int | None, max_archive_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.max_archive_bytes = max_archive_bytes

    def load(self, record: ModelVersion) -> LoadedVersion:
        """The version loaded from this node's store, pulled first when it is missing (or its files changed)."""
        import bentoml

        if not record.remote:
            return load_local(record)
        if bento_model(record.model, record.version) is not None:
            try:
                return load_local(record)
            except ArtifactIntegrityError as exc:
                log.warning("cached_version_replaced", model=record.model, model_version=record.version, error=str(exc))
                bentoml.models.delete(record.tag)
        self.pull(record)
        return load_local(record)

    def pull(self, record: ModelVersion) -> None:
        """Fetch, verify (archive SHA-256 against the record) and import ``record``'s archive."""
        import bentoml

        try:
            data = read_artifact_bytes(record.artifact_uri, max_bytes=self.max_archive_bytes)
        except ArtifactUnavailableError as exc:
            raise ArtifactUnavailableError(
                f"model {record.model!r} version {record.version!r} is not cached here and cannot be pulled: "
                f"{exc.message}"
            ) from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != record.artifact_sha256:
            raise ArtifactIntegrityError(
                f"model {record.model!r} version {record.version!r}: archive SHA-256 is {actual[:12]}…, "
                f"registered {(record.artifact_sha256 or '')[:12]}…; refusing to unpack it"
            )
        with tempfile.TemporaryDirectory(prefix="canaryline-pull-") as tmp:
            archive = Path(tmp) / "version.bentomodel"
            archive.write_bytes(data)
            imported = bentoml.models.import_model(str(archive))
        if str(imported.tag) != record.tag:  # the archive of another version: never keep it under this name
            bentoml.models.delete(imported.tag)
            raise ArtifactIntegrityError(
                f"model {record.model!r} version {record.version!r}: the archive holds {imported.tag}; refusing it"
            )
        log.info("version_pulled", model=record.model, model_version=record.version, bytes=len(data))

    def evict(self, keep: set[tuple[str, str]], records: Callable[[str], Iterable[ModelVersion]]) -> list[str]:
        """Delete pulled versions outside ``keep``, oldest first, while pulled versions exceed the bound.

        ``records(model)`` gives the catalog's versions of a model; returns the tags deleted."""
        import bentoml

        if self.max_bytes is None:
            return []
        pulled = []
        for local in bentoml.models.list():
            model, version = str(local.tag.name), str(local.tag.version)
            if any(r.version == version and r.remote for r in records(model)):
                pulled.append((local.info.creation_time, (model, version), folder_bytes(local)))
        total = sum(size for _, _, size in pulled)
        deleted: list[str] = []
        for _, key, size in sorted(pulled):
            if total <= self.max_bytes:
                break
            if key in keep:
                continue
            bentoml.models.delete(f"{key[0]}:{key[1]}")
            total -= size
            deleted.append(f"{key[0]}:{key[1]}")
            log.info("version_evicted", model=key[0], model_version=key[1], bytes=size)
        return deleted
