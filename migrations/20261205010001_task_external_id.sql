-- A task's identifier in the system it was imported from: task imports match on it (unique
-- per owner), exports carry it.
ALTER TABLE tasks ADD COLUMN external_id TEXT
    CONSTRAINT tasks_external_id_length CHECK (char_length(external_id) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX tasks_owner_external_id_key ON tasks (owner_id, external_id);
