"""What a new version must satisfy before anything is written: a task that is told or declared (never a
default), an input schema that names the columns its model was fitted on, and the task, input width
and schema its model's other versions have.

Every version of a model is treated as interchangeable by outcomes, evaluation and the canary
comparison, so one of another task or width is refused; one whose schema differs (named or not,
fields, kinds, categories) only when the registration declares it (``allow_schema_change``): a canary
that refuses the fields its callers send would break them. Concurrent registrations can still both
pass: the check reads, it does not lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from registry_client.domain.schema import InputSchema
from registry_client.domain.versions import sort_versions
from registry_client.errors import IncompatibleVersionError, InvalidTaskError, SchemaError
from registry_client.registry.adapter import FrameworkAdapter, Task
from registry_client.registry.frames import schema_from_frame

__all__ = ["Registered", "check_compatible", "schema_of", "task_of"]

_NOUNS: dict[Task, str] = {"classification": "classifier", "regression": "regressor"}


class Registered(Protocol):
    """What the checks read of an existing version."""

    @property
    def version(self) -> str: ...
    @property
    def task(self) -> Task: ...
    @property
    def n_features(self) -> int | None: ...
    @property
    def input_schema(self) -> InputSchema | None: ...


def task_of(name: str, model: Any, adapter: FrameworkAdapter, declared: Task | None) -> Task:
    """The task of ``model``: what its framework tells, which a declared task must agree with."""
    told = adapter.task(model)
    kind = type(model).__name__
    if told is not None:
        if declared not in (None, told):
            raise InvalidTaskError(
                f"model {name!r}: a {kind} is a {_NOUNS[told]} ({adapter.framework} says so), so it cannot be "
                f"registered with task={declared!r}; leave task out or pass task={told!r}"
            )
        return told
    if declared is None:
        raise InvalidTaskError(
            f"model {name!r}: cannot tell the task of a {kind}, which {adapter.framework} calls neither a "
            "classifier nor a regressor; pass task='classification' or task='regression'"
        )
    return declared


def schema_of(name: str, model: Any, adapter: FrameworkAdapter, sample: Any, given: Any) -> InputSchema | None:
    """The version's input schema: ``given``, or captured from ``sample``; it must name the model's columns."""
    if sample is not None and given is not None:
        raise SchemaError(f"model {name!r}: pass sample= or schema=, not both")
    if given is not None:
        schema = InputSchema.from_json(given)
    elif sample is not None:
        schema = schema_from_frame(sample)
    else:
        return None
    fitted = adapter.feature_names(model)
    if fitted is not None and sorted(fitted) != sorted(schema.names):
        missing = sorted(set(fitted) - set(schema.names))
        extra = sorted(set(schema.names) - set(fitted))
        raise SchemaError(
            f"model {name!r} was fitted on columns {fitted}; the input schema lacks {missing} and adds {extra}"
        )
    return schema


def _inputs(schema: InputSchema | None) -> str:
    return "a numeric matrix" if schema is None else schema.describe()


def check_compatible(
    name: str,
    existing: Sequence[Registered],
    task: Task,
    n_features: int | None,
    schema: InputSchema | None,
    *,
    allow_schema_change: bool,
) -> None:
    """Refuse a new version whose task, input width or (undeclared) schema differs from ``existing``'s."""
    rule = "every version of a model has the same task and input width; register this one under another name"
    others = sort_versions(v.version for v in existing if v.task != task)
    if others:
        theirs = next(v.task for v in existing if v.task != task)
        raise IncompatibleVersionError(
            f"model {name!r} is a {theirs} model (versions {', '.join(others)}), not {task}: {rule}"
        )
    widths = sorted({v.n_features for v in existing if v.n_features is not None})
    if n_features is not None and widths and widths != [n_features] and not allow_schema_change:
        taken = " or ".join(map(str, widths))
        raise IncompatibleVersionError(
            f"model {name!r}: its versions take {taken} input features and this one takes {n_features}: {rule}"
        )
    changed = sort_versions(v.version for v in existing if v.input_schema != schema)
    if changed and not allow_schema_change:
        before = next(v.input_schema for v in existing if v.input_schema != schema)
        raise IncompatibleVersionError(
            f"model {name!r}: this version's inputs ({_inputs(schema)}) differ from those of versions "
            f"{', '.join(changed)} ({_inputs(before)}); callers sending those would be refused: pass "
            "allow_schema_change=True when the change is meant"
        )
