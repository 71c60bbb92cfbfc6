"""Model and version names: the one naming rule, default names ``v1``, ``v2``, … and numeric-aware ordering.

A model's name and a version's name obey one rule (:data:`VERSION_PATTERN`, said in words by
:data:`NAME_RULE`); a version is also never ``latest``. Every door checks it before a name goes further
(the CLI's arguments, the HTTP routes, the registry): a name that breaks it is refused by a write with
:func:`validate_model_name` / :func:`validate_version` (InvalidVersionError, 422, exit 2) and names nothing
to a look-up (:func:`check_names`: ModelNotFoundError, 404, exit 2), both in one sentence naming the rule.
BentoML, which the registry asks, would refuse such a name with a ValueError or fold it to lower case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from registry_client.errors import InvalidVersionError, ModelNotFoundError

__all__ = [
    "NAME_RULE",
    "RESERVED_VERSIONS",
    "VERSION_PATTERN",
    "check_names",
    "is_model_name",
    "is_version_name",
    "next_default_version",
    "sort_versions",
    "validate_model_name",
    "validate_version",
    "version_key",
]

# Our own rule is ^[a-z0-9][a-z0-9._-]{0,63}$; BentoML tags additionally end in [a-z0-9] and are at
# most 63 characters long, so the rule is the intersection of both (anything else BentoML would refuse).
VERSION_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$"
_VERSION_RE = re.compile(VERSION_PATTERN)
#: The rule in words, for every message that refuses a name.
NAME_RULE = (
    f"{VERSION_PATTERN}: lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit, "
    "at most 63 characters"
)
#: BentoML resolves ``name:latest`` to the newest version, so it can never be a version's own name.
RESERVED_VERSIONS = frozenset({"latest"})
_NOT_AN_ALIAS = ", and not BentoML's alias 'latest'"
_DEFAULT_RE = re.compile(r"^v(\d+)$")
_CHUNK_RE = re.compile(r"(\d+)")


def is_model_name(name: object) -> bool:
    """Whether ``name`` is a string that, as a whole, obeys the naming rule."""
    return isinstance(name, str) and _VERSION_RE.fullmatch(name) is not None


def is_version_name(version: object) -> bool:
    """Whether ``version`` is a string that, as a whole, obeys the naming rule and is not an alias."""
    return is_model_name(version) and version not in RESERVED_VERSIONS


def validate_model_name(name: str) -> str:
    """Return ``name`` when it obeys the naming rule, else raise InvalidVersionError naming it and the rule."""
    if not is_model_name(name):
        raise InvalidVersionError(f"model name {name!r} is invalid: it must match {NAME_RULE}")
    return name


def validate_version(version: str) -> str:
    """Return ``version`` when it obeys the naming rule, else raise InvalidVersionError naming it.

    The whole name must match (``re.fullmatch``: ``$`` alone would let a trailing newline through), and
    ``latest`` is refused: BentoML resolves it to whichever version is newest, so two processes could
    serve different artifacts under one stamp.
    """
    if not is_version_name(version):
        raise InvalidVersionError(f"version {version!r} is invalid: it must match {NAME_RULE}{_NOT_AN_ALIAS}")
    return version


def check_names(model: str, version: str | None = None) -> None:
    """A look-up's check: a model or version name that breaks the rule names nothing, so ModelNotFoundError
    (404, exit 2) saying so and naming the rule, before the name reaches a store or BentoML."""
    if not is_model_name(model):
        raise ModelNotFoundError(f"no model {model!r} is registered: model names match {NAME_RULE}")
    if version is not None and not is_version_name(version):
        raise ModelNotFoundError(
            f"model {model!r} has no version {version!r}: version names match {NAME_RULE}{_NOT_AN_ALIAS}"
        )


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs numerically, so ``v9`` < ``v10`` and ``1.2`` < ``1.10``."""
    return tuple((0, int(chunk)) if chunk.isdigit() else (1, chunk) for chunk in _CHUNK_RE.split(version) if chunk)


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Versions in registration-friendly order: numeric runs compared as numbers."""
    return sorted(versions, key=version_key)


def next_default_version(existing: Iterable[str]) -> str:
    """The next ``vN`` after the highest default-named version (explicit names do not count)."""
    highest = 0
    for version in existing:
        match = _DEFAULT_RE.match(version)
        if match:
            highest = max(highest, int(match.group(1)))
    return f"v{highest + 1}"
