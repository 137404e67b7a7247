-- Stripe webhooks: the order of subscription writes, and the invoices and payments kept from
-- invoice events.

-- Events of the same second are ordered by kind (checkout < created < updated < deleted),
-- so a late `customer.subscription.created` never overwrites an `.updated` of its second.
ALTER TABLE subscriptions ADD COLUMN last_event_rank SMALLINT;

CREATE TABLE invoices (
    id                      TEXT PRIMARY KEY,
    user_id                 UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stripe_subscription_id  TEXT,
    number                  TEXT,
    status                  TEXT NOT NULL,
    amount_due              BIGINT NOT NULL,
    amount_paid             BIGINT NOT NULL,
    currency                TEXT NOT NULL,
    hosted_invoice_url      TEXT,
    invoice_pdf             TEXT,
    period_start            TIMESTAMPTZ,
    period_end              TIMESTAMPTZ,
    created                 TIMESTAMPTZ NOT NULL,
    -- The `created` time of the newest event applied to this invoice.
    last_event_created      TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX invoices_user_idx ON invoices (user_id, created DESC, id DESC);

-- One row per payment outcome Stripe reported (paid, failed, action required).
CREATE TABLE payments (
    id               UUID PRIMARY KEY,
    user_id          UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invoice_id       TEXT,
    stripe_event_id  TEXT NOT NULL UNIQUE REFERENCES stripe_events (id),
    outcome          TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'action_required')),
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    created          TIMESTAMPTZ NOT NULL
);

CREATE INDEX payments_user_idx ON payments (user_id, created DESC, id DESC);
