-- Analytics and the dashboard read executions by owner and time, and notifications by
-- recipient and time, over arbitrary ranges.
--
-- `executions_owner_queued_at_idx` carries what the figures need (task, status, run time,
-- lateness), so a user's period is an index-only range scan, not a visit to every row of
-- the hot table. `executions_queued_at_idx` serves the same figures system-wide (admins'
-- dashboard). Deleted notifications were still sent, so their count needs an index that
-- keeps them.
CREATE INDEX executions_owner_queued_at_idx ON executions (owner_id, queued_at)
    INCLUDE (task_id, status, duration_ms, lateness_ms);
CREATE INDEX executions_queued_at_idx ON executions (queued_at);
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at);
