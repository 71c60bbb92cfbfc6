-- canaryline schema 1: routing plans and their audit history, the prediction log, outcomes.
-- Applied by registry_client/store/postgres/migrations.py inside one transaction, under an advisory lock.

CREATE TABLE canaryline.plans (
    model      text PRIMARY KEY,
    revision   integer NOT NULL CHECK (revision >= 1),
    body       jsonb NOT NULL,                      -- the Plan as the gateway reads it
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only: one row per change, never updated or deleted.
CREATE TABLE canaryline.plan_history (
    model    text NOT NULL,
    revision integer NOT NULL,
    at       timestamptz NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL,
    reason   text NOT NULL,
    before   jsonb,                                 -- the plan before (NULL for the first revision)
    after    jsonb NOT NULL,                        -- the plan after
    entry    jsonb NOT NULL,                        -- the AuditEntry exactly as written
    PRIMARY KEY (model, revision)
);

-- One row: moves with every plan change (what gateways poll when a notification is missed).
CREATE TABLE canaryline.plans_epoch (
    id    boolean PRIMARY KEY DEFAULT true CHECK (id),
    epoch bigint NOT NULL
);
INSERT INTO canaryline.plans_epoch (id, epoch) VALUES (true, 0);

-- Every prediction_id logged, with its record's ts: what makes writes idempotent across day partitions
-- (a unique index on the partitioned table must include ts, so it cannot do this alone). Retention
-- deletes the ids of the partitions it drops.
CREATE TABLE canaryline.prediction_ids (
    prediction_id text PRIMARY KEY,
    ts            timestamptz NOT NULL
);

-- The prediction log: one row per record (primary or shadow), partitioned by day on ts (UTC days).
CREATE TABLE canaryline.predictions (
    seq           bigint GENERATED ALWAYS AS IDENTITY,  -- write order
    prediction_id text NOT NULL,
    request_id    text NOT NULL,
    ts            timestamptz NOT NULL,                 -- when the request arrived
    model         text NOT NULL,
    model_version text NOT NULL,
    route         text NOT NULL,                        -- stable | canary | pinned | shadow
    revision      integer NOT NULL,                     -- the plan revision that decided the route
    shadow        boolean NOT NULL,
    primary_id    text,                                 -- a shadow record's primary prediction
    inputs        jsonb NOT NULL,                       -- one array of numbers per input row
    predictions   jsonb NOT NULL,                       -- one native value per row
    probabilities jsonb,                                -- one array per row (classifiers)
    latency_ms    double precision NOT NULL,
    instance      text NOT NULL,                        -- the gateway process that served it
    trace_id      text,
    PRIMARY KEY (ts, prediction_id)
) PARTITION BY RANGE (ts);
CREATE INDEX predictions_model_seq ON canaryline.predictions (model, seq);
CREATE INDEX predictions_request ON canaryline.predictions (request_id);

-- The outcome of a whole request (every record of it), the latest posted; kept forever.
CREATE TABLE canaryline.outcomes (
    request_id  text PRIMARY KEY,
    outcome     jsonb NOT NULL,                         -- one value per input row
    observed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL
);

-- The outcome of one primary prediction of a reused request ID (and of its shadows).
CREATE TABLE canaryline.prediction_outcomes (
    prediction_id text PRIMARY KEY,
    request_id    text NOT NULL,
    outcome       jsonb NOT NULL,
    observed_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL
);
CREATE INDEX prediction_outcomes_request ON canaryline.prediction_outcomes (request_id);
