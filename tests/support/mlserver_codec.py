"""MLServer's own codecs and types as a client library, run in MLServer's virtualenv (its pins conflict with
the gateway's: see tests/support/mlserver_client.py). Reads one JSON command on stdin, writes JSON on stdout.

- ``{"encode": [{"records": [...], "strings": [...], "outputs": [...]}, ...]}``: each frame of records as
  ``PandasCodec.encode_request`` makes it, dumped the way MLServer's documentation sends one
  (``InferenceRequest.model_dump()``, unset fields as nulls), in JSON mode: a NaN becomes ``null``, as
  ``model_dump_json`` writes it. ``strings`` are the string and category columns,
  given pandas' ``object`` dtype: MLServer 1.7.1's codec maps a column's dtype through numpy's kinds and has
  no entry for pandas 3's ``str`` dtype nor for ``category``, so that is how its clients send them.
- ``{"decode": [{"response": {...}, "metadata": {...}}, ...]}``: each response parsed as an
  ``InferenceResponse`` and each metadata as a ``MetadataModelResponse`` (pydantic raises on any field of
  the wrong shape), every output decoded by ``NumpyCodec``; returns the outputs by name as lists.

Nothing of canaryline is imported here: this is the other side of the wire.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pandas as pd
from mlserver.codecs import NumpyCodec, PandasCodec
from mlserver.types import InferenceResponse, MetadataModelResponse, RequestOutput


def encode(frame: dict[str, Any]) -> dict[str, Any]:
    data = pd.DataFrame.from_records(frame["records"])
    data = data.astype(dict.fromkeys(frame.get("strings", []), object))
    request = PandasCodec.encode_request(data)
    if frame.get("outputs"):
        request.outputs = [RequestOutput(name=name) for name in frame["outputs"]]
    dumped: dict[str, Any] = request.model_dump(mode="json")
    return dumped


def decode(answer: dict[str, Any]) -> dict[str, Any]:
    response = InferenceResponse.model_validate(answer["response"])
    decoded: dict[str, Any] = {
        "outputs": {output.name: NumpyCodec.decode_output(output).tolist() for output in response.outputs},
        "model_version": response.model_version,
    }
    if answer.get("metadata") is not None:
        metadata = MetadataModelResponse.model_validate(answer["metadata"])
        decoded["inputs"] = [(i.name, i.datatype) for i in metadata.inputs or []]
    return decoded


def main() -> None:
    command = json.load(sys.stdin)
    if "encode" in command:
        result = [encode(frame) for frame in command["encode"]]
    else:
        result = [decode(answer) for answer in command["decode"]]
    json.dump(result, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main()
