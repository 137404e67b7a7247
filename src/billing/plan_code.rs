//! The plans' codes and the subscription statuses, as stored and as on the wire.

use crate::text_enum;

text_enum! {
    /// A plan.
    pub enum PlanCode {
        /// The smallest plan; the default for accounts without a subscription when billing is on.
        Basic = "BASIC",
        /// The middle plan.
        Pro = "PRO",
        /// The largest plan, unlimited; the default when billing is off.
        Enterprise = "ENTERPRISE",
    }
}

text_enum! {
    /// Where a subscription is, as Stripe names it.
    pub enum SubscriptionStatus {
        /// In its trial: the plan applies.
        Trialing = "trialing",
        /// Paid: the plan applies.
        Active = "active",
        /// A payment failed: the plan applies during the grace (`BILLING_GRACE_DAYS`).
        PastDue = "past_due",
        /// Ended: the default plan applies.
        Canceled = "canceled",
        /// The first payment has not gone through: the default plan applies.
        Incomplete = "incomplete",
        /// Payments failed for good: the default plan applies.
        Unpaid = "unpaid",
    }
}
