//! The notification vocabulary: types (with their category and whether they are critical),
//! channels and delivery statuses, spelled as on the wire and in the database.

use crate::text_enum;

/// Longest notification title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest notification body, in characters.
pub const MAX_BODY_CHARS: usize = 4000;

text_enum! {
    /// What a notification is about.
    pub enum NotificationType {
        /// A task failed (its alert rule's condition started to hold, or holds again).
        TaskFailed = "TASK_FAILED",
        /// A task succeeded after an alerting failure.
        TaskRecovered = "TASK_RECOVERED",
        /// A task succeeded (a `SUCCESS` rule).
        TaskSucceeded = "TASK_SUCCEEDED",
        /// An execution ran longer than a `DURATION_OVER` rule allows.
        TaskSlow = "TASK_SLOW",
        /// A task was set to `FAILED` after repeated failures.
        TaskAutoPaused = "TASK_AUTO_PAUSED",
        /// A run started later than its rule allows.
        TaskLate = "TASK_LATE",
        /// No successful run within a window.
        TaskMissed = "TASK_MISSED",
        /// Something about the account's security.
        SecurityAlert = "SECURITY_ALERT",
        /// Billing.
        Billing = "BILLING",
        /// A report is ready.
        ReportReady = "REPORT_READY",
        /// A message from the operators.
        System = "SYSTEM",
    }
}

text_enum! {
    /// The group a notification type belongs to.
    pub enum NotificationCategory {
        /// Task outcomes and alerts.
        Tasks = "TASKS",
        /// Security and account.
        Security = "SECURITY",
        /// Billing.
        Billing = "BILLING",
        /// Reports.
        Reports = "REPORTS",
        /// Operators' messages.
        System = "SYSTEM",
    }
}

impl NotificationType {
    /// The category the type belongs to.
    pub fn category(self) -> NotificationCategory {
        use NotificationType as T;
        match self {
            T::TaskFailed
            | T::TaskRecovered
            | T::TaskSucceeded
            | T::TaskSlow
            | T::TaskAutoPaused
            | T::TaskLate
            | T::TaskMissed => NotificationCategory::Tasks,
            T::SecurityAlert => NotificationCategory::Security,
            T::Billing => NotificationCategory::Billing,
            T::ReportReady => NotificationCategory::Reports,
            T::System => NotificationCategory::System,
        }
    }

    /// Whether the type is critical (security and account): it ignores quiet hours and its
    /// email cannot be turned off.
    pub fn critical(self) -> bool {
        matches!(
            self,
            NotificationType::SecurityAlert | NotificationType::Billing
        )
    }
}

text_enum! {
    /// A way a notification reaches its recipient.
    pub enum Channel {
        /// Stored, listed by the API and pushed over Socket.IO.
        InApp = "IN_APP",
        /// An email through the configured SMTP server.
        Email = "EMAIL",
        /// A signed POST to each of the recipient's webhook endpoints.
        Webhook = "WEBHOOK",
    }
}

text_enum! {
    /// Where one channel's delivery of a notification is; it only moves forward.
    pub enum DeliveryStatus {
        /// Waiting to be sent (or to be retried).
        Queued = "QUEUED",
        /// Handed to the provider (the SMTP server accepted it).
        Sent = "SENT",
        /// The recipient has it (in-app: stored and pushed).
        Delivered = "DELIVERED",
        /// It could not be delivered; `last_error` says why.
        Undelivered = "UNDELIVERED",
        /// The provider reported a bounce.
        Bounced = "BOUNCED",
        /// The channel is not set up or is turned off: not a failure.
        NotSent = "NOT_SENT",
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Why an email delivery is `NOT_SENT` when the server has no SMTP.
pub const SMTP_NOT_CONFIGURED: &str = "SMTP is not configured (SMTP_URL, SMTP_FROM)";

/// Why a webhook delivery is `NOT_SENT` when the recipient has no endpoint.
pub const NO_WEBHOOK_ENDPOINT: &str =
    "no webhook endpoint is set up (POST /notifications/webhooks)";

/// The delivery row a channel starts with (webhooks: for each endpoint; without one, the
/// row is `NOT_SENT` with [`NO_WEBHOOK_ENDPOINT`]).
pub fn initial_status(
    channel: Channel,
    email_ready: bool,
) -> (DeliveryStatus, Option<&'static str>) {
    match channel {
        Channel::InApp => (DeliveryStatus::Delivered, None),
        Channel::Email if email_ready => (DeliveryStatus::Queued, None),
        Channel::Email => (DeliveryStatus::NotSent, Some(SMTP_NOT_CONFIGURED)),
        Channel::Webhook => (DeliveryStatus::Queued, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_types_are_tasks_and_only_security_and_billing_are_critical() {
        for kind in NotificationType::ALL {
            let task = kind.as_str().starts_with("TASK_");
            assert_eq!(
                kind.category() == NotificationCategory::Tasks,
                task,
                "{kind}"
            );
            assert_eq!(
                kind.critical(),
                matches!(
                    kind,
                    NotificationType::SecurityAlert | NotificationType::Billing
                )
            );
        }
    }

    #[test]
    fn truncation_keeps_the_limit() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate(&"é".repeat(300), MAX_TITLE_CHARS);
        assert_eq!(cut.chars().count(), MAX_TITLE_CHARS);
        assert!(cut.ends_with('…'));
    }
}
