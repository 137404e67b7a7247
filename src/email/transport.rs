//! The SMTP connection: `SMTP_URL` parsing and the [`Mailer`] that sends built messages
//! over lettre's async transport (tokio, rustls with the platform verifier).

use std::{fmt, net::IpAddr, path::PathBuf, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::Mailbox,
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};

use super::EmailError;
pub use crate::config::smtp::{SmtpSecurity, SmtpUrl};

/// Settings a [`Mailer`] is built from.
#[derive(Debug, Clone)]
pub struct MailerConfig {
    /// Where and how to connect.
    pub url: SmtpUrl,
    /// The sender of every message (`SMTP_FROM`).
    pub from: Mailbox,
    /// Connect and command timeout.
    pub timeout: Duration,
    /// Extra PEM root certificates to trust (`SMTP_CA_FILE`), e.g. a private CA.
    pub ca_file: Option<PathBuf>,
    /// The address to connect to instead of looking `url.host` up again: the address the
    /// outbound policy checked. TLS still verifies the certificate against `url.host`.
    pub connect_to: Option<IpAddr>,
}

/// What the server said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    /// The `Message-ID` header of the sent message.
    pub message_id: Option<String>,
    /// The server's reply, e.g. `250 2.0.0 Ok: queued as 1234`.
    pub response: String,
    /// Envelope recipients (to, cc and bcc).
    pub recipients: Vec<String>,
}

/// An SMTP client with a pooled connection and a fixed sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// Connects to the server (greeting, EHLO, STARTTLS and login as configured) and sends
    /// NOOP, for the health page. The caller bounds the time.
    pub async fn check(&self) -> Result<(), EmailError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(EmailError::Connection(
                "the server did not answer NOOP".to_owned(),
            )),
            Err(err) => Err(EmailError::from_smtp(err)),
        }
    }

    /// Builds the transport. Nothing connects until the first send.
    pub fn new(config: &MailerConfig) -> Result<Self, EmailError> {
        let url = &config.url;
        let tls_parameters = || -> Result<TlsParameters, EmailError> {
            let mut builder = TlsParameters::builder(url.host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path).map_err(|err| {
                    EmailError::Config(format!(
                        "cannot read SMTP_CA_FILE {}: {err}",
                        path.display()
                    ))
                })?;
                let certificate = Certificate::from_pem(&pem).map_err(|err| {
                    EmailError::Config(format!(
                        "SMTP_CA_FILE {} is not a PEM certificate: {err}",
                        path.display()
                    ))
                })?;
                builder = builder.add_root_certificate(certificate);
            }
            builder
                .build_rustls()
                .map_err(|err| EmailError::Config(format!("TLS setup failed: {err}")))
        };
        let tls = match url.security {
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters()?),
            SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
            SmtpSecurity::None => Tls::None,
        };
        // The TLS parameters keep the name for SNI and the certificate check; the transport
        // connects to the checked address when there is one.
        let server = config
            .connect_to
            .map_or_else(|| url.host.clone(), |ip| ip.to_string());
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
            .port(url.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some((user, password)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        if let Some(name) = &url.hello_name {
            builder = builder.hello_name(lettre::transport::smtp::extension::ClientId::Domain(
                name.clone(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: config.from.clone(),
        })
    }

    /// The sender every message from this mailer carries.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Sends one message built by [`super::RenderedEmail::to_message`].
    pub async fn send(&self, message: Message) -> Result<SentEmail, EmailError> {
        let message_id = message
            .headers()
            .get_raw("Message-ID")
            .map(|id| id.trim().to_owned());
        let recipients = message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        let response = self
            .transport
            .send(message)
            .await
            .map_err(EmailError::from_smtp)?;
        let text = std::iter::once(response.code().to_string())
            .chain(response.message().map(str::to_owned))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(SentEmail {
            message_id,
            response: text,
            recipients,
        })
    }
}
