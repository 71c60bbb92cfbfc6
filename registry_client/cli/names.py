"""The naming rule at the command line: every MODEL and VERSION a command takes is checked before it runs.

A name that breaks the rule (:mod:`registry_client.domain.versions`) ends the command with one line naming it
and the rule, exit 2, before a store, a gateway or BentoML sees it (BentoML's tags refuse ``a b`` with a
ValueError and read ``x:y`` as model x's version y). The check is a parameter callback raising the core's
InvalidVersionError, which ``canaryline``'s entry point prints as its one line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from registry_client.domain.versions import validate_model_name, validate_version

__all__ = ["ModelArg", "VersionArg", "model_name", "version_name"]


def model_name(value: str) -> str:
    """A MODEL argument: the name when it obeys the rule, else InvalidVersionError (exit 2, one line)."""
    return validate_model_name(value)


def version_name(value: str | None) -> str | None:
    """A VERSION argument or option: the name when it obeys the rule (or None when not given), else
    InvalidVersionError (exit 2, one line)."""
    return value if value is None else validate_version(value)


ModelArg = Annotated[str, typer.Argument(help="the model's name", callback=model_name)]
VersionArg = Annotated[str, typer.Argument(help="one of the model's versions", callback=version_name)]
