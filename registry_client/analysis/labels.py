"""How an export types a model's labels: one native type for prediction, outcome and classes.

Analysts read exports with pandas, polars or DuckDB, so labels are native values, not JSON text. A
regressor's labels are floats. A classifier's take the type of its classes across every version:
int, str, bool or float (scikit-learn's ``classes_`` as registered). When the versions' classes are
of several types (one version trained on 0/1/2, another on names), no one column type holds them
all and ``1`` and ``"1"`` must stay apart: the labels are then JSON text (``1`` and ``"1"``), and
:attr:`Labels.note` says why, for the caller to show. Without registered classes the type is taken
from the values themselves (:meth:`Labels.of_values`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pyarrow as pa

from registry_client.domain.versions import sort_versions
from registry_client.errors import ExportError

if TYPE_CHECKING:
    from registry_client.registry.registry import ModelVersion

__all__ = ["Labels", "LabelsKind"]

LabelsKind = Literal["int", "float", "str", "bool", "json"]
_KINDS: dict[type, LabelsKind] = {int: "int", float: "float", str: "str", bool: "bool"}
_ARROW: dict[LabelsKind, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "json": pa.string(),
}
_NAMES: dict[LabelsKind, str] = {"int": "an int", "float": "a number", "str": "a string", "bool": "a boolean"}


def _kind(value: Any) -> LabelsKind:
    return _KINDS.get(type(value), "json")


@dataclass(frozen=True, slots=True)
class Labels:
    """The type of a model's labels in an export, and each version's classes (classifiers only)."""

    kind: LabelsKind
    classes: Mapping[str, list[Any]] = field(default_factory=dict)  # version -> classes_, in order
    note: str | None = None  # why the labels are JSON text, when they are for several types

    @property
    def arrow(self) -> pa.DataType:
        """The Arrow type of prediction and outcome (JSON text is a string)."""
        return _ARROW[self.kind]

    @classmethod
    def of_versions(cls, versions: Iterable[ModelVersion]) -> Labels | None:
        """The labels of a model's registered versions; None when they do not tell (no classes known)."""
        found = list(versions)
        if found and all(v.task == "regression" for v in found):
            return cls("float")
        classes = {v.version: list(v.classes) for v in found if v.task == "classification" and v.classes}
        kinds = sorted({_kind(label) for labels in classes.values() for label in labels})
        if not kinds or any(v.task != "classification" for v in found):
            return None
        if len(kinds) == 1:
            return cls(kinds[0], classes)
        note = (
            f"model {found[0].model!r} has labels of several types ({', '.join(kinds)}) across versions "
            f"{', '.join(sort_versions(classes))}: prediction, outcome and classes are exported as JSON text"
        )
        return cls("json", classes, note)

    @classmethod
    def of_values(cls, values: Iterable[Any]) -> Labels:
        """The labels that ``values`` (predictions and outcomes, None skipped) have; JSON text when mixed."""
        kinds = sorted({_kind(value) for value in values if value is not None})
        if len(kinds) == 1:
            return cls(kinds[0])
        note = f"labels of several types ({', '.join(kinds)}): exported as JSON text" if kinds else None
        return cls("json", note=note)

    def value(self, value: Any) -> Any:
        """``value`` as this type holds it (None stays None); ExportError when it does not fit (the caller adds
        the row)."""
        if value is None:
            return None
        if self.kind == "json":
            return orjson.dumps(value).decode()
        kind = _kind(value)
        if kind == self.kind:
            return value
        if self.kind == "float" and kind == "int":
            return float(value)
        raise ExportError(f"{value!r} is not {_NAMES[self.kind]} like the model's labels")

    def classes_of(self, version: str) -> list[Any] | None:
        """The classes of ``version`` as this type holds them, None when unknown (or a regressor)."""
        found = self.classes.get(version)
        return None if found is None else [self.value(label) for label in found]
