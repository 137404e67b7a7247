//! What actions share across runs and cannot get from their configuration: the vault the
//! worker opens secrets with, the server's SMTP settings, and where Nocron's own database
//! lives (so `DATABASE_QUERY` can refuse it).

use std::{path::PathBuf, sync::Arc, time::Duration};

use sqlx::PgPool;

use crate::{
    config::{Settings, TemplatesMailSettings},
    email::Mailer,
    secrets::Vault,
};

/// Where a PostgreSQL database lives: host (name, IP literal or socket directory), port and
/// database name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseTarget {
    /// Host name, IP literal, or a Unix socket directory (starts with `/`).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database name.
    pub database: String,
}

impl DatabaseTarget {
    /// The target of a pool's connect options (the database defaults to the user name, as
    /// PostgreSQL does).
    pub fn of_pool(pool: &PgPool) -> Self {
        let options = pool.connect_options();
        DatabaseTarget {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            database: options
                .get_database()
                .unwrap_or(options.get_username())
                .to_owned(),
        }
    }
}

/// Server-wide services for actions. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct ActionServices {
    /// Opens the secrets a task refers to.
    pub vault: Arc<Vault>,
    /// The server's mailer (`SMTP_URL`/`SMTP_FROM`), when configured.
    pub mailer: Option<Mailer>,
    /// How long an SMTP exchange may take (`SMTP_TIMEOUT_SECONDS`), also for task SMTP URLs.
    pub smtp_timeout: Duration,
    /// Extra trusted CA for SMTP (`SMTP_CA_FILE`), also for task SMTP URLs.
    pub smtp_ca_file: Option<PathBuf>,
    /// Extra trusted CA for `DATABASE_QUERY` TLS (`DATABASE_QUERY_CA_FILE`).
    pub database_ca_file: Option<PathBuf>,
    /// Nocron's own database, which `DATABASE_QUERY` refuses unless allowed.
    pub own_database: Option<DatabaseTarget>,
    /// A pool on Nocron's database, to compare a connected server's identity with.
    pub own_pool: Option<PgPool>,
    /// `DATABASE_QUERY_ALLOW_NOCRON_DB`: an administrator lets tasks query Nocron's database.
    pub allow_own_database: bool,
    /// Template bounds and outbound mail limits (recipients, messages per hour).
    pub templates_mail: TemplatesMailSettings,
}

impl ActionServices {
    /// Services with only a vault: no SMTP, no own database known.
    pub fn new(vault: Arc<Vault>) -> Self {
        ActionServices {
            vault,
            mailer: None,
            smtp_timeout: Duration::from_secs(30),
            smtp_ca_file: None,
            database_ca_file: None,
            own_database: None,
            own_pool: None,
            allow_own_database: false,
            templates_mail: TemplatesMailSettings::default(),
        }
    }

    /// Services from the settings, the vault and the application's pool. An unusable SMTP
    /// configuration is logged and left out (EMAIL_SEND then fails with a clear error).
    /// Also installs the template and mail limits the checks at task save read.
    pub fn from_settings(settings: &Settings, vault: Arc<Vault>, db: &PgPool) -> Self {
        crate::templating::install(settings.templates_mail);
        let mailer = crate::email::mailer_from_settings(settings).unwrap_or_else(|err| {
            tracing::warn!(error = %err, "SMTP is misconfigured; EMAIL_SEND tasks without their own smtp_url will fail");
            None
        });
        ActionServices {
            vault,
            mailer,
            smtp_timeout: settings.smtp_timeout,
            smtp_ca_file: settings.smtp_ca_file.clone(),
            database_ca_file: settings.database_query_ca_file.clone(),
            own_database: Some(DatabaseTarget::of_pool(db)),
            own_pool: Some(db.clone()),
            allow_own_database: settings.database_query_allow_nocron_db,
            templates_mail: settings.templates_mail,
        }
    }
}
