//! An inbound email as an execution input: sender, recipients, subject, text and HTML
//! bodies, and the attachments' names, types and sizes (not their contents). MIME is parsed
//! by `mail-parser`.

use chrono::Utc;
use mail_parser::{Address, MessageParser, MimeHeaders};
use serde_json::{Value, json};

/// Longest text or HTML body copied into an input; longer ones are cut (and flagged).
pub const MAX_BODY_CHARS: usize = 1024 * 1024;

/// What the SMTP conversation said about a message, beside its headers.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// `MAIL FROM` (empty for bounces).
    pub mail_from: String,
    /// `RCPT TO` addresses accepted.
    pub rcpt_to: Vec<String>,
}

/// A message reduced to what an input carries.
#[derive(Debug, Clone, Default)]
pub struct ParsedMail {
    /// The first `From` address.
    pub from: Option<String>,
    /// Its display name.
    pub from_name: Option<String>,
    /// `To` addresses.
    pub to: Vec<String>,
    /// `Cc` addresses.
    pub cc: Vec<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Plain-text body.
    pub text: Option<String>,
    /// HTML body.
    pub html: Option<String>,
    /// `(name, content type, size in bytes)` of each attachment.
    pub attachments: Vec<(Option<String>, Option<String>, usize)>,
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// `Date`, RFC 3339.
    pub date: Option<String>,
    /// Size of the raw message, when there was one.
    pub size: Option<usize>,
}

fn addresses(address: Option<&Address<'_>>) -> Vec<String> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a raw RFC 822 message; `None` when it is not a message at all.
pub fn parse_rfc822(raw: &[u8]) -> Option<ParsedMail> {
    let message = MessageParser::default().parse(raw)?;
    let first_from = message.from().and_then(|a| a.first());
    Some(ParsedMail {
        from: first_from.and_then(|a| a.address()).map(str::to_owned),
        from_name: first_from.and_then(|a| a.name()).map(str::to_owned),
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        subject: message.subject().map(str::to_owned),
        text: message.body_text(0).map(|t| t.into_owned()),
        html: message.body_html(0).map(|t| t.into_owned()),
        attachments: message
            .attachments()
            .map(|part| {
                let content_type = part.content_type().map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_owned(),
                });
                (
                    part.attachment_name().map(str::to_owned),
                    content_type,
                    part.len(),
                )
            })
            .collect(),
        message_id: message.message_id().map(str::to_owned),
        date: message.date().map(|d| d.to_rfc3339()),
        size: Some(raw.len()),
    })
}

fn capped(text: Option<String>) -> (Value, bool) {
    match text {
        None => (Value::Null, false),
        Some(text) if text.len() <= MAX_BODY_CHARS => (Value::String(text), false),
        Some(mut text) => {
            let mut cut = MAX_BODY_CHARS;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            (Value::String(text), true)
        }
    }
}

/// The execution input of a message.
pub fn to_input(mail: ParsedMail, envelope: Option<&Envelope>) -> Value {
    let (text, text_truncated) = capped(mail.text);
    let (html, html_truncated) = capped(mail.html);
    json!({
        "from": mail.from,
        "from_name": mail.from_name,
        "to": mail.to,
        "cc": mail.cc,
        "subject": mail.subject,
        "text": text,
        "html": html,
        "truncated": text_truncated || html_truncated,
        "attachments": mail.attachments.into_iter().map(|(name, content_type, size)| json!({
            "name": name, "content_type": content_type, "size": size,
        })).collect::<Vec<_>>(),
        "message_id": mail.message_id,
        "date": mail.date,
        "size": mail.size,
        "envelope": envelope.map(|e| json!({"mail_from": e.mail_from, "rcpt_to": e.rcpt_to})),
        "received_at": Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = "From: Ada <ada@example.com>\r\n\
To: task-abc@hooks.example.com, other@example.com\r\n\
Subject: =?UTF-8?Q?Caf=C3=A9?=\r\n\
Message-ID: <m1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello\r\n\
--b\r\n\
Content-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
aGVsbG8gd29ybGQ=\r\n\
--b--\r\n";

    #[test]
    fn a_multipart_message_becomes_an_input() {
        let mail = parse_rfc822(RAW.as_bytes()).expect("parses");
        let input = to_input(mail, None);
        assert_eq!(input["from"], "ada@example.com");
        assert_eq!(input["from_name"], "Ada");
        assert_eq!(
            input["to"],
            json!(["task-abc@hooks.example.com", "other@example.com"])
        );
        assert_eq!(input["subject"], "Café");
        assert_eq!(input["text"].as_str().map(str::trim), Some("Hello"));
        assert_eq!(input["message_id"], "m1@example.com");
        assert_eq!(
            input["attachments"],
            json!([{"name": "report.pdf", "content_type": "application/pdf", "size": 11}])
        );
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let (value, cut) = capped(Some("é".repeat(MAX_BODY_CHARS)));
        assert!(cut);
        assert!(value.as_str().expect("text").len() <= MAX_BODY_CHARS);
    }
}
