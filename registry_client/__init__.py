"""canaryline's registry, stores and control-plane client."""

from __future__ import annotations

from registry_client.domain.plan import AuditEntry, Canary, Plan, Shadow
from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.errors import CanarylineError
from registry_client.registry.registry import LoadedVersion, ModelVersion, Registry
from registry_client.settings import CanarylineSettings
from registry_client.store import Store, open_store

__all__ = [
    "AuditEntry",
    "Canary",
    "CanarylineError",
    "CanarylineSettings",
    "LoadedVersion",
    "ModelVersion",
    "OutcomeRecord",
    "Plan",
    "PredictionRecord",
    "Registry",
    "Shadow",
    "Store",
    "open_store",
]
