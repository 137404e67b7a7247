-- Notion webhooks: one receiving endpoint per account (`/webhooks/notion/{token}`, the token
-- stored as its hash), the verification token Notion sends in its handshake (sealed by the
-- vault, bound to the endpoint row), tasks' NOTION triggers on a page or a database, and a
-- receipt per event id so a redelivery is recognised.

CREATE TABLE notion_webhook_endpoints (
    id                 UUID PRIMARY KEY,
    owner_id           UUID NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    token_prefix       TEXT NOT NULL,
    token_hash         BYTEA NOT NULL UNIQUE,
    -- AES-256-GCM under the master key named by key_id; NULL until the handshake.
    verification_token BYTEA,
    key_id             TEXT,
    verified_at        TIMESTAMPTZ,
    last_event_at      TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT notion_webhook_endpoints_sealed CHECK (
        (verification_token IS NULL) = (key_id IS NULL)
        AND (verification_token IS NULL) = (verified_at IS NULL))
);

CREATE TABLE notion_triggers (
    id            UUID PRIMARY KEY,
    task_id       UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('page', 'database')),
    entity_id     UUID NOT NULL,
    event_types   TEXT[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 32),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_fired_at TIMESTAMPTZ
);
CREATE INDEX notion_triggers_task_idx ON notion_triggers (task_id, created_at);
CREATE INDEX notion_triggers_entity_idx ON notion_triggers (entity_id);

-- One row per event id and endpoint: the primary key is what makes a redelivery a duplicate.
CREATE TABLE notion_webhook_events (
    endpoint_id UUID NOT NULL REFERENCES notion_webhook_endpoints (id) ON DELETE CASCADE,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    executions  INTEGER NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX notion_webhook_events_received_idx ON notion_webhook_events (received_at);

ALTER TABLE executions DROP CONSTRAINT executions_trigger_kind_check;
ALTER TABLE executions ADD CONSTRAINT executions_trigger_kind_check CHECK (trigger_kind IN
    ('SCHEDULE', 'MANUAL', 'API', 'WEBHOOK', 'EMAIL', 'CHAIN', 'RETRY', 'NOTION'));
