//! Access tokens (HS256 JWTs, algorithm pinned) and opaque refresh tokens.
//!
//! An access token names its user (`sub`), role, session (`sid`) and the user's token
//! version (`ver`); `typ` must be `access`, so no other kind of token is ever accepted in
//! its place. Refresh tokens are 256 random bits; only their SHA-256 is stored.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::role::Role;
use crate::{config::AuthSettings, error::AppError};

/// The `typ` claim of access tokens.
pub const ACCESS_TYPE: &str = "access";

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer (`JWT_ISSUER`).
    pub iss: String,
    /// Audience (`JWT_AUDIENCE`).
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Token kind; must be `access`.
    pub typ: String,
    /// The user's role when issued (the database is authoritative on each request).
    pub role: Role,
    /// The session (refresh-token family) it belongs to.
    pub sid: Uuid,
    /// The user's token version when issued.
    pub ver: i32,
}

/// Signing and verification keys with the pinned validation rules.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys from the HMAC secret and the auth settings.
    pub fn new(secret: &str, settings: &AuthSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.validate_exp = true;
        // Small clock skew between instances only.
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl: settings.access_token_ttl,
        }
    }

    /// Access-token lifetime in seconds (`expires_in`).
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl.as_secs() as i64
    }

    /// Issues an access token.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        session_id: Uuid,
        token_version: i32,
    ) -> Result<String, AppError> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            exp: now + self.ttl_seconds(),
            nbf: now,
            iat: now,
            jti: Uuid::new_v4(),
            typ: ACCESS_TYPE.to_owned(),
            role,
            sid: session_id,
            ver: token_version,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)
    }

    /// Verifies signature, algorithm, issuer, audience, times and kind.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AppError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|err| {
                let reason = match err.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                    jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                        "the token is not valid yet"
                    }
                    _ => "the token is invalid",
                };
                AppError::unauthorized(reason).with_source(err)
            })?;
        if data.claims.typ != ACCESS_TYPE {
            return Err(AppError::unauthorized("the token is not an access token"));
        }
        Ok(data.claims)
    }
}

/// A new opaque refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a high-entropy token (refresh token, API key): its SHA-256.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        let settings = crate::config::Settings::from_lookup(|_| None)
            .expect("defaults")
            .auth;
        JwtKeys::new(secret, &settings)
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let keys = keys(&"k".repeat(32));
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let token = keys.issue(user, Role::Admin, session, 3).expect("issue");
        let claims = keys.verify(&token).expect("verify");
        assert_eq!((claims.sub, claims.sid, claims.ver), (user, session, 3));
        assert_eq!(claims.role, Role::Admin);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn another_key_is_refused() {
        let token = keys(&"a".repeat(32))
            .issue(Uuid::new_v4(), Role::User, Uuid::new_v4(), 0)
            .expect("issue");
        assert!(keys(&"b".repeat(32)).verify(&token).is_err());
    }

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 32);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
