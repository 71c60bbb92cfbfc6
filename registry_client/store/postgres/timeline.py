"""The console's timeline in PostgreSQL: a model's joined rows bucketed by time and counted by the server.

Two statements in one read-only ``REPEATABLE READ`` transaction, over the joined rows evaluation reads
(:data:`~registry_client.store.postgres.evaluation._ROWS`, the joined view's rule for outcomes), each row's
bucket ``floor(epoch(ts) / bucket_s)``:

1. per bucket, version and shadow flag: primary records (rows with ``row_index = 0`` of non-shadow
   records), labelled rows and their score (1/0 correct, or |error|), and the rows the database cannot
   score as Python would (then the caller reads the rows instead);
2. only when there are shadow rows: each shadow version's first row of a request row paired with the
   first primary row of it (write order; evaluation's :func:`~registry_client.store.postgres.evaluation.paired`),
   counted in the primary's bucket: pairs and equal predictions, or the sum of |shadow − primary|.

What comes back is a few :class:`~registry_client.domain.aggregates.TimelineCell` per bucket and version,
whatever the number of rows. The statements run under evaluation's own timeout and settings.
"""

from __future__ import annotations

from typing import Any

from registry_client.domain.aggregates import TimelineCell
from registry_client.store.postgres.connection import Connection
from registry_client.store.postgres.evaluation import _ROWS, _SCORE, _SETTINGS, Task, _window, agreement, paired

__all__ = ["cells"]

_BUCKET = "floor(extract(epoch FROM {ts}) / %(bucket)s)::bigint"

_GROUPS = """
SELECT bucket, model_version, shadow,
       count(*) FILTER (WHERE NOT shadow AND row_index = 0), count(score), sum(abs(score)),
       count(*) FILTER (WHERE bad_lengths OR unscorable)
FROM (SELECT rows.*, {bucket} AS bucket, {score} AS score, coalesce({unscorable}, false) AS unscorable
      FROM ({rows}) AS rows) AS scored
GROUP BY bucket, model_version, shadow
"""

_PAIRS = """{paired}
SELECT p.bucket, s.model_version, count(*), sum({agreement})
FROM shadow AS s JOIN prim AS p USING (request_id, row_index)
GROUP BY p.bucket, s.model_version
"""


def _pairs(conn: Connection, params: dict[str, Any], task: Task, since: float | None, until: float | None) -> list[Any]:
    query = _PAIRS.format(
        paired=paired(since, until, primary_columns=f", {_BUCKET.format(ts='s.ts')} AS bucket"),
        agreement=agreement(task, "s.prediction", "p.prediction"),
    )
    return conn.execute(query.encode(), params).fetchall()


def cells(
    conn: Connection, model: str, *, task: Task, since: float | None, until: float | None, bucket_s: int
) -> list[TimelineCell] | None:
    """The timeline cells of ``model``'s window in buckets of ``bucket_s`` seconds, or None when a row needs
    to be read (one the database cannot score as Python would)."""
    params: dict[str, Any] = {"model": model, "since": since, "until": until, "bucket": bucket_s}
    score, unscorable = _SCORE[task]
    query = _GROUPS.format(
        rows=_ROWS.format(where=_window(since, until)),
        bucket=_BUCKET.format(ts="rows.ts"),
        score=score.format(p="rows.prediction", o="rows.truth"),
        unscorable=unscorable.format(p="rows.prediction", o="rows.truth"),
    )
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for setting in _SETTINGS:
            conn.execute(setting.encode())
        rows = conn.execute(query.encode(), params).fetchall()
        if any(row[-1] for row in rows):
            return None
        pairs = _pairs(conn, params, task, since, until) if any(row[2] for row in rows) else []
    found: list[TimelineCell] = []
    for bucket, version, shadow, requests, outcomes, total, _ in rows:
        if requests:
            found.append(TimelineCell(int(bucket), "requests", version, int(requests), float(requests)))
        if outcomes:
            label = f"{version} · shadow" if shadow else version
            found.append(TimelineCell(int(bucket), "quality", label, int(outcomes), float(total or 0.0)))
    found.extend(TimelineCell(int(b), "agreement", v, int(n), float(t or 0.0)) for b, v, n, t in pairs)
    return found
