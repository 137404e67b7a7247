-- Inbound triggers: webhook URLs and email addresses that start a task, and chains that start
-- a task when another task's execution ends. Tokens are stored only as SHA-256 hashes.

CREATE TABLE webhook_triggers (
    id                     UUID PRIMARY KEY,
    task_id                UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    name                   TEXT NOT NULL DEFAULT '' CHECK (char_length(name) <= 100),
    -- The token's public start, to recognise it in a list.
    token_prefix           TEXT NOT NULL,
    token_hash             BYTEA NOT NULL,
    signature              TEXT NOT NULL DEFAULT 'none'
                               CHECK (signature IN ('none', 'standard_webhooks', 'github')),
    -- The signing secret sealed by the vault (NULL when signature = 'none').
    secret_ciphertext      BYTEA,
    secret_key_id          TEXT,
    replay_window_seconds  INTEGER CHECK (replay_window_seconds BETWEEN 1 AND 86400),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    rotated_at             TIMESTAMPTZ,
    last_used_at           TIMESTAMPTZ,
    CONSTRAINT webhook_triggers_token_hash_key UNIQUE (token_hash),
    CHECK ((signature = 'none') = (secret_ciphertext IS NULL))
);
CREATE INDEX webhook_triggers_task_idx ON webhook_triggers (task_id, created_at);

CREATE TABLE email_triggers (
    id            UUID PRIMARY KEY,
    task_id       UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    name          TEXT NOT NULL DEFAULT '' CHECK (char_length(name) <= 100),
    token_prefix  TEXT NOT NULL,
    token_hash    BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at  TIMESTAMPTZ,
    CONSTRAINT email_triggers_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX email_triggers_task_idx ON email_triggers (task_id, created_at);

-- `task_id` runs when an execution of `source_task_id` ends as `on_status` says.
CREATE TABLE task_chains (
    id              UUID PRIMARY KEY,
    task_id         UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    source_task_id  UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    on_status       TEXT NOT NULL CHECK (on_status IN ('SUCCEEDED', 'DEAD', 'ANY')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT task_chains_pair_key UNIQUE (task_id, source_task_id),
    CHECK (task_id <> source_task_id)
);
-- Finishing executions look chains up by their source.
CREATE INDEX task_chains_source_idx ON task_chains (source_task_id);

-- How many chain links led to an execution (0 for every other trigger); retries keep it.
ALTER TABLE executions ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0 CHECK (chain_depth >= 0);
