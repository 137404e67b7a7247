-- Start lateness: how long after it was due (`run_after`: its slot, plus any jitter or
-- retry delay) a worker started each attempt, in milliseconds. Written by the claim; the
-- same figure feeds the `nocron_execution_start_lateness_seconds` histogram.

ALTER TABLE executions ADD COLUMN lateness_ms BIGINT
    CONSTRAINT executions_lateness_ms_check CHECK (lateness_ms >= 0);
