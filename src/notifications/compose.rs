//! What a notification says: its title, body, link and data for each type an alert rule
//! sends, and the email (subject, plain text and HTML) rendered from built-in minijinja
//! templates within the template limits.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    model::{MAX_BODY_CHARS, MAX_TITLE_CHARS, NotificationType, truncate},
    rules::ExecutionEnded,
};
use crate::email::{EmailError, EmailSpec, RenderedEmail};

/// A notification's content before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// One line.
    pub title: String,
    /// The text.
    pub body: String,
    /// Where in the app it leads.
    pub link: String,
    /// Structured details (task, execution, status, …).
    pub data: Value,
}

/// The content of a `kind` notification about `ended`, for the task named `task_name`.
pub fn for_execution(kind: NotificationType, task_name: &str, ended: &ExecutionEnded) -> Content {
    let name = truncate(task_name, 120);
    let (title, body) = match kind {
        NotificationType::TaskFailed => (
            format!("Task \u{201c}{name}\u{201d} failed"),
            format!(
                "{} failed execution{} in a row. Last status: {}{}",
                ended.consecutive_failures,
                if ended.consecutive_failures == 1 {
                    ""
                } else {
                    "s"
                },
                ended.status,
                ended
                    .error
                    .as_deref()
                    .map(|e| format!(". Error: {e}"))
                    .unwrap_or_default()
            ),
        ),
        NotificationType::TaskRecovered => (
            format!("Task \u{201c}{name}\u{201d} recovered"),
            "The task succeeded again after failing.".to_owned(),
        ),
        NotificationType::TaskSucceeded => (
            format!("Task \u{201c}{name}\u{201d} succeeded"),
            "The execution succeeded.".to_owned(),
        ),
        NotificationType::TaskSlow => (
            format!("Task \u{201c}{name}\u{201d} ran long"),
            format!(
                "The execution took {} ms.",
                ended.duration_ms.unwrap_or_default()
            ),
        ),
        NotificationType::TaskLate => (
            format!("Task \u{201c}{name}\u{201d} started late"),
            format!(
                "The execution started {} ms after it was due.",
                ended.lateness_ms.unwrap_or_default()
            ),
        ),
        other => (format!("{other}: {name}"), String::new()),
    };
    Content {
        title: truncate(&title, MAX_TITLE_CHARS),
        body: truncate(&body, MAX_BODY_CHARS),
        link: format!("/tasks/{}/executions/{}", ended.task_id, ended.execution_id),
        data: json!({
            "task_id": ended.task_id,
            "task_name": task_name,
            "execution_id": ended.execution_id,
            "status": ended.status,
            "attempt": ended.attempt,
            "duration_ms": ended.duration_ms,
            "consecutive_failures": ended.consecutive_failures,
            "lateness_ms": ended.lateness_ms,
        }),
    }
}

/// The content of a `TASK_AUTO_PAUSED` notification: the engine set the task named
/// `task_name` to `FAILED` after `failures` dead executions in a row.
pub fn auto_paused(task_id: Uuid, task_name: &str, failures: i32) -> Content {
    let name = truncate(task_name, 120);
    Content {
        title: truncate(
            &format!("Task \u{201c}{name}\u{201d} was paused after repeated failures"),
            MAX_TITLE_CHARS,
        ),
        body: truncate(
            &format!(
                "{failures} executions in a row failed, which reached the task's \
                 auto_pause_after_failures. It will not run again until you resume it."
            ),
            MAX_BODY_CHARS,
        ),
        link: format!("/tasks/{task_id}"),
        data: json!({
            "task_id": task_id,
            "task_name": task_name,
            "consecutive_failures": failures,
        }),
    }
}

/// The content of a `TASK_MISSED` notification: the task named `task_name` has had no
/// successful run for `minutes` minutes.
pub fn missed(
    task_id: Uuid,
    task_name: &str,
    minutes: i64,
    last_success: Option<DateTime<Utc>>,
) -> Content {
    let name = truncate(task_name, 120);
    let since = match last_success {
        Some(at) => format!("The last successful run was at {}.", at.to_rfc3339()),
        None => "It has never run successfully.".to_owned(),
    };
    Content {
        title: truncate(
            &format!("Task \u{201c}{name}\u{201d} missed its window"),
            MAX_TITLE_CHARS,
        ),
        body: truncate(
            &format!("No successful run for {minutes} minutes. {since}"),
            MAX_BODY_CHARS,
        ),
        link: format!("/tasks/{task_id}"),
        data: json!({
            "task_id": task_id,
            "task_name": task_name,
            "minutes": minutes,
            "last_success_at": last_success,
        }),
    }
}

const SUBJECT: &str = "[Nocron] {{ title }}";
const TEXT: &str = "{{ title }}\n\n{{ body }}\n{% if link %}\nOpen: {{ link }}\n{% endif %}";
const HTML: &str = "<!doctype html><html><body style=\"font-family:sans-serif\">\
<h2>{{ title }}</h2><p>{{ body }}</p>\
{% if link %}<p><a href=\"{{ link }}\">Open in Nocron</a></p>{% endif %}\
{% if pixel %}<img src=\"{{ pixel }}\" width=\"1\" height=\"1\" alt=\"\">{% endif %}\
</body></html>";

/// The email of a notification to `recipient`, rendered with the built-in templates within
/// the installed template limits (the HTML part auto-escaped). `link` is where "Open" leads
/// (the tracked address when tracking is on); `pixel`, the open-tracking image's address.
pub fn email(
    recipient: &str,
    title: &str,
    body: &str,
    link: Option<&str>,
    pixel: Option<&str>,
) -> Result<RenderedEmail, EmailError> {
    let spec = EmailSpec {
        to: vec!["{{ recipient }}".to_owned()],
        cc: Vec::new(),
        bcc: Vec::new(),
        reply_to: None,
        subject: SUBJECT.to_owned(),
        text: Some(TEXT.to_owned()),
        html: Some(HTML.to_owned()),
    };
    spec.render(&json!({
        "recipient": recipient,
        "title": title,
        "body": body,
        "link": link,
        "pixel": pixel,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::model::ExecutionStatus;

    #[test]
    fn a_failure_names_the_task_and_the_error() {
        let ended = ExecutionEnded {
            execution_id: Uuid::nil(),
            task_id: Uuid::nil(),
            owner_id: Uuid::nil(),
            status: ExecutionStatus::Dead,
            attempt: 1,
            duration_ms: Some(3),
            error: Some("HTTP 500".into()),
            consecutive_failures: 2,
            lateness_ms: None,
        };
        let content = for_execution(NotificationType::TaskFailed, "Nightly", &ended);
        assert_eq!(content.title, "Task \u{201c}Nightly\u{201d} failed");
        assert!(
            content.body.contains("2 failed executions"),
            "{}",
            content.body
        );
        assert!(content.body.contains("HTTP 500"));
        assert_eq!(content.data["status"], "DEAD");
    }

    #[test]
    fn the_email_has_both_parts_and_escapes_html() {
        let mail =
            email("ann@example.com", "T <b>", "B & c", Some("/tasks/1"), None).expect("render");
        assert_eq!(mail.to[0].to_string(), "ann@example.com");
        assert_eq!(mail.subject, "[Nocron] T <b>");
        assert!(mail.text.as_deref().is_some_and(|t| t.contains("B & c")));
        assert!(
            mail.html
                .as_deref()
                .is_some_and(|h| h.contains("T &lt;b&gt;") && h.contains("B &amp; c"))
        );
    }
}
