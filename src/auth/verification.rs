//! Registration with email verification (`REGISTRATION_EMAIL_VERIFICATION`): registering
//! answers the same 202 whether or not the email has an account, and the answer arrives by
//! mail instead. A new email gets a pending registration (no account yet) and a single-use
//! token; an email that has an account gets a notice that someone tried to register with it.
//! `POST /auth/verify-email` turns a pending registration into an account and nothing more:
//! it never signs anyone in. Whoever registered an address chose its password, and that may
//! not be the mailbox owner (a pre-hijack); so the click only confirms the address, and the
//! account is used by signing in with the password.

use axum::extract::State;
use chrono::Utc;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use validator::Validate;

use super::{
    AuthState, Role,
    ip_limit::IpRateLimited,
    tokens::{new_refresh_token, token_hash},
};
use crate::{
    config::Settings,
    email::RenderedEmail,
    error::{AppError, Problem},
    http::{AppJson, ValidJson},
    state::AppState,
    users,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_email))
}

/// The answer to every registration while verification is on.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationAccepted {
    /// Always `verification_sent`: check the mailbox.
    #[schema(example = "verification_sent")]
    pub status: &'static str,
}

impl RegistrationAccepted {
    /// The one body registration answers with.
    pub fn sent() -> Self {
        RegistrationAccepted {
            status: "verification_sent",
        }
    }
}

/// `POST /auth/verify-email` body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct VerifyEmailIn {
    /// The token from the verification email.
    #[validate(length(min = 1, max = 512))]
    #[schema(min_length = 1, max_length = 512)]
    pub token: String,
}

/// The answer of `POST /auth/verify-email`: the address is confirmed and its account
/// exists. It carries no tokens; sign in with the password at `POST /auth/login`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailVerified {
    /// Always `true`.
    pub verified: bool,
    /// The confirmed address.
    #[schema(example = "ada@example.com")]
    pub email: String,
}

/// The address as a mailbox; checked before anything else so a malformed one is the same
/// 422 whether or not it has an account.
pub fn parse_address(email: &str) -> Result<Mailbox, AppError> {
    email
        .parse::<Mailbox>()
        .map_err(|_| AppError::invalid_field("email", "is not a deliverable email address"))
}

/// Registers `email` pending verification, or notices its owner that it is taken, and
/// queues the mail. Called after the password is hashed, so both paths cost the same.
pub async fn start(
    state: &AuthState,
    settings: &Settings,
    address: Mailbox,
    name: &str,
    password_hash: &str,
) -> Result<(), AppError> {
    let email = address.email.to_string();
    let message = if users::find_for_login(&state.db, &email).await?.is_some() {
        taken_notice()
    } else {
        let token = new_refresh_token();
        let expires_at = Utc::now()
            + chrono::Duration::from_std(settings.auth.registration_token_ttl)
                .unwrap_or(chrono::Duration::days(1));
        sqlx::query!(
            "INSERT INTO pending_registrations (email, name, password_hash, token_hash, expires_at)
             VALUES ($1::text::citext, $2, $3, $4, $5)",
            email,
            name,
            password_hash,
            token_hash(&token),
            expires_at,
        )
        .execute(&state.db)
        .await?;
        verification_mail(settings, &token)
    };
    queue_mail(state, address, message);
    Ok(())
}

/// Subject and text of a registration mail.
struct Mail {
    subject: String,
    text: String,
}

fn verification_mail(settings: &Settings, token: &str) -> Mail {
    let hours = settings
        .auth
        .registration_token_ttl
        .as_secs()
        .div_ceil(3600);
    let link = settings
        .public_url
        .as_deref()
        .map(|base| {
            format!(
                "\nOr open {}/verify-email?token={token}\n",
                base.trim_end_matches('/')
            )
        })
        .unwrap_or_default();
    Mail {
        subject: "Confirm your email address".into(),
        text: format!(
            "Someone (hopefully you) registered a Nocron account\n\
             with this address. To create the account, confirm it\n\
             with this token; it works once, for {hours} h.\n\n\
             Verification token: {token}\n{link}\n\
             If this was not you, ignore this message: no account\n\
             exists until the token is used.\n"
        ),
    }
}

fn taken_notice() -> Mail {
    Mail {
        subject: "Someone tried to register with your address".into(),
        text: "Someone tried to register a new Nocron account with\n\
               this address, which already has one. Nothing has changed.\n\n\
               If this was you, sign in with your existing account.\n\
               If not, you can ignore this message.\n"
            .into(),
    }
}

/// Sends in the background: the response never waits for (nor reveals) SMTP. Each address
/// gets a bounded number of these mails an hour, so registration cannot flood a mailbox.
fn queue_mail(state: &AuthState, to: Mailbox, mail: Mail) {
    let Some(mailer) = state.auth.mailer.clone() else {
        tracing::error!("registration mail not sent: SMTP is not configured");
        return;
    };
    let key = to.email.to_string().to_lowercase();
    if state.auth.registration_mail_limiter.check(&key).is_err() {
        tracing::warn!("registration mail not sent: too many for this address in the last hour");
        return;
    }
    let rendered = RenderedEmail {
        to: vec![to],
        cc: Vec::new(),
        bcc: Vec::new(),
        reply_to: None,
        subject: mail.subject,
        text: Some(mail.text),
        html: None,
    };
    state.tasks.spawn(async move {
        let sent = match rendered.to_message(mailer.from()) {
            Ok(message) => mailer.send(message).await.map(|_| ()),
            Err(err) => Err(err),
        };
        if let Err(err) = sent {
            tracing::warn!(error = %err, "registration mail not sent");
        }
    });
}

/// Confirm an email with the token mailed at registration: creates the account, signs no one
/// in (sign in with the password afterwards).
#[utoipa::path(post, path = "/auth/verify-email", tag = "auth",
    request_body = VerifyEmailIn,
    responses(
        (status = 200, description = "Address confirmed and account created; no session is started", body = EmailVerified),
        (status = 409, description = "The email got an account meanwhile", body = Problem),
        (status = 422, description = "The token is invalid, used or expired", body = Problem),
        (status = 429, description = "Too many requests from this address", body = Problem),
    ))]
async fn verify_email(
    State(db): State<PgPool>,
    _limit: IpRateLimited,
    ValidJson(body): ValidJson<VerifyEmailIn>,
) -> Result<AppJson<EmailVerified>, AppError> {
    let mut tx = db.begin().await?;
    let pending = sqlx::query!(
        r#"DELETE FROM pending_registrations WHERE token_hash = $1
           RETURNING email::text AS "email!", name, password_hash, expires_at"#,
        token_hash(body.token.trim()),
    )
    .fetch_optional(&mut *tx)
    .await?
    .filter(|pending| pending.expires_at > Utc::now())
    .ok_or_else(|| AppError::invalid_field("token", "is invalid, used or expired"))?;
    // Other attempts for the same address die with this one.
    sqlx::query!(
        "DELETE FROM pending_registrations WHERE email = $1::text::citext",
        pending.email
    )
    .execute(&mut *tx)
    .await?;
    let user = users::insert(
        &mut *tx,
        &pending.email,
        &pending.name,
        &pending.password_hash,
        Role::User,
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(EmailVerified {
        verified: true,
        email: user.email,
    }))
}

/// Deletes pending registrations whose token has expired; returns how many.
pub async fn delete_expired(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!("DELETE FROM pending_registrations WHERE expires_at <= now()")
        .execute(db)
        .await?;
    Ok(deleted.rows_affected())
}
