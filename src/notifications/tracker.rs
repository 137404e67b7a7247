//! Signed tokens for the open and click tracking of notification emails: a token names one
//! delivery and what it tracks, signed with a key derived from the server's signing secret,
//! and checked in constant time. The routes that take them are in [`super::tracking`].

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac, digest::KeyInit};
use sha2::Sha256;
use uuid::Uuid;

/// Bytes of the signature kept in a token.
const MAC_LEN: usize = 16;
/// Domain separation of the tracking key from every other use of the signing secret.
const KEY_CONTEXT: &[u8] = b"nocron.notification-tracking.v1";

/// What a token tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// The email was opened (its pixel was loaded).
    Open,
    /// The link in the email was followed.
    Click,
}

impl Tracked {
    fn tag(self) -> u8 {
        match self {
            Self::Open => b'o',
            Self::Click => b'c',
        }
    }
}

/// Signs and checks tracking tokens, and builds the tracked URLs of an email.
#[derive(Clone)]
pub struct Tracking {
    /// An HMAC-SHA256 keyed with the tracking key, cloned for each token.
    keyed: Hmac<Sha256>,
    base_url: String,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Tracking {
    /// Tracking for links under `base_url` (`PUBLIC_URL`), keyed from `signing_mac` (an HMAC
    /// keyed with the server's signing secret).
    pub fn new(base_url: &str, signing_mac: Hmac<Sha256>) -> Self {
        let derived = signing_mac
            .chain_update(KEY_CONTEXT)
            .finalize()
            .into_bytes();
        // HMAC pads a short key with zeros to its block, so this is HMAC keyed with `derived`.
        let mut key = hmac::digest::Key::<Hmac<Sha256>>::default();
        key[..derived.len()].copy_from_slice(&derived);
        Self {
            keyed: <Hmac<Sha256> as KeyInit>::new(&key),
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        mac
    }

    /// The token tracking `what` for the delivery `delivery_id`.
    pub fn token(&self, what: Tracked, delivery_id: Uuid) -> String {
        let mut bytes = Vec::with_capacity(17 + MAC_LEN);
        bytes.push(what.tag());
        bytes.extend_from_slice(delivery_id.as_bytes());
        let signature = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&signature[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The delivery a token names, when it is well formed, tracks `what` and carries this
    /// server's signature (checked in constant time).
    pub fn verify(&self, what: Tracked, token: &str) -> Option<Uuid> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != 17 + MAC_LEN || bytes[0] != what.tag() {
            return None;
        }
        let (payload, signature) = bytes.split_at(17);
        self.mac(payload).verify_truncated_left(signature).ok()?;
        Uuid::from_slice(&payload[1..]).ok()
    }

    /// The absolute address of `link` (a path in the app, or already absolute).
    pub fn absolute(&self, link: &str) -> String {
        if link.starts_with("http://") || link.starts_with("https://") {
            link.to_owned()
        } else {
            format!("{}/{}", self.base_url, link.trim_start_matches('/'))
        }
    }

    /// The tracked click address and the pixel's address of an email delivery.
    pub fn urls(&self, delivery_id: Uuid) -> TrackedUrls {
        TrackedUrls {
            click: format!(
                "{}/t/c/{}",
                self.base_url,
                self.token(Tracked::Click, delivery_id)
            ),
            pixel: format!(
                "{}/t/o/{}",
                self.base_url,
                self.token(Tracked::Open, delivery_id)
            ),
        }
    }
}

/// The tracked addresses an email carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedUrls {
    /// Leads through `/t/c/…` to the notification's link.
    pub click: String,
    /// The 1×1 image at `/t/o/…`.
    pub pixel: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracking() -> Tracking {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(b"signing secret").expect("key");
        Tracking::new("https://nocron.example.com/", mac)
    }

    #[test]
    fn a_token_names_its_delivery_and_only_for_what_it_tracks() {
        let tracking = tracking();
        let id = Uuid::now_v7();
        let token = tracking.token(Tracked::Click, id);
        assert_eq!(tracking.verify(Tracked::Click, &token), Some(id));
        assert_eq!(tracking.verify(Tracked::Open, &token), None);
    }

    #[test]
    fn a_changed_or_foreign_token_is_refused() {
        let tracking = tracking();
        let token = tracking.token(Tracked::Open, Uuid::now_v7());
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        bytes[5] ^= 1;
        assert_eq!(
            tracking.verify(Tracked::Open, &URL_SAFE_NO_PAD.encode(&bytes)),
            None
        );
        let other = Tracking::new(
            "https://nocron.example.com",
            <Hmac<Sha256> as Mac>::new_from_slice(b"another secret").expect("key"),
        );
        assert_eq!(other.verify(Tracked::Open, &token), None);
        assert_eq!(tracking.verify(Tracked::Open, "not a token"), None);
        assert_eq!(tracking.verify(Tracked::Open, ""), None);
    }

    #[test]
    fn links_become_absolute_under_the_public_url() {
        let tracking = tracking();
        assert_eq!(
            tracking.absolute("/tasks/1"),
            "https://nocron.example.com/tasks/1"
        );
        let urls = tracking.urls(Uuid::nil());
        assert!(urls.click.starts_with("https://nocron.example.com/t/c/"));
        assert!(urls.pixel.starts_with("https://nocron.example.com/t/o/"));
    }
}
