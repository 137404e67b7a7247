//! Open and click tracking of notification emails: `GET /t/o/{token}` answers a 1×1 pixel and
//! records `opened_at`, `GET /t/c/{token}` records `clicked_at` and redirects to the link the
//! notification carries. A token names one delivery and what it tracks, signed with a key
//! derived from the server's signing secret; the redirect target is read from the stored
//! notification, never from the request, so the endpoint cannot be used as an open redirect.
//! Tracking needs `PUBLIC_URL` (the address the links in an email lead to); without it,
//! emails carry their link as is and no pixel.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac, digest::KeyInit};
use sha2::Sha256;
use sqlx::PgPool;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{AppError, AppResult, Problem},
    http::AppPath,
    state::AppState,
};

/// Bytes of the signature kept in a token.
const MAC_LEN: usize = 16;
/// Domain separation of the tracking key from every other use of the signing secret.
const KEY_CONTEXT: &[u8] = b"nocron.notification-tracking.v1";

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

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

/// The routes `/t/o/{token}` and `/t/c/{token}`; public (the token is the credential).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(opened))
        .routes(routes!(clicked))
}

/// The state the tracking routes need.
#[derive(Clone)]
pub struct TrackingState {
    /// The pool.
    pub db: PgPool,
    /// The signer, when `PUBLIC_URL` is set.
    pub tracking: Option<std::sync::Arc<Tracking>>,
}

impl TrackingState {
    fn delivery(&self, what: Tracked, token: &str) -> AppResult<Uuid> {
        self.tracking
            .as_ref()
            .and_then(|tracking| tracking.verify(what, token))
            .ok_or_else(|| AppError::not_found("tracking token"))
    }
}

/// A notification email was opened: records it and answers a transparent pixel.
#[utoipa::path(get, path = "/t/o/{token}", tag = "notifications",
    params(("token" = String, Path, description = "The token from the email")),
    responses(
        (status = 200, description = "A 1×1 transparent GIF", content_type = "image/gif", body = Vec<u8>),
        (status = 404, description = "Not a token this server issued", body = Problem),
    ))]
async fn opened(
    State(state): State<TrackingState>,
    AppPath(token): AppPath<String>,
) -> AppResult<Response> {
    let delivery_id = state.delivery(Tracked::Open, &token)?;
    sqlx::query!(
        r#"WITH opened AS (
               UPDATE notification_deliveries SET opened_at = COALESCE(opened_at, now())
               WHERE id = $1 AND channel = 'EMAIL'
               RETURNING notification_id)
           UPDATE notifications SET seen_at = COALESCE(seen_at, now())
           WHERE id = (SELECT notification_id FROM opened) AND deleted_at IS NULL"#,
        delivery_id
    )
    .execute(&state.db)
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        PIXEL,
    )
        .into_response())
}

/// The link in a notification email was followed: records it and redirects to the
/// notification's own link.
#[utoipa::path(get, path = "/t/c/{token}", tag = "notifications",
    params(("token" = String, Path, description = "The token from the email")),
    responses(
        (status = 302, description = "To the notification's link (`Location`)"),
        (status = 404, description = "Not a token this server issued, or its notification is gone", body = Problem),
    ))]
async fn clicked(
    State(state): State<TrackingState>,
    AppPath(token): AppPath<String>,
) -> AppResult<Response> {
    let delivery_id = state.delivery(Tracked::Click, &token)?;
    let link = sqlx::query_scalar!(
        r#"WITH clicked AS (
               UPDATE notification_deliveries
               SET clicked_at = COALESCE(clicked_at, now()), opened_at = COALESCE(opened_at, now())
               WHERE id = $1 AND channel = 'EMAIL'
               RETURNING notification_id)
           UPDATE notifications
           SET clicked_at = COALESCE(clicked_at, now()), seen_at = COALESCE(seen_at, now())
           WHERE id = (SELECT notification_id FROM clicked) AND deleted_at IS NULL
           RETURNING link"#,
        delivery_id
    )
    .fetch_optional(&state.db)
    .await?
    .flatten()
    .ok_or_else(|| AppError::not_found("notification"))?;
    let Some(tracking) = &state.tracking else {
        return Err(AppError::not_found("tracking token"));
    };
    let location = HeaderValue::from_str(&tracking.absolute(&link))
        .map_err(|_| AppError::not_found("notification link"))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
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
