"""Publishing a version saved in this node's BentoML store: its archive to the artifact store, its record to
the store's catalog, all or nothing.

With an artifact store, the version is exported as BentoML's archive (``bentoml.models.export_model``: the
folder, ``model.yaml`` included, as one tar file, which ``bentoml.models.import_model`` reads on the pulling
node), its bytes' SHA-256 computed, and the archive uploaded under a name of its own; only then are the record
and (for a model without one) its first plan written, in one store transaction. When that write fails, the
upload is deleted: no record without an archive, no archive without a record. Without an artifact store the
record's ``artifact_uri`` is the local tag ``bentoml:NAME:VERSION``.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import replace
from pathlib import Path

import structlog

from registry_client.domain.model_version import ModelVersion
from registry_client.domain.plan import Plan
from registry_client.errors import CanarylineError
from registry_client.registry.artifact_store import ArtifactStore, archive_digest
from registry_client.store import Store

__all__ = ["publish"]

log = structlog.get_logger("canaryline.registry")


def publish(store: Store, record: ModelVersion, artifacts: ArtifactStore | None, *, actor: str) -> ModelVersion:
    """Upload ``record``'s archive (with ``artifacts``) and write the record with its first plan; the record."""
    import bentoml

    uploaded: str | None = None
    if artifacts is not None:
        with tempfile.TemporaryDirectory(prefix="canaryline-export-") as tmp:
            archive = Path(tmp) / f"{record.model}-{record.version}.bentomodel"
            bentoml.models.export_model(record.tag, str(archive))
            digest = archive_digest(archive)
            uploaded = artifacts.put(archive, record.model, record.version)
        record = replace(record, artifact_uri=uploaded, artifact_sha256=digest)
    record = replace(record, created_by=actor)
    try:
        store.register_version(record, first_plan=Plan.initial(record.model, record.version, actor=actor))
    except BaseException:
        if uploaded is not None and artifacts is not None:
            with contextlib.suppress(CanarylineError):  # the store's error is the one to report
                artifacts.delete(uploaded)
            log.info("upload_removed", model=record.model, model_version=record.version, artifact=uploaded)
        raise
    return record
