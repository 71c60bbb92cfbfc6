"""In-process gateways over a real runtime (a real store, verified models), for ASGI-level tests."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class Gateway:
    """A client on the app of a running runtime, the control plane over its store, and its metric samples."""

    client: TestClient
    runtime: Runtime
    control: ControlPlane

    def value(self, name: str, **labels: str) -> float | None:
        """The runtime's metric sample ``name`` with exactly these ``labels``; None when it was never set."""
        return self.runtime.metrics.registry.get_sample_value(name, labels)

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every sample of ``name``, keyed by its sorted labels."""
        return {
            tuple(sorted(s.labels.items())): s.value
            for family in self.runtime.metrics.registry.collect()
            for s in family.samples
            if s.name == name
        }


@contextmanager
def gateway(
    store_url: str,
    home: Path,
    models: Mapping[str, Sequence[Any]] | None = None,
    *,
    regression: Collection[str] = (),
    plans: Callable[[ControlPlane], object] | None = None,
    **settings: Any,
) -> Iterator[Gateway]:
    """A runtime on ``store_url`` serving ``models`` (name → estimators, registered as v1, v2 … in order;
    names in ``regression`` as regression models), after ``plans`` changed the plans through the control plane.
    It runs with every token (TOKEN_SETTINGS); ``settings`` go to GatewaySettings on top of them."""
    registry = Registry(open_store(store_url))
    try:
        for name, estimators in (models or {}).items():
            for estimator in estimators:
                registry.register(name, estimator, task="regression" if name in regression else None)
        control = ControlPlane(registry)
        if plans is not None:
            plans(control)
        runtime = build_runtime(GatewaySettings(store=store_url, home=home, **{**TOKEN_SETTINGS, **settings}))
        try:
            with TestClient(build_app(runtime)) as client:
                yield Gateway(client, runtime, control)
        finally:
            runtime.close()
    finally:
        registry.store.close()


@contextmanager
def canaried_gateway(
    tmp_path: Path, model: str, iris_models: Mapping[str, Any], *, regressor: Any = None, **settings: Any
) -> Iterator[Gateway]:
    """``model`` v1 (logistic regression) stable and v2 (tree) a sticky 50% canary, at revision 2, on a SQLite
    store in ``tmp_path``; with ``regressor``, also ``model + "r"`` registered as a regression model."""
    models: dict[str, Sequence[Any]] = {model: [iris_models["logreg"], iris_models["tree"]]}
    if regressor is not None:
        models[model + "r"] = [regressor]

    def canary(control: ControlPlane) -> object:
        return control.set_canary(
            model, "v2", weight=50, sticky=True, actor="tests", reason="canary", expected_revision=None
        )

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with gateway(url, tmp_path, models, regression={model + "r"}, plans=canary, **settings) as built:
        yield built
