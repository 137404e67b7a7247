//! The Stripe API client (async-stripe), built once from the settings: `STRIPE_SECRET_KEY`
//! and `STRIPE_API_BASE` (which tests point at a fake Stripe). Every call Nocron makes
//! carries an `Idempotency-Key` ([`idempotent`]); Stripe's errors become 502 problems that
//! name what Stripe said, never the key ([`stripe_error`]).

use std::time::Duration;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError};

use super::routes::billing_disabled;
use crate::{
    config::BillingSettings,
    error::{AppError, AppResult, ErrorCode},
};

/// How long one call to Stripe may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The client, present when billing is on. Handlers take it as a sub-state.
#[derive(Clone, Debug, Default)]
pub struct StripeApi {
    client: Option<Client>,
}

impl StripeApi {
    /// The client the settings describe (none when billing is off).
    ///
    /// # Errors
    /// When `STRIPE_API_BASE` or the key cannot be used by the client.
    pub fn from_settings(billing: &BillingSettings) -> anyhow::Result<Self> {
        let Some(key) = &billing.stripe_secret_key else {
            return Ok(StripeApi::default());
        };
        let base = billing.stripe_api_base.trim_end_matches('/');
        let client = ClientBuilder::new(key.expose())
            .url(format!("{base}/"))
            .timeout(CALL_TIMEOUT)
            .app_info("Nocron", Some(env!("CARGO_PKG_VERSION").to_owned()), None)
            .build()
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot build the Stripe client: {}",
                    redact(&err.to_string())
                )
            })?;
        Ok(StripeApi {
            client: Some(client),
        })
    }

    /// The client; 404 `BILLING_DISABLED` when billing is off.
    pub fn client(&self) -> AppResult<&Client> {
        self.client.as_ref().ok_or_else(billing_disabled)
    }
}

/// A request strategy sending `key` as the `Idempotency-Key` (once: Stripe answers a repeat
/// of the key with the first answer, so a caller's retry is safe).
pub fn idempotent(key: &str) -> AppResult<RequestStrategy> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|err| AppError::internal(anyhow::anyhow!("idempotency key {key:?}: {err:?}")))
}

/// Removes anything that looks like a Stripe key (`sk_…`, `rk_…`) from `text`.
pub fn redact(text: &str) -> String {
    text.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
        .map(|word| {
            let trimmed = word.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            if trimmed.starts_with("sk_") || trimmed.starts_with("rk_") {
                let end: String = word
                    .chars()
                    .rev()
                    .take_while(|c| c.is_whitespace() || *c == '"' || *c == '\'' || *c == ',')
                    .collect();
                format!("[redacted]{}", end.chars().rev().collect::<String>())
            } else {
                word.to_owned()
            }
        })
        .collect()
}

/// The problem a failed Stripe call answers: 502 `EXTERNAL_SERVICE_ERROR` with what Stripe
/// said (its message, type and code, keys redacted), 504 when Stripe did not answer in time.
pub fn stripe_error(err: StripeError) -> AppError {
    match err {
        StripeError::Stripe(errors, status) => {
            let kind = errors.type_.as_str().to_owned();
            let code = errors
                .code
                .as_ref()
                .map(|code| format!(", code {}", code.as_str()))
                .unwrap_or_default();
            let message = errors
                .message
                .as_deref()
                .map(redact)
                .unwrap_or_else(|| "no message".to_owned());
            let detail = if status == 401 || status == 403 {
                "Stripe refused this server's API key (check STRIPE_SECRET_KEY)".to_owned()
            } else {
                format!("Stripe refused the request ({status}, {kind}{code}): {message}")
            };
            tracing::warn!(status, kind, message = %message, "Stripe refused a request");
            AppError::new(ErrorCode::ExternalServiceError, detail)
        }
        StripeError::Timeout => {
            tracing::warn!("Stripe did not answer in time");
            AppError::new(
                ErrorCode::ExternalServiceTimeout,
                "Stripe did not answer in time; try again",
            )
        }
        StripeError::JSONDeserialize(what) => {
            tracing::warn!(error = %what, "cannot read Stripe's answer");
            AppError::new(
                ErrorCode::ExternalServiceError,
                "Stripe's answer could not be read",
            )
        }
        StripeError::ClientError(what) | StripeError::ConfigError(what) => {
            tracing::warn!(error = %redact(&what), "cannot reach Stripe");
            AppError::new(
                ErrorCode::ExternalServiceError,
                "Stripe could not be reached",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted() {
        assert_eq!(
            redact("Invalid API Key provided: sk_test_abc123, try again"),
            "Invalid API Key provided: [redacted], try again"
        );
        assert_eq!(redact("\"rk_live_x\""), "\"[redacted]\"");
        assert_eq!(
            redact("No such price: 'price_1'"),
            "No such price: 'price_1'"
        );
    }
}
