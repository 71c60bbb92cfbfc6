"""An in-process gateway over a real runtime (SQLite store, verified models), for ASGI-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.settings import GatewaySettings
from registry_client.store import open_store
from service.composition import Runtime, build_runtime
from service.rest.app import build_app
from tests.support.tokens import TOKEN_SETTINGS


@contextmanager
def canaried_gateway(
    tmp_path: Path, model: str, iris_models: dict[str, Any], *, regressor: Any = None, **settings: Any
) -> Iterator[tuple[TestClient, Runtime, ControlPlane]]:
    """``model`` v1 (logistic regression) stable and v2 (tree) a sticky 50% canary, at revision 2; with
    ``regressor``, also ``model + "r"`` registered as a regression model. ``settings`` go to GatewaySettings."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    registry = Registry(open_store(url))
    registry.register(model, iris_models["logreg"])
    registry.register(model, iris_models["tree"])
    if regressor is not None:
        registry.register(model + "r", regressor, task="regression")
    control = ControlPlane(registry)
    control.set_canary(model, "v2", weight=50, sticky=True, actor="tests", reason="canary", expected_revision=None)
    runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, **{**TOKEN_SETTINGS, **settings}))
    try:
        with TestClient(build_app(runtime)) as client:
            yield client, runtime, control
    finally:
        runtime.close()
