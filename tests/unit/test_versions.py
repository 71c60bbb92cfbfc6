"""Version names: the naming rule, default names and numeric ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_client.domain.versions import next_default_version, sort_versions, validate_version
from registry_client.errors import InvalidVersionError


@pytest.mark.parametrize("version", ["v1", "v10", "1.2.3", "prod-2024.01", "a", "x_y", "9" * 63])
def test_valid_versions_are_accepted(version: str) -> None:
    """Lowercase names of letters, digits, '.', '_' and '-' up to 63 characters pass."""
    assert validate_version(version) == version


@pytest.mark.parametrize(
    "version",
    [
        "",
        "V1",
        "-v1",
        "v1-",
        "v1.",
        "has space",
        "v/1",
        "latest:1",
        "9" * 64,
        "ü",
        "v1\n",
        "v1\n\n",
        "../v1",
        "\u0087",
        "latest",
    ],
)
def test_invalid_versions_name_the_rule(version: str) -> None:
    """A name that breaks the rule (the whole name, so no trailing newline; never BentoML's alias 'latest')
    is refused with the rule in the message."""
    with pytest.raises(InvalidVersionError, match=r"must match"):
        validate_version(version)


def test_default_versions_count_up_numerically() -> None:
    """The next default name follows the highest vN, compared as numbers, ignoring explicit names."""
    assert next_default_version([]) == "v1"
    assert next_default_version(["v1", "v2", "v9", "v10"]) == "v11"
    assert next_default_version(["prod", "v3", "v2.1"]) == "v4"


@given(st.lists(st.integers(min_value=0, max_value=10**6), unique=True))
def test_vn_versions_sort_by_number(numbers: list[int]) -> None:
    """v2 sorts before v10: digit runs compare as numbers, never as strings."""
    names = [f"v{n}" for n in numbers]
    assert sort_versions(reversed(names)) == [f"v{n}" for n in sorted(numbers)]


def test_dotted_versions_sort_by_each_number() -> None:
    """Semantic-looking versions order part by part: 1.2 < 1.10 < 2.0."""
    assert sort_versions(["2.0", "1.10", "1.2"]) == ["1.2", "1.10", "2.0"]
