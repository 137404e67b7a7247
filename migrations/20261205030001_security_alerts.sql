-- Security alerts: rules (defaults in code, an admin's changes here), sliding-window counters
-- shared by every instance, alerts with their life cycle, suppressions, login blocks and the
-- networks each user has signed in from.

CREATE TABLE security_alert_rules (
    rule           TEXT PRIMARY KEY CHECK (rule IN ('FAILED_LOGINS', 'PASSWORD_SPRAY', 'UNUSUAL_IP',
                                                    'ADMIN_BURST', 'SUSPICIOUS_USER_AGENT', 'API_KEY_ABUSE')),
    enabled        BOOLEAN NOT NULL,
    monitor_only   BOOLEAN NOT NULL,
    allow_cidrs    CIDR[] NOT NULL DEFAULT '{}',
    threshold      INTEGER NOT NULL CHECK (threshold BETWEEN 1 AND 100000),
    window_seconds INTEGER NOT NULL CHECK (window_seconds BETWEEN 1 AND 7776000),
    block_after    INTEGER CHECK (block_after BETWEEN 1 AND 100000),
    updated_by     UUID REFERENCES users (id) ON DELETE SET NULL,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One counter per (rule, subject, fixed window); the evaluator weighs the previous window in
-- (a sliding estimate). `members` holds the distinct things counted when the rule counts
-- distinct values (the accounts a sprayed IP tried), bounded by the evaluator.
CREATE TABLE security_counters (
    rule         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count        INTEGER NOT NULL,
    members      TEXT[] NOT NULL DEFAULT '{}',
    event_ids    UUID[] NOT NULL DEFAULT '{}',
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rule, subject, window_start)
);
CREATE INDEX security_counters_expires_idx ON security_counters (expires_at);

CREATE TABLE security_alerts (
    id           UUID PRIMARY KEY,
    rule         TEXT NOT NULL,
    severity     TEXT NOT NULL CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    subject      TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count        INTEGER NOT NULL,
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    event_ids    UUID[] NOT NULL DEFAULT '{}',
    details      JSONB NOT NULL DEFAULT '{}',
    monitor_only BOOLEAN NOT NULL DEFAULT false,
    status       TEXT NOT NULL DEFAULT 'OPEN'
                 CHECK (status IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED', 'FALSE_POSITIVE')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (rule, subject, window_start)
);
CREATE INDEX security_alerts_list_idx ON security_alerts (last_seen DESC, id DESC);
CREATE INDEX security_alerts_open_idx ON security_alerts (status, severity) WHERE status = 'OPEN';

CREATE TABLE security_alert_transitions (
    id          UUID PRIMARY KEY,
    alert_id    UUID NOT NULL REFERENCES security_alerts (id) ON DELETE CASCADE,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    actor_id    UUID REFERENCES users (id) ON DELETE SET NULL,
    note        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX security_alert_transitions_alert_idx ON security_alert_transitions (alert_id, created_at);

CREATE TABLE security_suppressions (
    rule       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    until      TIMESTAMPTZ NOT NULL,
    alert_id   UUID REFERENCES security_alerts (id) ON DELETE SET NULL,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (rule, subject)
);

-- Progressive blocks: an (account, IP) pair after repeated failures, or a spraying IP
-- (`email` = '').
CREATE TABLE security_login_blocks (
    email         CITEXT NOT NULL,
    ip            INET NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    block_count   INTEGER NOT NULL DEFAULT 0,
    blocked_until TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (email, ip)
);

-- The networks (/24, /48) each user signed in from, for UNUSUAL_IP.
CREATE TABLE security_login_networks (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    network    CIDR NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, network)
);
