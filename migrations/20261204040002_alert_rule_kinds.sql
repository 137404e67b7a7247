-- More alert rule kinds: a failure rate over a window, late starts and missed runs (a dead
-- man's switch, checked periodically: `missed_checked_at` is when the check last looked).
ALTER TABLE alert_rules
    DROP CONSTRAINT alert_rules_kind_check,
    ADD CONSTRAINT alert_rules_kind_check
        CHECK (kind IN ('CONSECUTIVE_FAILURES', 'RECOVERY', 'SUCCESS', 'DURATION_OVER',
                        'FAILURE_RATE', 'LATE_START', 'MISSED'));
CREATE INDEX alert_rules_missed_idx ON alert_rules (task_id) WHERE kind = 'MISSED';
-- The latest successful run of a task, found without scanning its history.
CREATE INDEX executions_task_succeeded_idx ON executions (task_id, finished_at DESC)
    WHERE status = 'SUCCEEDED';
-- A task's latest ended executions, for FAILURE_RATE windows.
CREATE INDEX executions_task_ended_idx ON executions (task_id, finished_at DESC)
    WHERE status IN ('SUCCEEDED', 'DEAD', 'TIMED_OUT');
