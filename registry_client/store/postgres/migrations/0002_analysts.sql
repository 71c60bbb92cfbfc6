-- canaryline schema 2: the registry's versions as a table, and the joined view analysts query.

CREATE TABLE canaryline.model_versions (
    name         text NOT NULL,
    version      text NOT NULL,
    task         text NOT NULL,                         -- classification | regression
    framework    text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    metrics      jsonb NOT NULL DEFAULT '{}',
    data_version text,
    code_version text,
    description  text NOT NULL DEFAULT '',
    sha256       text NOT NULL,
    artifact_uri text,
    created_at   timestamptz NOT NULL,
    created_by   text,
    PRIMARY KEY (name, version)
);

-- One row per input row of every logged prediction, with its outcome when one is known: the outcome
-- naming the record's primary prediction when there is one, else the request's outcome.
CREATE VIEW canaryline.joined AS
SELECT
    p.prediction_id,
    p.request_id,
    p.ts,
    p.model,
    p.model_version,
    p.route,
    p.shadow,
    p.revision,
    (r.n - 1)::integer                                      AS row_index,
    r.input                                                 AS inputs,
    p.predictions -> (r.n - 1)::integer                     AS prediction,
    p.probabilities -> (r.n - 1)::integer                   AS probabilities,
    CASE
        WHEN o.outcome IS NULL THEN NULL
        WHEN jsonb_typeof(o.outcome) = 'array' THEN o.outcome -> (r.n - 1)::integer
        ELSE o.outcome
    END                                                     AS outcome,
    o.observed_at,
    o.received_at,
    p.latency_ms
FROM canaryline.predictions AS p
CROSS JOIN LATERAL jsonb_array_elements(p.inputs) WITH ORDINALITY AS r (input, n)
LEFT JOIN LATERAL (
    SELECT named.outcome, named.observed_at, named.received_at
    FROM canaryline.prediction_outcomes AS named
    WHERE named.prediction_id = coalesce(p.primary_id, p.prediction_id)
    UNION ALL
    SELECT req.outcome, req.observed_at, req.received_at
    FROM canaryline.outcomes AS req
    WHERE req.request_id = p.request_id
      AND NOT EXISTS (
          SELECT 1 FROM canaryline.prediction_outcomes AS named2
          WHERE named2.prediction_id = coalesce(p.primary_id, p.prediction_id)
      )
) AS o ON true;
