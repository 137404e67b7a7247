-- The secrets vault: named values per owner, encrypted with AES-256-GCM under a master key.
-- owner_id gets its foreign key to users once the identity tables exist.
CREATE TABLE secrets (
    id          UUID PRIMARY KEY,
    owner_id    UUID NOT NULL,
    name        TEXT NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$'),
    description TEXT CHECK (char_length(description) <= 500),
    -- Self-describing sealed value: format byte, key id, nonce, ciphertext and tag.
    ciphertext  BYTEA NOT NULL,
    -- The key that sealed the value, so rotation finds the rows still under an old key.
    key_id      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT secrets_owner_name_key UNIQUE (owner_id, name)
);

CREATE INDEX secrets_key_id_idx ON secrets (key_id, id);
