//! Analytics of a user's own executions: `GET /analytics/summary` (a period's figures beside
//! the previous period of equal length, [`summary`]) and `GET /analytics/dashboard` (the
//! same figures bucketed by hour, day, week or month in the caller's time zone, [`series`]),
//! both also under `/api/v1/analytics` for API keys with `analytics:read`. [`period`]
//! validates the range, time zone and bucket every endpoint takes; [`figures`] holds the
//! figures the dashboard shares.

pub mod figures;
pub mod period;
pub mod series;
pub mod summary;
