"""Version records as a registration writes them, for the catalog contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registry_client.domain.model_version import ModelVersion
from registry_client.domain.schema import InputSchema


def make_version(model: str, version: str, **changes: Any) -> ModelVersion:
    """A classifier version of ``model`` with every field set, ``changes`` applied."""
    values: dict[str, Any] = {
        "model": model,
        "version": version,
        "created": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        "task": "classification",
        "framework": "bentoml.sklearn",
        "sha256": "ab" * 32,
        "n_features": 2,
        "classes": ["a", "b"],
        "params": {"C": 0.1, "depth": 3},
        "metrics": {"accuracy": 0.9731},
        "data_version": "batch-2026-12-01",
        "code_version": "abc123",
        "description": "nightly",
        "input_schema": InputSchema.from_json(
            {"fields": [{"name": "x", "kind": "number"}, {"name": "y", "kind": "number"}]}
        ),
        "options": {"model_class": "XGBClassifier"},
        "artifact_uri": f"file:///artifacts/{model}/{version}/a.bentomodel",
        "artifact_sha256": "cd" * 32,
        "created_by": "ci@runner",
    }
    values.update(changes)
    return ModelVersion(**values)
