//! The EMAIL_SEND message: its configuration ([`EmailSpec`]), rendering every part with
//! minijinja from the execution's variables, address validation that names the field, and
//! building the MIME message.

use std::str::FromStr;

use lettre::{
    Message,
    message::{Mailbox, MultiPart, SinglePart, header::ContentType},
};
use minijinja::{AutoEscape, Environment};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::EmailError;
use crate::templating::{self, Budget, TemplateLimits};

/// Longest rendered subject, in characters.
pub const MAX_SUBJECT_LEN: usize = 998;

/// An email to send. Every string is a minijinja template rendered with the execution's
/// variables (`input`, previous results, …); the HTML part is auto-escaped.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSpec {
    /// Recipients (`ann@example.com` or `Ann <ann@example.com>`).
    #[serde(default)]
    pub to: Vec<String>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Blind-copy recipients (in the envelope only, never in the headers).
    #[serde(default)]
    pub bcc: Vec<String>,
    /// Where replies go.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    #[serde(default)]
    pub text: Option<String>,
    /// The HTML body.
    #[serde(default)]
    pub html: Option<String>,
}

/// A rendered, validated email, ready to become a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Copy recipients.
    pub cc: Vec<Mailbox>,
    /// Blind-copy recipients.
    pub bcc: Vec<Mailbox>,
    /// Reply address.
    pub reply_to: Option<Mailbox>,
    /// Subject.
    pub subject: String,
    /// Plain-text part.
    pub text: Option<String>,
    /// HTML part.
    pub html: Option<String>,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> EmailError {
    EmailError::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// The bounded template environment for one message: strict about unknown variables (a
/// typo fails with the field named instead of sending an empty value), within the template
/// limits, and escaping HTML only in the `html` part.
fn environment(limits: &TemplateLimits) -> Environment<'static> {
    let mut env = templating::environment(limits);
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// One message's rendering: the environment, its limits, the output budget all parts
/// share, and the variables.
struct Renderer<'a> {
    env: Environment<'static>,
    limits: TemplateLimits,
    budget: Budget,
    vars: &'a minijinja::Value,
}

impl Renderer<'_> {
    fn field(&self, field: &str, template_name: &str, source: &str) -> Result<String, EmailError> {
        templating::render(
            &self.env,
            &self.limits,
            &self.budget,
            template_name,
            source,
            self.vars,
        )
        .map_err(|err| field_error(field, err.message))
    }

    fn addresses(&self, name: &str, templates: &[String]) -> Result<Vec<Mailbox>, EmailError> {
        let mut mailboxes = Vec::with_capacity(templates.len());
        for (i, template) in templates.iter().enumerate() {
            let field = format!("{name}[{i}]");
            let rendered = self.field(&field, "address", template)?;
            // A template may render to nothing (an optional copy recipient): skip it.
            if rendered.trim().is_empty() {
                continue;
            }
            mailboxes.push(parse_mailbox(&field, &rendered)?);
        }
        Ok(mailboxes)
    }
}

fn parse_mailbox(field: &str, text: &str) -> Result<Mailbox, EmailError> {
    if text.contains(['\r', '\n']) {
        return Err(field_error(field, "an address must be on one line"));
    }
    Mailbox::from_str(text.trim()).map_err(|err| {
        field_error(
            field,
            format!("{:?} is not a valid email address ({err})", text.trim()),
        )
    })
}

/// The error for a message with more recipients than `EMAIL_MAX_RECIPIENTS` allows.
pub fn recipients_over_limit(count: usize, max_recipients: usize) -> String {
    format!("{count} recipients exceed EMAIL_MAX_RECIPIENTS ({max_recipients})")
}

impl EmailSpec {
    /// Renders every part with `vars` within the installed limits (see [`Self::render_within`]).
    pub fn render(&self, vars: &Value) -> Result<RenderedEmail, EmailError> {
        let settings = templating::settings();
        self.render_within(vars, &settings.template, settings.email_max_recipients)
    }

    /// Renders every part with `vars` within the template limits (all parts share one
    /// output budget) and validates the result, refusing more than `max_recipients`
    /// recipients (`EMAIL_MAX_RECIPIENTS`).
    pub fn render_within(
        &self,
        vars: &Value,
        limits: &TemplateLimits,
        max_recipients: usize,
    ) -> Result<RenderedEmail, EmailError> {
        let renderer = Renderer {
            env: environment(limits),
            limits: *limits,
            budget: Budget::new(limits),
            vars: &minijinja::Value::from(minijinja::value::Serde(vars)),
        };
        let to = renderer.addresses("to", &self.to)?;
        let cc = renderer.addresses("cc", &self.cc)?;
        let bcc = renderer.addresses("bcc", &self.bcc)?;
        let count = to.len() + cc.len() + bcc.len();
        if count == 0 {
            return Err(field_error("to", "at least one recipient is required"));
        }
        if count > max_recipients {
            return Err(field_error(
                "to",
                recipients_over_limit(count, max_recipients),
            ));
        }
        let reply_to = match &self.reply_to {
            Some(template) => {
                let rendered = renderer.field("reply_to", "address", template)?;
                if rendered.trim().is_empty() {
                    None
                } else {
                    Some(parse_mailbox("reply_to", &rendered)?)
                }
            }
            None => None,
        };
        let subject = renderer.field("subject", "subject", &self.subject)?;
        if subject.contains(['\r', '\n']) {
            return Err(field_error("subject", "must be one line"));
        }
        if subject.chars().count() > MAX_SUBJECT_LEN {
            return Err(field_error(
                "subject",
                format!("must be at most {MAX_SUBJECT_LEN} characters"),
            ));
        }
        let text = self
            .text
            .as_deref()
            .map(|t| renderer.field("text", "text", t))
            .transpose()?;
        let html = self
            .html
            .as_deref()
            .map(|t| renderer.field("html", "html", t))
            .transpose()?;
        if text.is_none() && html.is_none() {
            return Err(field_error("text", "give a text or an html body (or both)"));
        }
        Ok(RenderedEmail {
            to,
            cc,
            bcc,
            reply_to,
            subject,
            text,
            html,
        })
    }
}

impl RenderedEmail {
    /// The MIME message from `from`: `multipart/alternative` when both bodies are present,
    /// with a `Message-ID` in the sender's domain so the send can be recorded and traced.
    pub fn to_message(&self, from: &Mailbox) -> Result<Message, EmailError> {
        let message_id = format!(
            "<{}@{}>",
            uuid::Uuid::now_v7().simple(),
            from.email.domain()
        );
        let mut builder = Message::builder()
            .message_id(Some(message_id))
            .from(from.clone())
            .subject(self.subject.clone());
        for mailbox in &self.to {
            builder = builder.to(mailbox.clone());
        }
        for mailbox in &self.cc {
            builder = builder.cc(mailbox.clone());
        }
        for mailbox in &self.bcc {
            builder = builder.bcc(mailbox.clone());
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let built = match (&self.text, &self.html) {
            (Some(text), Some(html)) => builder.multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            )),
            (Some(text), None) => builder.singlepart(SinglePart::plain(text.clone())),
            (None, Some(html)) => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
            (None, None) => {
                return Err(field_error("text", "give a text or an html body (or both)"));
            }
        };
        built.map_err(|err| field_error("message", err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> EmailSpec {
        serde_json::from_value(value).expect("spec")
    }

    impl EmailSpec {
        fn render_default(&self, vars: &Value) -> Result<RenderedEmail, EmailError> {
            self.render_within(vars, &TemplateLimits::default(), 50)
        }
    }

    fn field_of(err: EmailError) -> String {
        match err {
            EmailError::Field { field, .. } => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn every_part_is_rendered_from_the_variables() {
        let rendered = spec(json!({
            "to": ["{{ input.name }} <{{ input.email }}>"],
            "cc": ["{{ input.manager | default('') }}"],
            "subject": "{{ results.check.status }} for {{ input.site }}",
            "text": "{% for s in input.steps %}- {{ s }}\n{% endfor %}",
            "html": "<p>{{ input.note }}</p>"
        }))
        .render_default(&json!({
            "input": {"name": "Ann", "email": "ann@example.com", "site": "shop",
                      "steps": ["a", "b"], "note": "<script>x</script> & co"},
            "results": {"check": {"status": "DOWN"}}
        }))
        .expect("render");
        assert_eq!(rendered.to[0].to_string(), "Ann <ann@example.com>");
        assert!(
            rendered.cc.is_empty(),
            "an empty optional recipient is skipped"
        );
        assert_eq!(rendered.subject, "DOWN for shop");
        assert_eq!(rendered.text.as_deref(), Some("- a\n- b\n"));
        assert_eq!(
            rendered.html.as_deref(),
            Some("<p>&lt;script&gt;x&lt;&#x2f;script&gt; &amp; co</p>")
        );
    }

    #[test]
    fn unknown_variables_and_bad_templates_name_the_field() {
        let vars = json!({"input": {}});
        let err = spec(
            json!({"to": ["a@example.com"], "subject": "{{ input.missing.deeper }}", "text": "x"}),
        )
        .render_default(&vars)
        .expect_err("undefined");
        assert_eq!(field_of(err), "subject");
        let err = spec(json!({"to": ["a@example.com"], "subject": "s", "html": "{% if %}"}))
            .render_default(&vars)
            .expect_err("syntax");
        assert_eq!(field_of(err), "html");
        let err = spec(json!({"to": ["a@example.com"], "subject": "s",
                              "text": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"}))
            .render_default(&vars)
            .expect_err("fuel");
        assert_eq!(field_of(err), "text");
    }

    #[test]
    fn addresses_are_validated_with_their_position() {
        let vars = json!({"input": {"bad": "not-an-address"}});
        let err = spec(
            json!({"to": ["ok@example.com"], "cc": ["c@example.com", "{{ input.bad }}"],
                              "subject": "s", "text": "t"}),
        )
        .render_default(&vars)
        .expect_err("bad cc");
        assert_eq!(field_of(err), "cc[1]");
        let err = spec(json!({"to": ["a@example.com\r\nBcc: victim@example.com"], "subject": "s", "text": "t"}))
            .render_default(&vars)
            .expect_err("injection");
        assert_eq!(field_of(err), "to[0]");
        let err = spec(json!({"to": [], "subject": "s", "text": "t"}))
            .render_default(&vars)
            .expect_err("none");
        assert_eq!(field_of(err), "to");
        let many: Vec<String> = (0..51).map(|i| format!("u{i}@example.com")).collect();
        let err = spec(json!({"bcc": many, "subject": "s", "text": "t"}))
            .render_default(&vars)
            .expect_err("many");
        assert_eq!(field_of(err), "to");
    }

    #[test]
    fn subjects_are_one_line_and_a_body_is_required() {
        let vars = json!({"input": {"s": "a\nBcc: x@example.com"}});
        let err = spec(json!({"to": ["a@example.com"], "subject": "{{ input.s }}", "text": "t"}))
            .render_default(&vars)
            .expect_err("newline");
        assert_eq!(field_of(err), "subject");
        let err = spec(json!({"to": ["a@example.com"], "subject": "s"}))
            .render_default(&vars)
            .expect_err("body");
        assert_eq!(field_of(err), "text");
        assert!(
            serde_json::from_value::<EmailSpec>(json!({"to": [], "subject": "s", "from": "x"}))
                .is_err()
        );
    }

    #[test]
    fn messages_keep_bcc_out_of_the_headers() {
        let rendered = spec(json!({"to": ["a@example.com"], "bcc": ["hidden@example.com"],
                                   "reply_to": "r@example.com", "subject": "Hi", "text": "t", "html": "<b>h</b>"}))
            .render_default(&json!({}))
            .expect("render");
        let from: Mailbox = "Nocron <noreply@example.com>".parse().expect("from");
        let message = rendered.to_message(&from).expect("message");
        let recipients: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(recipients, ["a@example.com", "hidden@example.com"]);
        let formatted = String::from_utf8(message.formatted()).expect("utf8");
        assert!(!formatted.contains("hidden@example.com"), "{formatted}");
        assert!(formatted.contains("multipart/alternative"));
        assert!(formatted.contains("Reply-To: r@example.com"));
    }
}
