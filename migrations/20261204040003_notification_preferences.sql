-- Each user's notification preferences: channel settings per type, category and channel,
-- and quiet hours (see `notifications/preferences.rs`). No row: the defaults.
CREATE TABLE notification_preferences (
    user_id     UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    settings    JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
