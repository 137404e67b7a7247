//! The connection pool, the migrations, and the embedded local cluster used when no
//! `DATABASE_URL` is configured.

pub mod channels;
pub mod constraint;
pub mod embedded;
pub mod text_enum;

use std::time::Duration;

use anyhow::Context;
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Opens a pool. Connections are checked before use so a restarted database is picked up
/// again without a restart of Nocron.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    let options = options.application_name("nocron");
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        // The pool pings a connection before lending it: after the database drops every
        // connection, the next checkout gets a fresh one at once instead of a dead one.
        .connect_with(options)
        .await
        .context(
            "could not connect to the database (check DATABASE_URL and that PostgreSQL is running)",
        )
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations failed")
}

/// The outcome of comparing applied migrations with the ones this binary carries.
#[derive(Debug, PartialEq, Eq)]
pub enum MigrationState {
    /// Every embedded migration is applied successfully.
    UpToDate,
    /// Some are missing or failed; the versions are listed.
    Pending(Vec<i64>),
}

/// Which embedded migrations are not (successfully) applied.
pub async fn migration_state(pool: &PgPool) -> Result<MigrationState, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar!("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?;
    let pending: Vec<i64> = MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    Ok(if pending.is_empty() {
        MigrationState::UpToDate
    } else {
        MigrationState::Pending(pending)
    })
}

/// `%text%` for `ILIKE`, with the pattern characters in `text` (`%`, `_` and the backslash) escaped so
/// they match themselves.
pub fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
