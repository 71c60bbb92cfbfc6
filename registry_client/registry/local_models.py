"""This node's BentoML model store: the versions saved or pulled here, read and loaded against a record.

A canaryline version in BentoML's store is tag ``name:version`` whose ``model.yaml`` metadata carries
``canaryline: 1`` and the SHA-256 of its files (:mod:`registry_client.registry.artifacts`). The store's
catalog record is what a version *is*; :func:`load_local` verifies the files against the record it is given
(the catalog's, on a gateway), never against the folder's own ``model.yaml``, which travels with the files.
:func:`load_version` (the shadow process, which has no store) verifies against the digest its worker passes
from the catalog's record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from registry_client.domain.model_version import LOCAL_ARTIFACT_SCHEME, ModelVersion, unknown
from registry_client.domain.versions import is_model_name, is_version_name
from registry_client.registry.artifacts import read_verified
from registry_client.registry.frameworks import adapter_for_module

__all__ = [
    "LoadedVersion",
    "bento_model",
    "bento_versions",
    "folder_bytes",
    "load_local",
    "load_version",
    "version_info",
]


@dataclass(frozen=True)
class LoadedVersion:
    """A version whose artifact passed its SHA-256 check, with the model object ready to predict."""

    info: ModelVersion
    model: Any


def bento_versions(name: str) -> list[str]:
    """The versions of ``name`` in this node's BentoML model store (any, canaryline's or not); none for a name
    that breaks the naming rule, which never reaches BentoML (its tags refuse 'a b' with a ValueError, read
    'x:y' as model x's version y and fold 'IRIS' to 'iris')."""
    import bentoml
    from bentoml.exceptions import NotFound

    if not is_model_name(name):
        return []
    try:
        return [str(m.tag.version) for m in bentoml.models.list(name)]
    except NotFound:
        return []


def bento_model(name: str, version: str) -> Any:
    """BentoML's model ``name:version`` here, exactly (never an alias such as ``latest``), or None."""
    import bentoml
    from bentoml.exceptions import NotFound

    if not is_model_name(name) or not is_version_name(version):
        return None  # BentoML would resolve 'latest', lowercase 'V1' or refuse '../v1' with a ValueError
    try:
        # BentoML's get resolves a prefix: 'v' is v1 when only v1 starts so, and a BentoMLException (a 500 on
        # the admin API) when v1 and v2 both do. Only a version listed under exactly this name is looked up.
        if version not in bento_versions(name):
            return None
        found = bentoml.models.get(f"{name}:{version}")
    except (NotFound, ValueError):  # ValueError: a name BentoML's tags refuse
        return None
    return found if str(found.tag.version) == version else None


def folder_bytes(model: Any) -> int:
    """Bytes the model's folder takes on disk."""
    return sum(p.stat().st_size for p in Path(model.path).rglob("*") if p.is_file())


def version_info(name: str, version: str) -> ModelVersion | None:
    """What this node's BentoML model store holds for ``name:version``, or None when it is not a canaryline version."""
    found = bento_model(name, version)
    if found is None:
        return None
    meta: dict[str, Any] = dict(found.info.metadata)
    if meta.get("canaryline") != 1 or "sha256" not in meta:
        return None
    return ModelVersion.from_metadata(
        meta,
        model=name,
        version=version,
        created=found.info.creation_time,
        framework=found.info.module,
        options=found.info.options.to_dict(),
        artifact_uri=f"{LOCAL_ARTIFACT_SCHEME}{name}:{version}",
    )


def load_local(record: ModelVersion) -> LoadedVersion:
    """Read ``record``'s files from this node's BentoML store, verify them against ``record.sha256`` and load
    the model from exactly those bytes; ModelNotFoundError when the store lacks it, ArtifactIntegrityError
    when the digest differs."""
    found = bento_model(record.model, record.version)
    if found is None:
        raise unknown(record.model, record.version)
    files = read_verified(
        Path(found.path_of("/")), record.sha256, what=f"model {record.model!r} version {record.version!r}"
    )
    adapter = adapter_for_module(record.framework)
    model = adapter.load(files, record.options, task=record.task, classes=record.classes)
    return LoadedVersion(info=record, model=model)


def load_version(name: str, version: str, *, sha256: str | None = None) -> LoadedVersion:
    """Load ``name:version`` from this node's BentoML store, verified against ``sha256`` (the store record's,
    as the gateway worker passes it) or, without one, against its ``model.yaml`` digest.

    Needs only the BentoML model store, so a shadow process can load versions without a canaryline store.
    """
    info = version_info(name, version)
    if info is None:
        raise unknown(name, version)
    return load_local(info if sha256 is None else replace(info, sha256=sha256))
