-- Notifications and alert rules.
--
-- `outbox`: side effects that must not be lost ride a transactional outbox. The transaction
-- that finishes an execution inserts one row; a consumer claims rows with
-- `FOR UPDATE SKIP LOCKED` and handles each inside the transaction that marks it processed,
-- so a row is consumed exactly once across instances and crashes. `ordering_key` (the task)
-- keeps one task's rows in order: a consumer only takes a task's earliest pending row.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    ordering_key  UUID,
    payload       JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at  TIMESTAMPTZ,
    processed_by  TEXT
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE processed_at IS NULL;
CREATE INDEX outbox_pending_key_idx ON outbox (ordering_key, id) WHERE processed_at IS NULL;

-- One message to one user. Engagement (`seen_at`, `read_at`, `clicked_at`) is kept apart
-- from each channel's delivery status.
CREATE TABLE notifications (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    category    TEXT NOT NULL,
    critical    BOOLEAN NOT NULL DEFAULT false,
    title       TEXT NOT NULL CONSTRAINT notifications_title_check CHECK (char_length(title) <= 200),
    body        TEXT NOT NULL CONSTRAINT notifications_body_check CHECK (char_length(body) <= 4000),
    data        JSONB NOT NULL DEFAULT '{}',
    link        TEXT CONSTRAINT notifications_link_check CHECK (char_length(link) <= 2000),
    task_id     UUID,
    rule_id     UUID,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at     TIMESTAMPTZ,
    read_at     TIMESTAMPTZ,
    clicked_at  TIMESTAMPTZ,
    deleted_at  TIMESTAMPTZ
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX notifications_unread_idx ON notifications (user_id)
    WHERE read_at IS NULL AND deleted_at IS NULL;

-- One row per (notification, channel), with a single forward-only status.
CREATE TABLE notification_deliveries (
    id               UUID PRIMARY KEY,
    notification_id  UUID NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL CONSTRAINT notification_deliveries_channel_check
                         CHECK (channel IN ('IN_APP', 'EMAIL')),
    status           TEXT NOT NULL CONSTRAINT notification_deliveries_status_check
                         CHECK (status IN ('QUEUED', 'SENT', 'DELIVERED', 'UNDELIVERED',
                                           'BOUNCED', 'NOT_SENT')),
    attempts         INT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error       TEXT,
    provider_id      TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at          TIMESTAMPTZ,
    delivered_at     TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (notification_id, channel)
);
CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (next_attempt_at)
    WHERE status = 'QUEUED';

-- The status only moves forward: QUEUED -> SENT -> DELIVERED, or to a final failure. A late
-- or repeated report can never move it back.
CREATE FUNCTION notification_deliveries_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'QUEUED' AND NEW.status IN ('SENT', 'DELIVERED', 'UNDELIVERED', 'BOUNCED', 'NOT_SENT'))
        OR (OLD.status = 'SENT' AND NEW.status IN ('DELIVERED', 'UNDELIVERED', 'BOUNCED'))
    ) THEN
        RAISE EXCEPTION 'delivery status cannot move from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER notification_deliveries_forward_only BEFORE UPDATE ON notification_deliveries
    FOR EACH ROW EXECUTE FUNCTION notification_deliveries_forward_only();

-- Alert rules on tasks, with the state that keeps one failing task to one alert.
CREATE TABLE alert_rules (
    id                    UUID PRIMARY KEY,
    task_id               UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind                  TEXT NOT NULL CONSTRAINT alert_rules_kind_check
                              CHECK (kind IN ('CONSECUTIVE_FAILURES', 'RECOVERY', 'SUCCESS',
                                              'DURATION_OVER')),
    params                JSONB NOT NULL DEFAULT '{}',
    channels              TEXT[] NOT NULL DEFAULT '{IN_APP,EMAIL}',
    repeat_every_minutes  INT CONSTRAINT alert_rules_repeat_check
                              CHECK (repeat_every_minutes BETWEEN 1 AND 10080),
    muted_until           TIMESTAMPTZ,
    alerting              BOOLEAN NOT NULL DEFAULT false,
    last_fired_at         TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX alert_rules_task_idx ON alert_rules (task_id, created_at);

-- Tasks that exist already get the default rules a new task gets.
INSERT INTO alert_rules (id, task_id, kind, params, created_at)
SELECT gen_random_uuid(), t.id, r.kind, r.params, now() + r.n * interval '1 microsecond'
FROM tasks t
CROSS JOIN (VALUES (0, 'CONSECUTIVE_FAILURES', '{"count": 1}'::jsonb),
                   (1, 'RECOVERY', '{}'::jsonb)) AS r(n, kind, params);
