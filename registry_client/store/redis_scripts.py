"""The parts of the Redis store and their Lua scripts, registered one way for every part.

:class:`~registry_client.store.redis.RedisStore` is made of parts: its plans, log and outcomes, the version
catalog (:mod:`~registry_client.store.redis_catalog`) and rollouts (:mod:`~registry_client.store.redis_rollouts`).
Each part is a :class:`ScriptedKeys`: it names the Lua scripts its writes run in ``SCRIPTS`` (attribute →
source, each attribute annotated as a :class:`redis.commands.core.Script`), and the store's constructor calls
:meth:`ScriptedKeys._load_scripts` once, which registers every part's scripts on its client (redis-py runs
each by ``EVALSHA``, loading it again after a ``NOSCRIPT``). A part uses the store's ``client`` and maps
Redis' errors with the store's ``_errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import ClassVar

import redis

__all__ = ["ScriptedKeys"]


class ScriptedKeys:
    client: redis.Redis
    #: Attribute name → Lua source: what :meth:`_load_scripts` registers for this part.
    SCRIPTS: ClassVar[Mapping[str, str]] = {}

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _load_scripts(self) -> None:
        """Register the scripts of every part this store is made of, each as the attribute it is named by."""
        for part in type(self).__mro__:
            for name, source in vars(part).get("SCRIPTS", {}).items():
                setattr(self, name, self.client.register_script(source))
