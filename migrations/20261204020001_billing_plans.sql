-- Billing: plans and their limits, one subscription per account, the Stripe events already
-- processed, and a per-owner monthly execution counter.
--
-- A NULL limit is unlimited. An account's effective plan is its subscription's plan while
-- the subscription is active or trialing (or past_due within the configured grace), else
-- the configured default plan (ENTERPRISE when billing is off, BASIC when it is on).

CREATE TABLE plans (
    code                      TEXT PRIMARY KEY CHECK (code IN ('BASIC', 'PRO', 'ENTERPRISE')),
    name                      TEXT NOT NULL,
    -- Orders the plans from smallest to largest.
    rank                      SMALLINT NOT NULL UNIQUE,
    max_tasks                 INTEGER CHECK (max_tasks >= 0),
    min_interval_seconds      INTEGER NOT NULL CHECK (min_interval_seconds >= 1),
    executions_per_month      BIGINT CHECK (executions_per_month >= 0),
    max_api_keys              INTEGER CHECK (max_api_keys >= 0),
    max_alert_rules_per_task  INTEGER CHECK (max_alert_rules_per_task >= 0),
    history_retention_days    INTEGER NOT NULL CHECK (history_retention_days >= 1),
    -- Display price per month, in the currency's smallest unit; Stripe's price is what is charged.
    monthly_price_cents       INTEGER NOT NULL DEFAULT 0 CHECK (monthly_price_cents >= 0),
    currency                  TEXT NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
    updated_at                TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO plans (code, name, rank, max_tasks, min_interval_seconds, executions_per_month,
                   max_api_keys, max_alert_rules_per_task, history_retention_days,
                   monthly_price_cents)
VALUES ('BASIC', 'Basic', 1, 10, 60, 2000, 2, 2, 7, 0),
       ('PRO', 'Pro', 2, 200, 10, 200000, 20, 10, 90, 2900),
       ('ENTERPRISE', 'Enterprise', 3, NULL, 1, NULL, NULL, NULL, 365, 19900);

CREATE TABLE subscriptions (
    user_id                 UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    plan                    TEXT NOT NULL REFERENCES plans (code),
    status                  TEXT NOT NULL CHECK (status IN
                                ('trialing', 'active', 'past_due', 'canceled', 'incomplete', 'unpaid')),
    stripe_customer_id      TEXT UNIQUE,
    stripe_subscription_id  TEXT UNIQUE,
    current_period_end      TIMESTAMPTZ,
    cancel_at_period_end    BOOLEAN NOT NULL DEFAULT false,
    trial_end               TIMESTAMPTZ,
    -- When the subscription became past_due; the grace is counted from here.
    past_due_since          TIMESTAMPTZ,
    -- The `created` time of the newest Stripe event applied: an older one never overwrites.
    last_event_created      TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX subscriptions_status_idx ON subscriptions (status, user_id);

-- Stripe events already applied (the id is recorded in the transaction of the effects).
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    created      TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Executions started per owner and calendar month (UTC), kept by a statement trigger so
-- every path that queues work counts without a count(*) over executions. Retries of a
-- failed attempt are part of the same run and are not counted.
CREATE TABLE usage_counters (
    owner_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period_start  DATE NOT NULL,
    executions    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner_id, period_start)
);

CREATE FUNCTION executions_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Owners in id order, so two statements counting the same owners lock their rows in
    -- the same order.
    INSERT INTO usage_counters (owner_id, period_start, executions)
    SELECT owner_id, (date_trunc('month', now() AT TIME ZONE 'UTC'))::date, count(*)
    FROM new_executions
    WHERE trigger_kind <> 'RETRY'
    GROUP BY owner_id
    ORDER BY owner_id
    ON CONFLICT (owner_id, period_start)
        DO UPDATE SET executions = usage_counters.executions + EXCLUDED.executions;
    RETURN NULL;
END
$$;

CREATE TRIGGER executions_count_usage AFTER INSERT ON executions
    REFERENCING NEW TABLE AS new_executions
    FOR EACH STATEMENT EXECUTE FUNCTION executions_count_usage();

-- A scheduled slot over the owner's monthly execution limit is recorded as PLAN_LIMIT.
ALTER TABLE planned_runs DROP CONSTRAINT planned_runs_reason_check;
ALTER TABLE planned_runs ADD CONSTRAINT planned_runs_reason_check CHECK (reason IN
    ('SKIPPED_CONCURRENCY', 'OUTSIDE_CATCH_UP', 'PAUSED', 'AFTER_END',
     'CHAIN_DEPTH', 'CHAIN_BUDGET', 'OWNER_INACTIVE', 'QUEUE_FULL', 'PLAN_LIMIT'));
