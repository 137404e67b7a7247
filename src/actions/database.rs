//! `DATABASE_QUERY`: one SQL statement against the user's own PostgreSQL, over one
//! connection opened for the run and closed after it.
//!
//! The host must pass the outbound (SSRF) policy: it is resolved, every address checked, and
//! the connection made to a checked address (with `sslmode=verify-full`, after that address
//! proved a certificate for the name: see `database_tls`). Nocron's own database is refused
//! unless `DATABASE_QUERY_ALLOW_NOCRON_DB` is set, both before connecting (host, port, database)
//! and after (the server's start time and database name). The statement runs in a
//! `READ ONLY` transaction unless `allow_writes`, under `SET LOCAL statement_timeout`, with
//! its parameters bound; rows come back as JSON (`row_to_json` on the server), capped in
//! number and in size, with truncation flagged.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use futures::{TryStreamExt, future::BoxFuture};
use serde_json::{Value, json};
use sqlx::{
    Connection, Executor, PgConnection, Row,
    postgres::{PgArguments, PgConnectOptions, PgSslMode},
    query::Query,
};

pub use super::database_config::DatabaseConfig;
use super::{
    Action, ActionOutcome, DatabaseTarget, ExecutionContext,
    database_config::{ConnectionUrl, Statement, wrap},
    database_tls::{self, TlsCheckError},
};
use crate::error::FieldError;

/// Largest result (the rows as JSON), in bytes; rows beyond it are dropped and flagged.
pub const MAX_RESULT_BYTES: usize = 1024 * 1024;
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks a DATABASE_QUERY configuration as saved.
pub fn validate(config: &Value) -> Vec<FieldError> {
    DatabaseConfig::parse(config, true)
        .err()
        .unwrap_or_default()
}

/// A configured DATABASE_QUERY action.
#[derive(Debug, Clone)]
pub struct DatabaseAction {
    config: DatabaseConfig,
}

/// Why a run did not produce rows.
enum Failure {
    /// Another attempt may succeed (the server unreachable, a deadlock, …).
    Failed(String),
    /// Another attempt cannot help as is (refused host, bad SQL, a write in read-only mode).
    Refused(String),
    /// The statement timeout fired.
    TimedOut(String),
}

impl DatabaseAction {
    /// The parameters of this run: templates such as `"{{ input.since }}"` rendered with the
    /// execution's input (a lone expression keeps its JSON type).
    fn params(&self, context: &ExecutionContext) -> Result<Vec<Value>, Failure> {
        let vars = json!({
            "input": context.input,
            "execution": {"id": context.execution_id, "task_id": context.task_id,
                          "attempt": context.attempt},
        });
        let rendered = crate::actions::json_template::render(
            "params",
            &Value::Array(self.config.params.clone()),
            &vars,
        )
        .map_err(|err| Failure::Refused(format!("{}: {}", err.field, err.message)))?;
        match rendered {
            Value::Array(params) => Ok(params),
            _ => Ok(Vec::new()),
        }
    }

    /// Parses a configuration whose secret references are resolved.
    pub fn from_config(config: &Value) -> Result<Self, Vec<FieldError>> {
        Ok(DatabaseAction {
            config: DatabaseConfig::parse(config, false)?,
        })
    }

    async fn execute(&self, context: &ExecutionContext) -> ActionOutcome {
        let started = std::time::Instant::now();
        match self.query(context).await {
            Ok(mut result) => {
                let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                result["duration_ms"] = json!(duration_ms);
                context.logger.info(format!(
                    "the statement returned {} row(s){} in {duration_ms} ms",
                    result["row_count"],
                    if result["truncated"] == json!(true) {
                        " (truncated)"
                    } else {
                        ""
                    }
                ));
                ActionOutcome::succeeded(result)
            }
            Err(Failure::Failed(error)) => {
                context.logger.error(error.clone());
                ActionOutcome::failed(error)
            }
            Err(Failure::Refused(error)) => {
                context.logger.error(error.clone());
                ActionOutcome::failed_permanently(error)
            }
            Err(Failure::TimedOut(error)) => {
                context.logger.error(error.clone());
                ActionOutcome::timed_out(error)
            }
        }
    }

    async fn query(&self, context: &ExecutionContext) -> Result<Value, Failure> {
        let params = self.params(context)?;
        let (options, target) = self.checked_target(context).await?;
        context.logger.info(format!(
            "connecting to {}:{}/{} (attempt {})",
            target.host, target.port, target.database, context.attempt
        ));
        let remaining = context
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        let connecting = PgConnection::connect_with(&options);
        let mut connection =
            match tokio::time::timeout(CONNECT_TIMEOUT.min(remaining), connecting).await {
                Err(_) => {
                    return Err(Failure::Failed(format!(
                        "connecting to {}:{} timed out",
                        target.host, target.port
                    )));
                }
                Ok(Err(err)) => {
                    let message = format!(
                        "cannot connect to {}:{}: {}",
                        target.host,
                        target.port,
                        describe(&err)
                    );
                    // A refused login or an unknown database needs a new URL, not a retry.
                    return Err(if is_transient(&err) {
                        Failure::Failed(message)
                    } else {
                        Failure::Refused(message)
                    });
                }
                Ok(Ok(connection)) => connection,
            };
        let outcome = self.run_statement(context, &mut connection, &params).await;
        // One connection per run, closed whatever happened.
        let _ = tokio::time::timeout(Duration::from_secs(2), connection.close()).await;
        outcome
    }

    /// The connect options for the configured URL, pointed at an address the outbound
    /// policy allows, after refusing Nocron's own database.
    async fn checked_target(
        &self,
        context: &ExecutionContext,
    ) -> Result<(PgConnectOptions, DatabaseTarget), Failure> {
        let url = ConnectionUrl::parse(&self.config.connection)
            .map_err(|message| Failure::Refused(format!("connection: {message}")))?;
        let mut options = url.options;
        let target = DatabaseTarget {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            database: options.get_database().unwrap_or_default().to_owned(),
        };
        // The outbound policy's resolver (the HTTP client's): only allowed addresses.
        let addresses: Vec<IpAddr> =
            crate::net::resolve_allowed(context.outbound.clone(), &target.host, target.port)
                .await
                .map_err(|err| match err {
                    // An IP literal's refusal names only the address: say what was refused.
                    crate::net::ResolveError::Refused(message)
                        if target
                            .host
                            .trim_matches(['[', ']'])
                            .parse::<IpAddr>()
                            .is_ok() =>
                    {
                        Failure::Refused(format!(
                            "connection: {} is refused: {message}",
                            target.host
                        ))
                    }
                    crate::net::ResolveError::Refused(message) => {
                        Failure::Refused(format!("connection: {message}"))
                    }
                    crate::net::ResolveError::Lookup(message) => {
                        Failure::Failed(format!("connection: {message}"))
                    }
                })?
                .into_iter()
                .map(|address| address.ip())
                .collect();
        let Some(ip) = addresses.first() else {
            return Err(Failure::Failed(format!(
                "connection: {} has no address",
                target.host
            )));
        };
        let services = &context.services;
        if !services.allow_own_database
            && let Some(own) = &services.own_database
            && is_same_database(own, &target, &addresses).await
        {
            return Err(refused_own_database());
        }
        // Connect to the address that was checked, so a second lookup cannot answer
        // differently. For `verify-full`, Nocron makes that TLS connection itself (the
        // certificate verified against the name) and sqlx speaks through it.
        let address = SocketAddr::new(*ip, target.port);
        options = if matches!(options.get_ssl_mode(), PgSslMode::VerifyFull) {
            let tls_failure = |err| match err {
                TlsCheckError::Refused(message) => {
                    Failure::Refused(format!("connection: {message}"))
                }
                TlsCheckError::Unreachable(message) => {
                    Failure::Failed(format!("connection: {message}"))
                }
            };
            let files =
                database_tls::TlsFiles::operator(context.services.database_ca_file.as_deref())
                    .await
                    .map_err(tls_failure)?;
            let timeout = CONNECT_TIMEOUT.min(
                context
                    .deadline
                    .saturating_duration_since(tokio::time::Instant::now()),
            );
            let tls = database_tls::connect_verified(address, &target.host, &files, timeout)
                .await
                .map_err(tls_failure)?;
            database_tls::relay(tls, options, timeout)
                .await
                .map_err(tls_failure)?
        } else {
            let options = options.host(&ip.to_string());
            match &context.services.database_ca_file {
                Some(path) => options.ssl_root_cert(path),
                None => options,
            }
        };
        Ok((options, target))
    }

    async fn run_statement(
        &self,
        context: &ExecutionContext,
        connection: &mut PgConnection,
        params: &[Value],
    ) -> Result<Value, Failure> {
        let config = &self.config;
        let services = &context.services;
        if !services.allow_own_database
            && let Some(own) = &services.own_pool
            && same_server_identity(own, connection).await
        {
            return Err(refused_own_database());
        }
        let failed = |err: sqlx::Error| classify(&err);
        let mut tx = connection.begin().await.map_err(failed)?;
        if !config.allow_writes {
            tx.execute("SET TRANSACTION READ ONLY")
                .await
                .map_err(failed)?;
        }
        // Bounded by the task's deadline too, so the server stops when the run does.
        let remaining_ms = u64::try_from(
            context
                .deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_millis(),
        )
        .unwrap_or(u64::MAX);
        let timeout_ms = config.timeout_ms.min(remaining_ms.max(1));
        tx.execute(format!("SET LOCAL statement_timeout = {timeout_ms}").as_str())
            .await
            .map_err(failed)?;
        let max_rows = u64::from(config.max_rows);
        let result = match wrap(&config.sql, max_rows + 1, config.allow_writes) {
            Statement::Plain(sql) => {
                let done = bind(sqlx::query(&sql), params)
                    .persistent(false)
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
                json!({
                    "rows": [],
                    "row_count": 0,
                    "rows_affected": done.rows_affected(),
                    "truncated": false,
                })
            }
            Statement::Rows(sql) => {
                let mut rows = Vec::new();
                let mut size = 2usize;
                let mut truncated_by = None;
                {
                    let mut stream = bind(sqlx::query(&sql), params)
                        .persistent(false)
                        .fetch(&mut *tx);
                    while let Some(row) = stream.try_next().await.map_err(failed)? {
                        if rows.len() as u64 >= max_rows {
                            truncated_by = Some("max_rows");
                            break;
                        }
                        let text: Option<String> = row.try_get(0).map_err(failed)?;
                        let text = text.unwrap_or_else(|| "null".to_owned());
                        if size + text.len() + 1 > MAX_RESULT_BYTES {
                            truncated_by = Some("size");
                            break;
                        }
                        size += text.len() + 1;
                        rows.push(
                            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
                        );
                    }
                }
                json!({
                    "rows": rows,
                    "row_count": rows.len(),
                    "truncated": truncated_by.is_some(),
                    "truncated_by": truncated_by,
                })
            }
        };
        if config.allow_writes {
            tx.commit().await.map_err(failed)?;
        } else {
            tx.rollback().await.map_err(failed)?;
        }
        Ok(result)
    }
}

/// Binds JSON parameters by their JSON type.
fn bind<'q>(
    mut query: Query<'q, sqlx::Postgres, PgArguments>,
    params: &[Value],
) -> Query<'q, sqlx::Postgres, PgArguments> {
    for param in params {
        query = match param {
            Value::Null => query.bind(None::<String>),
            Value::Bool(b) => query.bind(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => query.bind(i),
                None => query.bind(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => query.bind(s.clone()),
            other => query.bind(sqlx::types::Json(other.clone())),
        };
    }
    query
}

async fn resolve(host: &str, port: u16) -> Result<Vec<IpAddr>, Failure> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![ip]);
    }
    let found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| Failure::Failed(format!("connection: cannot resolve {host}: {err}")))?;
    Ok(found.map(|address| address.ip()).collect())
}

fn refused_own_database() -> Failure {
    Failure::Refused(
        "connection: this is Nocron's own database, which tasks may not query (an administrator can allow it with DATABASE_QUERY_ALLOW_NOCRON_DB)"
            .into(),
    )
}

/// Whether a target names Nocron's database: same port and database, and a host that is
/// the same name or shares an address (a Unix-socket host counts as this machine).
async fn is_same_database(
    own: &DatabaseTarget,
    target: &DatabaseTarget,
    addresses: &[IpAddr],
) -> bool {
    if own.port != target.port || own.database != target.database {
        return false;
    }
    if own.host.eq_ignore_ascii_case(&target.host) {
        return true;
    }
    if own.host.starts_with('/') {
        return addresses.iter().any(IpAddr::is_loopback);
    }
    match resolve(&own.host, own.port).await {
        Ok(own_addresses) => own_addresses.iter().any(|ip| addresses.contains(ip)),
        // Cannot tell: the identity check after connecting still applies.
        Err(_) => false,
    }
}

/// Whether the connected server and database are Nocron's own (same postmaster start time
/// and database name), whatever address reached it.
async fn same_server_identity(own: &sqlx::PgPool, connection: &mut PgConnection) -> bool {
    const IDENTITY: &str = "SELECT pg_postmaster_start_time()::text || '/' || current_database()";
    let ours: Result<String, _> = sqlx::query_scalar(IDENTITY).fetch_one(own).await;
    let theirs: Result<String, _> = sqlx::query_scalar(IDENTITY)
        .persistent(false)
        .fetch_one(&mut *connection)
        .await;
    matches!((ours, theirs), (Ok(a), Ok(b)) if a == b)
}

/// A database error in words; the statement timeout is a timeout. Errors in the statement
/// or the data (syntax, permissions, a write in read-only mode, constraint violations) are
/// permanent; connection trouble, deadlocks, serialization failures and a server short of
/// resources are worth another attempt.
fn classify(err: &sqlx::Error) -> Failure {
    if let sqlx::Error::Database(db) = err
        && db.code().as_deref() == Some("57014")
    {
        return Failure::TimedOut(format!(
            "the statement ran longer than its timeout: {}",
            db.message()
        ));
    }
    if is_transient(err) {
        Failure::Failed(describe(err))
    } else {
        Failure::Refused(describe(err))
    }
}

/// Whether another attempt may succeed: anything but a database error, or one of the
/// SQLSTATE classes of connection trouble, rollbacks, resources and operator intervention.
fn is_transient(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return true;
    };
    let code = db.code().map(|code| code.into_owned()).unwrap_or_default();
    ["08", "40", "53", "55", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
}

fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE {code})", db.message()),
            None => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

impl Action for DatabaseAction {
    fn run<'a>(&'a self, context: &'a ExecutionContext) -> BoxFuture<'a, ActionOutcome> {
        Box::pin(self.execute(context))
    }
}
