//! The account's Stripe customer: reused when known, created once otherwise. Creation locks
//! the account's `users` row and looks again, so concurrent checkouts of one account wait
//! for each other and create one customer; the call carries an idempotency key derived from
//! the account id, so a retry after a lost answer gets the same customer back from Stripe.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};
use stripe::{Client, StripeRequest};
use stripe_core::customer::CreateCustomer;
use uuid::Uuid;

use super::stripe_api::{idempotent, stripe_error};
use crate::error::{AppError, AppResult};

/// The account's Stripe customer id, if it has one (created here, or recorded from a
/// checkout or subscription event).
pub async fn stored_customer(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT COALESCE(
               (SELECT customer_id FROM stripe_customers WHERE user_id = $1),
               (SELECT stripe_customer_id FROM subscriptions WHERE user_id = $1)) AS customer"#,
        user_id
    )
    .fetch_one(&mut *conn)
    .await
}

/// The account's Stripe customer, created (with the account id in its metadata) when it has
/// none.
pub async fn customer_for(db: &PgPool, client: &Client, user_id: Uuid) -> AppResult<String> {
    {
        let mut conn = db.acquire().await?;
        if let Some(id) = stored_customer(&mut conn, user_id).await? {
            return Ok(id);
        }
    }
    let mut tx = db.begin().await?;
    let email = sqlx::query_scalar!(
        "SELECT email FROM users WHERE id = $1 FOR NO KEY UPDATE",
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::unauthorized("the account no longer exists"))?;
    if let Some(id) = stored_customer(&mut tx, user_id).await? {
        return Ok(id);
    }
    let metadata = HashMap::from([("user_id".to_owned(), user_id.to_string())]);
    let customer = CreateCustomer::new()
        .email(email)
        .metadata(metadata)
        .customize()
        .request_strategy(idempotent(&format!("nocron-customer-{user_id}"))?)
        .send(client)
        .await
        .map_err(stripe_error)?;
    let id = customer.id.to_string();
    sqlx::query!(
        "INSERT INTO stripe_customers (user_id, customer_id) VALUES ($1, $2)",
        user_id,
        id
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%user_id, customer = %id, "created the Stripe customer");
    Ok(id)
}
