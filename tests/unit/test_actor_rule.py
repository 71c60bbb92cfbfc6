"""The admin actor header: the whole value must obey the rule before it is written to the audit log."""

from __future__ import annotations

import pytest

from registry_client.domain.identifiers import valid_actor


@pytest.mark.parametrize("actor", [b"alice", b"alice@laptop", b"ci+deploy:prod"])
def test_valid_actors_are_recorded_as_sent(actor: bytes) -> None:
    """An actor of letters, digits and ._@:+- (1-64 characters) is taken as sent."""
    assert valid_actor(actor.decode())


@pytest.mark.parametrize("actor", [b"alice\n", b"alice\nbob", b"", b"a" * 65, b"al ice"])
def test_actors_breaking_the_rule_are_refused(actor: bytes) -> None:
    """A trailing newline, an empty or too long value, a space: refused (the admin API answers 400 naming the
    header and the rule)."""
    assert not valid_actor(actor.decode())
