-- Notion connections made through OAuth: one per user, the access token sealed by the vault
-- (bound to the user's row), and the single-use `state` values of OAuth round trips.

CREATE TABLE notion_connections (
    user_id        UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    workspace_id   TEXT NOT NULL,
    workspace_name TEXT,
    workspace_icon TEXT,
    bot_id         TEXT NOT NULL,
    -- AES-256-GCM under the master key named by key_id.
    access_token   BYTEA NOT NULL,
    key_id         TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- SHA-256 of each `state` handed out by /notion/oauth/authorize; the callback consumes it.
CREATE TABLE notion_oauth_states (
    state_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX notion_oauth_states_expiry_idx ON notion_oauth_states (expires_at);
