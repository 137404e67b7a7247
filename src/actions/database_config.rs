//! The `DATABASE_QUERY` configuration: parsing with errors that name the field, the
//! connection URL (credentials only from the URL, never from the server's environment),
//! and how a statement is wrapped so its rows come back as JSON.

use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;

use crate::error::FieldError;

/// Rows returned unless the configuration says otherwise.
pub const DEFAULT_MAX_ROWS: u32 = 1_000;
/// The most rows a task may ask for.
pub const MAX_MAX_ROWS: u32 = 10_000;
/// Statement timeout unless the configuration says otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The longest statement timeout a task may ask for.
pub const MAX_TIMEOUT_MS: u64 = 300_000;
/// Longest SQL text, in bytes.
pub const MAX_SQL_LEN: usize = 100 * 1024;
/// URL parameters that make the PostgreSQL driver read a file on Nocron's server.
const FILE_PARAMETERS: &[&str] = &[
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "sslcrl",
    "sslcrldir",
];

/// Most parameters.
pub const MAX_PARAMS: usize = 100;

/// A DATABASE_QUERY configuration.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DatabaseActionConfig)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database[?sslmode=…]`, normally
    /// `{{ secrets.NAME }}`.
    pub connection: String,
    /// One SQL statement; `$1`, `$2`, … are bound from `params`.
    pub sql: String,
    /// Parameter values: strings are sent as text, numbers as `bigint`/`double precision`,
    /// booleans as `boolean`, arrays and objects as `jsonb`, `null` as a text null.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub params: Vec<Value>,
    /// Runs the statement in a read-write transaction (default: `READ ONLY`).
    #[serde(default)]
    pub allow_writes: bool,
    /// Rows kept in the result; more are reported as truncated.
    #[serde(default = "default_max_rows")]
    #[schema(minimum = 1, maximum = 10_000)]
    pub max_rows: u32,
    /// `statement_timeout` for the statement, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    #[schema(minimum = 1, maximum = 300_000)]
    pub timeout_ms: u64,
}

fn default_max_rows() -> u32 {
    DEFAULT_MAX_ROWS
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

pub(super) fn field(path: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: if path.is_empty() {
            "action.config".to_owned()
        } else {
            format!("action.config.{path}")
        },
        message: message.into(),
    }
}

impl DatabaseConfig {
    /// Parses and checks a configuration. `as_saved`: the configuration as the user wrote
    /// it (secret references unresolved), where a password in a literal URL is refused.
    pub fn parse(config: &Value, as_saved: bool) -> Result<Self, Vec<FieldError>> {
        let parsed: DatabaseConfig =
            serde_path_to_error::deserialize(config.clone()).map_err(|err| {
                let path = err.path().to_string();
                let path = if path == "." { String::new() } else { path };
                vec![field(&path, err.into_inner().to_string())]
            })?;
        let mut errors = Vec::new();
        if parsed.sql.trim().is_empty() {
            errors.push(field("sql", "must not be empty"));
        } else if parsed.sql.len() > MAX_SQL_LEN {
            errors.push(field("sql", format!("must be at most {MAX_SQL_LEN} bytes")));
        }
        if parsed.params.len() > MAX_PARAMS {
            errors.push(field("params", format!("at most {MAX_PARAMS} parameters")));
        }
        // Parameters may take values from the run (`"{{ input.since }}"`); their template
        // syntax is checked now, so a typo fails when the task is saved.
        let env = crate::actions::json_template::environment();
        crate::actions::json_template::check_templates(
            &env,
            "params",
            Value::Array(parsed.params.clone()),
            &mut errors,
        );
        if !(1..=MAX_MAX_ROWS).contains(&parsed.max_rows) {
            errors.push(field(
                "max_rows",
                format!("must be from 1 to {MAX_MAX_ROWS}"),
            ));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&parsed.timeout_ms) {
            errors.push(field(
                "timeout_ms",
                format!("must be from 1 to {MAX_TIMEOUT_MS}"),
            ));
        }
        let connection = parsed.connection.trim();
        if connection.is_empty() {
            errors.push(field("connection", "must not be empty"));
        } else if !connection.contains("{{") {
            // A literal URL: it must parse, and a password belongs in a secret.
            match ConnectionUrl::parse(connection) {
                Ok(url) if as_saved && url.has_password => errors.push(field(
                    "connection",
                    "keeps a password in the task: store the URL as a secret and write {{ secrets.NAME }}",
                )),
                Ok(_) => {}
                Err(message) => errors.push(field("connection", message)),
            }
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(errors)
        }
    }
}

/// A parsed connection URL. Messages never repeat the URL (it holds a password).
pub struct ConnectionUrl {
    /// The options to connect with.
    pub options: PgConnectOptions,
    /// Whether the URL carries a password.
    pub has_password: bool,
}

impl ConnectionUrl {
    /// Parses `postgres://user[:password]@host[:port]/database[?…]`. User, host and
    /// database are required; the password comes only from the URL (an empty one when
    /// absent), so the server's `PGPASSWORD` or `.pgpass` never applies to a task.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim())
            .map_err(|_| "is not a valid postgres:// URL".to_owned())?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "the {}: scheme is not supported; use postgres://",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL has no host".into());
        }
        if url.username().is_empty() {
            return Err("the URL has no user name".into());
        }
        if url.path().trim_start_matches('/').is_empty() {
            return Err("the URL names no database".into());
        }
        for (key, _) in url.query_pairs() {
            if matches!(
                key.as_ref(),
                "host" | "hostaddr" | "port" | "user" | "password" | "dbname" | "passfile"
            ) {
                return Err(format!(
                    "the URL parameter {key} is not allowed: put it in the URL itself"
                ));
            }
            if FILE_PARAMETERS.contains(&key.as_ref()) {
                return Err(format!(
                    "the URL parameter {key} is not allowed: a task cannot name files on the \
                     server (the operator trusts a private CA with DATABASE_QUERY_CA_FILE)"
                ));
            }
        }
        let password = url
            .password()
            .map(percent_encoding_decode)
            .unwrap_or_default();
        let options = PgConnectOptions::from_str(text.trim())
            .map_err(|_| "is not a valid postgres:// URL".to_owned())?
            .password(&password)
            .application_name("nocron-task");
        if options.get_socket().is_some() || options.get_host().starts_with('/') {
            return Err("Unix sockets are not allowed; give a host name or address".into());
        }
        Ok(ConnectionUrl {
            options,
            has_password: url.password().is_some(),
        })
    }
}

fn percent_encoding_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// How a statement is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// Its rows come back as JSON text, one per row, at most `limit`.
    Rows(String),
    /// No rows: only the number of rows affected is reported.
    Plain(String),
}

/// Skips leading whitespace and SQL comments.
fn skip_trivia(mut sql: &str) -> &str {
    loop {
        let trimmed = sql.trim_start();
        if let Some(rest) = trimmed.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = trimmed.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return trimmed;
        }
    }
}

fn has_word(sql: &str, word: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|token| token.eq_ignore_ascii_case(word))
}

/// Wraps one statement so its rows arrive as `row_to_json` text with at most `limit` rows:
/// queries (`SELECT`, `WITH`, `VALUES`, `TABLE`) as a subquery, writes with `RETURNING` as
/// a data-modifying CTE when writes are allowed; other statements run as they are (so a
/// write in read-only mode fails with PostgreSQL's own words for it).
pub fn wrap(sql: &str, limit: u64, allow_writes: bool) -> Statement {
    let sql = sql
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    let first: String = skip_trivia(sql)
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    // The newline before the closing parenthesis ends a trailing `--` comment.
    match first.as_str() {
        "SELECT" | "WITH" | "VALUES" | "TABLE" => Statement::Rows(format!(
            "SELECT row_to_json(q)::text FROM (\n{sql}\n) AS q LIMIT {limit}"
        )),
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" if allow_writes && has_word(sql, "RETURNING") => {
            Statement::Rows(format!(
                "WITH q AS (\n{sql}\n) SELECT row_to_json(q)::text FROM q LIMIT {limit}"
            ))
        }
        _ => Statement::Plain(sql.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(config: Value) -> Vec<String> {
        match DatabaseConfig::parse(&config, true) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn configurations_are_checked_by_field() {
        assert!(
            fields(json!({"connection": "{{ secrets.PG_URL }}", "sql": "SELECT 1"})).is_empty()
        );
        assert_eq!(
            fields(json!({"connection": "postgres://u:pw@db.example.com/app", "sql": "SELECT 1"})),
            vec!["action.config.connection"]
        );
        assert!(
            fields(json!({"connection": "postgres://u@db.example.com/app", "sql": "SELECT 1"}))
                .is_empty()
        );
        assert_eq!(
            fields(
                json!({"connection": "mysql://u@h/db", "sql": " ", "max_rows": 0, "timeout_ms": 0})
            ),
            vec![
                "action.config.sql",
                "action.config.max_rows",
                "action.config.timeout_ms",
                "action.config.connection"
            ]
        );
        assert_eq!(fields(json!({"sql": "SELECT 1"})), vec!["action.config"]);
        assert_eq!(
            fields(json!({"connection": "x", "sql": "SELECT 1", "params": "a"})),
            vec!["action.config.params"]
        );
    }

    #[test]
    fn urls_need_user_host_and_database_and_no_socket() {
        for (text, expected) in [
            ("postgres://db.example.com/app", "user"),
            ("postgres://u@db.example.com", "database"),
            (
                "postgres://u@db.example.com/app?host=/var/run/postgresql",
                "not allowed",
            ),
            ("postgres://u@%2Fvar%2Frun/app", "socket"),
        ] {
            let err = ConnectionUrl::parse(text).err().unwrap_or_default();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let url =
            ConnectionUrl::parse("postgres://u:p%40ss@db.example.com:6543/app").expect("parses");
        assert!(url.has_password);
        assert_eq!(url.options.get_port(), 6543);
        assert_eq!(url.options.get_database(), Some("app"));
    }

    #[test]
    fn a_task_url_naming_files_on_the_server_is_refused() {
        // `sslrootcert=/dev/zero` would have the driver read until memory runs out, and
        // `sslkey` would present whatever key the process can read.
        for parameter in FILE_PARAMETERS {
            let text = format!(
                "postgres://u@db.example.com/app?sslmode=verify-full&{parameter}=/dev/zero"
            );
            let err = ConnectionUrl::parse(&text).err().unwrap_or_default();
            assert!(
                err.contains(&format!("the URL parameter {parameter} is not allowed")),
                "{text}: {err}"
            );
        }
        assert!(
            ConnectionUrl::parse("postgres://u@db.example.com/app?sslmode=verify-full").is_ok()
        );
    }

    #[test]
    fn statements_are_wrapped_by_kind() {
        assert_eq!(
            wrap("select * from t; ", 11, false),
            Statement::Rows(
                "SELECT row_to_json(q)::text FROM (\nselect * from t\n) AS q LIMIT 11".into()
            )
        );
        assert!(matches!(
            wrap(
                "-- hi\n/* x */ WITH a AS (SELECT 1) SELECT * FROM a",
                2,
                false
            ),
            Statement::Rows(_)
        ));
        assert!(matches!(
            wrap("insert into t values (1) returning id", 2, true),
            Statement::Rows(sql) if sql.starts_with("WITH q AS")
        ));
        assert!(matches!(
            wrap("insert into t values (1) returning id", 2, false),
            Statement::Plain(_)
        ));
        assert_eq!(
            wrap("UPDATE t SET returning_x = 1", 2, true),
            Statement::Plain("UPDATE t SET returning_x = 1".into())
        );
        assert!(
            matches!(wrap("SELECT 1 -- trailing", 2, false), Statement::Rows(sql) if sql.contains("trailing\n)"))
        );
    }
}
