//! The built-in templates every user sees, identified by a slug.

use serde_json::{Value, json};

use super::{
    Template,
    render::{TemplateVariable, VariableKind},
};

/// A variable with an example (required when `default` is `None`).
fn variable(
    name: &str,
    kind: VariableKind,
    description: &str,
    default: Option<Value>,
    example: Value,
) -> TemplateVariable {
    TemplateVariable {
        name: name.to_owned(),
        description: description.to_owned(),
        kind,
        default,
        example: Some(example),
    }
}

fn builtin(
    id: &str,
    name: &str,
    description: &str,
    variables: Vec<TemplateVariable>,
    definition: Value,
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

/// A zone variable defaulting to UTC.
fn timezone() -> TemplateVariable {
    variable(
        "timezone",
        VariableKind::String,
        "IANA time zone of the schedule",
        Some(json!("UTC")),
        json!("Europe/Berlin"),
    )
}

/// Every built-in template.
pub fn builtins() -> Vec<Template> {
    vec![
        uptime_check(),
        email_on_failure(),
        daily_digest(),
        nightly_row_count(),
        notion_append(),
        webhook_relay(),
        script_transform(),
        json_api_assertion(),
    ]
}

fn uptime_check() -> Template {
    builtin(
        "http-uptime-check",
        "HTTP uptime check every 5 minutes",
        "GETs a URL every five minutes and fails unless it answers 2xx or 3xx within the \
         latency limit; retried once, and paused after 12 dead runs in a row (an hour down). \
         Add `email-on-failure` chained to it to be told.",
        vec![
            variable(
                "url",
                VariableKind::String,
                "The URL to check",
                None,
                json!("https://shop.example.com/health"),
            ),
            variable(
                "max_latency_ms",
                VariableKind::Number,
                "Slower answers count as failures",
                Some(json!(5000)),
                json!(2000),
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
    )
}

fn email_on_failure() -> Template {
    builtin(
        "email-on-failure",
        "Email when a task fails",
        "Chained after one of your tasks (an uptime check, say): when an execution of it ends \
         DEAD, this emails the error and the outcome. Uses the server's SMTP settings.",
        vec![
            variable(
                "watched_task_id",
                VariableKind::String,
                "The task to watch (its id)",
                None,
                json!("0193f1c2-7d1e-7c3a-9f55-2b1e4a6c8d90"),
            ),
            variable(
                "to",
                VariableKind::String,
                "Who is told",
                None,
                json!("oncall@example.com"),
            ),
        ],
        json!({
            "name": "Email {{ vars.to }} when a task fails",
            "tags": ["alerting"],
            "action": {"type": "EMAIL_SEND", "config": {
                "to": ["{{ vars.to }}"],
                "subject": "Nocron: a task failed ({{ input.source.status | default('DEAD') }})",
                "text": "Task {{ input.source.task_id | default('?') }} ended {{ input.source.status | default('DEAD') }} after {{ input.source.attempt | default('?') }} attempt(s).\n\nError: {{ input.error | default('none') }}\nExecution: {{ input.source.execution_id | default('?') }}\n"
            }},
            "retry": {"max_attempts": 5, "initial_delay_seconds": 30},
            "chain": {"source_task_id": "{{ vars.watched_task_id }}", "on": "DEAD"}
        }),
    )
}

fn daily_digest() -> Template {
    builtin(
        "daily-digest-email",
        "Daily digest email",
        "Sends an email every morning at 08:00 in your time zone; chain it after a query or \
         a script to mail their result (available as `result`).",
        vec![
            variable(
                "to",
                VariableKind::String,
                "Recipient",
                None,
                json!("team@example.com"),
            ),
            variable(
                "subject",
                VariableKind::String,
                "Subject line",
                Some(json!("Daily digest")),
                json!("Shop: yesterday in numbers"),
            ),
            timezone(),
        ],
        json!({
            "name": "Daily digest to {{ vars.to }}",
            "tags": ["digest"],
            "action": {"type": "EMAIL_SEND", "config": {
                "to": ["{{ vars.to }}"],
                "subject": "{{ vars.subject }}",
                "text": "Good morning.\n\n{% if result %}{{ result | tojson }}{% else %}Nothing new since yesterday.{% endif %}\n"
            }},
            "schedule": {"cron": "0 8 * * *", "timezone": "{{ vars.timezone }}"},
            "concurrency_policy": "SKIP",
            "catch_up_policy": "LATEST"
        }),
    )
}

fn nightly_row_count() -> Template {
    builtin(
        "nightly-row-count",
        "Nightly database row count",
        "Counts the rows of a table in your PostgreSQL every night at 02:00 (read-only, the \
         table name is quoted by the server, never spliced). The connection URL is a secret.",
        vec![
            variable(
                "table",
                VariableKind::String,
                "The table to count",
                None,
                json!("orders"),
            ),
            variable(
                "connection_secret",
                VariableKind::String,
                "Name of the secret holding the postgres:// URL",
                Some(json!("PG_URL")),
                json!("SHOP_DB_URL"),
            ),
            timezone(),
        ],
        json!({
            "name": "Row count: {{ vars.table }}",
            "tags": ["database"],
            "action": {"type": "DATABASE_QUERY", "config": {
                "connection": "{{ secrets.{{ vars.connection_secret }} }}",
                "sql": "SELECT $1::text AS table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I', $1::text), false, true, '')))[1]::text::bigint AS row_count",
                "params": ["{{ vars.table }}"],
                "max_rows": 1
            }},
            "schedule": {"cron": "0 2 * * *", "timezone": "{{ vars.timezone }}"},
            "retry": {"max_attempts": 3, "initial_delay_seconds": 60},
            "concurrency_policy": "SKIP"
        }),
    )
}

fn notion_append() -> Template {
    builtin(
        "notion-database-append",
        "Notion database append",
        "Adds a page to a Notion database each time it runs, titled from the input's `title` \
         (a webhook delivery's body, an API call's input, a chained task's result). Uses your \
         Notion connection (`/notion/oauth/authorize`).",
        vec![
            variable(
                "database_id",
                VariableKind::String,
                "The Notion database (shared with the integration)",
                None,
                json!("0b0c2ee7d6e44f4d8ea3bb0e6c5f0f1a"),
            ),
            variable(
                "title_property",
                VariableKind::String,
                "The database's title property",
                Some(json!("Name")),
                json!("Task"),
            ),
        ],
        json!({
            "name": "Append to Notion database {{ vars.database_id }}",
            "tags": ["notion"],
            "action": {"type": "NOTION_SYNC", "config": {
                "operation": "create_page",
                "database_id": "{{ vars.database_id }}",
                "properties": {
                    "{{ vars.title_property }}": {"title": "{{ input.title | default(input.body.title | default('Nocron run')) }}"}
                }
            }},
            "retry": {"max_attempts": 4, "initial_delay_seconds": 10}
        }),
    )
}

fn webhook_relay() -> Template {
    builtin(
        "webhook-relay",
        "Webhook relay",
        "Forwards whatever triggers it (a webhook delivery, an API call, another task's \
         result) as JSON to another URL; retried with backoff until the target takes it.",
        vec![variable(
            "target_url",
            VariableKind::String,
            "Where to forward to",
            None,
            json!("https://hooks.example.com/in"),
        )],
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
    )
}

fn script_transform() -> Template {
    builtin(
        "script-transform",
        "Script transform",
        "Reshapes its input with a sandboxed Rhai script and returns the result, for the task \
         chained after it. The default script keeps a webhook's body and counts its items.",
        vec![variable(
            "source",
            VariableKind::String,
            "The Rhai script; `input` is the trigger's input, the last expression the result",
            Some(json!(
                "let body = if \"body\" in input { input.body } else { input };\nlet count = if type_of(body) == \"array\" { body.len() } else { 1 };\nlog(`transformed ${count} item(s)`);\n#{ items: body, count: count }"
            )),
            json!("#{ total: input.amount * 1.2 }"),
        )],
        json!({
            "name": "Transform",
            "tags": ["script"],
            "action": {"type": "CUSTOM_SCRIPT", "config": {"source": "{{ vars.source }}"}},
            "timeout_seconds": 10,
            "retry": {"max_attempts": 1}
        }),
    )
}

fn json_api_assertion() -> Template {
    builtin(
        "json-api-assertion",
        "JSON API check every hour",
        "Calls a JSON API every hour and fails unless the value at a JSON pointer equals what \
         you expect (for example `/status` equals \"ok\").",
        vec![
            variable(
                "url",
                VariableKind::String,
                "The API endpoint",
                None,
                json!("https://api.example.com/health"),
            ),
            variable(
                "pointer",
                VariableKind::String,
                "JSON pointer into the answer",
                Some(json!("/status")),
                json!("/database/status"),
            ),
            variable(
                "expected",
                VariableKind::String,
                "The value expected there",
                Some(json!("ok")),
                json!("up"),
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
    )
}
