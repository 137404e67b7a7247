//! `/notion/*`: connecting a Notion workspace through OAuth, listing the databases shared
//! with the integration, and disconnecting.
//!
//! The authorize step hands out a single-use `state` (256 random bits, stored hashed, 10
//! minutes) bound to the signed-in user, and binds it to the browser that asked with a
//! short-lived cookie carrying an HMAC of the state (HttpOnly, SameSite=Lax, Secure when the
//! redirect URI is https, scoped to the callback's path). The callback, reached by the browser
//! without a bearer token, refuses a state that arrives without its cookie: otherwise an
//! attacker could start a flow on their own account and send the callback link to a victim,
//! whose browser would connect the attacker's Notion workspace (login CSRF). The comparison
//! is in constant time.

use std::time::Duration;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::Mac;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use subtle::ConstantTimeEq;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    NotionApi, NotionError, NotionState,
    api::{Credentials, plain_text},
    connection::{self, ConnectionOut, Grant},
};
use crate::{
    auth::CurrentUser,
    config::NotionOAuthSettings,
    error::{AppError, ErrorCode, Problem},
    http::{AppJson, AppQuery},
    secrets::SecretValue,
    state::AppState,
};

/// How long a call to Notion made for a request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Most search pages read for `GET /notion/databases` (100 databases each).
const MAX_SEARCH_PAGES: usize = 10;

/// The cookie binding an OAuth `state` to the browser that started the flow.
pub const STATE_COOKIE: &str = "nocron_notion_oauth";

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(callback))
        .routes(routes!(databases))
        .routes(routes!(get_connection, delete_connection))
}

fn api(state: &NotionState) -> NotionApi {
    NotionApi::new(state.http.clone(), state.settings.notion.api_url.clone())
}

fn oauth_settings(state: &NotionState) -> Result<&NotionOAuthSettings, AppError> {
    state.settings.notion.oauth.as_ref().ok_or_else(|| {
        AppError::new(
            ErrorCode::IntegrationNotConfigured,
            "Notion is not configured on this server (NOTION_CLIENT_ID, NOTION_CLIENT_SECRET, NOTION_REDIRECT_URI)",
        )
    })
}

fn not_connected() -> AppError {
    AppError::conflict("Notion is not connected: connect it at GET /notion/oauth/authorize")
}

/// The cookie value for `oauth_state`: an HMAC under the server's signing secret, so the
/// cookie neither reveals the state nor can be made up for another one.
fn state_binding(state: &NotionState, oauth_state: &str) -> Result<String, AppError> {
    let mut mac = state.auth.mac()?;
    mac.update(b"nocron notion oauth state v1\0");
    mac.update(oauth_state.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// A `Set-Cookie` value for the state cookie: `value` for `max_age` seconds (0 clears it).
fn state_cookie(oauth: &NotionOAuthSettings, value: &str, max_age: u64) -> String {
    let redirect = reqwest::Url::parse(&oauth.redirect_uri).ok();
    let path = redirect.as_ref().map(|url| url.path()).unwrap_or("/");
    let secure = if redirect.as_ref().is_some_and(|url| url.scheme() == "https") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{STATE_COOKIE}={value}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Lax{secure}"
    )
}

/// The state cookie's value among the request's cookies.
fn presented_binding(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == STATE_COOKIE)
        .map(|(_, value)| value.trim())
}

/// Notion's refusal or absence as a problem: a revoked token asks for a new connection.
fn upstream(err: NotionError) -> AppError {
    match &err {
        NotionError::Api { status: 401, .. } => AppError::conflict(
            "Notion refused the stored connection; connect again at GET /notion/oauth/authorize",
        ),
        NotionError::Transport(message) if message.contains("timed out") => {
            AppError::new(ErrorCode::ExternalServiceTimeout, err.to_string())
        }
        _ => AppError::new(ErrorCode::ExternalServiceError, err.to_string()),
    }
}

/// The code exchange failed: a code Notion refuses (expired, used, for another redirect) is
/// the caller's to fix (400); Notion failing or unreachable is not (502).
fn refused_code(err: NotionError) -> AppError {
    match &err {
        NotionError::Api { status, .. } if (400..500).contains(status) && *status != 429 => {
            AppError::new(
                ErrorCode::BadRequest,
                format!("Notion refused the authorization code: {err}"),
            )
        }
        _ => AppError::new(ErrorCode::ExternalServiceError, err.to_string()),
    }
}

/// Where to send the user to connect Notion.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeOut {
    /// Notion's consent page; open it in the browser.
    pub url: String,
    /// Seconds the link works.
    pub expires_in: u64,
}

/// `GET /notion/oauth/callback` query, as Notion sends it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` from the authorize URL.
    pub state: Option<String>,
    /// Set instead of `code` when the user declined (`access_denied`).
    pub error: Option<String>,
}

/// A database shared with the integration.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseOut {
    /// The database id (use it as `database_id` in NOTION_SYNC).
    pub id: String,
    /// Its title as plain text.
    pub title: String,
    /// Its page in Notion.
    pub url: Option<String>,
}

/// The databases shared with the integration.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabasesOut {
    /// The databases, in Notion's order.
    pub databases: Vec<DatabaseOut>,
    /// More exist than were read.
    pub has_more: bool,
}

/// Start connecting Notion: returns the consent URL with a fresh single-use `state`, and sets
/// the cookie that binds it to this browser (the callback must come from the same browser).
#[utoipa::path(get, path = "/notion/oauth/authorize", tag = "notion", security(("bearer" = [])),
    responses(
        (status = 200, description = "Open `url` in the browser; the `nocron_notion_oauth` cookie (HttpOnly, SameSite=Lax, 10 minutes) binds the state to this browser", body = AuthorizeOut,
            headers(("Set-Cookie" = String, description = "The state cookie"))),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Notion OAuth is not configured on this server", body = Problem),
    ))]
async fn authorize(
    State(state): State<NotionState>,
    user: CurrentUser,
) -> Result<([(header::HeaderName, String); 1], AppJson<AuthorizeOut>), AppError> {
    let oauth = oauth_settings(&state)?;
    let oauth_state = connection::create_state(&state.db, user.id).await?;
    let mut url = api(&state)
        .url("/v1/oauth/authorize")
        .map_err(AppError::internal)?;
    url.query_pairs_mut()
        .append_pair("client_id", &oauth.client_id)
        .append_pair("response_type", "code")
        .append_pair("owner", "user")
        .append_pair("redirect_uri", &oauth.redirect_uri)
        .append_pair("state", &oauth_state);
    let ttl = connection::STATE_TTL.as_secs();
    let cookie = state_cookie(oauth, &state_binding(&state, &oauth_state)?, ttl);
    Ok((
        [(header::SET_COOKIE, cookie)],
        AppJson(AuthorizeOut {
            url: url.into(),
            expires_in: ttl,
        }),
    ))
}

/// Where Notion sends the browser back: checks that this browser started the flow (its state
/// cookie), then exchanges the code and stores the connection.
#[utoipa::path(get, path = "/notion/oauth/callback", tag = "notion",
    params(CallbackQuery),
    responses(
        (status = 200, description = "Connected; the state cookie is cleared", body = ConnectionOut),
        (status = 400, description = "Declined; Notion refused the code; an unknown, used or expired state; or the state cookie of the browser that started the flow is missing or does not match", body = Problem),
        (status = 502, description = "Notion failed or could not be reached while exchanging the code", body = Problem),
        (status = 404, description = "Notion OAuth is not configured on this server", body = Problem),
    ))]
async fn callback(
    State(state): State<NotionState>,
    headers: HeaderMap,
    AppQuery(query): AppQuery<CallbackQuery>,
) -> Result<([(header::HeaderName, String); 1], AppJson<ConnectionOut>), AppError> {
    let oauth = oauth_settings(&state)?;
    let bad = |detail: &str| AppError::new(ErrorCode::BadRequest, detail.to_owned());
    let presented = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or_else(|| bad("the state parameter is missing"))?;
    // Checked before the state is used: a browser that did not start this flow (a victim
    // sent the attacker's callback link) gets nothing, and the state is left alone.
    let expected = state_binding(&state, presented)?;
    let bound = presented_binding(&headers)
        .is_some_and(|cookie| bool::from(cookie.as_bytes().ct_eq(expected.as_bytes())));
    if !bound {
        return Err(bad(
            "this browser did not start the connection (its state cookie is missing or does not match); start again at GET /notion/oauth/authorize",
        ));
    }
    // Consumed first: a state works once, whatever happens next.
    let user_id = connection::consume_state(&state.db, presented)
        .await?
        .ok_or_else(|| {
            bad("the state is unknown, used or expired; start again at GET /notion/oauth/authorize")
        })?;
    if let Some(error) = query.error {
        return Err(bad(&format!("Notion did not grant access ({error})")));
    }
    let code = query
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("the code parameter is missing"))?;
    let answer = api(&state)
        .call(
            Method::POST,
            "/v1/oauth/token",
            Credentials::Client {
                id: &oauth.client_id,
                secret: &oauth.client_secret,
            },
            Some(&json!({
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": oauth.redirect_uri,
            })),
            CALL_TIMEOUT,
        )
        .await
        .map_err(refused_code)?;
    let grant = parse_grant(&answer)?;
    let out = connection::save(&state.db, &state.vault, user_id, &grant).await?;
    tracing::info!(%user_id, workspace_id = %out.workspace_id, "Notion connected");
    Ok((
        [(header::SET_COOKIE, state_cookie(oauth, "", 0))],
        AppJson(out),
    ))
}

/// The token response's fields we keep.
fn parse_grant(answer: &Value) -> Result<Grant, AppError> {
    let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
    let missing = |name: &str| {
        AppError::new(
            ErrorCode::ExternalServiceError,
            format!("Notion's token response has no {name}"),
        )
    };
    Ok(Grant {
        access_token: SecretValue::new(
            text("access_token").ok_or_else(|| missing("access_token"))?,
        ),
        workspace_id: text("workspace_id").ok_or_else(|| missing("workspace_id"))?,
        workspace_name: text("workspace_name"),
        workspace_icon: text("workspace_icon"),
        bot_id: text("bot_id").ok_or_else(|| missing("bot_id"))?,
    })
}

/// The databases shared with your Notion connection.
#[utoipa::path(get, path = "/notion/databases", tag = "notion", security(("bearer" = [])),
    responses(
        (status = 200, description = "Databases the integration can see", body = DatabasesOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 409, description = "Notion is not connected, or the connection was revoked", body = Problem),
        (status = 502, description = "Notion failed", body = Problem),
        (status = 504, description = "Notion did not answer in time", body = Problem),
    ))]
async fn databases(
    State(state): State<NotionState>,
    user: CurrentUser,
) -> Result<AppJson<DatabasesOut>, AppError> {
    let token = connection::access_token(&state.db, &state.vault, user.id)
        .await?
        .ok_or_else(not_connected)?;
    let api = api(&state);
    let mut databases = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_SEARCH_PAGES {
        let mut body = json!({
            "filter": {"property": "object", "value": "database"},
            "page_size": 100,
        });
        if let Some(cursor) = &cursor {
            body["start_cursor"] = json!(cursor);
        }
        let page = api
            .call(
                Method::POST,
                "/v1/search",
                Credentials::Bearer(&token),
                Some(&body),
                CALL_TIMEOUT,
            )
            .await
            .map_err(upstream)?;
        for database in page["results"].as_array().into_iter().flatten() {
            let Some(id) = database["id"].as_str() else {
                continue;
            };
            databases.push(DatabaseOut {
                id: id.to_owned(),
                title: plain_text(database.get("title")),
                url: database["url"].as_str().map(str::to_owned),
            });
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if page["has_more"] != true || cursor.is_none() {
            return Ok(AppJson(DatabasesOut {
                databases,
                has_more: false,
            }));
        }
    }
    Ok(AppJson(DatabasesOut {
        databases,
        has_more: true,
    }))
}

/// Your Notion connection (never the token).
#[utoipa::path(get, path = "/notion/connection", tag = "notion", security(("bearer" = [])),
    responses(
        (status = 200, description = "Connected", body = ConnectionOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Not connected", body = Problem),
    ))]
async fn get_connection(
    State(db): State<PgPool>,
    user: CurrentUser,
) -> Result<AppJson<ConnectionOut>, AppError> {
    connection::get(&db, user.id)
        .await?
        .map(AppJson)
        .ok_or_else(|| AppError::not_found("Notion connection"))
}

/// Disconnect Notion: the stored token is deleted (revoke the integration in Notion too).
#[utoipa::path(delete, path = "/notion/connection", tag = "notion", security(("bearer" = [])),
    responses(
        (status = 204, description = "Disconnected"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Not connected", body = Problem),
    ))]
async fn delete_connection(
    State(db): State<PgPool>,
    user: CurrentUser,
) -> Result<StatusCode, AppError> {
    if connection::delete(&db, user.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("Notion connection"))
    }
}
