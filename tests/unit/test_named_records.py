"""Records of named-input versions in the analyst's tools: joined rows keep the fields, exports write them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from registry_client.analysis.export import export_rows
from registry_client.analysis.joined import explode
from registry_client.errors import ExportError
from tests.support.records import make_record

ROWS = [{"age": 31, "country": "DE"}, {"age": 45, "country": None}]


def test_joined_rows_keep_each_rows_named_inputs() -> None:
    """A record of two named rows explodes into two joined rows, each holding its own fields."""
    record = replace(make_record(1), inputs=ROWS, predictions=[0, 1])
    rows = explode(record, [0, 0])
    assert [row.inputs for row in rows] == ROWS and [row.outcome for row in rows] == [0, 0]


def test_jsonl_writes_named_inputs_and_parquet_refuses_them(tmp_path: Path) -> None:
    """JSON Lines carries the fields as an object; Parquet, whose inputs column is numeric, says what to use."""
    rows = explode(replace(make_record(1), inputs=ROWS, predictions=[0, 1]), None)
    assert export_rows(rows, tmp_path / "out.jsonl") == 2
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["inputs"] for line in lines] == ROWS
    with pytest.raises(ExportError, match=r"export to \.jsonl or \.csv"):
        export_rows(rows, tmp_path / "out.parquet")
