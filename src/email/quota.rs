//! The hourly quota of messages an account may send through the server's SMTP
//! (`EMAIL_MAX_PER_HOUR`), counted in PostgreSQL per owner and clock hour so it holds across
//! restarts and instances.

use sqlx::PgPool;
use uuid::Uuid;

/// Takes one message from `owner_id`'s quota for the current hour; `false` when the hour's
/// `limit` is already used up (nothing is taken then). One statement, so concurrent sends
/// on any number of instances never exceed the limit.
pub async fn take(db: &PgPool, owner_id: Uuid, limit: u32) -> Result<bool, sqlx::Error> {
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    let taken = sqlx::query_scalar!(
        r#"INSERT INTO outbound_mail_usage (owner_id, hour, sent)
           SELECT $1, date_trunc('hour', now()), 1 WHERE $2 > 0
           ON CONFLICT (owner_id, hour)
           DO UPDATE SET sent = outbound_mail_usage.sent + 1
           WHERE outbound_mail_usage.sent < $2
           RETURNING sent"#,
        owner_id,
        limit
    )
    .fetch_optional(db)
    .await?;
    // Earlier hours are no longer needed: keep the table to a day per account.
    sqlx::query!(
        "DELETE FROM outbound_mail_usage WHERE owner_id = $1 AND hour < now() - interval '1 day'",
        owner_id
    )
    .execute(db)
    .await?;
    Ok(taken.is_some())
}

/// The error of a send refused by the quota.
pub fn exceeded_message(limit: u32) -> String {
    format!(
        "EMAIL_MAX_PER_HOUR ({limit} messages per hour) reached for this account; the message was not sent"
    )
}
