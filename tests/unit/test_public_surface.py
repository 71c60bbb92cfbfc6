"""Every module's public surface, pinned by its ``__all__`` and checked against the module itself."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import registry_client
import service

# Imported for the side effect of decorating a BentoML service; its surface is the service class.
_SKIP = {"service.service", "service.launcher"}


def _modules() -> list[str]:
    names = []
    for package in (registry_client, service):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if info.name not in _SKIP and not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


def _defined_here(module: ModuleType) -> set[str]:
    """The public classes and functions the module itself defines (what it would forget to export)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module.__name__
    }


@pytest.mark.parametrize("name", _modules())
def test_all_names_what_the_module_defines_and_nothing_it_lacks(name: str) -> None:
    """``__all__`` exists, holds only names the module has, and misses none of the public classes and
    functions the module defines (a forgotten export fails here; ruff keeps it sorted)."""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert not [n for n in exported if not hasattr(module, n)], f"{name}.__all__ names what it lacks"
    assert not sorted(_defined_here(module) - set(exported)), f"{name} defines public names it does not export"
