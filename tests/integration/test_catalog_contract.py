"""The version catalog contract: SQLite, Redis and PostgreSQL keep version records, the first plan and the
registry audit the same way (each test runs on all three)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from registry_client.domain.plan import Canary, Plan, Shadow
from registry_client.errors import ModelNotFoundError, VersionExistsError, VersionInUseError
from registry_client.store import Store
from tests.support.versions import make_version

AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_a_registered_version_reads_back_exactly_with_its_first_plan(store: Store) -> None:
    """The record comes back field for field, the first version becomes stable (revision 1) and is audited."""
    record = make_version("iris", "v1")
    epoch = store.plans_epoch()
    assert store.register_version(record, first_plan=Plan.initial("iris", "v1")) is True
    assert store.get_version("iris", "v1") == record
    plan = store.get_plan("iris")
    assert plan is not None and (plan.stable, plan.revision) == ("v1", 1)
    assert [e.action for e in store.history("iris")] == ["create"]
    assert store.plans_epoch() != epoch
    [event] = store.version_events("iris")
    assert (event.version, event.action, event.actor, event.at) == ("v1", "register", "ci@runner", record.created)


def test_later_versions_leave_the_plan_alone(store: Store) -> None:
    """A second version is recorded but the plan (and its history) stay as they were."""
    store.register_version(make_version("iris", "v1"), first_plan=Plan.initial("iris", "v1"))
    assert store.register_version(make_version("iris", "v2"), first_plan=Plan.initial("iris", "v2")) is False
    plan = store.get_plan("iris")
    assert plan is not None and (plan.stable, plan.revision) == ("v1", 1)
    assert [e.version for e in store.version_events("iris")] == ["v1", "v2"]


def test_an_existing_version_is_refused_and_nothing_is_written(store: Store) -> None:
    """Registering a version again is a 409 naming it; the first record, plan and audit are untouched."""
    first = make_version("iris", "v1")
    store.register_version(first, first_plan=Plan.initial("iris", "v1"))
    with pytest.raises(VersionExistsError, match="model 'iris' already has version 'v1'") as caught:
        store.register_version(make_version("iris", "v1", sha256="ff" * 32), first_plan=Plan.initial("iris", "v1"))
    assert caught.value.status == 409
    assert store.get_version("iris", "v1") == first
    assert len(store.version_events("iris")) == 1
    assert len(store.history("iris")) == 1


def test_versions_list_in_numeric_order_and_models_by_name(store: Store) -> None:
    """v2 before v10; models with versions are listed by name, unknown ones have none."""
    for version in ["v10", "v2", "v1"]:
        store.register_version(make_version("wine", version), first_plan=Plan.initial("wine", version))
    store.register_version(make_version("iris", "v1"), first_plan=Plan.initial("iris", "v1"))
    assert [v.version for v in store.list_versions("wine")] == ["v1", "v2", "v10"]
    assert store.list_models() == ["iris", "wine"]
    assert store.list_versions("nope") == [] and store.get_version("nope", "v1") is None
    assert store.version_events("nope") == []


def test_first_registrations_racing_create_one_plan(store: Store) -> None:
    """Eight first versions registered at once: all recorded, exactly one plan created, stable one of them."""
    created: list[bool] = []
    start = threading.Barrier(8)

    def register(i: int) -> None:
        start.wait()
        created.append(store.register_version(make_version("iris", f"v{i}"), first_plan=Plan.initial("iris", f"v{i}")))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created) == [False] * 7 + [True]
    assert len(store.list_versions("iris")) == 8
    plan = store.get_plan("iris")
    assert plan is not None and plan.revision == 1 and plan.stable in {f"v{i}" for i in range(1, 9)}


@pytest.mark.parametrize("role", ["stable", "canary", "shadow"])
def test_a_version_a_plan_uses_cannot_be_archived(store: Store, role: str) -> None:
    """Archiving the stable, canary or shadow version is a 409 naming the role; the record stays active."""
    for version in ("v1", "v2"):
        store.register_version(make_version("iris", version), first_plan=Plan.initial("iris", "v1"))
    first = store.get_plan("iris")
    assert first is not None
    if role != "stable":
        extra = {"canary": Canary(version="v2", weight=10)} if role == "canary" else {"shadow": Shadow(version="v2")}
        store.save_plan(first.evolve(actor="a", reason=role, **extra), before=first, action=role)  # type: ignore[arg-type]
    target = "v1" if role == "stable" else "v2"
    with pytest.raises(VersionInUseError, match=f"version '{target}' is the {role} version") as caught:
        store.archive_version("iris", target, actor="sre", reason="old", at=AT)
    assert caught.value.status == 409
    found = store.get_version("iris", target)
    assert found is not None and not found.archived
    assert [e.action for e in store.version_events("iris")] == ["register", "register"]


def test_an_unused_version_is_archived_kept_and_audited(store: Store) -> None:
    """Archiving a version no plan uses marks it (who, when, why), keeps it listed and appends its event once."""
    for version in ("v1", "v2"):
        store.register_version(make_version("iris", version), first_plan=Plan.initial("iris", "v1"))
    archived = store.archive_version("iris", "v2", actor="sre@example", reason="superseded", at=AT)
    assert (archived.archived_at, archived.archived_by, archived.archive_reason) == (AT, "sre@example", "superseded")
    assert store.get_version("iris", "v2") == archived
    assert [v.archived for v in store.list_versions("iris")] == [False, True]
    again = store.archive_version("iris", "v2", actor="other", reason="again", at=datetime.now(UTC))
    assert again == archived
    events = store.version_events("iris")
    assert [(e.version, e.action) for e in events] == [("v1", "register"), ("v2", "register"), ("v2", "archive")]
    assert (events[-1].actor, events[-1].at, events[-1].reason) == ("sre@example", AT, "superseded")
    with pytest.raises(VersionExistsError):
        store.register_version(make_version("iris", "v2"), first_plan=Plan.initial("iris", "v2"))


def test_archiving_an_unknown_version_is_a_404(store: Store) -> None:
    """An unknown model or version cannot be archived: 404 naming both, nothing written."""
    with pytest.raises(ModelNotFoundError, match="model 'iris' has no version 'v9'"):
        store.archive_version("iris", "v9", actor="sre", reason="", at=AT)
    assert store.version_events("iris") == []
