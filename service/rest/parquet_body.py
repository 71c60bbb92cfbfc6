"""Named rows as a Parquet file: ``POST /predict`` with ``Content-Type: application/vnd.apache.parquet``.

The body is one Parquet file whose columns are a named-input version's fields, one row per prediction
(``DataFrame.to_parquet`` writes one; the frame's index, listed in the file's pandas metadata, is not an
input and is dropped). Columns arrive typed, so no number travels as text: integer, floating point,
boolean, string and dictionary-encoded string (a pandas ``category``) columns are taken, and nulls are
nulls. Anything else (dates, binary, nested types) is refused naming the column. The columns then go
through the same validation as JSON columns (:mod:`service.dataplane.named_inputs`): a NaN, a wrong kind, a
missing or unknown field is the same 422 naming the row and the field.

A Parquet file is compressed, so the body limit alone does not bound the work. Before any column is
decompressed, the footer's row count, cell count and uncompressed size must fit what a JSON body of
``CANARYLINE_MAX_BODY_BYTES`` could hold (and ``CANARYLINE_MAX_BATCH``); strings are read
dictionary-encoded and their longest value checked against ``CANARYLINE_MAX_STRING_LENGTH`` before they
become Python strings, so a long value repeated on every row is never copied.
"""

from __future__ import annotations

from typing import Any

from registry_client.errors import BadRequestError, InputError, PayloadTooLargeError
from service.dataplane.named_inputs import NamedInputs, parse_named

__all__ = ["PARQUET_MEDIA_TYPE", "decode_parquet", "is_parquet"]

PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
_TAKES = "a named input is an integer, floating point, boolean, string or dictionary-encoded string column"


def is_parquet(content_type: str | None) -> bool:
    """Whether a request's Content-Type names a Parquet body (parameters aside)."""
    return content_type is not None and content_type.split(";", 1)[0].strip().lower() == PARQUET_MEDIA_TYPE


def decode_parquet(body: bytes, *, max_batch: int, max_bytes: int, max_string_length: int) -> NamedInputs:
    """The columns of the Parquet file ``body`` as named inputs; errors name the column and the rule."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        footer = pq.ParquetFile(pa.BufferReader(body)).metadata
        arrow_schema = footer.schema.to_arrow_schema()
    except (pa.ArrowException, OSError) as exc:
        raise BadRequestError(f"body is not a Parquet file: {exc}", code="invalid_parquet") from exc
    _check_footer(footer, max_batch, max_bytes)
    metadata = arrow_schema.pandas_metadata or {}
    index = {name for name in metadata.get("index_columns", []) if isinstance(name, str)}
    for field in arrow_schema:
        if field.name not in index and not _taken(pa, field.type):
            raise InputError(
                f"field 'inputs.{field.name}' is a Parquet {field.type} column; {_TAKES}", code="wrong_datatype"
            )
    # Strings stay dictionary-encoded while they are read, so a value repeated on every row is held once
    # until its length is checked.
    strings = [f.name for f in arrow_schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    strings = [name for name in strings if name not in index]
    try:
        table = pq.ParquetFile(pa.BufferReader(body), read_dictionary=strings).read()
    except (pa.ArrowException, OSError) as exc:
        raise BadRequestError(f"the Parquet body cannot be read: {exc}", code="invalid_parquet") from exc
    table = table.drop_columns([name for name in table.column_names if name in index])
    names = table.column_names
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise InputError(f"the Parquet body has more than one column named {', '.join(map(repr, twice))}")
    for name in names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            longest = max((pc.max(pc.utf8_length(chunk.dictionary)).as_py() or 0 for chunk in column.chunks), default=0)
            if longest > max_string_length:
                raise InputError(
                    f"field 'inputs.{name}' holds a string of {longest} characters; at most {max_string_length} "
                    "(CANARYLINE_MAX_STRING_LENGTH)",
                    code="string_too_long",
                )
    columns: dict[str, list[Any]] = {name: table.column(name).to_pylist() for name in names}
    named = parse_named(columns, field="inputs", max_batch=max_batch)
    assert named is not None  # a dict of lists is always named inputs
    return named


def _check_footer(footer: Any, max_batch: int, max_bytes: int) -> None:
    """Rows, cells and uncompressed bytes within what a JSON body of the limit could hold (a JSON cell takes
    at least two bytes), read from the footer before any column is decompressed."""
    rows = footer.num_rows
    if rows > max_batch:
        raise InputError(
            f"the Parquet body holds {rows} rows, more than the limit of {max_batch} (CANARYLINE_MAX_BATCH)",
            code="batch_too_large",
        )
    unpacked = sum(footer.row_group(i).total_byte_size for i in range(footer.num_row_groups))
    if unpacked > max_bytes or rows * footer.num_columns > max_bytes // 2:
        raise PayloadTooLargeError(
            f"the Parquet body's {rows} rows of {footer.num_columns} columns take {unpacked} bytes uncompressed, "
            f"more than a body of the limit of {max_bytes} bytes holds (CANARYLINE_MAX_BODY_BYTES)"
        )


def _taken(pa: Any, arrow_type: Any) -> bool:
    types = pa.types
    if types.is_dictionary(arrow_type):
        return bool(types.is_string(arrow_type.value_type) or types.is_large_string(arrow_type.value_type))
    simple = (types.is_integer, types.is_float32, types.is_float64, types.is_boolean, types.is_null)
    return any(check(arrow_type) for check in (*simple, types.is_string, types.is_large_string))
