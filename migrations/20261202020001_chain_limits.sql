-- Chain limits. Every chained execution records the root of its chain and its depth; the
-- root counts the chained executions queued under it (the budget); a task opts in to chain
-- cycles; the planned-run ledger records chains stopped by a limit.

-- Whether chains that close a cycle through this task may be saved (docs/TRIGGERS.md).
ALTER TABLE tasks ADD COLUMN allow_cycles BOOLEAN NOT NULL DEFAULT false;

-- The execution that started this one's chain; NULL on a root (an execution not started by
-- a chain). Retries keep the root of the attempt they retry. No foreign key: a root pruned by
-- retention must not turn its descendants into fresh roots with a fresh budget.
ALTER TABLE executions ADD COLUMN root_execution_id UUID;
-- On a root: how many chained executions were queued under it so far. Updated only while
-- the root row is locked, so concurrent endings cannot both take the last slot.
ALTER TABLE executions ADD COLUMN chain_executions INTEGER NOT NULL DEFAULT 0
    CHECK (chain_executions >= 0);

-- Ledger entries of chains name the execution whose ending would have started them.
ALTER TABLE planned_runs ADD COLUMN source_execution_id UUID;
ALTER TABLE planned_runs DROP CONSTRAINT planned_runs_reason_check;
ALTER TABLE planned_runs ADD CONSTRAINT planned_runs_reason_check CHECK (reason IN
    ('SKIPPED_CONCURRENCY', 'OUTSIDE_CATCH_UP', 'PAUSED', 'AFTER_END',
     'CHAIN_DEPTH', 'CHAIN_BUDGET'));
-- Schedule slots (no source) stay unique per task and slot; a chain entry is unique per
-- source execution, so a repeated follow-up records nothing twice. The key uses a generated
-- column rather than `UNIQUE NULLS NOT DISTINCT`, which needs PostgreSQL 15.
ALTER TABLE planned_runs ADD COLUMN slot_source UUID NOT NULL GENERATED ALWAYS AS
    (COALESCE(source_execution_id, '00000000-0000-0000-0000-000000000000'::uuid)) STORED;
ALTER TABLE planned_runs DROP CONSTRAINT planned_runs_task_slot_key;
ALTER TABLE planned_runs ADD CONSTRAINT planned_runs_task_slot_key
    UNIQUE (task_id, scheduled_for, slot_source);
