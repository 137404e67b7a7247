//! Outbound email over SMTP: the connection from `SMTP_URL` ([`transport`]), and the
//! EMAIL_SEND message rendered from templates and validated field by field ([`message`]),
//! and the hourly quota of messages per account ([`quota`]).

pub mod message;
pub mod quota;
pub mod transport;

pub use message::{EmailSpec, RenderedEmail};
pub use transport::{Mailer, MailerConfig, SentEmail, SmtpSecurity, SmtpUrl};

use crate::{
    config::Settings,
    error::{AppError, ErrorCode},
};

/// Why an email could not be built or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// The SMTP configuration is unusable.
    #[error("SMTP is misconfigured: {0}")]
    Config(String),
    /// A field of the message is invalid (bad address, template error, …).
    #[error("{field}: {message}")]
    Field {
        /// The field (`to[1]`, `subject`, `html`, …).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The server refused (authentication, a recipient, the message).
    #[error("the SMTP server refused: {message}")]
    Rejected {
        /// A 5xx reply: sending again will not help.
        permanent: bool,
        /// The server's reply.
        message: String,
    },
    /// The server could not be reached, or TLS failed.
    #[error("cannot talk to the SMTP server: {0}")]
    Connection(String),
    /// The server did not answer in time.
    #[error("the SMTP server did not answer in time")]
    Timeout,
}

impl EmailError {
    pub(crate) fn from_smtp(err: lettre::transport::smtp::Error) -> Self {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        if err.is_timeout() {
            EmailError::Timeout
        } else if err.is_permanent() {
            EmailError::Rejected {
                permanent: true,
                message,
            }
        } else if err.is_transient() {
            EmailError::Rejected {
                permanent: false,
                message,
            }
        } else {
            EmailError::Connection(message)
        }
    }

    /// Whether sending again later may succeed (the worker retries these).
    pub fn is_retryable(&self) -> bool {
        match self {
            EmailError::Rejected { permanent, .. } => !permanent,
            EmailError::Connection(_) | EmailError::Timeout => true,
            EmailError::Config(_) | EmailError::Field { .. } => false,
        }
    }
}

impl From<EmailError> for AppError {
    fn from(err: EmailError) -> Self {
        match &err {
            EmailError::Field { field, message } => {
                AppError::invalid_field(field.clone(), message.clone())
            }
            EmailError::Config(_) => AppError::internal(err),
            EmailError::Timeout => {
                AppError::new(ErrorCode::ExternalServiceTimeout, err.to_string())
            }
            EmailError::Rejected { .. } | EmailError::Connection(_) => {
                AppError::new(ErrorCode::ExternalServiceError, err.to_string())
            }
        }
    }
}

/// The server's mailer from `SMTP_URL`/`SMTP_FROM`, or `None` when SMTP is not configured.
pub fn mailer_from_settings(settings: &Settings) -> Result<Option<Mailer>, EmailError> {
    let (Some(url), Some(from)) = (&settings.smtp_url, &settings.smtp_from) else {
        return Ok(None);
    };
    Mailer::new(&MailerConfig {
        url: url.clone(),
        from: from.clone(),
        timeout: settings.smtp_timeout,
        ca_file: settings.smtp_ca_file.clone(),
        connect_to: None,
    })
    .map(Some)
}
