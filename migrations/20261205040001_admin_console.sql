-- Admin console: accounts an admin locked (beside disabled ones), the reason of a status
-- change, a forced password reset, the purge scheduled for a soft-deleted account, and the
-- heartbeat of every running instance.

ALTER TABLE users DROP CONSTRAINT users_status_check;
ALTER TABLE users ADD CONSTRAINT users_status_check
    CHECK (status IN ('active', 'disabled', 'locked', 'deleted'));
ALTER TABLE users
    ADD COLUMN status_reason        TEXT CHECK (char_length(status_reason) <= 500),
    ADD COLUMN force_password_reset BOOLEAN NOT NULL DEFAULT false,
    -- Set when an admin deletes the account: the purge job removes the row after it.
    ADD COLUMN purge_after          TIMESTAMPTZ,
    -- When the account last signed in (set when a session starts).
    ADD COLUMN last_login_at        TIMESTAMPTZ;
UPDATE users u SET last_login_at = (SELECT max(created_at) FROM sessions s WHERE s.user_id = u.id);
CREATE INDEX users_purge_idx ON users (purge_after) WHERE purge_after IS NOT NULL;
CREATE INDEX users_created_idx ON users (created_at, id);

-- One row per running process, refreshed by its heartbeat; rows silent for a day are removed.
CREATE TABLE instances (
    id                TEXT PRIMARY KEY,
    roles             TEXT[] NOT NULL,
    version           TEXT NOT NULL,
    started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
