//! The OpenAPI schema of each action type's `config`, so the document says what every
//! configuration may hold (and a generated client can build one) instead of "an object".
//! Each schema is derived from the type the configuration is parsed into, so the two cannot
//! drift apart; only EMAIL_SEND, whose configuration is parsed by hand around an
//! [`EmailSpec`], has a mirror here.

use utoipa::{
    ToSchema,
    openapi::{RefOr, schema::Schema},
};

use super::ActionType;
use super::{
    database_config::DatabaseConfig, http_config::RawConfig as HttpConfig, notion::RawNotionConfig,
    script::ScriptConfig,
};

/// An EMAIL_SEND configuration: the message (every string a template) and, optionally, the
/// SMTP server to send it through instead of the server's own.
#[derive(ToSchema)]
#[schema(as = EmailActionConfig)]
#[allow(dead_code)] // Only its schema is used: `actions::email::parse` reads the object.
struct EmailConfig {
    /// Recipients (`ann@example.com` or `Ann <ann@example.com>`).
    #[schema(default = json!([]))]
    to: Vec<String>,
    /// Copy recipients.
    #[schema(default = json!([]))]
    cc: Vec<String>,
    /// Blind-copy recipients (in the envelope only, never in the headers).
    #[schema(default = json!([]))]
    bcc: Vec<String>,
    /// Where replies go.
    reply_to: Option<String>,
    /// The subject line.
    subject: String,
    /// The plain-text body.
    text: Option<String>,
    /// The HTML body.
    html: Option<String>,
    /// `smtps://…` or `smtp://…` of your own server, usually `{{ secrets.NAME }}`; the
    /// server's `SMTP_URL` when omitted.
    smtp_url: Option<String>,
    /// The sender, with `smtp_url`.
    from: Option<String>,
}

/// The component name of the `config` schema of an action type.
pub fn config_schema_name(action_type: ActionType) -> String {
    match action_type {
        ActionType::HttpRequest | ActionType::ApiCall => HttpConfig::name(),
        ActionType::EmailSend => EmailConfig::name(),
        ActionType::DatabaseQuery => DatabaseConfig::name(),
        ActionType::CustomScript => ScriptConfig::name(),
        ActionType::NotionSync => RawNotionConfig::name(),
    }
    .into_owned()
}

/// Adds every action configuration schema, and the schemas they refer to, to `schemas`.
pub fn register(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
    add::<HttpConfig>(schemas);
    add::<EmailConfig>(schemas);
    add::<DatabaseConfig>(schemas);
    add::<ScriptConfig>(schemas);
    add::<RawNotionConfig>(schemas);
}

#[cfg(test)]
mod tests {
    use utoipa::{PartialSchema, openapi::schema::Schema};

    use super::*;
    use crate::email::EmailSpec;

    fn properties<T: PartialSchema>() -> Vec<String> {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
            _ => panic!("not an object schema"),
        }
    }

    #[test]
    fn the_email_mirror_has_every_field_of_the_message() {
        let mirror = properties::<EmailConfig>();
        for field in properties::<EmailSpec>() {
            assert!(mirror.contains(&field), "EmailActionConfig lacks `{field}`");
        }
    }

    #[test]
    fn every_action_type_has_a_registered_config_schema() {
        let mut schemas = Vec::new();
        register(&mut schemas);
        for action_type in ActionType::ALL {
            let name = config_schema_name(*action_type);
            assert!(
                schemas.iter().any(|(registered, _)| *registered == name),
                "{name} is not registered"
            );
        }
    }
}
