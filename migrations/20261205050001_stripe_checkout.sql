-- Stripe customers created by Nocron (one per account), and the usage notices already sent.

-- The Stripe customer of an account. The primary key keeps it to one per account; creating
-- one locks the account's `users` row first, so concurrent checkouts wait for each other.
CREATE TABLE stripe_customers (
    user_id      UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    customer_id  TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per account, month and threshold (80 or 100 % of `executions_per_month`) whose
-- notice was sent: the primary key makes each notice once per period.
CREATE TABLE usage_notices (
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period_start  DATE NOT NULL,
    threshold     SMALLINT NOT NULL CHECK (threshold IN (80, 100)),
    used          BIGINT NOT NULL,
    max           BIGINT NOT NULL,
    sent_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, period_start, threshold)
);
