"""The PostgreSQL store (``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``), in the ``canaryline`` schema.

Modules: ``connection`` (the pool, errors mapped at the boundary), ``migrations`` (the versioned SQL files
in ``migrations/``, applied under an advisory lock), ``plans`` (revisions, audit, LISTEN/NOTIFY), ``log``
(day partitions, idempotent binary COPY), ``outcomes``, ``retention`` (dropping old day partitions) and
``store`` (:class:`PostgresStore`, the :class:`~registry_client.store.base.Store` they make up).
"""

from __future__ import annotations

from registry_client.store.postgres.store import PostgresStore, prepare_database

__all__ = ["PostgresStore", "prepare_database"]
