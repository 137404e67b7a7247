-- Task templates saved by users: a task definition with `{{ vars.NAME }}` placeholders and
-- the variables that fill them. The built-in catalogue lives in the code.
CREATE TABLE task_templates (
    id           UUID PRIMARY KEY,
    owner_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  TEXT NOT NULL DEFAULT '',
    definition   JSONB NOT NULL,
    variables    JSONB NOT NULL DEFAULT '[]',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX task_templates_owner_idx ON task_templates (owner_id, created_at);
