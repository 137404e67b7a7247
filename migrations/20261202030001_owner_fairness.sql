-- Fair share between accounts and inactive owners.
--
-- Executions carry their task's owner (denormalised, set on insert by a trigger, so every
-- path that queues work fills it without joining tasks later): workers claim round-robin
-- over the owners with queued work, cap each owner's running executions, and count each
-- owner's queued executions, all from the indexes below.

ALTER TABLE executions ADD COLUMN owner_id UUID;
UPDATE executions e SET owner_id = t.owner_id FROM tasks t WHERE t.id = e.task_id;
ALTER TABLE executions ALTER COLUMN owner_id SET NOT NULL;

CREATE FUNCTION executions_fill_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.owner_id IS NULL THEN
        SELECT owner_id INTO NEW.owner_id FROM tasks WHERE id = NEW.task_id;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER executions_fill_owner BEFORE INSERT ON executions
    FOR EACH ROW EXECUTE FUNCTION executions_fill_owner();

-- The claim walks the owners with queued work (a skip scan) and each one's oldest rows;
-- the queue cap counts an owner's queued rows.
CREATE INDEX executions_owner_queued_idx ON executions (owner_id, run_after)
    WHERE status = 'QUEUED';
-- The running cap counts an owner's running rows; an account's deactivation finds them.
CREATE INDEX executions_owner_running_idx ON executions (owner_id)
    WHERE status = 'RUNNING';

-- New ledger reasons: the owner's account was not active, or the owner's queue was full.
ALTER TABLE planned_runs DROP CONSTRAINT planned_runs_reason_check;
ALTER TABLE planned_runs ADD CONSTRAINT planned_runs_reason_check CHECK (reason IN
    ('SKIPPED_CONCURRENCY', 'OUTSIDE_CATCH_UP', 'PAUSED', 'AFTER_END',
     'CHAIN_DEPTH', 'CHAIN_BUDGET', 'OWNER_INACTIVE', 'QUEUE_FULL'));
