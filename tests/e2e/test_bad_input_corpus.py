"""A corpus of bad input, every class the gateway refuses, sent to a real gateway process.

For each case: a 4xx (never a 5xx), the error body of the protocol it was sent to, and nothing written —
no prediction record, no outcome, no plan revision.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.store import Store, open_store
from tests.support.frames import RECORD, iris_frame, text_pipeline
from tests.support.servers import GatewayProcess
from tests.support.tokens import ADMIN_TOKEN, FEEDBACK_TOKEN, READ_TOKEN, TOKEN_ENV, bearer

pytestmark = pytest.mark.e2e
M = "corpus"  # the model every case talks about: iris, v1 stable, v2 a sticky 50 % canary
ROW = [5.1, 3.5, 1.4, 0.2]
ADMIN, READ, FEEDBACK = bearer(ADMIN_TOKEN), bearer(READ_TOKEN), bearer(FEEDBACK_TOKEN)


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str | None = None  # the native body's code (None: any, or a protocol body)
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> bool:
        """Whether the answer uses the standard protocols' ``{"error": "<message>"}`` body."""
        return self.path.startswith(("/v2", "/v1"))


def predict(name: str, body: Any, status: int = 422, code: str | None = "invalid_input", **headers: Any) -> Case:
    return Case(name, "POST", "/predict", status, code, body, headers)


def v2(name: str, body: Any, status: int = 422, path: str = f"/v2/models/{M}/infer", **headers: Any) -> Case:
    return Case(name, "POST", path, status, None, body, headers)


def admin(name: str, action: str, body: Any, status: int = 422, code: str | None = None, **headers: Any) -> Case:
    return Case(name, "POST", f"/admin/models/{M}/{action}", status, code, body, {**ADMIN, **headers})


def feedback(name: str, body: Any, status: int = 422, code: str | None = "invalid_input", **headers: Any) -> Case:
    return Case(name, "POST", "/feedback", status, code, body, {**FEEDBACK, **headers})


def inputs(rows: Any, **extra: Any) -> dict[str, Any]:
    return {"model": M, "inputs": rows, **extra}


def tensor(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "input-0", "datatype": "FP64", "shape": [1, 4], "data": ROW}
    return {"inputs": [{**base, **changes}]}


N = "corpusnamed"  # a named-input model: a text pipeline over the iris frame (tests/support/frames.py)


def named(records: Any, **extra: Any) -> dict[str, Any]:
    return {"model": N, "inputs": records, **extra}


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in RECORD.items() if k != field}


def columns(**changes: Any) -> dict[str, Any]:
    return {"model": N, "inputs": {k: [v] for k, v in {**RECORD, **changes}.items()}}


def pd_tensors(**changes: Any) -> dict[str, Any]:
    """An OIP v2 request as MLServer's PandasCodec builds it: one tensor per column, content_type "pd"."""
    kinds = {bool: "BOOL", int: "INT64", float: "FP64", str: "BYTES"}
    tensors = [
        {"name": k, "datatype": kinds.get(type(v), "BYTES"), "shape": [1, 1], "data": [v]}
        for k, v in {**RECORD, **changes}.items()
    ]
    return {"parameters": {"content_type": "pd"}, "inputs": tensors}


BIG = 1 << 20  # CANARYLINE_MAX_BODY_BYTES's default
CASES = [
    # -- the native endpoint: JSON, fields, numbers, rows, width, size, encoding, routing --------------
    predict("malformed JSON", b'{"model": "corpus", "inputs": [[5.1, 3.5', 400, "invalid_json"),
    predict("a body that is not an object", [ROW]),
    predict("no inputs", {"model": M}, code="missing_field"),
    predict("inputs not a list", inputs("5.1,3.5,1.4,0.2")),
    predict("an empty batch", inputs([]), code="empty_batch"),
    predict("a row that is not a list", inputs([5.1, 3.5, 1.4, 0.2])),
    predict("ragged rows", inputs([ROW, ROW[:3]])),
    predict("a string value", inputs([[5.1, "3.5", 1.4, 0.2]])),
    predict("a boolean value", inputs([[5.1, True, 1.4, 0.2]])),
    predict("NaN", b'{"model": "corpus", "inputs": [[5.1, NaN, 1.4, 0.2]]}'),
    predict("Infinity", b'{"model": "corpus", "inputs": [[5.1, Infinity, 1.4, 0.2]]}'),
    predict("-Infinity", b'{"model": "corpus", "inputs": [[5.1, -Infinity, 1.4, 0.2]]}'),
    predict("1e999", b'{"model": "corpus", "inputs": [[5.1, 1e999, 1.4, 0.2]]}'),
    predict("a 400-digit integer", b'{"model": "corpus", "inputs": [[5.1, ' + b"9" * 400 + b", 1.4, 0.2]]}"),
    predict(
        "a lone surrogate as routing key", b'{"model": "corpus", "routing_key": "\\ud800", "inputs": [[1, 2, 3, 4]]}'
    ),
    predict("a lone surrogate as model", b'{"model": "\\udfff", "inputs": [[5.1, 3.5, 1.4, 0.2]]}'),
    predict("an empty model name", inputs([ROW], model="")),
    predict("a routing key of 257 characters", inputs([ROW], routing_key="k" * 257)),
    predict("an empty routing key", inputs([ROW], routing_key="")),
    predict("an X-Routing-Key of 257 characters", inputs([ROW]), **{"X-Routing-Key": "k" * 257}),
    predict("three features for a four-feature model", inputs([ROW[:3]]), code="wrong_width"),
    predict("1,001 rows", inputs([ROW] * 1001), code="batch_too_large"),
    predict("a body over the limit", b'{"inputs": [' + b"[5.1, 3.5, 1.4, 0.2], " * 60_000 + b"[1]]}", 413, None),
    predict(
        "gzip that inflates over the limit",
        gzip.compress(b'{"inputs": [' + b" " * (BIG * 4) + b"]}"),
        413,
        None,
        **{"Content-Encoding": "gzip"},
    ),
    predict(
        "corrupt gzip", b"\x1f\x8b\x08\x00not gzip at all", 400, "invalid_encoding", **{"Content-Encoding": "gzip"}
    ),
    predict("an unknown content encoding", inputs([ROW]), 415, None, **{"Content-Encoding": "br"}),
    predict("an unknown model", {"model": "nope", "inputs": [ROW]}, 404, "unknown_model"),
    predict(
        "a pinned version that is not served", inputs([ROW]), 404, "version_not_served", **{"X-Model-Version": "v9"}
    ),
    predict("BentoML's alias as a pin", inputs([ROW]), 404, "version_not_served", **{"X-Model-Version": "latest"}),
    predict(
        "an X-Request-ID of 257 characters", inputs([ROW]), 400, "invalid_request_id", **{"X-Request-ID": "r" * 257}
    ),
    predict(
        "an X-Request-ID that is not UTF-8", inputs([ROW]), 400, "invalid_request_id", **{"X-Request-ID": b"r\x85"}
    ),
    predict(
        "1e308 makes probabilities non-finite",
        inputs([[1e308, 1e308, 1e308, 1e308]]),
        422,
        "non_finite_output",
        **{"X-Model-Version": "v1"},
    ),
    predict(
        "1e308 is beyond the tree's float32",
        inputs([[1e308, 3.5, 1.4, 0.2]]),
        422,
        "model_rejected_input",
        **{"X-Model-Version": "v2"},
    ),
    # -- named inputs (records and columns) against a version's schema --------------------------------
    predict("a missing field", named([without("note")]), code="missing_field"),
    predict("an unknown field", named([{**RECORD, "colour": "red"}]), code="unknown_field"),
    predict("a string for a number", named([{**RECORD, "sepal_length": "5.1"}])),
    predict("a fraction for an integer", named([{**RECORD, "sepal_mm": 51.5}])),
    predict("a number for a boolean", named([{**RECORD, "wide": 1}])),
    predict("a number for a string", named([{**RECORD, "note": 7}])),
    predict("an unknown category", named([{**RECORD, "petal_band": "huge"}]), code="unknown_category"),
    predict("null where not nullable", named([RECORD, {**RECORD, "note": None}]), code="null_not_allowed"),
    predict("NaN in a named number", orjson.dumps(columns(sepal_length=123.25)).replace(b"123.25", b"NaN")),
    predict(
        "Infinity in a nullable number",
        orjson.dumps(named([{**RECORD, "sepal_width": None}])).replace(b"null", b"Infinity"),
    ),
    predict("a string over the limit", named([{**RECORD, "note": "x" * 16385}]), code="string_too_long"),
    predict("a record that is not an object", named([RECORD, [1, 2]])),
    predict("ragged columns", {"model": N, "inputs": {"note": ["a", "b"], "wide": [True]}}),
    predict("a column that is not a list", {"model": N, "inputs": {"note": "a"}}),
    predict("an empty column set", named({}), code="empty_batch"),
    predict("1,001 records", named([RECORD] * 1001), code="batch_too_large"),
    predict("a wrong kind in a column", columns(sepal_mm="51")),
    predict("a missing column", {"model": N, "inputs": {"note": ["a"]}}, code="missing_field"),
    predict("a matrix for a named-input model", named([ROW]), code="named_inputs_required"),
    predict("records for a matrix model", inputs([{"a": 1.0}]), code="matrix_required"),
    v2("a pandas column of the wrong kind", pd_tensors(sepal_mm="51"), path=f"/v2/models/{N}/infer"),
    v2(
        "a pandas column too wide",
        {**pd_tensors(), "inputs": [{**pd_tensors()["inputs"][0], "shape": [1, 2]}]},
        path=f"/v2/models/{N}/infer",
    ),
    v2("a pandas column twice", {**pd_tensors(), "inputs": pd_tensors()["inputs"] * 2}, path=f"/v2/models/{N}/infer"),
    v2(
        "an unknown pandas column",
        {
            **pd_tensors(),
            "inputs": [*pd_tensors()["inputs"], {"name": "colour", "datatype": "BYTES", "shape": [1], "data": ["red"]}],
        },
        path=f"/v2/models/{N}/infer",
    ),
    Case(
        "a record with a missing field", "POST", f"/v1/models/{N}:predict", 422, body={"instances": [without("wide")]}
    ),
    # -- the Open Inference Protocol -----------------------------------------------------------------
    v2("an id that is not a string", {"id": 7, **tensor()}, 400),
    v2("an id ending in a newline", {"id": "nl-1\n", **tensor()}, 400),
    v2("no inputs", {"id": "x"}),
    v2("two input tensors", {"inputs": [tensor()["inputs"][0], tensor()["inputs"][0]]}),
    v2("a BYTES tensor", tensor(datatype="BYTES", data=["a", "b", "c", "d"])),
    v2("data that does not fill the shape", tensor(shape=[2, 4])),
    v2("a 3-D shape", tensor(shape=[1, 2, 2])),
    v2("NaN in the data", b'{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1, NaN, 2, 3]}]}'),
    v2("70,000 as FP16", tensor(datatype="FP16", data=[70000.0, 1, 1, 1])),
    v2("300 as INT8", tensor(datatype="INT8", data=[300, 1, 1, 1])),
    v2("a fraction as INT64", tensor(datatype="INT64", data=[1.5, 1, 1, 1])),
    v2(
        "a 400-digit integer",
        b'{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, ' + b"9" * 400 + b"]}]}",
    ),
    v2("binary tensor data", tensor(), 400, **{"Inference-Header-Content-Length": "10"}),
    v2("an unknown output", {**tensor(), "outputs": [{"name": "logits"}]}),
    v2("parameters that are not an object", {**tensor(), "parameters": "fast"}),
    v2("an unknown model", tensor(), 404, path="/v2/models/nope/infer"),
    v2("a version that is not served", tensor(), 404, path=f"/v2/models/{M}/versions/v9/infer"),
    v2("three features", tensor(shape=[1, 3], data=ROW[:3])),
    Case("GET on infer", "GET", f"/v2/models/{M}/infer", 405),
    Case("an unknown v2 path", "GET", "/v2/repository/index", 404),
    # -- KServe v1 -----------------------------------------------------------------------------------
    Case("no instances", "POST", f"/v1/models/{M}:predict", 422, body={"inputs": [ROW]}),
    Case("a string instance", "POST", f"/v1/models/{M}:predict", 422, body={"instances": [["a", 1, 2, 3]]}),
    Case(
        "a 400-digit integer instance",
        "POST",
        f"/v1/models/{M}:predict",
        422,
        body=b'{"instances": [[1, 2, 3, ' + b"9" * 400 + b"]]}",
    ),
    Case(":explain", "POST", f"/v1/models/{M}:explain", 501, body={"instances": [ROW]}),
    Case("an unknown v1 model", "POST", "/v1/models/nope:predict", 404, body={"instances": [ROW]}),
    # -- the admin API: names, types, tokens, actors, revisions ---------------------------------------
    *(
        admin(f"version {version!r}", action, {"version": version, "reason": "r", **extra})
        for version in ("latest", "V1", "../v1", "iris:v1", "\u0087", "v1\n")
        for action, extra in (("promote", {}), ("canary", {"weight": 10}))
    ),
    admin("weight true", "canary", {"version": "v2", "weight": True, "reason": "r"}),
    admin("weight '10'", "canary", {"version": "v2", "weight": "10", "reason": "r"}),
    admin("weight 0", "canary", {"version": "v2", "weight": 0, "reason": "r"}),
    admin("weight 101", "canary", {"version": "v2", "weight": 101, "reason": "r"}),
    admin("weight with three decimals", "canary", {"version": "v2", "weight": 1.234, "reason": "r"}),
    admin("sticky 'yes'", "canary", {"version": "v2", "weight": 10, "sticky": "yes", "reason": "r"}),
    admin("expected_revision '1'", "promote", {"version": "v2", "reason": "r", "expected_revision": "1"}),
    admin("no reason", "promote", {"version": "v2"}),
    admin("an unknown field", "promote", {"version": "v2", "reason": "r", "force": True}),
    admin("malformed JSON", "promote", b'{"version": "v2", "reason": ', 400),
    admin("a stale expected_revision", "promote", {"version": "v2", "reason": "r", "expected_revision": 1}, 409),
    admin(
        "an actor that breaks its rule",
        "promote",
        {"version": "v2", "reason": "r"},
        400,
        **{"X-Canaryline-Actor": "alice bob"},
    ),
    Case("no token", "POST", f"/admin/models/{M}/promote", 401, "unauthorized", {"version": "v2", "reason": "r"}),
    Case(
        "the read token for a change",
        "POST",
        f"/admin/models/{M}/promote",
        401,
        "unauthorized",
        {"version": "v2", "reason": "r"},
        READ,
    ),
    Case(
        "the admin token after two spaces",
        "POST",
        f"/admin/models/{M}/promote",
        401,
        "unauthorized",
        {"version": "v2", "reason": "r"},
        {"Authorization": f"Bearer  {ADMIN_TOKEN}"},
    ),
    Case("an unknown model", "POST", "/admin/models/nope/promote", 404, None, {"version": "v2", "reason": "r"}, ADMIN),
    Case("plans without a token", "GET", f"/admin/models/{M}/plan", 401, "unauthorized"),
    Case("models with the feedback token", "GET", "/models", 401, "unauthorized", headers=FEEDBACK),
    # -- ground truth --------------------------------------------------------------------------------
    Case("feedback without a token", "POST", "/feedback", 401, "unauthorized", {"request_id": "known-1", "outcome": 0}),
    Case(
        "feedback with the admin token",
        "POST",
        "/feedback",
        401,
        "unauthorized",
        {"request_id": "known-1", "outcome": 0},
        ADMIN,
    ),
    feedback("an unknown request", {"request_id": "never-served", "outcome": 0}, 404, "unknown_request"),
    feedback("a request_id ending in a newline", {"request_id": "known-1\n", "outcome": 0}),
    feedback("a class the model does not have", {"request_id": "known-1", "outcome": 7}),
    feedback("1.0 for integer classes", {"request_id": "known-1", "outcome": 1.0}),
    feedback("true for integer classes", {"request_id": "known-1", "outcome": True}),
    feedback("a list of the wrong length", {"request_id": "known-1", "outcome": [0, 1]}, code="wrong_length"),
    feedback("no outcome", {"request_id": "known-1"}, code="missing_field"),
    feedback("observed_at that is not a time", {"request_id": "known-1", "outcome": 0, "observed_at": "soon"}),
    feedback("a prediction_id that is not a UUID", {"request_id": "known-1", "outcome": 0, "prediction_id": "a b"}),
    feedback("malformed JSON", b'{"request_id": "known-1", ', 400, "invalid_json"),
    # -- routes and methods --------------------------------------------------------------------------
    Case("an unknown path", "GET", "/nope", 404, "no_route"),
    Case("DELETE /predict", "DELETE", "/predict", 405, "method_not_allowed"),
    Case("TRACE /readyz", "TRACE", "/readyz", 405, "method_not_allowed"),
    Case("POST /metrics", "POST", "/metrics", 405, "method_not_allowed"),
    Case("POST /livez", "POST", "/livez", 405, "method_not_allowed"),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, iris_models) -> Iterator[tuple[GatewayProcess, Store]]:
    """One gateway for the corpus, and one served request ("known-1") that the feedback cases aim at."""
    home = tmp_path_factory.mktemp("corpus")
    url = f"sqlite:///{home / 'store.db'}"
    registry = Registry(open_store(url))
    registry.register(M, iris_models["logreg"])
    registry.register(M, iris_models["tree"])
    ControlPlane(registry).set_canary(
        M, "v2", weight=50, sticky=True, actor="tests", reason="r", expected_revision=None
    )
    frame, y = iris_frame()
    registry.register(N, text_pipeline(frame, y), sample=frame)
    registry.store.close()
    env = {
        "BENTOML_HOME": os.environ["BENTOML_HOME"],
        "CANARYLINE_STORE": url,
        "CANARYLINE_HOME": str(home),
        **TOKEN_ENV,
    }
    process = GatewayProcess(env=env, logfile=home / "gateway.log").start()
    served = httpx.post(process.url + "/predict", json=inputs([ROW]), headers={"X-Request-ID": "known-1"})
    assert served.status_code == 200, served.text
    named_ok = httpx.post(process.url + "/predict", json=named([RECORD]), headers={"X-Request-ID": "known-2"})
    assert named_ok.status_code == 200, named_ok.text  # the named model serves what the corpus spoils
    store = open_store(url)
    try:
        yield process, store
    finally:
        process.stop()
        store.close()


def _send(url: str, case: Case) -> httpx.Response:
    content = case.body if isinstance(case.body, bytes) or case.body is None else orjson.dumps(case.body)
    headers = {"Content-Type": "application/json", **case.headers} if content is not None else case.headers
    return httpx.request(case.method, url + case.path, content=content, headers=headers, timeout=30)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input_is_a_4xx_in_its_protocols_shape_and_writes_nothing(gateway, case: Case) -> None:
    """Refused with the expected 4xx, never a 5xx; the body is the error shape of the endpoint's protocol;
    no prediction record, outcome or plan revision comes of it."""
    process, store = gateway
    records, plan = store.count_predictions(), store.get_plan(M)
    response = _send(process.url, case)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if case.protocol:
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    else:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}, body
        assert body["error"]["message"]
        if case.code is not None:
            assert body["error"]["code"] == case.code, body
        if "x-request-id" in response.headers:
            assert response.headers["x-request-id"] == body["error"]["request_id"]
        if case.status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer realm=")
    assert store.count_predictions() == records
    assert store.get_plan(M) == plan
    assert store.get_outcomes(["known-1"]) == {}


def test_the_corpus_covers_every_endpoint_that_takes_input() -> None:
    """Every endpoint a client sends a body or token to has cases in the corpus."""
    paths = {case.path.split(M)[0] for case in CASES}
    for endpoint in ("/predict", "/feedback", "/v2/models/", "/v1/models/", "/admin/models/", "/models"):
        assert endpoint in paths, endpoint
