"""The bodies of the Open Inference Protocol (v2) and KServe v1 as pydantic models, for the OpenAPI document.

Field for field as :mod:`service.rest.v2`, :mod:`service.rest.tensors` and :mod:`service.rest.kserve_v1`
parse and render them; the schemathesis run against a real gateway keeps the two in step.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.rest.api_schemas import KEY, NUMBERS, ROW

__all__ = [
    "InferBody",
    "InferParameters",
    "InferResponse",
    "InputTensor",
    "KServeModels",
    "KServeReady",
    "OipLive",
    "OipModelMetadata",
    "OipModelReady",
    "OipReady",
    "OipServerMetadata",
    "OutputTensor",
    "RequestedOutput",
    "TensorMetadata",
    "V1Liveness",
    "V1PredictBody",
]


# -- Open Inference Protocol (v2) ----------------------------------------------------------------------------
class OipServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class OipLive(BaseModel):
    live: bool


class OipReady(BaseModel):
    ready: bool


class OipModelReady(BaseModel):
    name: str
    ready: bool
    version: str | None = None


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, Any] | None = None


class OipModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


_DATATYPE = (
    Literal["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"]
    | Literal["FP16", "FP32", "FP64", "BYTES"]
)


class InputTensor(BaseModel):
    name: str = Field(min_length=1)
    shape: list[int] = Field(description="[rows, features]")
    datatype: _DATATYPE
    data: list[Any] = Field(description="flat in row-major order, or nested as rows")
    parameters: dict[str, Any] | None = None


class RequestedOutput(BaseModel):
    name: str


class InferBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}]
        }
    )

    id: str | None = Field(default=None, min_length=1, max_length=256, description="echoed as the answer's id")
    parameters: dict[str, Any] | None = Field(default=None, description="routing_key: the sticky key")
    inputs: list[InputTensor] = Field(description="one tensor 'input-0', or one per column (PandasCodec)")
    outputs: list[RequestedOutput] | None = None


class OutputTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any]


class InferParameters(BaseModel):
    request_id: str
    prediction_id: str
    route: str
    revision: int


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: InferParameters
    outputs: list[OutputTensor]


# -- KServe v1 ------------------------------------------------------------------------------------------
class V1Liveness(BaseModel):
    status: Literal["alive"]


class KServeModels(BaseModel):
    models: list[str]


class KServeReady(BaseModel):
    name: str
    ready: bool


class V1PredictBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"instances": [ROW]}]})

    instances: NUMBERS | list[dict[str, Any]] = Field(description="rows of numbers, or records of named inputs")
    routing_key: str | None = KEY
