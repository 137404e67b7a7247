-- Registrations waiting for their email to be confirmed (REGISTRATION_EMAIL_VERIFICATION).
-- Kept apart from `users` so an unconfirmed address has no account: signing in with it
-- behaves exactly as with an unknown email. Each attempt has its own token, so a stranger
-- registering the same address cannot void the owner's; confirming one removes the others.
CREATE TABLE pending_registrations (
    -- SHA-256 of the single-use verification token mailed to the address.
    token_hash    BYTEA PRIMARY KEY,
    email         CITEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX pending_registrations_email_idx ON pending_registrations (email);
CREATE INDEX pending_registrations_expiry_idx ON pending_registrations (expires_at);
