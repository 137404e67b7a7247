//! Stripe's webhook signature: `Stripe-Signature: t=<unix time>,v1=<hex>,v1=<hex>,…`, where
//! each `v1` is HMAC-SHA256 of `<t>.<raw body>` under the endpoint's signing secret. Any
//! `v1` may match (Stripe sends several while a secret is being rolled); the timestamp must
//! be within the tolerance; the comparison is constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far the signed timestamp may be from now, in seconds (Stripe's default).
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `t=` or no `v1=` in the header.
    #[error("the Stripe-Signature header has no t= or no v1= value")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("the Stripe-Signature timestamp is outside the tolerance")]
    Stale,
    /// No `v1` matches.
    #[error("no Stripe-Signature v1 value matches the body")]
    Mismatch,
}

/// HMAC-SHA256 of `timestamp.body` (`None` never happens: HMAC takes keys of any length).
fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// Checks `header` against the raw `body` at `now` (unix seconds).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => candidates.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let signed_at: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if (now - signed_at).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body).ok_or(SignatureError::Mismatch)?;
    for candidate in candidates {
        if let Ok(bytes) = hex::decode(candidate)
            // `verify_slice` compares in constant time.
            && expected.clone().verify_slice(&bytes).is_ok()
        {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `Stripe-Signature` value Stripe would send for `body` at `timestamp` (for tests and
/// for replaying an event by hand).
pub fn header_for(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let signature = mac(secret, &timestamp.to_string(), body)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={timestamp},v1={signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_signed_body_passes_and_any_v1_may_match() {
        let body = br#"{"id":"evt_1"}"#;
        let header = header_for(SECRET, 1_000, body);
        assert_eq!(verify(SECRET, &header, body, 1_100), Ok(()));
        let rolled = format!("t=1000,v1={},{}", "00".repeat(32), &header[7..]);
        assert_eq!(verify(SECRET, &rolled, body, 1_000), Ok(()));
    }

    #[test]
    fn tampering_staleness_and_malformed_headers_are_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let header = header_for(SECRET, 1_000, body);
        assert_eq!(
            verify(SECRET, &header, br#"{"id":"evt_2"}"#, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, body, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &header, body, 1_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, "v1=abc", body, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, "t=1000", body, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, "t=1000,v1=zz", body, 1_000),
            Err(SignatureError::Mismatch)
        );
    }
}
