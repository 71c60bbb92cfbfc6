-- canaryline schema 4: the version catalog becomes the registry's source of truth (any node loads a version
-- from its row and its artifact), and the registry audit: every version registered or archived.

ALTER TABLE canaryline.model_versions
    ADD COLUMN n_features      integer,
    ADD COLUMN classes         jsonb,                 -- a classifier's classes, in the model's order
    ADD COLUMN input_schema    jsonb,                 -- the named inputs it takes; NULL: a numeric matrix
    ADD COLUMN options         jsonb,                 -- BentoML's model options the framework loads with
    ADD COLUMN artifact_sha256 text,                  -- SHA-256 of the archive at artifact_uri (NULL: bentoml:)
    ADD COLUMN archived_at     timestamptz,
    ADD COLUMN archived_by     text,
    ADD COLUMN archive_reason  text;

-- Rows written before schema 4 are copies of versions whose record lives in one node's BentoML model store
-- (options IS NULL): the catalog does not count them until `canaryline adopt NAME:VERSION` completes them.
COMMENT ON COLUMN canaryline.model_versions.options IS
    'NULL only in rows written before schema 4, which the catalog ignores until adopted';

-- Append-only: one row per version registered or archived.
CREATE TABLE canaryline.version_events (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model   text NOT NULL,
    version text NOT NULL,
    action  text NOT NULL,                            -- register | archive
    at      timestamptz NOT NULL,
    actor   text NOT NULL,
    reason  text NOT NULL DEFAULT ''
);
CREATE INDEX version_events_model ON canaryline.version_events (model, seq);
