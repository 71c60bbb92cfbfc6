"""Evaluation in PostgreSQL: a model's joined rows scored and grouped by the server, only aggregates fetched.

Three statements in one read-only ``REPEATABLE READ`` transaction (one snapshot):

1. every record of the window joined with its outcome (the one naming its primary prediction, else the
   request's: the joined view's rule) and exploded into rows, scored (``prediction = outcome`` as jsonb,
   or ``prediction::float8 - outcome::float8``) and aggregated (counts, correct labels, the moments of
   |error| and error² through ``avg``/``var_samp``) per ``(model_version, route, shadow, revision)`` by
   hashing; the revisions of a group are added up here (moments merged exactly), and its canary and
   stable rows are the arms the caller pools per canary episode
   (``GROUPING SETS`` would sort every wide row instead: 0.5 s of 1.8 s here);
2. latency p50/p95/p99 per group by ``percentile_cont`` over the records (one latency per prediction, a
   batch counting once; numpy's default "linear" method), a narrow scan of its own;
3. only when there are shadow rows: each shadow row matched with the first primary row (in write order) of
   the same ``(request_id, row_index)``, primary rows read only for requests that have a shadow record.

Rows the database cannot score as Python would (a non-numeric regression value, a boolean label against
a number, a record whose inputs, predictions, probabilities and outcomes differ in length) are counted, and
any such row makes :func:`aggregates` return None: the caller then evaluates row by row, which gives
those rows the verdict they get everywhere else. The statements run under their own timeout
(:data:`ANALYSIS_TIMEOUT_S`), not the store's per-call one, which is sized for the gateway.
"""

from __future__ import annotations

from typing import Any, Literal

from registry_client.domain.aggregates import (
    ArmAggregate,
    EvaluationAggregates,
    GroupAggregate,
    Moments,
    ShadowAggregate,
)
from registry_client.store.postgres.connection import Connection

__all__ = ["ANALYSIS_TIMEOUT_S", "aggregates", "agreement", "paired"]

#: How long one evaluation statement may run (10 million rows take well under a minute here).
ANALYSIS_TIMEOUT_S = 900
Task = Literal["classification", "regression"]
#: For the statements of one evaluation: their own timeout; no JIT (it compiled for 1.5 s of a 1.9 s query
#: over 220,000 rows here, misled by the planner's 1,000-rows-per-record guess for the exploded rows); room
#: for the hash tables of the grouped scores.
_SETTINGS = (
    f"SET LOCAL statement_timeout = {ANALYSIS_TIMEOUT_S * 1000}",
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '64MB'",
)

# One row per input row of every record in the window, with its joined outcome (SQL NULL: none) and a
# flag for a record whose lengths disagree. {where} filters canaryline.predictions AS p. (Also the rows
# of the console's timeline: registry_client.store.postgres.timeline.)
_ROWS = """
SELECT rec.seq, rec.ts, rec.request_id, rec.model_version, rec.route, rec.shadow, rec.revision, rec.latency_ms,
       r.i AS row_index,
       rec.predictions -> r.i AS prediction,
       CASE WHEN rec.outcome IS NULL OR jsonb_typeof(rec.outcome) <> 'array' THEN NULL
            ELSE nullif(rec.outcome -> r.i, 'null'::jsonb) END AS truth,
       CASE WHEN jsonb_array_length(rec.predictions) <> rec.nrows THEN true
            WHEN rec.probabilities IS NOT NULL AND jsonb_typeof(rec.probabilities) = 'array'
                 AND jsonb_array_length(rec.probabilities) <> rec.nrows THEN true
            WHEN rec.outcome IS NULL THEN false
            WHEN jsonb_typeof(rec.outcome) <> 'array' THEN true
            ELSE jsonb_array_length(rec.outcome) <> rec.nrows END AS bad_lengths
FROM (
    SELECT p.seq, p.ts, p.request_id, p.model_version, p.route, p.shadow, p.revision, p.latency_ms, p.predictions,
           p.probabilities, jsonb_array_length(p.inputs) AS nrows, coalesce(named.outcome, req.outcome) AS outcome
    FROM canaryline.predictions AS p
    LEFT JOIN canaryline.prediction_outcomes AS named
           ON named.prediction_id = CASE WHEN p.shadow THEN p.primary_id ELSE p.prediction_id END
    LEFT JOIN canaryline.outcomes AS req ON req.request_id = p.request_id
    WHERE {where}
) AS rec
CROSS JOIN LATERAL generate_series(0, rec.nrows - 1) AS r (i)
"""

# score: 1/0 or the signed error, NULL without an outcome; unscorable: what the database would judge
# differently from Python (so the caller falls back to row-by-row evaluation).
_SCORE: dict[Task, tuple[str, str]] = {
    "classification": (
        "CASE WHEN {o} IS NULL THEN NULL WHEN {p} = {o} THEN 1.0::float8 ELSE 0.0::float8 END",
        "{o} IS NOT NULL AND jsonb_typeof({p}) IN ('boolean', 'number') AND jsonb_typeof({o}) IN ('boolean', 'number')"
        " AND jsonb_typeof({p}) <> jsonb_typeof({o})",
    ),
    "regression": (
        "CASE WHEN {o} IS NULL THEN NULL WHEN jsonb_typeof({p}) = 'number' AND jsonb_typeof({o}) = 'number'"
        " THEN ({p})::float8 - ({o})::float8 END",
        "jsonb_typeof({p}) IS DISTINCT FROM 'number' OR ({o} IS NOT NULL AND jsonb_typeof({o}) <> 'number')",
    ),
}

_GROUPS = """
SELECT model_version, route, shadow, revision,
       count(*) FILTER (WHERE row_index = 0), count(*), count(score), sum(score),
       avg(abs(score)), var_samp(abs(score)), avg(score * score), var_samp(score * score),
       count(*) FILTER (WHERE bad_lengths OR unscorable)
FROM (SELECT rows.*, {score} AS score, coalesce({unscorable}, false) AS unscorable FROM ({rows}) AS rows) AS scored
GROUP BY model_version, route, shadow, revision
"""

# One latency per record with at least one row (a batch counts once), sorted by the server: a narrow scan,
# apart from the grouped scores so that those aggregate by hashing (an ordered-set aggregate forces a sort
# of every wide row).
_LATENCY = """
SELECT p.model_version, p.route, p.shadow,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY p.latency_ms)
FROM canaryline.predictions AS p
WHERE {where}
GROUP BY p.model_version, p.route, p.shadow
"""

# Each shadow version's first row (write order) of every request row, and the first primary row of each
# request row of a request with a shadow record: the two sides a shadow is paired on (also the console's
# timeline). {shadow_columns} and {primary_columns}: more columns of each side.
_PAIRED = """
WITH shadow AS (
    SELECT DISTINCT ON (model_version, request_id, row_index)
           model_version, request_id, row_index, prediction{shadow_columns}
    FROM ({shadow_rows}) AS s ORDER BY model_version, request_id, row_index, seq
), prim AS (
    SELECT DISTINCT ON (request_id, row_index) request_id, row_index, prediction{primary_columns}
    FROM ({primary_rows}) AS s ORDER BY request_id, row_index, seq
)"""

_SHADOWS = """{paired}, pairs AS (
    SELECT s.model_version, s.prediction AS s_pred, p.prediction AS p_pred, coalesce(p.truth, s.truth) AS truth
    FROM shadow AS s JOIN prim AS p USING (request_id, row_index)
), judged AS (
    SELECT model_version, {agreement} AS agreement, abs({s_score}) AS s_score, abs({p_score}) AS p_score FROM pairs
)
SELECT model_version, count(*), avg(agreement),
       count(s_score), avg(s_score), var_samp(s_score), avg(p_score), var_samp(p_score),
       avg(s_score - p_score), var_samp(s_score - p_score),
       count(*) FILTER (WHERE s_score > p_score), count(*) FILTER (WHERE s_score < p_score)
FROM judged GROUP BY model_version
"""


def _window(since: float | None, until: float | None, *, extra: str = "", alias: str = "p") -> str:
    """The WHERE clause of a model's window over ``canaryline.predictions AS {alias}`` (values as parameters)."""
    where = [f"{alias}.model = %(model)s"]
    if since is not None:
        where.append(f"{alias}.ts >= to_timestamp(%(since)s)")
    if until is not None:
        where.append(f"{alias}.ts < to_timestamp(%(until)s)")
    if extra:
        where.append(extra)
    return " AND ".join(where)


def paired(since: float | None, until: float | None, *, shadow_columns: str = "", primary_columns: str = "") -> str:
    """``WITH shadow AS (…), prim AS (…)`` over a model's window: the shadow rows and the primary rows they
    are paired with on ``(request_id, row_index)``, each with ``prediction`` and the columns given."""
    shadowed = _window(since, until, extra="q.shadow", alias="q")
    with_shadow = f"p.request_id IN (SELECT q.request_id FROM canaryline.predictions AS q WHERE {shadowed})"  # noqa: S608
    return _PAIRED.format(
        shadow_rows=_ROWS.format(where=_window(since, until, extra="p.shadow")),
        primary_rows=_ROWS.format(where=_window(since, until, extra=f"NOT p.shadow AND {with_shadow}")),
        shadow_columns=shadow_columns,
        primary_columns=primary_columns,
    )


def agreement(task: Task, shadow: str, primary: str) -> str:
    """How a shadow prediction agrees with its primary one, as SQL: 1/0 for equal labels, or |shadow − primary|."""
    if task == "classification":
        return f"CASE WHEN {shadow} = {primary} THEN 1.0::float8 ELSE 0.0::float8 END"
    return f"abs(({shadow})::float8 - ({primary})::float8)"


def _moments(n: int, mean: float | None, var: float | None) -> Moments:
    return Moments(n, float(mean or 0.0), 0.0 if var is None else float(var) * (n - 1))


def _arm(row: Any, task: Task) -> ArmAggregate:
    version, route, _, revision, _, _, outcomes, total, abs_mean, abs_var, *_ = row
    return ArmAggregate(
        route=route,
        model_version=version,
        revision=revision,
        n=outcomes,
        correct=round(total or 0) if task == "classification" else None,
        abs_errors=_moments(outcomes, abs_mean, abs_var) if task == "regression" else None,
    )


def _groups(rows: list[Any], task: Task, percentiles: dict[tuple[str, str, bool], list[float]]) -> list[GroupAggregate]:
    """Per ``(model_version, route, shadow)``: the per-revision rows added up (moments merged exactly)."""
    merged: dict[tuple[str, str, bool], list[Any]] = {}
    for version, route, shadow, _, predictions, count, outcomes, total, abs_mean, abs_var, sq_mean, sq_var, _ in rows:
        part = [predictions, count, outcomes, total or 0.0]
        part += [_moments(outcomes, abs_mean, abs_var), _moments(outcomes, sq_mean, sq_var)]
        key = (version, route, shadow)
        if key in merged:
            have = merged[key]
            part = [
                *(a + b for a, b in zip(have[:4], part[:4], strict=True)),
                have[4].merge(part[4]),
                have[5].merge(part[5]),
            ]
        merged[key] = part
    regression = task == "regression"
    return [
        GroupAggregate(
            model_version=version,
            route=route,
            shadow=shadow,
            predictions=predictions,
            rows=count,
            outcomes=outcomes,
            correct=None if regression else round(total),
            abs_errors=abs_errors if regression and outcomes else None,
            squared_errors=squares if regression and outcomes else None,
            latency_p50=float(percentiles[version, route, shadow][0]),
            latency_p95=float(percentiles[version, route, shadow][1]),
            latency_p99=float(percentiles[version, route, shadow][2]),
        )
        for (version, route, shadow), (predictions, count, outcomes, total, abs_errors, squares) in merged.items()
    ]


def _shadows(
    conn: Connection, params: dict[str, Any], task: Task, since: float | None, until: float | None
) -> list[Any]:
    score, _ = _SCORE[task]
    query = _SHADOWS.format(
        paired=paired(since, until, shadow_columns=", truth", primary_columns=", truth"),
        agreement=agreement(task, "s_pred", "p_pred"),
        s_score=score.format(p="s_pred", o="truth"),
        p_score=score.format(p="p_pred", o="truth"),
    )
    return conn.execute(query.encode(), params).fetchall()


def aggregates(
    conn: Connection, model: str, *, task: Task, since: float | None, until: float | None
) -> EvaluationAggregates | None:
    """The evaluation aggregates of ``model``'s window, or None when a row needs row-by-row evaluation."""
    params: dict[str, Any] = {"model": model, "since": since, "until": until}
    score, unscorable = _SCORE[task]
    query = _GROUPS.format(
        rows=_ROWS.format(where=_window(since, until)),
        score=score.format(p="rows.prediction", o="rows.truth"),
        unscorable=unscorable.format(p="rows.prediction", o="rows.truth"),
    )
    latency = _LATENCY.format(where=_window(since, until, extra="jsonb_array_length(p.inputs) > 0"))
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for setting in _SETTINGS:
            conn.execute(setting.encode())
        rows = conn.execute(query.encode(), params).fetchall()
        if any(row[-1] for row in rows):
            return None
        percentiles = {(v, r, s): pct for v, r, s, pct in conn.execute(latency.encode(), params).fetchall()}
        has_shadows = any(row[2] for row in rows)
        shadow_rows = _shadows(conn, params, task, since, until) if has_shadows else []
    groups = _groups(rows, task, percentiles)
    arms = [_arm(row, task) for row in rows if not row[2] and row[1] in ("canary", "stable") and row[6] > 0]
    shadows = [
        ShadowAggregate(
            shadow_version=version,
            pairs=pairs,
            agreement=None if agreement is None else float(agreement),
            shadow_scores=_moments(n, s_mean, s_var),
            primary_scores=_moments(n, p_mean, p_var),
            differences=_moments(n, d_mean, d_var),
            shadow_only=shadow_only,
            primary_only=primary_only,
        )
        for version, pairs, agreement, n, s_mean, s_var, p_mean, p_var, d_mean, d_var, shadow_only, primary_only in (
            shadow_rows
        )
    ]
    return EvaluationAggregates(model=model if groups else None, groups=groups, arms=arms, shadows=shadows)
