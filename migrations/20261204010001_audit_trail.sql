-- The audit trail: one row per HTTP request (and per refused Socket.IO handshake), written in
-- batches off the request path, chained by a background sealer into a SHA-256 hash chain in
-- `seq` order, and protected against UPDATE/DELETE by a trigger.

CREATE TABLE audit_events (
    id              uuid PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    occurred_at     timestamptz NOT NULL,
    transaction_id  text NOT NULL,
    actor_type      text NOT NULL CHECK (actor_type IN ('USER', 'API_KEY', 'ANONYMOUS', 'SYSTEM')),
    actor_id        uuid,
    actor_email     text,
    api_key_id      uuid,
    action          text NOT NULL,
    action_class    text NOT NULL CHECK (action_class IN
                        ('READ', 'CREATE', 'UPDATE', 'DELETE', 'AUTH', 'ADMIN', 'BILLING', 'SECURITY')),
    critical        boolean NOT NULL,
    method          text NOT NULL,
    route           text,
    path            text NOT NULL,
    status          integer NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('SUCCESS', 'FAILURE', 'DENIED')),
    targets         jsonb NOT NULL DEFAULT '[]',
    ip              inet,
    user_agent      text,
    latency_ms      integer NOT NULL,
    request_body    jsonb,
    response_body   jsonb,
    hash            bytea,
    prev_hash       bytea
);

CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, seq) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_transaction_idx ON audit_events (transaction_id);
CREATE INDEX audit_events_action_idx ON audit_events (action text_pattern_ops, seq);
CREATE INDEX audit_events_unsealed_idx ON audit_events (seq) WHERE hash IS NULL;

-- What the retention purge removed last: the hash of the newest purged row, so the first
-- remaining row's `prev_hash` still checks out. One row.
CREATE TABLE audit_anchor (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq         bigint NOT NULL,
    hash        bytea NOT NULL,
    purged_at   timestamptz NOT NULL DEFAULT now()
);

-- Rows are append-only. The only UPDATE allowed is the sealer's fill of `hash`/`prev_hash`
-- (from NULL, every other column unchanged); the only DELETE allowed is the retention purge,
-- which sets `nocron.audit_purge = 'on'` for its transaction.
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('nocron.audit_purge', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events rows cannot be deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE'
       AND OLD.hash IS NULL AND OLD.prev_hash IS NULL AND NEW.hash IS NOT NULL
       AND (to_jsonb(OLD) - 'hash' - 'prev_hash') = (to_jsonb(NEW) - 'hash' - 'prev_hash') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events rows cannot be changed' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();

CREATE FUNCTION audit_events_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events cannot be truncated' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_no_truncate();
