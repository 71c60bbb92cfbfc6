"""canaryline's registry, stores and control-plane client."""

from __future__ import annotations

from .errors import CanarylineError
from .plan import AuditEntry, Canary, Plan, Shadow
from .records import OutcomeRecord, PredictionRecord
from .registry import LoadedVersion, ModelVersion, Registry
from .settings import CanarylineSettings
from .store import Store, open_store

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
