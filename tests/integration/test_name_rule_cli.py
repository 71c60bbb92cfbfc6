"""The naming rule at the command line: every command taking a MODEL or VERSION refuses one that breaks the rule
with one line naming it and the rule, exit 2, before it reads a store, asks a gateway or touches BentoML."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import canaryline

#: A command line per command, with MODEL or VERSION where the name goes.
COMMANDS = [
    ("versions", "MODEL"),
    ("versions", "MODEL", "--all"),
    ("archive", "MODEL", "v1"),
    ("archive", "m", "VERSION"),
    ("promote", "MODEL", "v1", "--reason", "r"),
    ("promote", "m", "VERSION", "--reason", "r"),
    ("canary", "MODEL", "v1", "--weight", "5", "--reason", "r"),
    ("canary", "m", "VERSION", "--weight", "5", "--reason", "r"),
    ("shadow", "MODEL", "v1", "--reason", "r"),
    ("shadow", "m", "VERSION", "--reason", "r"),
    ("rollback", "MODEL", "--reason", "r"),
    ("rollback", "m", "--to", "VERSION", "--reason", "r"),
    ("status", "MODEL"),
    ("history", "MODEL"),
    ("eval", "MODEL"),
    ("export", "MODEL", "--out", "out.csv"),
    ("feedback", "MODEL", "outcomes.csv"),
    ("register", "MODEL", "model.json", "--framework", "xgboost"),
    ("register", "m", "model.json", "--framework", "xgboost", "--version", "VERSION"),
    ("import-mlflow", "MODEL", "runs:/0123/model"),
    ("import-mlflow", "m", "runs:/0123/model", "--version", "VERSION"),
    ("adopt", "MODEL:v1"),
    ("adopt", "m:VERSION"),
    ("rollout", "start", "MODEL", "v1"),
    ("rollout", "start", "m", "VERSION"),
    ("rollout", "status", "MODEL"),
    ("rollout", "pause", "MODEL", "--reason", "r"),
    ("rollout", "resume", "MODEL", "--reason", "r"),
    ("rollout", "abort", "MODEL", "--reason", "r"),
    ("rollout", "promote", "MODEL", "--reason", "r", "--force"),
]


def refused(argv: tuple[str, ...], name: str, tmp_path: Path) -> str:
    """Run ``argv`` with ``name`` in place; assert it exits 2 with one line on stderr and nothing on stdout."""
    args = [arg.replace("MODEL", name).replace("VERSION", name) for arg in argv]
    done = canaryline(*args, store_url=f"sqlite:///{tmp_path / 'store.db'}", home=tmp_path / "home")
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines), done.stdout) == (2, 1, ""), done.stderr
    return lines[0]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_name_that_breaks_the_rule_is_one_line_naming_the_rule_and_exit_2(argv: tuple[str, ...], tmp_path) -> None:
    """'a b' as the MODEL or VERSION of any command: exit 2, one line quoting it and the rule, no traceback."""
    line = refused(argv, "a b", tmp_path)
    assert "'a b' is invalid: it must match ^[a-z0-9]" in line and "lowercase letters" in line, line


@pytest.mark.parametrize("name", ["x:y", "x:", "UPPER", "x-", "v1\n", "m" * 64])
def test_versions_refuses_every_kind_of_bad_model_name(name: str, tmp_path) -> None:
    """canaryline versions with a name BentoML would refuse, misread or fold to lower case exits 2 naming it."""
    line = refused(("versions", "MODEL"), name, tmp_path)
    assert f"model name {name!r} is invalid: it must match ^" in line, line


@pytest.mark.parametrize("version", ["latest", "V1"])
def test_a_version_alias_or_case_variant_is_refused_as_a_version(version: str, tmp_path) -> None:
    """'latest' (BentoML's alias) and 'V1' are refused as versions, exit 2, before the gateway is asked."""
    line = refused(("promote", "m", "VERSION", "--reason", "r"), version, tmp_path)
    assert f"version {version!r} is invalid" in line and "'latest'" in line, line
