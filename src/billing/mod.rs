//! Billing: plans and their limits, subscriptions, and Stripe.
//!
//! [`plans`] holds the plans and decides an account's effective plan; [`limits`] checks the
//! plan where tasks, API keys, alert rules and executions are created; [`usage`] reports
//! what an account uses; [`routes`] serves `/billing`. Without `STRIPE_SECRET_KEY` billing
//! is off and every account has the default plan (unlimited `ENTERPRISE` by default).

pub mod limits;
pub mod plan_code;
pub mod plans;
pub mod policy;
pub mod routes;
pub mod usage;

pub use policy::PlanPolicy;
