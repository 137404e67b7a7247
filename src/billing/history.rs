//! `GET /billing/invoices` and `GET /billing/payments`: your billing history as kept from
//! Stripe's invoice events, newest first, with cursor pagination.

use std::sync::Arc;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::routes::require_billing;
use crate::{
    auth::CurrentUser,
    config::Settings,
    error::{AppError, AppResult, Problem},
    http::{AppJson, AppQuery, cursor},
    state::AppState,
    text_enum,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices))
        .routes(routes!(list_payments))
}

text_enum! {
    /// What happened to a payment.
    pub enum PaymentOutcomeOut {
        /// The invoice was paid.
        Succeeded = "succeeded",
        /// The charge failed.
        Failed = "failed",
        /// The bank asked the customer to confirm.
        ActionRequired = "action_required",
    }
}

/// Paging parameters, with one filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Invoices: only this status (`draft`, `open`, `paid`, `uncollectible`, `void`);
    /// payments: only this outcome (`succeeded`, `failed`, `action_required`).
    #[param(max_length = 32)]
    pub status: Option<String>,
}

/// An invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceOut {
    /// Stripe's id (`in_…`).
    pub id: String,
    /// Its number.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// Due, in the currency's smallest unit.
    pub amount_due: i64,
    /// Paid, in the currency's smallest unit.
    pub amount_paid: i64,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Stripe's page for the invoice.
    pub hosted_invoice_url: Option<String>,
    /// The invoice's PDF.
    pub invoice_pdf: Option<String>,
    /// The period billed.
    pub period_start: Option<DateTime<Utc>>,
    /// The period billed.
    pub period_end: Option<DateTime<Utc>>,
    /// When Stripe created it.
    pub created: DateTime<Utc>,
}

/// A page of invoices.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicePage {
    /// Newest first.
    pub items: Vec<InvoiceOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// A payment outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentOut {
    /// The payment.
    pub id: Uuid,
    /// The invoice it was for.
    pub invoice_id: Option<String>,
    /// What happened.
    pub outcome: PaymentOutcomeOut,
    /// The amount, in the currency's smallest unit.
    pub amount: i64,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// When Stripe reported it.
    pub created: DateTime<Utc>,
}

/// A page of payments.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentPage {
    /// Newest first.
    pub items: Vec<PaymentOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// Position of a page: the last item's creation time and id.
#[derive(Debug, Serialize, Deserialize)]
struct Position(DateTime<Utc>, String);

fn check_status(status: Option<&str>, allowed: &[&str]) -> AppResult<()> {
    match status {
        Some(value) if !allowed.contains(&value) => Err(AppError::invalid_field(
            "query.status",
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// Your invoices, newest first.
#[utoipa::path(get, path = "/billing/invoices", tag = "billing", security(("bearer" = [])),
    params(HistoryParams),
    responses(
        (status = 200, description = "A page of invoices", body = InvoicePage),
        (status = 400, description = "A query parameter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`)", body = Problem),
        (status = 422, description = "`limit`, `cursor` or `status` is invalid", body = Problem),
    ))]
async fn list_invoices(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    user: CurrentUser,
    AppQuery(params): AppQuery<HistoryParams>,
) -> AppResult<AppJson<InvoicePage>> {
    require_billing(&settings)?;
    let limit = cursor::page_size(params.limit)?;
    check_status(
        params.status.as_deref(),
        &["draft", "open", "paid", "uncollectible", "void"],
    )?;
    let after: Option<Position> = params.cursor.as_deref().map(cursor::decode).transpose()?;
    let mut rows = sqlx::query_as!(
        InvoiceOut,
        r#"SELECT id, number, status, amount_due, amount_paid, currency, hosted_invoice_url,
                  invoice_pdf, period_start, period_end, created
           FROM invoices
           WHERE user_id = $1
             AND ($2::text IS NULL OR status = $2)
             AND ($3::timestamptz IS NULL OR (created, id) < ($3, $4))
           ORDER BY created DESC, id DESC
           LIMIT $5"#,
        user.id,
        params.status,
        after.as_ref().map(|p| p.0),
        after.as_ref().map_or("", |p| p.1.as_str()),
        limit + 1
    )
    .fetch_all(&db)
    .await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(rows.len() - 1);
        rows.last()
            .map(|last| cursor::encode(&Position(last.created, last.id.clone())))
            .transpose()?
    } else {
        None
    };
    Ok(AppJson(InvoicePage {
        items: rows,
        next_cursor,
    }))
}

/// Your payments (paid, failed, confirmation asked), newest first.
#[utoipa::path(get, path = "/billing/payments", tag = "billing", security(("bearer" = [])),
    params(HistoryParams),
    responses(
        (status = 200, description = "A page of payments", body = PaymentPage),
        (status = 400, description = "A query parameter is malformed", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 404, description = "Billing is off on this server (`BILLING_DISABLED`)", body = Problem),
        (status = 422, description = "`limit`, `cursor` or `status` is invalid", body = Problem),
    ))]
async fn list_payments(
    State(db): State<PgPool>,
    State(settings): State<Arc<Settings>>,
    user: CurrentUser,
    AppQuery(params): AppQuery<HistoryParams>,
) -> AppResult<AppJson<PaymentPage>> {
    require_billing(&settings)?;
    let limit = cursor::page_size(params.limit)?;
    check_status(
        params.status.as_deref(),
        &["succeeded", "failed", "action_required"],
    )?;
    let after: Option<Position> = params.cursor.as_deref().map(cursor::decode).transpose()?;
    let after_id = match &after {
        Some(position) => Some(position.1.parse::<Uuid>().map_err(|_| {
            AppError::invalid_field("query.cursor", "is not a cursor from this list")
        })?),
        None => None,
    };
    let mut rows = sqlx::query_as!(
        PaymentOut,
        r#"SELECT id, invoice_id, outcome AS "outcome: PaymentOutcomeOut", amount, currency,
                  created
           FROM payments
           WHERE user_id = $1
             AND ($2::text IS NULL OR outcome = $2)
             AND ($3::timestamptz IS NULL OR (created, id) < ($3, $4))
           ORDER BY created DESC, id DESC
           LIMIT $5"#,
        user.id,
        params.status,
        after.as_ref().map(|p| p.0),
        after_id.unwrap_or(Uuid::nil()),
        limit + 1
    )
    .fetch_all(&db)
    .await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(rows.len() - 1);
        rows.last()
            .map(|last| cursor::encode(&Position(last.created, last.id.to_string())))
            .transpose()?
    } else {
        None
    };
    Ok(AppJson(PaymentPage {
        items: rows,
        next_cursor,
    }))
}
