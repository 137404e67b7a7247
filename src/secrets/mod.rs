//! The secrets vault: per-owner named values encrypted at rest ([`vault`]), their storage
//! ([`store`]), `{{ secrets.NAME }}` resolution and redaction ([`template`]), and master-key
//! rotation ([`rotation`]). Values leave this module only through
//! [`store::load_values`], for the worker; listing never returns them.

pub mod rotation;
pub mod routes;
pub mod store;
pub mod template;
pub mod vault;

use std::fmt;

pub use store::{NewSecret, SecretChanges, SecretMeta};
pub use template::{Redactor, find_references, resolve};
pub use vault::{MasterKey, Vault, VaultError};

use crate::error::{AppError, FieldError};

/// The vault from the settings' keys: `NOCRON_MASTER_KEY` (or the development key kept in
/// `DATA_DIR`) as the current key, `NOCRON_OLD_MASTER_KEYS` for decryption only.
pub fn build_vault(
    master_key: Option<&MasterKey>,
    old_master_keys: &[MasterKey],
    data_dir: &std::path::Path,
) -> anyhow::Result<Vault> {
    let current = vault::resolve_master_key(master_key, data_dir)?;
    Ok(Vault::new(current, old_master_keys.to_vec()))
}

/// Longest secret name.
pub const MAX_NAME_LEN: usize = 64;
/// Largest secret value, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// A decrypted secret value. `Debug` and `Display` never show it; [`SecretValue::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a plaintext value.
    pub fn new(value: String) -> Self {
        SecretValue(value)
    }

    /// The plaintext, for the one place that needs it (building the request, the script scope).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

/// Checks a secret name: 1-64 characters, a letter or `_` first, then letters, digits or `_`
/// (so it reads as `{{ secrets.NAME }}` and as a script identifier).
pub fn validate_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if first_ok
        && name.len() <= MAX_NAME_LEN
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "the name {name:?} must be 1-{MAX_NAME_LEN} characters: a letter or _ first, then letters, digits or _"
        ))
    }
}

/// Why a vault operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A field of the input is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (`name`, `value`, `description`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The owner already has a secret with this name.
    #[error("a secret named {0:?} already exists")]
    DuplicateName(String),
    /// Some requested names do not exist for this owner.
    #[error("unknown secrets: {}", .0.join(", "))]
    Missing(Vec<String>),
    /// A stored value could not be decrypted (key not configured, or altered).
    #[error("the secret {name:?} cannot be decrypted: {source}")]
    Undecryptable {
        /// The secret's name.
        name: String,
        /// Why.
        source: VaultError,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<SecretError> for AppError {
    fn from(err: SecretError) -> Self {
        match err {
            SecretError::Invalid { field, message } => AppError::invalid_field(field, message),
            SecretError::DuplicateName(_) => {
                let message = err.to_string();
                AppError::conflict(message.clone()).with_fields(vec![FieldError {
                    field: "name".into(),
                    message,
                }])
            }
            SecretError::Missing(_) => AppError::invalid_field("secrets", err.to_string()),
            SecretError::Undecryptable { .. } => AppError::internal(err),
            SecretError::Database(db) => AppError::from(db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_identifier_rules() {
        for ok in ["A", "_x", "API_TOKEN", "token2", &"a".repeat(64)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2x", "a-b", "a.b", "a b", "é", &"a".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_do_not_show_in_debug_output() {
        let value = SecretValue::new("hunter2".into());
        assert!(!format!("{value:?}").contains("hunter2"));
        assert_eq!(value.expose(), "hunter2");
    }
}
