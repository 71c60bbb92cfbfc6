"""Version names: the naming rule, default names ``v1``, ``v2``, … and numeric-aware ordering."""

from __future__ import annotations

import re
from collections.abc import Iterable

from registry_client.errors import InvalidVersionError

__all__ = [
    "RESERVED_VERSIONS",
    "VERSION_PATTERN",
    "is_version_name",
    "next_default_version",
    "sort_versions",
    "validate_version",
    "version_key",
]

# Our own rule is ^[a-z0-9][a-z0-9._-]{0,63}$; BentoML tags additionally end in [a-z0-9] and are at
# most 63 characters long, so the rule is the intersection of both (anything else BentoML would refuse).
VERSION_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$"
_VERSION_RE = re.compile(VERSION_PATTERN)
#: BentoML resolves ``name:latest`` to the newest version, so it can never be a version's own name.
RESERVED_VERSIONS = frozenset({"latest"})
_DEFAULT_RE = re.compile(r"^v(\d+)$")
_CHUNK_RE = re.compile(r"(\d+)")


def is_version_name(version: object) -> bool:
    """Whether ``version`` is a string that, as a whole, obeys the naming rule and is not an alias."""
    return isinstance(version, str) and version not in RESERVED_VERSIONS and _VERSION_RE.fullmatch(version) is not None


def validate_version(version: str) -> str:
    """Return ``version`` when it obeys the naming rule, else raise InvalidVersionError naming it.

    The whole name must match (``re.fullmatch``: ``$`` alone would let a trailing newline through), and
    ``latest`` is refused: BentoML resolves it to whichever version is newest, so two processes could
    serve different artifacts under one stamp.
    """
    if not is_version_name(version):
        raise InvalidVersionError(
            f"version {version!r} is invalid: it must match {VERSION_PATTERN} "
            "(lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit, "
            "at most 63 characters) and be an exact version name, not BentoML's alias 'latest'"
        )
    return version


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
