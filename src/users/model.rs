//! The user as the API shows it, and the queries on `users` that other modules call.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{auth::Role, db::constraint::OnConstraint, error::AppError, text_enum};

text_enum! {
    /// Whether an account can sign in.
    pub enum UserStatus {
        /// Can sign in.
        Active = "active",
        /// Disabled by an admin; cannot sign in.
        Disabled = "disabled",
        /// Locked by an admin (for example while a compromise is looked into); cannot sign in.
        Locked = "locked",
        /// Deleted (kept for history); cannot sign in.
        Deleted = "deleted",
    }
}

impl UserStatus {
    /// Parses a stored status; an unknown value is a server-side inconsistency.
    pub fn from_db(value: &str) -> Result<Self, AppError> {
        value.parse().map_err(|_| {
            AppError::internal(anyhow::anyhow!(
                "unknown user status {value:?} in the database"
            ))
        })
    }
}

/// A user account.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserOut {
    /// The user id.
    pub id: Uuid,
    /// The sign-in email.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// Display name.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// The role.
    pub role: Role,
    /// Whether the account can sign in.
    pub status: UserStatus,
    /// Preferred IANA time zone, e.g. `Europe/Paris`.
    pub timezone: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A `users` row as read from the database.
pub struct UserRow {
    /// See [`UserOut`].
    pub id: Uuid,
    /// See [`UserOut`].
    pub email: String,
    /// See [`UserOut`].
    pub name: String,
    /// Stored role name.
    pub role: String,
    /// Stored status name.
    pub status: String,
    /// See [`UserOut`].
    pub timezone: Option<String>,
    /// See [`UserOut`].
    pub created_at: DateTime<Utc>,
    /// See [`UserOut`].
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for UserOut {
    type Error = AppError;

    fn try_from(row: UserRow) -> Result<Self, AppError> {
        Ok(UserOut {
            id: row.id,
            email: row.email,
            name: row.name,
            role: Role::from_db(&row.role)?,
            status: UserStatus::from_db(&row.status)?,
            timezone: row.timezone,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// What login needs to know about an email's account.
pub struct LoginAccount {
    /// The user id.
    pub id: Uuid,
    /// The argon2 hash.
    pub password_hash: String,
    /// The role.
    pub role: Role,
    /// Active or disabled (deleted accounts are not found).
    pub status: UserStatus,
    /// The current token version.
    pub token_version: i32,
}

/// Creates an account; a taken email is a 409 that names no account.
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    name: &str,
    password_hash: &str,
    role: Role,
) -> Result<UserOut, AppError> {
    let row = sqlx::query_as!(
        UserRow,
        r#"INSERT INTO users (id, email, name, password_hash, role)
           VALUES ($1, $2::text::citext, $3, $4, $5)
           RETURNING id, email::text AS "email!", name, role, status, timezone, created_at, updated_at"#,
        Uuid::now_v7(),
        email,
        name,
        password_hash,
        role.as_str(),
    )
    .fetch_one(db)
    .await
    .on_constraint("users_email_key", |err| {
        AppError::conflict("an account cannot be created with this email").with_source(err)
    })?;
    row.try_into()
}

/// The live (not deleted) account with this email, for login.
pub async fn find_for_login(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<LoginAccount>, AppError> {
    let row = sqlx::query!(
        "SELECT id, password_hash, role, status, token_version FROM users
         WHERE email = $1::text::citext AND deleted_at IS NULL",
        email
    )
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        Ok(LoginAccount {
            id: row.id,
            password_hash: row.password_hash,
            role: Role::from_db(&row.role)?,
            status: UserStatus::from_db(&row.status)?,
            token_version: row.token_version,
        })
    })
    .transpose()
}

/// A live (not deleted) user by id.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserOut>, AppError> {
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT id, email::text AS "email!", name, role, status, timezone, created_at, updated_at
           FROM users WHERE id = $1 AND deleted_at IS NULL"#,
        id
    )
    .fetch_optional(db)
    .await?;
    row.map(UserOut::try_from).transpose()
}

/// The password hash and token version of a live user, for password changes.
pub async fn password_hash(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<(String, i32)>, AppError> {
    Ok(sqlx::query!(
        "SELECT password_hash, token_version FROM users WHERE id = $1 AND deleted_at IS NULL",
        id
    )
    .fetch_optional(db)
    .await?
    .map(|row| (row.password_hash, row.token_version)))
}

/// Stores a new password hash and bumps the token version; returns the new version.
pub async fn set_password(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
) -> Result<i32, AppError> {
    Ok(sqlx::query_scalar!(
        "UPDATE users SET password_hash = $2, token_version = token_version + 1,
             force_password_reset = false, updated_at = now()
         WHERE id = $1 RETURNING token_version",
        id,
        password_hash
    )
    .fetch_one(conn)
    .await?)
}

/// Bumps a user's token version, which ends every access token issued before.
pub async fn bump_token_version(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE users SET token_version = token_version + 1, updated_at = now() WHERE id = $1",
        id
    )
    .execute(db)
    .await?;
    Ok(())
}
