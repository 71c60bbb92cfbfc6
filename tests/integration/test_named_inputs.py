"""Named-input versions over the ASGI app and a real runtime: a scikit-learn pipeline with a category, a
text field and a nullable number, registered from its training frame and served on every protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from starlette.testclient import TestClient

from registry_client.control import ControlPlane
from registry_client.errors import IncompatibleVersionError, SchemaError
from registry_client.registry.registry import Registry
from registry_client.settings import GatewaySettings
from registry_client.store import open_store
from service.composition import Runtime, build_runtime
from service.dataplane.batching import Batcher
from service.dataplane.model_pool import ModelPool
from service.dataplane.shadow import run_shadow
from service.rest.app import build_app
from tests.support.cli import canaryline
from tests.support.frames import RECORD, iris_frame, text_pipeline
from tests.support.tokens import READ_TOKEN, TOKEN_SETTINGS, bearer

OTHER = {**RECORD, "sepal_length": 6.7, "sepal_width": None, "petal_length": 5.2, "petal_width": 2.3,
         "sepal_mm": 67, "wide": False, "petal_band": "long", "note": "long petals on narrow sepals"}  # fmt: skip


@dataclass
class Served:
    client: TestClient
    runtime: Runtime
    registry: Registry
    model: str
    pipelines: dict[str, Any]
    url: str
    home: Path


@pytest.fixture(scope="module")
def trained() -> tuple[pd.DataFrame, Any, Any]:
    frame, y = iris_frame()
    return frame, text_pipeline(frame, y), text_pipeline(frame, y, C=0.05)


@pytest.fixture
def served(tmp_path: Path, model_name: str, trained, iris_models) -> Iterator[Served]:
    """v1 (C=1) stable and v2 (C=0.05) a sticky 50 % canary, both from the training frame; and a numeric
    iris model beside it, ``model_name + "n"``."""
    frame, v1, v2 = trained
    url = f"sqlite:///{tmp_path / 'store.db'}"
    registry = Registry(open_store(url))
    registry.register(model_name, v1, sample=frame)
    registry.register(model_name, v2, sample=frame)
    registry.register(model_name + "n", iris_models["logreg"])
    ControlPlane(registry).set_canary(
        model_name, "v2", weight=50, sticky=True, actor="tests", reason="canary", expected_revision=None
    )
    runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, **TOKEN_SETTINGS))
    try:
        with TestClient(build_app(runtime)) as client:
            yield Served(client, runtime, registry, model_name, {"v1": v1, "v2": v2}, url, tmp_path)
    finally:
        runtime.close()
        registry.store.close()


def predict(served: Served, inputs: Any, version: str | None = "v1", **body: Any):
    """POST /predict, pinned to ``version`` (routed by the plan when None)."""
    payload = {"model": served.model, "inputs": inputs, **body}
    headers = {"X-Model-Version": version} if version else {}
    return served.client.post("/predict", content=orjson.dumps(payload), headers=headers)


def expected(served: Served, version: str, rows: list[dict]) -> tuple[list, np.ndarray]:
    frame = pd.DataFrame(rows).astype({"petal_band": pd.CategoricalDtype(["short", "medium", "long"])})
    pipeline = served.pipelines[version]
    return pipeline.predict(frame).tolist(), pipeline.predict_proba(frame)


def test_records_and_columns_get_the_pipelines_own_answers(served: Served) -> None:
    """Records and columns are scored by the pipeline on a DataFrame: the same labels and probabilities."""
    labels, probabilities = expected(served, "v1", [RECORD, OTHER])
    for inputs in ([RECORD, OTHER], {name: [RECORD[name], OTHER[name]] for name in RECORD}):
        response = predict(served, inputs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == "v1" and body["predictions"] == labels
        np.testing.assert_allclose(body["probabilities"], probabilities)


def test_each_record_keeps_the_named_inputs_it_was_served(served: Served) -> None:
    """The log record's inputs are the validated rows, as dicts, with the null kept as null."""
    response = predict(served, [OTHER])
    assert response.status_code == 200, response.text
    [record] = served.runtime.store.iter_predictions(served.model)  # ack mode: stored before the answer
    assert record.inputs == [OTHER] and record.model_version == "v1"


def test_both_versions_answer_by_their_own_pipeline(served: Served) -> None:
    """Stable and canary of one schema each score with their own pipeline; the sticky key decides."""
    for version in ("v1", "v2"):
        labels, probabilities = expected(served, version, [OTHER])
        body = predict(served, [OTHER], version=version).json()
        assert body["model_version"] == version and body["predictions"] == labels
        np.testing.assert_allclose(body["probabilities"], probabilities)
    routed = {predict(served, [RECORD], version=None, routing_key=f"user-{i}").json()["route"] for i in range(40)}
    assert routed == {"stable", "canary"}


@pytest.mark.parametrize(
    ("inputs", "code", "message"),
    [
        ([{**RECORD, "petal_band": "huge"}], "unknown_category", "field 'inputs[0].petal_band' (row 0)"),
        ([RECORD, {**RECORD, "wide": None}], "null_not_allowed", "field 'inputs[1].wide' (row 1)"),
        ([{k: v for k, v in RECORD.items() if k != "note"}], "missing_field", "field 'inputs[0].note' is required"),
        ([{**RECORD, "colour": "red"}], "unknown_field", "field 'inputs[0].colour' is not an input"),
        ({**{k: [v] for k, v in RECORD.items()}, "sepal_mm": ["51"]}, "invalid_input", "'inputs.sepal_mm[0]'"),
        ([{**RECORD, "note": "x" * 16385}], "string_too_long", "at most 16384 characters"),
        ([[5.1, 3.5, 1.4, 0.2]], "named_inputs_required", "takes named inputs (sepal_length:number"),
    ],
)
def test_bad_named_inputs_are_422s_and_logged_nowhere(served: Served, inputs, code: str, message: str) -> None:
    """Every refusal is the native error shape naming row and field, and no record is written."""
    response = predict(served, inputs)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code and message in error["message"], error
    assert served.runtime.store.count_predictions() == 0


def test_a_numeric_version_keeps_its_matrix_and_refuses_named_inputs(served: Served) -> None:
    """A version registered without a schema takes rows of numbers exactly as before, not records."""
    ok = served.client.post("/predict", json={"model": served.model + "n", "inputs": [[5.1, 3.5, 1.4, 0.2]]})
    assert ok.status_code == 200 and ok.json()["predictions"] == [0]
    refused = served.client.post("/predict", json={"model": served.model + "n", "inputs": [{"a": 1.0}]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "matrix_required"


def test_the_schema_is_shown_by_models_versions_and_v2_metadata(served: Served) -> None:
    """/models/{m}, `canaryline versions --json` and the v2 model metadata list the fields and their kinds."""
    described = served.client.get(f"/models/{served.model}", headers=bearer(READ_TOKEN)).json()
    fields = described["versions"]["v1"]["input_schema"]["fields"]
    assert [(f["name"], f["kind"]) for f in fields][-2:] == [("petal_band", "category"), ("note", "string")]
    metadata = served.client.get(f"/v2/models/{served.model}").json()
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]][4:] == [
        ("sepal_mm", "INT64"),
        ("wide", "BOOL"),
        ("petal_band", "BYTES"),
        ("note", "BYTES"),
    ]
    assert metadata["inputs"][1]["parameters"] == {"content_type": "pd", "nullable": True}
    listed = canaryline("versions", served.model, "--json", store_url=served.url, home=served.home)
    assert listed.returncode == 0, listed.stderr
    assert orjson.loads(listed.stdout)[0]["input_schema"]["fields"] == fields
    table = canaryline("versions", served.model, store_url=served.url, home=served.home)
    assert table.returncode == 0 and "inputs" in table.stdout and "sepal_length:number" in table.stdout


def _tensor(name: str, value: Any) -> dict[str, Any]:
    datatype = "BOOL" if type(value) is bool else "INT64" if type(value) is int else "FP64"
    datatype = "BYTES" if type(value) is str else datatype
    return {"name": name, "datatype": datatype, "shape": [1, 1], "data": [value], "parameters": {}}


def test_oip_v2_dataframe_columns_reach_the_named_version(served: Served) -> None:
    """One tensor per column with content_type "pd" (MLServer's PandasCodec) is scored as the record is."""
    labels, probabilities = expected(served, "v1", [RECORD])
    body = {"parameters": {"content_type": "pd"}, "inputs": [_tensor(k, v) for k, v in RECORD.items()]}
    response = served.client.post(f"/v2/models/{served.model}/versions/v1/infer", content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["predictions"]["data"] == labels
    np.testing.assert_allclose(outputs["probabilities"]["data"], probabilities.ravel())
    bad = {**body, "inputs": [*body["inputs"][:-1], {**_tensor("note", 5), "datatype": "INT64"}]}
    refused = served.client.post(f"/v2/models/{served.model}/versions/v1/infer", content=orjson.dumps(bad))
    assert refused.status_code == 422 and "inputs.note[0]" in refused.json()["error"]


def test_kserve_v1_takes_instances_as_records(served: Served) -> None:
    """KServe v1 instances may be records of named inputs, scored like /predict's."""
    labels, _ = expected(served, "v1", [RECORD, OTHER])
    response = served.client.post(
        f"/v1/models/{served.model}:predict", json={"instances": [RECORD, OTHER]}, headers={"X-Model-Version": "v1"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == labels


def test_a_schema_change_is_refused_unless_declared(sqlite_registry: Registry, model_name: str, trained) -> None:
    """A version whose fields differ from its model's is refused at registration; allowed when declared."""
    frame, v1, _ = trained
    sqlite_registry.register(model_name, v1, sample=frame)
    renamed = frame.rename(columns={"note": "remark"})
    _, y = iris_frame()
    other = text_pipeline(renamed.rename(columns={"remark": "note"}), y)
    explicit = sqlite_registry.get(model_name, "v1").input_schema
    assert explicit is not None
    changed = {"fields": [{**f.to_json(), "nullable": True} for f in explicit.fields]}
    with pytest.raises(IncompatibleVersionError, match="allow_schema_change=True"):
        sqlite_registry.register(model_name, other, schema=changed)
    assert [v.version for v in sqlite_registry.versions(model_name)] == ["v1"]
    v2 = sqlite_registry.register(model_name, other, schema=changed, allow_schema_change=True)
    assert v2.input_schema is not None and all(f.nullable for f in v2.input_schema.fields)


def test_a_schema_must_name_the_columns_the_model_was_fitted_on(
    sqlite_registry: Registry, model_name: str, trained
) -> None:
    """A sample or schema whose columns are not the pipeline's is refused before anything is written."""
    frame, v1, _ = trained
    with pytest.raises(SchemaError, match=r"lacks \['note'\] and adds \['remark'\]"):
        sqlite_registry.register(model_name, v1, sample=frame.rename(columns={"note": "remark"}))
    with pytest.raises(SchemaError, match="not both"):
        sqlite_registry.register(model_name, v1, sample=frame, schema={"fields": []})
    assert sqlite_registry.models() == [] or model_name not in sqlite_registry.models()


def test_the_readmes_named_input_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's named-input example registers its pipeline from the frame, as it says."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Named inputs and frameworks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("CANARYLINE_HOME", str(tmp_path))
    monkeypatch.delenv("CANARYLINE_STORE", raising=False)
    name = f"irisnamed{tmp_path.name[-8:].lower().replace('_', '')}"
    exec(compile(code.replace('"iris-named"', repr(name)), "README.md", "exec"), {})  # noqa: S102 — our own docs


def test_concurrent_named_requests_share_one_model_call(served: Served) -> None:
    """Named rows of concurrent requests to one version are one DataFrame call; each gets its own answers."""
    serving = ModelPool(served.registry).get_or_load(served.model, "v1")
    batches = [[RECORD], [OTHER, RECORD], [OTHER]] * 4
    batcher = Batcher(max_rows=1000)

    async def together() -> list:
        return await asyncio.gather(*(batcher.predict(serving, rows) for rows in batches))

    results = asyncio.run(together())
    assert (batcher.calls, batcher.requests) == (1, 12)
    for rows, (predictions, probabilities) in zip(batches, results, strict=True):
        labels, expected_probabilities = expected(served, "v1", rows)
        assert predictions == labels
        np.testing.assert_allclose(probabilities, expected_probabilities)


def test_a_shadow_run_scores_named_rows(served: Served) -> None:
    """The shadow process's run loads the named version itself and scores the primary's validated rows."""
    predictions, probabilities, _ = run_shadow(served.model, "v2", [RECORD, OTHER])
    labels, expected_probabilities = expected(served, "v2", [RECORD, OTHER])
    assert predictions == labels
    np.testing.assert_allclose(probabilities, expected_probabilities)
