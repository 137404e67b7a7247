-- Webhook endpoints of one's own, the WEBHOOK notification channel.
--
-- Each endpoint gets its own delivery row (`endpoint_id`), so one failing receiver is
-- retried without sending twice to the others. The signing secret is sealed by the vault
-- like webhook triggers' secrets.
CREATE TABLE notification_webhooks (
    id                 UUID PRIMARY KEY,
    user_id            UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                TEXT NOT NULL CONSTRAINT notification_webhooks_url_check
                           CHECK (char_length(url) <= 2000),
    description        TEXT NOT NULL DEFAULT '' CONSTRAINT notification_webhooks_description_check
                           CHECK (char_length(description) <= 200),
    secret_ciphertext  BYTEA NOT NULL,
    secret_key_id      TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    rotated_at         TIMESTAMPTZ,
    last_success_at    TIMESTAMPTZ,
    last_failure_at    TIMESTAMPTZ
);
CREATE INDEX notification_webhooks_user_idx ON notification_webhooks (user_id, created_at);

ALTER TABLE notification_deliveries
    ADD COLUMN endpoint_id UUID REFERENCES notification_webhooks (id) ON DELETE SET NULL,
    DROP CONSTRAINT notification_deliveries_channel_check,
    ADD CONSTRAINT notification_deliveries_channel_check
        CHECK (channel IN ('IN_APP', 'EMAIL', 'WEBHOOK')),
    DROP CONSTRAINT notification_deliveries_notification_id_channel_key;
-- One delivery per (notification, channel), and per endpoint for webhooks. A webhook row
-- without an endpoint (none was set up, or it was deleted since) is keyed by its own id.
CREATE UNIQUE INDEX notification_deliveries_channel_key ON notification_deliveries
    (notification_id, channel, (COALESCE(endpoint_id, CASE WHEN channel = 'WEBHOOK' THEN id END)))
    NULLS NOT DISTINCT;
CREATE INDEX notification_deliveries_endpoint_idx ON notification_deliveries (endpoint_id)
    WHERE endpoint_id IS NOT NULL;
