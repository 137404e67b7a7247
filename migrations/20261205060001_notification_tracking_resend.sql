-- Open and click tracking per delivery, and resends: a resend adds a delivery of a later
-- `generation` beside the failed one, whose status stays as it ended.
ALTER TABLE notification_deliveries
    ADD COLUMN generation SMALLINT NOT NULL DEFAULT 0
        CONSTRAINT notification_deliveries_generation_check CHECK (generation BETWEEN 0 AND 3),
    ADD COLUMN opened_at  TIMESTAMPTZ,
    ADD COLUMN clicked_at TIMESTAMPTZ;

DROP INDEX notification_deliveries_channel_key;
CREATE UNIQUE INDEX notification_deliveries_channel_key ON notification_deliveries
    (notification_id, channel, (COALESCE(endpoint_id, CASE WHEN channel = 'WEBHOOK' THEN id END)),
     generation)
    NULLS NOT DISTINCT;
