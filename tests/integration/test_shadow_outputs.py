"""The shadow run itself (as the shadow process runs it), over a real registered model."""

from __future__ import annotations

import pytest

from registry_client.errors import ArtifactIntegrityError, InputError
from registry_client.registry.registry import Registry
from service.dataplane.shadow import run_shadow


def test_a_non_finite_shadow_answer_is_a_failed_run_not_a_record_of_nulls(
    sqlite_registry: Registry, model_name: str, iris_models
) -> None:
    """Rows that make the shadow version's probabilities NaN fail the run (counted as a shadow error by the
    runner), so no record with null probabilities is logged; finite rows run as usual."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    predictions, probabilities, _ = run_shadow(model_name, "v1", [[5.1, 3.5, 1.4, 0.2]])
    assert predictions == [0] and len(probabilities[0]) == 3
    with pytest.raises(InputError, match=f"model {model_name!r} version 'v1' returned a non-finite probability"):
        run_shadow(model_name, "v1", [[5.1, 3.5, 1.4, 0.2], [1e308] * 4])


def test_the_shadow_process_verifies_the_digest_its_worker_read_from_the_store(
    sqlite_registry: Registry, model_name: str, iris_models
) -> None:
    """Given the store record's SHA-256, the shadow load checks the files against it, not model.yaml's: a digest
    that differs is refused, naming the version; the record's own loads."""
    record = sqlite_registry.register(model_name, iris_models["logreg"])
    with pytest.raises(ArtifactIntegrityError, match=f"model {model_name!r} version 'v1': artifact SHA-256 is"):
        run_shadow(model_name, "v1", None, "0" * 64)
    assert run_shadow(model_name, "v1", [[5.1, 3.5, 1.4, 0.2]], record.sha256)[0] == [0]
