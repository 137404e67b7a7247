-- The tasks API: tasks belong to real accounts, and the list filters have indexes.

-- A task's owner is a user. Accounts are soft-deleted, so the cascade only follows a hard
-- delete by an operator.
ALTER TABLE tasks
    ADD CONSTRAINT tasks_owner_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE;

-- `GET /tasks?tag=…`
CREATE INDEX tasks_tags_idx ON tasks USING GIN (tags);
-- Sorting one owner's tasks by name or next run.
CREATE INDEX tasks_owner_name_idx ON tasks (owner_id, name, id);
CREATE INDEX tasks_owner_next_run_idx ON tasks (owner_id, next_run_at, id);
