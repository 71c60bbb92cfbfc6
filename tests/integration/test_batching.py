"""Micro-batching: concurrent requests to one version share a model call with exactly their own answers."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from registry_client.errors import InputError
from registry_client.registry.registry import Registry
from registry_client.settings import GatewaySettings
from registry_client.store import open_store
from service.composition import build_runtime
from service.dataplane.batching import Batcher
from service.dataplane.model_pool import ModelPool
from service.dataplane.validation import PredictRequest
from tests.support.tokens import TOKEN_SETTINGS


@pytest.fixture
def serving(sqlite_registry: Registry, model_name: str, iris_models):
    sqlite_registry.register(model_name, iris_models["logreg"])
    return ModelPool(sqlite_registry).get_or_load(model_name, "v1")


async def gather_predictions(batcher: Batcher, serving, batches: list[list[list[float]]]):
    return await asyncio.gather(*(batcher.predict(serving, rows) for rows in batches))


def test_concurrent_requests_share_one_call_and_get_their_own_rows(serving, iris, iris_models) -> None:
    """Twenty concurrent requests of 1-3 rows are one model call; each gets exactly its rows' results."""
    X, _ = iris
    batches = [X[i : i + 1 + i % 3].tolist() for i in range(0, 60, 3)]
    batcher = Batcher(max_rows=1000)
    results = asyncio.run(gather_predictions(batcher, serving, batches))
    assert (batcher.calls, batcher.requests) == (1, 20)
    for rows, (predictions, probabilities) in zip(batches, results, strict=True):
        assert predictions == iris_models["logreg"].predict(np.asarray(rows)).tolist()
        np.testing.assert_allclose(probabilities, iris_models["logreg"].predict_proba(np.asarray(rows)))


def test_a_lone_request_is_predicted_without_waiting(serving, iris) -> None:
    """One request in a tick is a call of its own, made in the same loop iteration."""
    X, _ = iris
    batcher = Batcher(max_rows=1000)
    [(predictions, _)] = asyncio.run(gather_predictions(batcher, serving, [X[:1].tolist()]))
    assert batcher.calls == 1 and len(predictions) == 1


def test_batches_are_capped_by_rows(serving, iris) -> None:
    """Rows beyond max_rows start a new call, so no call exceeds the batch limit."""
    X, _ = iris
    batcher = Batcher(max_rows=10)
    asyncio.run(gather_predictions(batcher, serving, [X[i : i + 4].tolist() for i in range(0, 40, 4)]))
    assert batcher.requests == 10 and batcher.calls >= 4


def test_a_failing_request_does_not_fail_its_neighbours(serving, iris) -> None:
    """A request the model rejects fails alone; the others in its batch still get their answers."""
    X, _ = iris
    batches = [X[:1].tolist(), [[1.0, 2.0]], X[1:2].tolist()]  # the middle one has the wrong width

    async def run():
        batcher = Batcher(max_rows=1000)
        return await asyncio.gather(*(batcher.predict(serving, rows) for rows in batches), return_exceptions=True)

    first, bad, last = asyncio.run(run())
    assert isinstance(bad, ValueError)
    assert len(first[0]) == 1 and len(last[0]) == 1


def test_a_non_finite_answer_fails_only_its_own_request(tmp_path, model_name: str, iris, iris_models) -> None:
    """Three concurrent requests share one model call; the one whose row makes NaN probabilities gets the
    422, the other two are answered and logged."""
    X, _ = iris
    url = f"sqlite:///{tmp_path / 'store.db'}"
    Registry(open_store(url)).register(model_name, iris_models["logreg"])
    runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, **TOKEN_SETTINGS))
    batches = [X[:2].tolist(), [[1e308] * 4], X[2:3].tolist()]

    async def run():
        return await asyncio.gather(
            *(
                runtime.gateway.predict(PredictRequest(model=model_name, rows=rows), request_id=f"b-{i}", pin=None)
                for i, rows in enumerate(batches)
            ),
            return_exceptions=True,
        )

    try:
        first, bad, last = asyncio.run(run())
        [batcher] = runtime.gateway._batchers.values()  # the version's one batcher: proves the call was shared
        assert (batcher.calls, batcher.requests) == (1, 3)
        assert isinstance(bad, InputError) and bad.code == "non_finite_output", bad
        assert first.predictions == iris_models["logreg"].predict(X[:2]).tolist()
        assert last.predictions == iris_models["logreg"].predict(X[2:3]).tolist()
        assert [len(runtime.store.predictions_for_request(f"b-{i}")) for i in range(3)] == [1, 0, 1]
    finally:
        runtime.close()
