//! Scheduling: cron evaluation in IANA time zones with explicit daylight-saving rules
//! ([`cron`]) and the endpoint that explains an expression ([`explain`]).

pub mod cron;
pub mod explain;
