"""A version's input schema: the named fields it takes, each with a kind and whether it may be null.

A plain value: :meth:`InputSchema.to_json` is a JSON-able dict (``{"fields": [{"name", "kind", ...}]}``)
that lives in the version's metadata, and :meth:`InputSchema.from_json` reads it back, refusing (with
:class:`~registry_client.errors.SchemaError`) anything that breaks a rule. Kinds:

* ``number`` (a finite float or integer), ``integer`` (a whole number within int64), ``boolean``;
* ``string`` (text, at most ``max_length`` characters when the field sets one, else the gateway's limit);
* ``category`` (one of ``categories``, as the training frame's categorical dtype listed them).

A version without a schema takes a numeric matrix, as every version did before schemas existed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from registry_client.errors import SchemaError

__all__ = ["DATATYPES", "KINDS", "Field", "InputSchema", "Kind"]

Kind = Literal["number", "integer", "boolean", "string", "category"]
KINDS: tuple[Kind, ...] = ("number", "integer", "boolean", "string", "category")
#: The Open Inference Protocol datatype that carries each kind (MLServer's PandasCodec sends the same).
DATATYPES: dict[Kind, str] = {
    "number": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
}
_MAX_NAME = 256
_KEYS = frozenset({"name", "kind", "nullable", "categories", "max_length"})


@dataclass(frozen=True, slots=True)
class Field:
    """One named input: its kind, whether null is allowed, and a category's categories."""

    name: str
    kind: Kind
    nullable: bool = False
    categories: tuple[Any, ...] | None = None
    max_length: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The field as JSON, with no null values (BentoML's metadata refuses None)."""
        value: dict[str, Any] = {"name": self.name, "kind": self.kind, "nullable": self.nullable}
        if self.categories is not None:
            value["categories"] = list(self.categories)
        if self.max_length is not None:
            value["max_length"] = self.max_length
        return value

    @property
    def datatype(self) -> str:
        return DATATYPES[self.kind]


@dataclass(frozen=True, slots=True)
class InputSchema:
    """The fields a version takes, in the order its model saw them in training."""

    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        if not self.fields:
            raise SchemaError("an input schema needs at least one field")
        seen: set[str] = set()
        for field in self.fields:
            _check_field(field)
            if field.name in seen:
                raise SchemaError(f"input schema names field {field.name!r} twice")
            seen.add(field.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    def to_json(self) -> dict[str, Any]:
        return {"fields": [field.to_json() for field in self.fields]}

    @classmethod
    def from_json(cls, value: Any) -> InputSchema:
        """Read a schema given as ``{"fields": [...]}`` or as the list of fields itself."""
        if isinstance(value, InputSchema):
            return value
        fields = value.get("fields") if isinstance(value, Mapping) else value
        if not isinstance(fields, Sequence) or isinstance(fields, str | bytes):
            raise SchemaError("an input schema is {'fields': [...]} or a list of fields, each an object")
        return cls(tuple(_field_of(i, item) for i, item in enumerate(fields)))

    def describe(self) -> str:
        """One line for tables: ``age:integer, country:category(3), note:string?`` (``?``: nullable)."""
        parts = []
        for field in self.fields:
            kind = f"category({len(field.categories or ())})" if field.kind == "category" else field.kind
            parts.append(f"{field.name}:{kind}{'?' if field.nullable else ''}")
        return ", ".join(parts)


def _field_of(index: int, item: Any) -> Field:
    where = f"input schema field {index}"
    if not isinstance(item, Mapping):
        raise SchemaError(f"{where} must be an object with 'name' and 'kind'")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise SchemaError(f"{where} has unknown keys {unknown}; allowed: {sorted(_KEYS)}")
    categories = item.get("categories")
    if categories is not None and (not isinstance(categories, Sequence) or isinstance(categories, str)):
        raise SchemaError(f"{where}: 'categories' must be a list")
    return Field(
        name=cast(str, item.get("name")),  # checked by InputSchema
        kind=cast(Kind, item.get("kind")),
        nullable=item.get("nullable", False),
        categories=None if categories is None else tuple(categories),
        max_length=item.get("max_length"),
    )


def _check_field(field: Field) -> None:
    name = field.name
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        raise SchemaError(f"input schema field name {name!r} must be a non-empty string of at most {_MAX_NAME}")
    where = f"input schema field {name!r}"
    if field.kind not in KINDS:
        raise SchemaError(f"{where} has kind {field.kind!r}; kinds: {', '.join(KINDS)}")
    if type(field.nullable) is not bool:
        raise SchemaError(f"{where}: 'nullable' must be true or false")
    if field.kind == "category":
        if not field.categories:
            raise SchemaError(f"{where} is a category and needs its non-empty list of 'categories'")
        if any(type(c) not in (str, int, bool) for c in field.categories):
            raise SchemaError(f"{where}: categories must be strings, integers or booleans")
        if len(set(field.categories)) != len(field.categories):
            raise SchemaError(f"{where} lists a category twice")
    elif field.categories is not None:
        raise SchemaError(f"{where} is a {field.kind}, which has no categories")
    if field.max_length is not None and (
        field.kind not in ("string", "category") or type(field.max_length) is not int or field.max_length < 1
    ):
        raise SchemaError(f"{where}: 'max_length' is a positive integer, for strings only")
