//! `GET/PUT /admin/security-alert-rules`: the rules as they are evaluated, and an admin's
//! changes (the rules named in the body are replaced; the others stay as they are).

use std::collections::HashSet;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, types::ipnetwork::IpNetwork};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    model::RuleKind,
    rules::{self, MAX_ALLOW_CIDRS, MAX_THRESHOLD, MAX_WINDOW_SECONDS, Rule},
};
use crate::{
    auth::{Admin, RequireRole},
    error::{AppError, AppResult, FieldError, Problem},
    http::AppJson,
    state::AppState,
};

/// Routes of this file.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_security_alert_rules, put_security_alert_rules))
}

/// Every rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RulesOut {
    /// One per rule, in a fixed order.
    pub rules: Vec<Rule>,
}

/// A rule as an admin sets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleIn {
    /// Which rule.
    pub rule: RuleKind,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// Record alerts without blocking or notifying anyone.
    pub monitor_only: bool,
    /// Networks (CIDR, or single addresses) whose requests never count; at most 100.
    #[schema(max_items = 100, example = json!(["10.0.0.0/8"]))]
    pub allow_cidrs: Vec<String>,
    /// Occurrences within the window that raise an alert (1–100000).
    #[schema(minimum = 1, maximum = 100000)]
    pub threshold: i32,
    /// The window in seconds (1–7776000, 90 days).
    #[schema(minimum = 1, maximum = 7776000)]
    pub window_seconds: i32,
    /// `FAILED_LOGINS` only: failures of one (account, address) pair that block it
    /// (1–100000); absent turns blocking off. Must be absent for other rules.
    #[schema(minimum = 1, maximum = 100000)]
    pub block_after: Option<i32>,
}

/// `PUT` body: the rules to replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesIn {
    /// One entry per rule to change (each rule at most once).
    #[schema(min_items = 1, max_items = 6)]
    pub rules: Vec<RuleIn>,
}

/// The security alert rules as they are evaluated (defaults unless an admin changed them).
#[utoipa::path(get, path = "/admin/security-alert-rules", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every rule", body = RulesOut),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    ))]
async fn get_security_alert_rules(
    State(db): State<PgPool>,
    _admin: RequireRole<Admin>,
) -> AppResult<AppJson<RulesOut>> {
    Ok(AppJson(RulesOut {
        rules: rules::load_all(&db).await?,
    }))
}

/// Change security alert rules; the rules not named keep their settings.
#[utoipa::path(put, path = "/admin/security-alert-rules", tag = "admin", security(("bearer" = [])),
    request_body = RulesIn,
    responses(
        (status = 200, description = "Every rule, after the change", body = RulesOut),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "A field is invalid; each failing field is named", body = Problem),
    ))]
async fn put_security_alert_rules(
    State(db): State<PgPool>,
    admin: RequireRole<Admin>,
    AppJson(body): AppJson<RulesIn>,
) -> AppResult<AppJson<RulesOut>> {
    let checked = check(body)?;
    let mut tx = db.begin().await?;
    for rule in &checked {
        rules::save(&mut *tx, rule, admin.0.id).await?;
    }
    tx.commit().await?;
    Ok(AppJson(RulesOut {
        rules: rules::load_all(&db).await?,
    }))
}

/// Parses and bounds every entry; 422 naming each failing field.
fn check(body: RulesIn) -> AppResult<Vec<Rule>> {
    let mut errors = Vec::new();
    let mut field = |path: String, message: String| {
        errors.push(FieldError {
            field: path,
            message,
        })
    };
    if body.rules.is_empty() || body.rules.len() > RuleKind::ALL.len() {
        field(
            "rules".to_owned(),
            format!("must name 1 to {} rules", RuleKind::ALL.len()),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, given) in body.rules.into_iter().enumerate() {
        let at = |name: &str| format!("rules[{i}].{name}");
        if !seen.insert(given.rule) {
            field(at("rule"), format!("{} is named twice", given.rule));
        }
        if !(1..=MAX_THRESHOLD).contains(&given.threshold) {
            field(
                at("threshold"),
                format!("must be between 1 and {MAX_THRESHOLD}"),
            );
        }
        if !(1..=MAX_WINDOW_SECONDS).contains(&given.window_seconds) {
            field(
                at("window_seconds"),
                format!("must be between 1 and {MAX_WINDOW_SECONDS}"),
            );
        }
        match (given.rule, given.block_after) {
            (RuleKind::FailedLogins, Some(after)) if !(1..=MAX_THRESHOLD).contains(&after) => {
                field(
                    at("block_after"),
                    format!("must be between 1 and {MAX_THRESHOLD}"),
                );
            }
            (RuleKind::FailedLogins, _) | (_, None) => {}
            (_, Some(_)) => field(
                at("block_after"),
                "only FAILED_LOGINS blocks after failures".to_owned(),
            ),
        }
        if given.allow_cidrs.len() > MAX_ALLOW_CIDRS {
            field(
                at("allow_cidrs"),
                format!("must have at most {MAX_ALLOW_CIDRS} entries"),
            );
        }
        let mut cidrs = Vec::new();
        for (j, text) in given.allow_cidrs.iter().enumerate() {
            match text.trim().parse::<IpNetwork>() {
                Ok(net) => match IpNetwork::new(net.network(), net.prefix()) {
                    Ok(net) => cidrs.push(net),
                    Err(_) => field(
                        format!("rules[{i}].allow_cidrs[{j}]"),
                        "is not a CIDR".to_owned(),
                    ),
                },
                Err(_) => field(
                    format!("rules[{i}].allow_cidrs[{j}]"),
                    "must be a CIDR such as 10.0.0.0/8 or an address".to_owned(),
                ),
            }
        }
        let mut rule = rules::default_rule(given.rule);
        rule.enabled = given.enabled;
        rule.monitor_only = given.monitor_only;
        rule.allow_cidrs = cidrs;
        rule.threshold = given.threshold;
        rule.window_seconds = given.window_seconds;
        rule.block_after = given.block_after;
        out.push(rule);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::validation(errors))
    }
}
