"""Adopting a model saved with ``bentoml.<framework>.save_model`` (not by canaryline): what it is, told by its
framework from its own files, written into its ``model.yaml`` as canaryline's metadata.

The model is read with its framework's own loader from the BentoML folder (the folder is this node's own
store, which BentoML itself would unpickle on ``load_model``); its task must be told by the framework or
declared, as for any registration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_client.domain.model_version import ModelVersion
from registry_client.errors import UnsupportedModelError
from registry_client.registry.adapter import Task
from registry_client.registry.admission import task_of
from registry_client.registry.artifacts import digest_files, read_artifact
from registry_client.registry.frameworks import adapter_for_module
from registry_client.registry.local_models import version_info
from registry_client.registry.model_files import load_model_file

__all__ = ["describe_saved"]


def describe_saved(found: Any, name: str, version: str, task: Task | None) -> ModelVersion:
    """Record canaryline's metadata (task, width, classes, SHA-256) in ``found``'s ``model.yaml``; its record."""
    module = str(found.info.module)
    adapter = adapter_for_module(module)
    filename = getattr(adapter, "filename", None)
    if module == "bentoml.mlflow" or filename is None:
        raise UnsupportedModelError(f"{name}:{version} was saved with {module}, which canaryline cannot adopt")
    folder = Path(found.path_of("/"))
    model = load_model_file(
        folder / filename,
        adapter.framework,
        trust_pickle=True,  # this node's own BentoML store: what bentoml.sklearn.load_model would unpickle
        model_class=found.info.options.to_dict().get("model_class"),
    )
    task = task_of(name, model, adapter, task)
    meta = found.info.metadata
    meta.update(
        {
            "canaryline": 1,
            "task": task,
            "n_features": adapter.n_features(model),
            "sha256": digest_files(read_artifact(folder)),
        }
    )
    classes = adapter.classes(model) if task == "classification" else None
    if classes is not None:
        meta["classes"] = classes
    found.flush()
    record = version_info(name, version)
    assert record is not None  # its metadata was just written
    return record
