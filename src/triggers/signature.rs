//! Inbound webhook signature verification, per trigger: Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`, secrets
//! `whsec_<base64>`, several signatures, a tolerance window) and GitHub's
//! `X-Hub-Signature-256: sha256=<hex>`. Every comparison is constant-time.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

type HmacSha256 = Hmac<Sha256>;

/// The default replay window of Standard Webhooks: five minutes either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// Most signatures read from one header (a sender rotating keys sends a few).
const MAX_SIGNATURES: usize = 10;
/// Longest accepted `webhook-id`.
const MAX_ID_LEN: usize = 256;

/// How a trigger's deliveries are signed, as stored in the trigger's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignatureConfig {
    /// Standard Webhooks (also what Svix-based senders use).
    StandardWebhooks {
        /// Accepted clock difference in seconds (default 300).
        #[serde(default)]
        tolerance_seconds: Option<u32>,
    },
    /// GitHub-style `X-Hub-Signature-256`.
    Github,
}

/// Why a delivery is not accepted. The HTTP layer answers all of them the same way; the
/// variants are for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent or not text.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// A header is present but malformed.
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    /// The timestamp is outside the tolerance window (a replay, or a wrong clock).
    #[error("the timestamp is {0} seconds away from now, outside the tolerance window")]
    OutsideTolerance(i64),
    /// No signature matched any configured secret.
    #[error("no signature matches")]
    NoMatch,
    /// A configured secret is unusable.
    #[error("the signing secret is invalid: {0}")]
    InvalidSecret(String),
}

/// What a verified delivery tells about itself, for replay protection and dedupe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDelivery {
    /// The sender's delivery id (`webhook-id`, or GitHub's `X-GitHub-Delivery`), if sent.
    pub delivery_id: Option<String>,
    /// The signed timestamp (Standard Webhooks only), in Unix seconds.
    pub timestamp: Option<i64>,
    /// What identifies the delivery for dedupe when its id is not signed: for GitHub, whose
    /// `X-GitHub-Delivery` anyone replaying a captured request can change or drop, the
    /// signature itself (`github-sha256:<hex>`), the same for every copy of that signed body.
    /// `None` when the signed `delivery_id` is enough (Standard Webhooks).
    pub replay_key: Option<String>,
}

/// A Standard Webhooks signing key, from `whsec_<base64>` (the prefix is optional, as in
/// the reference libraries).
#[derive(Clone)]
pub struct StandardWebhooksKey(Vec<u8>);

impl std::fmt::Debug for StandardWebhooksKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandardWebhooksKey([REDACTED])")
    }
}

impl StandardWebhooksKey {
    /// Parses `whsec_<base64>` or bare base64.
    pub fn parse(secret: &str) -> Result<Self, SignatureError> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let key = BASE64
            .decode(encoded)
            .map_err(|_| SignatureError::InvalidSecret("not whsec_ followed by base64".into()))?;
        if key.is_empty() {
            return Err(SignatureError::InvalidSecret("empty key".into()));
        }
        Ok(StandardWebhooksKey(key))
    }

    /// The raw HMAC-SHA256 of `id.timestamp.body`.
    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The `v1,<base64>` signature of a delivery (for tests and for senders).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", BASE64.encode(self.mac(id, timestamp, body)))
    }
}

/// A verifier for one trigger: its scheme and its secrets.
#[derive(Debug, Clone)]
pub enum SignatureVerifier {
    /// Standard Webhooks with one or more keys (several while a key rotates).
    StandardWebhooks {
        /// Accepted keys.
        keys: Vec<StandardWebhooksKey>,
        /// Accepted clock difference.
        tolerance: Duration,
    },
    /// GitHub with its shared secret.
    Github {
        /// The webhook secret as configured on GitHub.
        secret: Vec<u8>,
    },
}

fn header<'h>(headers: &'h HeaderMap, names: &[&'static str]) -> Result<&'h str, SignatureError> {
    let name = names[0];
    let value = names
        .iter()
        .find_map(|n| headers.get(*n))
        .ok_or(SignatureError::MissingHeader(name))?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| SignatureError::MalformedHeader(name))
}

impl SignatureVerifier {
    /// Builds the verifier of `config` with the trigger's secrets (each `whsec_…` for
    /// Standard Webhooks; the first one for GitHub).
    pub fn new(config: &SignatureConfig, secrets: &[&str]) -> Result<Self, SignatureError> {
        if secrets.is_empty() {
            return Err(SignatureError::InvalidSecret("no secret configured".into()));
        }
        match config {
            SignatureConfig::StandardWebhooks { tolerance_seconds } => {
                Ok(SignatureVerifier::StandardWebhooks {
                    keys: secrets
                        .iter()
                        .map(|s| StandardWebhooksKey::parse(s))
                        .collect::<Result<_, _>>()?,
                    tolerance: tolerance_seconds
                        .map(|s| Duration::from_secs(u64::from(s)))
                        .unwrap_or(DEFAULT_TOLERANCE),
                })
            }
            SignatureConfig::Github => Ok(SignatureVerifier::Github {
                secret: secrets[0].as_bytes().to_vec(),
            }),
        }
    }

    /// Checks a delivery's headers and exact body bytes; `now` is the current Unix time.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<VerifiedDelivery, SignatureError> {
        match self {
            SignatureVerifier::StandardWebhooks { keys, tolerance } => {
                verify_standard_webhooks(keys, *tolerance, headers, body, now)
            }
            SignatureVerifier::Github { secret } => verify_github(secret, headers, body),
        }
    }
}

fn verify_standard_webhooks(
    keys: &[StandardWebhooksKey],
    tolerance: Duration,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<VerifiedDelivery, SignatureError> {
    // Svix-based senders use the same scheme under `svix-*` names.
    let id = header(headers, &["webhook-id", "svix-id"])?;
    let timestamp_text = header(headers, &["webhook-timestamp", "svix-timestamp"])?;
    let signatures = header(headers, &["webhook-signature", "svix-signature"])?;
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(SignatureError::MalformedHeader("webhook-id"));
    }
    let timestamp: i64 = timestamp_text
        .parse()
        .map_err(|_| SignatureError::MalformedHeader("webhook-timestamp"))?;
    let skew = now.saturating_sub(timestamp);
    let tolerance_secs = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if skew.unsigned_abs() > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::OutsideTolerance(skew));
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        // Other versions (e.g. `v1a`, asymmetric) are not ours to check.
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, encoded)| BASE64.decode(encoded).ok())
        .take(MAX_SIGNATURES)
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::MalformedHeader("webhook-signature"));
    }
    let mut matched = subtle::Choice::from(0);
    // Every key against every signature, without stopping early: timing says nothing about
    // which one matched.
    for key in keys {
        let expected = key.mac(id, timestamp, body);
        for candidate in &candidates {
            matched |= expected.as_slice().ct_eq(candidate.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(VerifiedDelivery {
            delivery_id: Some(id.to_owned()),
            timestamp: Some(timestamp),
            replay_key: None,
        })
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// GitHub's `sha256=<hex>` of a body under `secret`.
pub fn sign_github(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn verify_github(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<VerifiedDelivery, SignatureError> {
    let name = "x-hub-signature-256";
    let signature = header(headers, &[name])?;
    let provided = signature
        .strip_prefix("sha256=")
        .and_then(|hex_text| hex::decode(hex_text).ok())
        .ok_or(SignatureError::MalformedHeader(name))?;
    let mut mac = HmacSha256::new_from_slice(secret)
        .map_err(|e| SignatureError::InvalidSecret(e.to_string()))?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&provided)
        .map_err(|_| SignatureError::NoMatch)?;
    let delivery_id = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(VerifiedDelivery {
        delivery_id,
        timestamp: None,
        replay_key: Some(format!("github-sha256:{}", hex::encode(&provided))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The test vector published with the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn spec_headers(signature: &str) -> HeaderMap {
        headers(&[
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", &SPEC_TIMESTAMP.to_string()),
            ("webhook-signature", signature),
        ])
    }

    fn standard(secrets: &[&str]) -> SignatureVerifier {
        SignatureVerifier::new(
            &SignatureConfig::StandardWebhooks {
                tolerance_seconds: None,
            },
            secrets,
        )
        .expect("verifier")
    }

    #[test]
    fn the_published_standard_webhooks_vector_signs_and_verifies() {
        let key = StandardWebhooksKey::parse(SPEC_SECRET).expect("key");
        assert_eq!(key.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
        let delivery = standard(&[SPEC_SECRET])
            .verify(&spec_headers(SPEC_SIGNATURE), SPEC_BODY, SPEC_TIMESTAMP)
            .expect("valid");
        assert_eq!(delivery.delivery_id.as_deref(), Some(SPEC_ID));
        assert_eq!(delivery.timestamp, Some(SPEC_TIMESTAMP));
        // The prefix is optional, as in the reference libraries.
        let bare = SPEC_SECRET.trim_start_matches("whsec_");
        assert!(
            standard(&[bare])
                .verify(&spec_headers(SPEC_SIGNATURE), SPEC_BODY, SPEC_TIMESTAMP)
                .is_ok()
        );
    }

    #[test]
    fn any_listed_signature_and_any_configured_key_may_match() {
        let several = format!("v1a,bm9wZQ== v1,bm9wZQ== {SPEC_SIGNATURE}");
        assert!(
            standard(&[SPEC_SECRET])
                .verify(&spec_headers(&several), SPEC_BODY, SPEC_TIMESTAMP)
                .is_ok()
        );
        let rotated = standard(&["whsec_bmV3LWtleS1uZXcta2V5LW5ldy1rZXk=", SPEC_SECRET]);
        assert!(
            rotated
                .verify(&spec_headers(SPEC_SIGNATURE), SPEC_BODY, SPEC_TIMESTAMP)
                .is_ok()
        );
        let svix = headers(&[
            ("svix-id", SPEC_ID),
            ("svix-timestamp", &SPEC_TIMESTAMP.to_string()),
            ("svix-signature", SPEC_SIGNATURE),
        ]);
        assert!(
            standard(&[SPEC_SECRET])
                .verify(&svix, SPEC_BODY, SPEC_TIMESTAMP)
                .is_ok()
        );
    }

    #[test]
    fn altered_bodies_ids_and_other_keys_do_not_verify() {
        let verifier = standard(&[SPEC_SECRET]);
        assert_eq!(
            verifier.verify(
                &spec_headers(SPEC_SIGNATURE),
                br#"{"test": 2432232315}"#,
                SPEC_TIMESTAMP
            ),
            Err(SignatureError::NoMatch)
        );
        let mut other_id = spec_headers(SPEC_SIGNATURE);
        other_id.insert("webhook-id", HeaderValue::from_static("msg_other"));
        assert_eq!(
            verifier.verify(&other_id, SPEC_BODY, SPEC_TIMESTAMP),
            Err(SignatureError::NoMatch)
        );
        let other_key = standard(&["whsec_b3RoZXIta2V5"]);
        assert_eq!(
            other_key.verify(&spec_headers(SPEC_SIGNATURE), SPEC_BODY, SPEC_TIMESTAMP),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn the_tolerance_window_refuses_old_and_future_timestamps() {
        let verifier = standard(&[SPEC_SECRET]);
        let sig = spec_headers(SPEC_SIGNATURE);
        assert!(
            verifier
                .verify(&sig, SPEC_BODY, SPEC_TIMESTAMP + 300)
                .is_ok()
        );
        assert!(
            verifier
                .verify(&sig, SPEC_BODY, SPEC_TIMESTAMP - 300)
                .is_ok()
        );
        assert_eq!(
            verifier.verify(&sig, SPEC_BODY, SPEC_TIMESTAMP + 301),
            Err(SignatureError::OutsideTolerance(301))
        );
        assert_eq!(
            verifier.verify(&sig, SPEC_BODY, SPEC_TIMESTAMP - 301),
            Err(SignatureError::OutsideTolerance(-301))
        );
        let strict = SignatureVerifier::new(
            &SignatureConfig::StandardWebhooks {
                tolerance_seconds: Some(10),
            },
            &[SPEC_SECRET],
        )
        .expect("verifier");
        assert!(matches!(
            strict.verify(&sig, SPEC_BODY, SPEC_TIMESTAMP + 11),
            Err(SignatureError::OutsideTolerance(11))
        ));
    }

    #[test]
    fn missing_or_malformed_headers_are_named() {
        let verifier = standard(&[SPEC_SECRET]);
        let ts = SPEC_TIMESTAMP.to_string();
        for (pairs, expected) in [
            (
                vec![
                    ("webhook-timestamp", ts.as_str()),
                    ("webhook-signature", SPEC_SIGNATURE),
                ],
                SignatureError::MissingHeader("webhook-id"),
            ),
            (
                vec![
                    ("webhook-id", SPEC_ID),
                    ("webhook-signature", SPEC_SIGNATURE),
                ],
                SignatureError::MissingHeader("webhook-timestamp"),
            ),
            (
                vec![("webhook-id", SPEC_ID), ("webhook-timestamp", ts.as_str())],
                SignatureError::MissingHeader("webhook-signature"),
            ),
            (
                vec![
                    ("webhook-id", SPEC_ID),
                    ("webhook-timestamp", "yesterday"),
                    ("webhook-signature", SPEC_SIGNATURE),
                ],
                SignatureError::MalformedHeader("webhook-timestamp"),
            ),
            (
                vec![
                    ("webhook-id", SPEC_ID),
                    ("webhook-timestamp", ts.as_str()),
                    ("webhook-signature", "garbage"),
                ],
                SignatureError::MalformedHeader("webhook-signature"),
            ),
        ] {
            assert_eq!(
                verifier.verify(&headers(&pairs), SPEC_BODY, SPEC_TIMESTAMP),
                Err(expected)
            );
        }
        assert!(matches!(
            StandardWebhooksKey::parse("whsec_***"),
            Err(SignatureError::InvalidSecret(_))
        ));
        assert!(
            !format!(
                "{:?}",
                StandardWebhooksKey::parse(SPEC_SECRET).expect("key")
            )
            .contains("MfKQ")
        );
    }

    /// GitHub's documented example ("Validating webhook deliveries").
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_BODY: &[u8] = b"Hello, World!";
    const GITHUB_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn the_documented_github_example_signs_and_verifies() {
        assert_eq!(
            sign_github(GITHUB_SECRET.as_bytes(), GITHUB_BODY),
            GITHUB_SIGNATURE
        );
        let verifier =
            SignatureVerifier::new(&SignatureConfig::Github, &[GITHUB_SECRET]).expect("verifier");
        let delivery = verifier
            .verify(
                &headers(&[
                    ("x-hub-signature-256", GITHUB_SIGNATURE),
                    ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                ]),
                GITHUB_BODY,
                0,
            )
            .expect("valid");
        assert_eq!(
            delivery.delivery_id.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(
            verifier.verify(
                &headers(&[("x-hub-signature-256", GITHUB_SIGNATURE)]),
                b"Hello, World?",
                0
            ),
            Err(SignatureError::NoMatch)
        );
        for bad in ["757107ea", "sha1=757107ea", "sha256=zz"] {
            assert_eq!(
                verifier.verify(&headers(&[("x-hub-signature-256", bad)]), GITHUB_BODY, 0),
                Err(SignatureError::MalformedHeader("x-hub-signature-256"))
            );
        }
        assert_eq!(
            verifier.verify(&HeaderMap::new(), GITHUB_BODY, 0),
            Err(SignatureError::MissingHeader("x-hub-signature-256"))
        );
    }

    #[test]
    fn configs_deserialize_from_trigger_settings() {
        let config: SignatureConfig = serde_json::from_value(
            serde_json::json!({"scheme": "standard_webhooks", "tolerance_seconds": 60}),
        )
        .expect("standard");
        assert_eq!(
            config,
            SignatureConfig::StandardWebhooks {
                tolerance_seconds: Some(60)
            }
        );
        let config: SignatureConfig =
            serde_json::from_value(serde_json::json!({"scheme": "github"})).expect("github");
        assert_eq!(config, SignatureConfig::Github);
        assert!(
            serde_json::from_value::<SignatureConfig>(serde_json::json!({"scheme": "md5"}))
                .is_err()
        );
        assert!(SignatureVerifier::new(&SignatureConfig::Github, &[]).is_err());
    }
}
