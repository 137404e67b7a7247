//! `EMAIL_SEND`: one message rendered from templates ([`EmailSpec`]) with the execution's
//! variables, sent through the server's SMTP (`SMTP_URL`/`SMTP_FROM`) or the task's own
//! `smtp_url` (normally a secret reference, `{{ secrets.MY_SMTP }}`).
//!
//! The template variables are `input` (the trigger's input), `result` and `results` (a
//! previous result and results by name, when the input carries them) and `execution`
//! (`id`, `task_id`, `attempt`). Templates render within the template limits
//! ([`crate::templating`]); a message has at most `EMAIL_MAX_RECIPIENTS` recipients, and an
//! account sends at most `EMAIL_MAX_PER_HOUR` messages an hour through the server's SMTP
//! (over either limit the execution fails for good, naming it).
//!
//! A task's own SMTP host is resolved through the outbound (SSRF) policy's resolver and the
//! connection made to the checked address, TLS still verifying the certificate against the
//! host name. Transient SMTP failures fail the attempt so the engine retries it.

use std::net::IpAddr;

use futures::future::BoxFuture;
use lettre::message::Mailbox;
use minijinja::Environment;
use serde_json::{Map, Value, json};

use super::{Action, ActionOutcome, ExecutionContext};
use crate::{
    email::{
        EmailError, EmailSpec, Mailer, MailerConfig, SmtpUrl, message::recipients_over_limit, quota,
    },
    error::FieldError,
    templating,
};

const PREFIX: &str = "action.config";

/// A configured EMAIL_SEND action.
#[derive(Debug, Clone)]
pub struct EmailAction {
    spec: EmailSpec,
    smtp_url: Option<String>,
    from: Option<String>,
}

fn field(path: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: if path.is_empty() {
            PREFIX.to_owned()
        } else {
            format!("{PREFIX}.{path}")
        },
        message: message.into(),
    }
}

fn has_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// Splits the configuration into the message spec and the connection fields.
fn parse(config: &Value) -> Result<EmailAction, Vec<FieldError>> {
    let Value::Object(map) = config else {
        return Err(vec![field("", "must be an object")]);
    };
    let mut map: Map<String, Value> = map.clone();
    let mut errors = Vec::new();
    let mut take_string = |map: &mut Map<String, Value>, name: &str| match map.remove(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => {
            errors.push(field(name, "must be a string"));
            None
        }
    };
    let smtp_url = take_string(&mut map, "smtp_url");
    let from = take_string(&mut map, "from");
    let spec: Option<EmailSpec> =
        match serde_path_to_error::deserialize::<_, EmailSpec>(Value::Object(map)) {
            Ok(spec) => Some(spec),
            Err(err) => {
                let path = err.path().to_string();
                let path = if path == "." { String::new() } else { path };
                errors.push(field(&path, err.into_inner().to_string()));
                None
            }
        };
    match spec {
        Some(spec) if errors.is_empty() => Ok(EmailAction {
            spec,
            smtp_url,
            from,
        }),
        _ => Err(errors),
    }
}

/// Checks an EMAIL_SEND configuration as saved: shape, template syntax, literal addresses,
/// and a literal `smtp_url`/`from`.
pub fn validate(config: &Value) -> Vec<FieldError> {
    let action = match parse(config) {
        Ok(action) => action,
        Err(errors) => return errors,
    };
    let spec = &action.spec;
    let mut errors = Vec::new();
    let env = Environment::new();
    let settings = templating::settings();
    let mut check_template = |path: String, source: &str| {
        if let Err(err) = env.template_from_str(source) {
            errors.push(field(&path, format!("template error: {err}")));
            return false;
        }
        if let Err(err) = templating::check_bounds(&settings.template, source) {
            errors.push(field(&path, err.message));
            return false;
        }
        true
    };
    let mut address_fields = Vec::new();
    for (name, list) in [("to", &spec.to), ("cc", &spec.cc), ("bcc", &spec.bcc)] {
        for (i, item) in list.iter().enumerate() {
            address_fields.push((format!("{name}[{i}]"), item.as_str()));
        }
    }
    if let Some(reply_to) = &spec.reply_to {
        address_fields.push(("reply_to".to_owned(), reply_to.as_str()));
    }
    let mut literal_addresses = Vec::new();
    for (path, source) in &address_fields {
        if check_template(path.clone(), source) && !has_template(source) {
            literal_addresses.push((path.clone(), *source));
        }
    }
    check_template("subject".into(), &spec.subject);
    if let Some(text) = &spec.text {
        check_template("text".into(), text);
    }
    if let Some(html) = &spec.html {
        check_template("html".into(), html);
    }
    for (path, address) in literal_addresses {
        if address.contains(['\r', '\n']) || address.trim().parse::<Mailbox>().is_err() {
            errors.push(field(
                &path,
                format!("{:?} is not a valid email address", address.trim()),
            ));
        }
    }
    if spec.to.is_empty() && spec.cc.is_empty() && spec.bcc.is_empty() {
        errors.push(field("to", "at least one recipient is required"));
    }
    let recipients = spec.to.len() + spec.cc.len() + spec.bcc.len();
    if recipients > settings.email_max_recipients {
        errors.push(field(
            "to",
            recipients_over_limit(recipients, settings.email_max_recipients),
        ));
    }
    if spec.text.is_none() && spec.html.is_none() {
        errors.push(field("text", "give a text or an html body (or both)"));
    }
    if let Some(url) = &action.smtp_url
        && !has_template(url)
        && let Err(message) = SmtpUrl::parse(url)
    {
        errors.push(field("smtp_url", message));
    }
    if action.from.is_some() && action.smtp_url.is_none() {
        errors.push(field(
            "from",
            "can only be set with smtp_url (the server's SMTP sends as SMTP_FROM; use reply_to)",
        ));
    } else if let Some(from) = &action.from
        && !has_template(from)
        && from.trim().parse::<Mailbox>().is_err()
    {
        errors.push(field(
            "from",
            format!("{:?} is not a valid email address", from.trim()),
        ));
    }
    errors
}

impl EmailAction {
    /// Parses a configuration whose secret references are resolved.
    pub fn from_config(config: &Value) -> Result<Self, Vec<FieldError>> {
        parse(config)
    }

    /// The template variables for one execution.
    fn variables(context: &ExecutionContext) -> Value {
        let input = &context.input;
        json!({
            "input": input,
            "result": input.get("result").cloned().unwrap_or(Value::Null),
            "results": input.get("results").cloned().unwrap_or_else(|| json!({})),
            "execution": {
                "id": context.execution_id,
                "task_id": context.task_id,
                "attempt": context.attempt,
            },
        })
    }

    /// The mailer for this task: its own `smtp_url` (checked against the outbound policy)
    /// or the server's.
    async fn mailer(&self, context: &ExecutionContext) -> Result<Mailer, String> {
        let services = &context.services;
        let Some(url) = &self.smtp_url else {
            let Some(server) = &services.mailer else {
                return Err("no SMTP server: the server has no SMTP_URL/SMTP_FROM and the task gives no smtp_url".into());
            };
            return match &self.from {
                None => Ok(server.clone()),
                Some(_) => Err(
                    "from can only be set together with smtp_url (the server's SMTP sends as SMTP_FROM)"
                        .into(),
                ),
            };
        };
        let url = SmtpUrl::parse(url).map_err(|message| format!("smtp_url: {message}"))?;
        // Connect to the address that was checked, so a second lookup cannot answer
        // differently (DNS rebinding); with TLS the name stays for SNI and the certificate.
        let checked = check_host(context, &url.host, url.port).await?;
        let from_text = match (&self.from, &services.mailer) {
            (Some(from), _) => from.clone(),
            (None, Some(server)) => server.from().to_string(),
            (None, None) => {
                return Err(
                    "from is required with smtp_url when the server has no SMTP_FROM".into(),
                );
            }
        };
        let from = from_text
            .trim()
            .parse::<Mailbox>()
            .map_err(|_| format!("from: {:?} is not a valid email address", from_text.trim()))?;
        Mailer::new(&MailerConfig {
            url,
            from,
            timeout: services.smtp_timeout,
            ca_file: services.smtp_ca_file.clone(),
            connect_to: Some(checked),
        })
        .map_err(|err| err.to_string())
    }

    async fn execute(&self, context: &ExecutionContext) -> ActionOutcome {
        // Template, address and SMTP set-up problems need a change, not another attempt.
        let limits = &context.services.templates_mail;
        let rendered = match self.spec.render_within(
            &Self::variables(context),
            &limits.template,
            limits.email_max_recipients,
        ) {
            Ok(rendered) => rendered,
            Err(err) => return fail(context, describe(&err), true),
        };
        let mailer = match self.mailer(context).await {
            Ok(mailer) => mailer,
            Err(error) => return fail(context, error, true),
        };
        let message = match rendered.to_message(mailer.from()) {
            Ok(message) => message,
            Err(err) => return fail(context, describe(&err), true),
        };
        if self.smtp_url.is_none()
            && let Err(error) = take_quota(context).await
        {
            return error;
        }
        context.logger.info(format!(
            "sending {:?} to {} recipient(s) (attempt {})",
            rendered.subject,
            rendered.to.len() + rendered.cc.len() + rendered.bcc.len(),
            context.attempt
        ));
        match mailer.send(message).await {
            Ok(sent) => {
                context
                    .logger
                    .info(format!("the SMTP server answered {}", sent.response));
                ActionOutcome::succeeded(json!({
                    "message_id": sent.message_id,
                    "response": sent.response,
                    "recipients": sent.recipients,
                    "subject": rendered.subject,
                }))
            }
            Err(err) if err.is_retryable() => fail(
                context,
                format!("{err} (temporary: the attempt will be retried)"),
                false,
            ),
            Err(err) => fail(context, err.to_string(), true),
        }
    }
}

/// Takes one message from the owner's hourly quota on the server's SMTP; the failed outcome
/// (permanent: retrying within the hour would only hit it again) when it is used up.
async fn take_quota(context: &ExecutionContext) -> Result<(), ActionOutcome> {
    let services = &context.services;
    // Without Nocron's database (unit tests of actions) there is nothing to count in.
    let Some(db) = &services.own_pool else {
        return Ok(());
    };
    let limit = services.templates_mail.email_max_per_hour;
    match quota::take(db, context.owner_id, limit).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(fail(context, quota::exceeded_message(limit), true)),
        Err(err) => {
            tracing::warn!(error = %err, "cannot count the message against the hourly quota");
            Err(fail(
                context,
                "cannot check the hourly message quota (the attempt will be retried)".into(),
                false,
            ))
        }
    }
}

/// Resolves the SMTP host through the outbound policy's resolver (the HTTP client's); the
/// first allowed address.
async fn check_host(context: &ExecutionContext, host: &str, port: u16) -> Result<IpAddr, String> {
    let addresses = crate::net::resolve_allowed(context.outbound.clone(), host, port)
        .await
        .map_err(|message| format!("smtp_url: {message}"))?;
    addresses
        .first()
        .map(|address| address.ip())
        .ok_or_else(|| format!("smtp_url: {host} has no address"))
}

fn describe(err: &EmailError) -> String {
    match err {
        EmailError::Field { field, message } => format!("{PREFIX}.{field}: {message}"),
        other => other.to_string(),
    }
}

fn fail(context: &ExecutionContext, error: String, permanent: bool) -> ActionOutcome {
    context.logger.error(error.clone());
    if permanent {
        ActionOutcome::failed_permanently(error)
    } else {
        ActionOutcome::failed(error)
    }
}

impl Action for EmailAction {
    fn run<'a>(&'a self, context: &'a ExecutionContext) -> BoxFuture<'a, ActionOutcome> {
        Box::pin(self.execute(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(config: Value) -> Vec<String> {
        validate(&config).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_complete_config_passes() {
        assert!(
            fields(json!({
                "to": ["{{ input.email }}", "Ops <ops@example.com>"],
                "subject": "Report {{ input.day }}",
                "text": "Hello",
                "smtp_url": "{{ secrets.MY_SMTP }}",
                "from": "Reports <reports@example.com>"
            }))
            .is_empty()
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let failing = fields(json!({
            "to": ["not an address"],
            "cc": ["{{ unclosed"],
            "subject": "{% if %}",
            "smtp_url": "http://example.com",
            "from": "nobody"
        }));
        for expected in [
            "action.config.to[0]",
            "action.config.cc[0]",
            "action.config.subject",
            "action.config.text",
            "action.config.smtp_url",
            "action.config.from",
        ] {
            assert!(
                failing.contains(&expected.to_owned()),
                "{expected} in {failing:?}"
            );
        }
    }

    #[test]
    fn shape_errors_name_their_path() {
        assert_eq!(
            fields(json!({"to": "a@example.com", "subject": "x", "text": "y"})),
            vec!["action.config.to"]
        );
        assert_eq!(
            fields(json!({"to": ["a@example.com"], "subject": "x", "text": "y", "tx": 1})),
            vec!["action.config.tx"]
        );
        assert_eq!(
            fields(json!({"to": ["a@example.com"], "text": "y"})),
            vec!["action.config"]
        );
        assert_eq!(fields(json!([])), vec!["action.config"]);
    }

    #[test]
    fn a_sender_needs_its_own_server() {
        assert_eq!(
            fields(
                json!({"to": ["a@example.com"], "subject": "x", "text": "y", "from": "b@example.com"})
            ),
            vec!["action.config.from"]
        );
    }

    #[test]
    fn no_recipient_is_refused() {
        assert_eq!(
            fields(json!({"subject": "x", "text": "y"})),
            vec!["action.config.to"]
        );
    }
}
