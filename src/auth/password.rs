//! Passwords: the policy (8–128 characters, kept exactly as typed, common ones refused) and
//! argon2id hashing on the blocking pool.
//!
//! Verifying for an unknown email runs against a dummy hash with the same parameters, so a
//! login costs the same time whether or not the email is registered.

use std::{collections::HashSet, sync::LazyLock};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};
use rand::Rng;

use crate::error::AppError;

/// Fewest characters (Unicode scalar values) a password may have.
pub const MIN_LENGTH: usize = 8;
/// Most characters a password may have; longer ones are refused, never truncated.
pub const MAX_LENGTH: usize = 128;

/// Lower-cased passwords that appear at the top of breach corpora.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// A hash nobody knows the password of, verified against when the email is unknown.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    rand::rng().fill(&mut secret[..]);
    hash_blocking(&hex::encode(secret)).ok()
});

/// argon2id, m = 19 MiB, t = 2, p = 1 (the OWASP baseline).
fn hasher() -> Result<Argon2<'static>, AppError> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks the policy; the error names `field`.
pub fn check_policy(field: &str, password: &str, email: &str) -> Result<(), AppError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(AppError::invalid_field(
            field,
            format!("must be at least {MIN_LENGTH} characters long"),
        ));
    }
    if length > MAX_LENGTH {
        return Err(AppError::invalid_field(
            field,
            format!("must be at most {MAX_LENGTH} characters long"),
        ));
    }
    let lowered = password.to_lowercase();
    if COMMON.contains(lowered.as_str()) {
        return Err(AppError::invalid_field(
            field,
            "is one of the most common passwords; choose another",
        ));
    }
    if !email.is_empty() && lowered == email.to_lowercase() {
        return Err(AppError::invalid_field(field, "must not be your email"));
    }
    Ok(())
}

fn hash_blocking(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt[..]);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AppError::internal(anyhow::anyhow!("salt: {e}")))?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("hashing a password: {e}")))
}

fn verify_blocking(password: &str, stored: Option<&str>) -> bool {
    let is_real = stored.is_some();
    let Some(stored) = stored.or(DUMMY_HASH.as_deref()) else {
        return false;
    };
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let matched = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    // The dummy hash never authenticates, even in the impossible case of a match.
    matched && is_real
}

/// Hashes a password with argon2id on the blocking pool.
pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(AppError::internal)?
}

/// Verifies a password on the blocking pool. With no stored hash (unknown email) it does
/// the same work against a dummy hash and answers `false`.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, stored.as_deref()))
        .await
        .map_err(AppError::internal)
}

/// Computes the dummy hash now, so the first unknown-email login is not slower.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
    LazyLock::force(&COMMON);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_counts_characters_not_bytes_and_refuses_common_ones() {
        assert!(check_policy("password", "ünïcødé!", "").is_ok());
        assert!(check_policy("password", "短いパス", "").is_err());
        assert!(check_policy("password", "パスワードは長くて安全です", "").is_ok());
        assert!(check_policy("password", &"x".repeat(128), "").is_ok());
        let long = check_policy("password", &"x".repeat(129), "").expect_err("too long");
        assert_eq!(long.field_errors()[0].field, "password");
        for common in [
            "password123",
            "Password1",
            "qwertyuiop",
            "iloveyou",
            "12345678",
        ] {
            assert!(check_policy("password", common, "").is_err(), "{common}");
        }
        assert!(check_policy("new_password", "me@example.com", "ME@example.com").is_err());
    }

    #[test]
    fn the_common_list_is_substantial() {
        assert!(COMMON.len() >= 1000);
    }

    #[test]
    fn hashes_are_argon2id_with_the_baseline_parameters_and_verify() {
        let hash = hash_blocking("correct horse battery").expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_blocking("correct horse battery", Some(&hash)));
        assert!(!verify_blocking("correct horse batter", Some(&hash)));
        assert!(!verify_blocking("anything", None));
        assert!(!verify_blocking("anything", Some("not a hash")));
    }
}
