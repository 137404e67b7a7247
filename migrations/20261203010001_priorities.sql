-- Priority queues.
--
-- A task has a priority from 0 (lowest) to 9 (default 5); each execution carries one, its
-- task's unless the trigger chose another (a manual run may), filled on insert by the
-- trigger that already fills the owner. Workers claim within each owner by
-- `run_after - priority * PRIORITY_AGEING_SECONDS`, so a higher priority goes first and
-- a lower one that has waited long enough is reached all the same.

ALTER TABLE tasks ADD COLUMN priority SMALLINT NOT NULL DEFAULT 5
    CONSTRAINT tasks_priority_check CHECK (priority BETWEEN 0 AND 9);

ALTER TABLE executions ADD COLUMN priority SMALLINT
    CONSTRAINT executions_priority_check CHECK (priority BETWEEN 0 AND 9);
UPDATE executions SET priority = 5;
ALTER TABLE executions ALTER COLUMN priority SET NOT NULL;

CREATE OR REPLACE FUNCTION executions_fill_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner_id IS NULL OR NEW.priority IS NULL THEN
        SELECT COALESCE(NEW.owner_id, t.owner_id), COALESCE(NEW.priority, t.priority)
          INTO NEW.owner_id, NEW.priority
          FROM tasks t WHERE t.id = NEW.task_id;
    END IF;
    RETURN NEW;
END
$$;
