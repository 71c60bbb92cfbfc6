-- canaryline schema 3: progressive rollouts — their state, the controller's lease, request counts —
-- and the evidence of a plan change (the gate results a rollout decided on).

ALTER TABLE canaryline.plan_history ADD COLUMN evidence jsonb;  -- NULL for a change made by hand

-- One row per model: its current (or last) rollout, replaced only from the seq it was read at.
CREATE TABLE canaryline.rollouts (
    model      text PRIMARY KEY,
    seq        integer NOT NULL CHECK (seq >= 1),
    body       jsonb NOT NULL,                      -- the RolloutState
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Fencing tokens: every new holder of a lease takes the next one, so tokens only grow.
CREATE SEQUENCE canaryline.lease_tokens;

-- A lease is held while expires_at is after the database's clock_timestamp().
CREATE TABLE canaryline.leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    token      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Routed requests served and failed, per model, plan revision, version, route and whether keyed.
CREATE TABLE canaryline.request_counts (
    model    text NOT NULL,
    revision integer NOT NULL,
    version  text NOT NULL,
    route    text NOT NULL,
    keyed    boolean NOT NULL,
    served   bigint NOT NULL,
    failed   bigint NOT NULL,
    PRIMARY KEY (model, revision, version, route, keyed)
);

-- The distinct routing-key buckets (0..9999) seen by keyed requests: the sample-ratio gate's unit.
CREATE TABLE canaryline.request_buckets (
    model    text NOT NULL,
    revision integer NOT NULL,
    version  text NOT NULL,
    route    text NOT NULL,
    bucket   integer NOT NULL,
    PRIMARY KEY (model, revision, version, route, bucket)
);
