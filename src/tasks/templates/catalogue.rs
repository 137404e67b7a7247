//! The built-in templates every user sees, identified by a slug.

use serde_json::json;

use super::{
    Template,
    render::{TemplateVariable, VariableKind},
};

fn variable(
    name: &str,
    kind: VariableKind,
    description: &str,
    default: Option<serde_json::Value>,
) -> TemplateVariable {
    TemplateVariable {
        name: name.to_owned(),
        description: description.to_owned(),
        kind,
        default,
    }
}

fn builtin(
    id: &str,
    name: &str,
    description: &str,
    variables: Vec<TemplateVariable>,
    definition: serde_json::Value,
) -> Template {
    Template {
        id: id.to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        builtin: true,
        variables,
        definition,
        created_at: None,
    }
}

/// Every built-in template.
pub fn builtins() -> Vec<Template> {
    use VariableKind::{Number, String};
    vec![
        builtin(
            "http-uptime-check",
            "HTTP uptime check every 5 minutes",
            "GETs a URL every five minutes and fails unless it answers 2xx or 3xx within the \
             latency limit; retried once, and paused after 12 dead runs in a row (an hour down).",
            vec![
                variable("url", String, "The URL to check", None),
                variable(
                    "max_latency_ms",
                    Number,
                    "Slower answers count as failures",
                    Some(json!(5000)),
                ),
            ],
            json!({
                "name": "Uptime: {{ vars.url }}",
                "tags": ["uptime"],
                "action": {"type": "HTTP_REQUEST", "config": {
                    "method": "GET",
                    "url": "{{ vars.url }}",
                    "max_redirects": 3,
                    "success": {"status_codes": ["2xx", "3xx"], "max_latency_ms": "{{ vars.max_latency_ms }}"}
                }},
                "schedule": {"cron": "*/5 * * * *", "timezone": "UTC"},
                "timeout_seconds": 30,
                "retry": {"max_attempts": 2, "initial_delay_seconds": 30},
                "concurrency_policy": "SKIP",
                "catch_up_policy": "LATEST",
                "auto_pause_after_failures": 12
            }),
        ),
        builtin(
            "webhook-relay",
            "Webhook relay",
            "Forwards whatever triggers it (a webhook delivery, an API call, another task's \
             result) as JSON to another URL; retried with backoff until the target takes it.",
            vec![variable("target_url", String, "Where to forward to", None)],
            json!({
                "name": "Relay to {{ vars.target_url }}",
                "tags": ["relay"],
                "action": {"type": "API_CALL", "config": {
                    "method": "POST",
                    "url": "{{ vars.target_url }}",
                    "body": {"type": "input"}
                }},
                "retry": {"max_attempts": 5, "initial_delay_seconds": 10, "max_delay_seconds": 600},
                "concurrency_policy": "ALLOW"
            }),
        ),
        builtin(
            "json-api-assertion",
            "JSON API check every hour",
            "Calls a JSON API every hour and fails unless the value at a JSON pointer equals \
             what you expect (for example `/status` equals \"ok\").",
            vec![
                variable("url", String, "The API endpoint", None),
                variable(
                    "pointer",
                    String,
                    "JSON pointer into the answer",
                    Some(json!("/status")),
                ),
                variable(
                    "expected",
                    String,
                    "The value expected there",
                    Some(json!("ok")),
                ),
            ],
            json!({
                "name": "API check: {{ vars.url }}",
                "tags": ["monitoring"],
                "action": {"type": "API_CALL", "config": {
                    "method": "GET",
                    "url": "{{ vars.url }}",
                    "success": {"json_pointer": "{{ vars.pointer }}", "equals": "{{ vars.expected }}"}
                }},
                "schedule": {"cron": "@hourly", "timezone": "UTC"},
                "retry": {"max_attempts": 3, "initial_delay_seconds": 60},
                "concurrency_policy": "SKIP"
            }),
        ),
    ]
}
