//! Billing: plans and their limits, subscriptions, and Stripe.
//!
//! [`plans`] holds the plans and decides an account's effective plan; [`limits`] checks the
//! plan where tasks, API keys, alert rules and executions are created; [`usage`] reports
//! what an account uses; [`routes`] serves `/billing`, [`history`] the invoices and payments;
//! [`webhook`] receives Stripe's events ([`signature`], [`stripe_objects`]) and [`apply`]
//! writes their effects; [`checkout`] and [`changes`] call Stripe's API ([`stripe_api`],
//! [`customer`]) to start, change, cancel and resume subscriptions; [`notices`] tells owners
//! at 80 % and 100 % of their monthly executions. Without `STRIPE_SECRET_KEY` billing
//! is off and every account has the default plan (unlimited `ENTERPRISE` by default).

pub mod admin;
pub mod apply;
pub mod changes;
pub mod checkout;
pub mod customer;
pub mod downgrade;
pub mod history;
pub mod limits;
pub mod notices;
pub mod plan_code;
pub mod plans;
pub mod policy;
pub mod routes;
pub mod signature;
pub mod stripe_api;
pub mod stripe_objects;
pub mod usage;
pub mod webhook;

pub use policy::PlanPolicy;
pub use stripe_api::StripeApi;
