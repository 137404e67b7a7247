-- Messages each account sent through the server's SMTP, per clock hour (UTC), so
-- EMAIL_MAX_PER_HOUR holds across restarts and across instances: a send takes one unit with
-- an atomic upsert that refuses once the hour's count reaches the limit.

CREATE TABLE outbound_mail_usage (
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hour     TIMESTAMPTZ NOT NULL,
    sent     INTEGER NOT NULL CHECK (sent >= 0),
    PRIMARY KEY (owner_id, hour)
);
