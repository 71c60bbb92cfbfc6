"""A loaded, verified model version ready to predict, and the pool that loads and shares them."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog

from registry_client.domain.schema import InputSchema
from registry_client.errors import CanarylineError
from registry_client.registry.frames import FrameBuilder
from registry_client.registry.registry import LoadedVersion, ModelVersion, Registry

__all__ = ["ModelPool", "ServingVersion", "labelled"]

log = structlog.get_logger("canaryline.models")


@dataclass(slots=True, frozen=True, eq=False, weakref_slot=True)  # identity: one object per load
class ServingVersion:
    info: ModelVersion
    model: Any
    n_features: int | None
    has_proba: bool
    #: Named inputs it takes (rows are then dicts, given to the model as a DataFrame); None: a matrix.
    schema: InputSchema | None = None
    frames: FrameBuilder | None = None

    @classmethod
    def from_loaded(cls, loaded: LoadedVersion) -> ServingVersion:
        n_features = getattr(loaded.model, "n_features_in_", None)
        return cls(
            info=loaded.info,
            model=loaded.model,
            n_features=int(n_features) if n_features is not None else loaded.info.n_features,
            has_proba=loaded.info.task == "classification" and hasattr(loaded.model, "predict_proba"),
            schema=loaded.info.input_schema,
            frames=FrameBuilder(loaded.info.input_schema) if loaded.info.input_schema is not None else None,
        )

    def predict(self, rows: list[Any]) -> tuple[list[Any], list[list[float]] | None]:
        """Predictions (and class probabilities for classifiers that have them) for ``rows``.

        NumPy's floating-point warnings are off: a non-finite result is refused by the caller
        (:func:`service.dataplane.outputs.check_finite`), and a warning would only add noise (or, under
        ``-W error``, turn a refusal into a crash).
        """
        features = np.asarray(rows, dtype=np.float64) if self.frames is None else self.frames(rows)
        with np.errstate(all="ignore"):
            labels, scores = labelled(self.model, features, proba=self.has_proba)
        return labels.tolist(), None if scores is None else scores.tolist()

    def warm_up(self) -> None:
        """One prediction on a row of zeros, so what the framework sets up on its first call (lazy imports,
        caches) exists before the plan table freezes the heap (:meth:`PlanTable.refresh`), not after."""
        if self.n_features:
            with contextlib.suppress(Exception):  # a model that refuses zeros is still served; this is only a warm-up
                self.predict([[0.0] * self.n_features])


def labelled(model: Any, features: Any, *, proba: bool) -> tuple[Any, Any | None]:
    """What the gateway asks of a version: its predictions, and a classifier's probabilities when ``proba``;
    a Booster answers both from one run (``predict_labelled``), others by ``predict`` then ``predict_proba``."""
    if proba and hasattr(model, "predict_labelled"):
        return model.predict_labelled(features)  # type: ignore[no-any-return]
    return model.predict(features), model.predict_proba(features) if proba else None


class ModelPool:
    """Loads each (model, version) once per process; every load verifies the artifact's SHA-256."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._loaded: dict[tuple[str, str], ServingVersion] = {}
        self._lock = threading.Lock()

    def get_or_load(self, model: str, version: str) -> ServingVersion:
        key = (model, version)
        found = self._loaded.get(key)
        if found is not None:
            return found
        # raises ArtifactIntegrityError, ModelNotFoundError
        serving = ServingVersion.from_loaded(self.registry.load(model, version))
        serving.warm_up()
        with self._lock:
            return self._loaded.setdefault(key, serving)

    def retain_only(self, keep: set[tuple[str, str]]) -> list[tuple[str, str]]:
        """Unload every version not in ``keep``; returns what was unloaded."""
        with self._lock:
            gone = [key for key in self._loaded if key not in keep]
            for key in gone:
                del self._loaded[key]
        return gone

    def evict_cached(self, keep: set[tuple[str, str]]) -> None:
        """Let the registry's cache delete pulled versions outside ``keep`` while it is over its bound; a
        failure (the store unreachable) only postpones it to the next refresh."""
        try:
            self.registry.evict_cached(keep)
        except CanarylineError as exc:
            log.warning("cache_eviction_failed", error=exc.message)

    def loaded(self) -> list[tuple[str, str]]:
        return sorted(self._loaded)
