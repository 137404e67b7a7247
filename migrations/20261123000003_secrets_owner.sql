-- A secret's owner is a user (the identity tables exist now). Accounts are soft-deleted, so
-- the cascade only follows a hard delete by an operator.
ALTER TABLE secrets
    ADD CONSTRAINT secrets_owner_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE;
