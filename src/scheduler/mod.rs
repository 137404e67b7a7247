//! Scheduling: cron evaluation in IANA time zones with explicit daylight-saving rules.
//! The dispatcher and workers build on [`cron::CronSchedule`].

pub mod cron;
