//! The `secrets` table: create, list (never values), update, delete, and load-and-decrypt by
//! name for the worker. Every function is scoped to one owner: another owner's secret is
//! simply not found.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{MAX_DESCRIPTION_LEN, MAX_VALUE_LEN, SecretError, SecretValue, Vault, validate_name};
use crate::db::constraint::OnConstraint;

/// The unique constraint on a secret's name within its owner's secrets.
const OWNER_NAME_KEY: &str = "secrets_owner_name_key";

/// What is stored about a secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SecretMeta {
    /// The secret's id.
    pub id: Uuid,
    /// The name used in `{{ secrets.NAME }}`.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its name, description or value last changed.
    pub updated_at: DateTime<Utc>,
}

/// A secret to create.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Its name (see [`validate_name`]).
    pub name: String,
    /// An optional description.
    pub description: Option<String>,
    /// The plaintext value.
    pub value: SecretValue,
}

/// Changes to a secret; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SecretChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// A new value.
    pub value: Option<SecretValue>,
}

/// The associated data a value is sealed with: a ciphertext only opens for the row (owner
/// and id) it was written for, so one copied onto another row is useless.
pub(crate) fn associated_data(owner_id: Uuid, id: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(48);
    aad.extend_from_slice(b"nocron secret v1\0");
    aad.extend_from_slice(owner_id.as_bytes());
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn check_value(value: &SecretValue) -> Result<(), SecretError> {
    let len = value.expose().len();
    if len == 0 || len > MAX_VALUE_LEN {
        return Err(SecretError::Invalid {
            field: "value",
            message: format!("must be 1 to {MAX_VALUE_LEN} bytes, got {len}"),
        });
    }
    Ok(())
}

fn value_too_large() -> SecretError {
    SecretError::Invalid {
        field: "value",
        message: "is too large to encrypt".into(),
    }
}

fn check_name(name: &str) -> Result<(), SecretError> {
    validate_name(name).map_err(|message| SecretError::Invalid {
        field: "name",
        message,
    })
}

fn check_description(description: Option<&str>) -> Result<(), SecretError> {
    match description {
        Some(text) if text.chars().count() > MAX_DESCRIPTION_LEN => Err(SecretError::Invalid {
            field: "description",
            message: format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        }),
        _ => Ok(()),
    }
}

/// Stores a new secret for `owner_id`, encrypted under the vault's current key.
pub async fn create(
    db: &PgPool,
    vault: &Vault,
    owner_id: Uuid,
    secret: NewSecret,
) -> Result<SecretMeta, SecretError> {
    check_name(&secret.name)?;
    check_description(secret.description.as_deref())?;
    check_value(&secret.value)?;
    let id = Uuid::now_v7();
    let sealed = vault
        .seal(
            secret.value.expose().as_bytes(),
            &associated_data(owner_id, id),
        )
        .map_err(|_| value_too_large())?;
    sqlx::query_as!(
        SecretMeta,
        r#"INSERT INTO secrets (id, owner_id, name, description, ciphertext, key_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, name, description, created_at, updated_at"#,
        id,
        owner_id,
        secret.name,
        secret.description,
        sealed.bytes,
        sealed.key_id,
    )
    .fetch_one(db)
    .await
    .on_constraint(OWNER_NAME_KEY, |_| {
        SecretError::DuplicateName(secret.name.to_owned())
    })
}

/// The owner's secrets, by name, without values.
pub async fn list(db: &PgPool, owner_id: Uuid) -> Result<Vec<SecretMeta>, SecretError> {
    Ok(sqlx::query_as!(
        SecretMeta,
        r#"SELECT id, name, description, created_at, updated_at
           FROM secrets WHERE owner_id = $1 ORDER BY name"#,
        owner_id,
    )
    .fetch_all(db)
    .await?)
}

/// Up to `limit` of the owner's secrets by name, starting after the name `after`.
pub async fn list_page(
    db: &PgPool,
    owner_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<SecretMeta>, SecretError> {
    Ok(sqlx::query_as!(
        SecretMeta,
        r#"SELECT id, name, description, created_at, updated_at
           FROM secrets WHERE owner_id = $1 AND ($2::text IS NULL OR name > $2)
           ORDER BY name LIMIT $3"#,
        owner_id,
        after,
        limit,
    )
    .fetch_all(db)
    .await?)
}

/// One of the owner's secrets, without its value.
pub async fn get(db: &PgPool, owner_id: Uuid, id: Uuid) -> Result<Option<SecretMeta>, SecretError> {
    Ok(sqlx::query_as!(
        SecretMeta,
        r#"SELECT id, name, description, created_at, updated_at
           FROM secrets WHERE id = $1 AND owner_id = $2"#,
        id,
        owner_id,
    )
    .fetch_optional(db)
    .await?)
}

/// Applies `changes` to one of the owner's secrets; `None` when there is no such secret.
pub async fn update(
    db: &PgPool,
    vault: &Vault,
    owner_id: Uuid,
    id: Uuid,
    changes: SecretChanges,
) -> Result<Option<SecretMeta>, SecretError> {
    if let Some(name) = &changes.name {
        check_name(name)?;
    }
    if let Some(description) = &changes.description {
        check_description(description.as_deref())?;
    }
    let sealed = match &changes.value {
        Some(value) => {
            check_value(value)?;
            Some(
                vault
                    .seal(value.expose().as_bytes(), &associated_data(owner_id, id))
                    .map_err(|_| value_too_large())?,
            )
        }
        None => None,
    };
    let (ciphertext, key_id) = match sealed {
        Some(sealed) => (Some(sealed.bytes), Some(sealed.key_id)),
        None => (None, None),
    };
    let set_description = changes.description.is_some();
    let description = changes.description.flatten();
    sqlx::query_as!(
        SecretMeta,
        r#"UPDATE secrets SET
             name = COALESCE($3, name),
             description = CASE WHEN $4 THEN $5 ELSE description END,
             ciphertext = COALESCE($6, ciphertext),
             key_id = COALESCE($7, key_id),
             updated_at = now()
           WHERE id = $1 AND owner_id = $2
           RETURNING id, name, description, created_at, updated_at"#,
        id,
        owner_id,
        changes.name.as_deref(),
        set_description,
        description,
        ciphertext,
        key_id,
    )
    .fetch_optional(db)
    .await
    .on_constraint(OWNER_NAME_KEY, |_| {
        SecretError::DuplicateName(changes.name.clone().unwrap_or_default())
    })
}

/// Deletes one of the owner's secrets; whether it existed.
pub async fn delete(db: &PgPool, owner_id: Uuid, id: Uuid) -> Result<bool, SecretError> {
    let result = sqlx::query!(
        "DELETE FROM secrets WHERE id = $1 AND owner_id = $2",
        id,
        owner_id
    )
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Decrypts the owner's secrets named in `names`, for the worker. Every name must exist:
/// the error lists the missing ones.
pub async fn load_values(
    db: &PgPool,
    vault: &Vault,
    owner_id: Uuid,
    names: &[String],
) -> Result<HashMap<String, SecretValue>, SecretError> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query!(
        "SELECT id, name, ciphertext FROM secrets WHERE owner_id = $1 AND name = ANY($2)",
        owner_id,
        names,
    )
    .fetch_all(db)
    .await?;
    let mut values = HashMap::with_capacity(rows.len());
    for row in rows {
        let plaintext = vault
            .open(&row.ciphertext, &associated_data(owner_id, row.id))
            .map_err(|source| SecretError::Undecryptable {
                name: row.name.clone(),
                source,
            })?;
        let text = String::from_utf8(plaintext).map_err(|_| SecretError::Undecryptable {
            name: row.name.clone(),
            source: super::VaultError::Malformed,
        })?;
        values.insert(row.name, SecretValue::new(text));
    }
    let mut missing: Vec<String> = names
        .iter()
        .filter(|name| !values.contains_key(*name))
        .cloned()
        .collect();
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return Err(SecretError::Missing(missing));
    }
    Ok(values)
}

/// A task configuration with its secret references resolved, and the redactor for the
/// values that went into it.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The configuration with every `{{ secrets.NAME }}` replaced by its value.
    pub config: serde_json::Value,
    /// The values by name (for actions that hand them on, like the script sandbox).
    pub secrets: HashMap<String, SecretValue>,
    /// Redacts those values from logs, outcomes and errors.
    pub redactor: super::Redactor,
}

/// What the worker does before running an action: finds the secrets `config` refers to
/// (plus `declared`, e.g. a script's `secrets` list), loads and decrypts them for the
/// owner, and resolves the references.
pub async fn resolve_config(
    db: &PgPool,
    vault: &Vault,
    owner_id: Uuid,
    config: &serde_json::Value,
    declared: &[String],
) -> Result<ResolvedConfig, SecretError> {
    let mut names: Vec<String> = super::find_references(config)
        .map_err(|err| SecretError::Invalid {
            field: "config",
            message: err.to_string(),
        })?
        .into_iter()
        .collect();
    for name in declared {
        check_name(name)?;
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let secrets = load_values(db, vault, owner_id, &names).await?;
    let config = super::resolve(config, &secrets).map_err(|err| SecretError::Invalid {
        field: "config",
        message: err.to_string(),
    })?;
    Ok(ResolvedConfig {
        config,
        redactor: super::Redactor::for_secrets(&secrets),
        secrets,
    })
}
