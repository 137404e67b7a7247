//! A local stand-in for Stripe's API (the real one cannot be reached from tests), speaking
//! its wire format for the calls Nocron makes through async-stripe: customers, Checkout
//! Sessions, subscriptions (retrieve, update, cancel) and Billing Portal sessions. Like
//! Stripe it reads `application/x-www-form-urlencoded` bodies with bracket notation
//! (`line_items[0][price]=…`, `metadata[user_id]=…`), checks `Authorization: Bearer
//! sk_test_…`, honours `Idempotency-Key` (a repeated key replays the first answer; the same
//! key with other parameters is an `idempotency_error`), answers objects with their
//! `object` field and errors in Stripe's envelope (`{"error": {"type", "code", "message",
//! "param"}}`), and records every request.

// Handlers answer `Result<Value, Response>`: an error is the HTTP answer itself.
#![allow(clippy::result_large_err)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Map, Value, json};

/// The secret key the fake accepts.
pub const SECRET_KEY: &str = "sk_test_fake_nocron_4242";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// The raw form body.
    pub raw: String,
    /// The form body, brackets expanded into objects and arrays.
    pub form: Value,
}

#[derive(Default)]
struct World {
    requests: Vec<Recorded>,
    /// key → (method and path, raw body, status, answer)
    idempotent: HashMap<String, (String, String, u16, Value)>,
    customers: HashMap<String, Value>,
    sessions: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    failures: Vec<(String, u16, Value)>,
    next_id: u64,
}

type Shared = Arc<Mutex<World>>;

/// The running fake.
pub struct FakeStripe {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    world: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl FakeStripe {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> Self {
        let world: Shared = Arc::default();
        let router = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/checkout/sessions", post(create_session))
            .route(
                "/v1/subscriptions/{id}",
                get(retrieve_subscription)
                    .post(update_subscription)
                    .delete(cancel_subscription),
            )
            .route("/v1/billing_portal/sessions", post(create_portal_session))
            .fallback(|uri: Uri| async move {
                error(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    None,
                    &format!("Unrecognized request URL (POST: {}).", uri.path()),
                    None,
                )
            })
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the fake Stripe");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeStripe {
            base: format!("http://127.0.0.1:{port}"),
            world,
            task,
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("fake state")
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.world().requests.clone()
    }

    /// The requests with `method` to `path`.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// The customers created so far.
    pub fn customers(&self) -> Vec<Value> {
        self.world().customers.values().cloned().collect()
    }

    /// A subscription as the fake holds it.
    pub fn subscription(&self, id: &str) -> Value {
        self.world()
            .subscriptions
            .get(id)
            .cloned()
            .expect("subscription")
    }

    /// Completes a Checkout Session as the customer paying would: creates its subscription
    /// (active) and returns the completed session and the subscription, as Stripe's events
    /// carry them.
    pub fn complete_checkout(&self, session_id: &str) -> (Value, Value) {
        let mut world = self.world();
        let mut session = world.sessions.get(session_id).cloned().expect("session");
        let sub_id = format!("sub_{}", next_id(&mut world));
        let item_id = format!("si_{}", next_id(&mut world));
        let price = session["line_items_price"]
            .as_str()
            .expect("price")
            .to_owned();
        let customer = session["customer"].as_str().expect("customer").to_owned();
        let metadata = session["subscription_metadata"].clone();
        let subscription = subscription_object(&sub_id, &item_id, &customer, &price, metadata);
        world
            .subscriptions
            .insert(sub_id.clone(), subscription.clone());
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["subscription"] = json!(sub_id);
        world
            .sessions
            .insert(session_id.to_owned(), session.clone());
        (session, subscription)
    }

    /// The next request to `path` fails with `status` and Stripe's error envelope.
    pub fn fail_next(&self, path: &str, status: u16, kind: &str, code: &str, message: &str) {
        let body = json!({"error": {"type": kind, "code": code, "message": message,
                                    "doc_url": format!("https://stripe.com/docs/error-codes/{code}")}});
        self.world().failures.push((path.to_owned(), status, body));
    }
}

fn next_id(world: &mut World) -> String {
    world.next_id += 1;
    format!("fake{:06}", world.next_id)
}

/// Expands a form body with bracket keys into JSON: `a[b][0][c]=x` → `{"a":{"b":[{"c":"x"}]}}`.
pub fn parse_form(raw: &str) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let mut path: Vec<String> = Vec::new();
        let (head, rest) = key.split_once('[').unwrap_or((&key, ""));
        path.push(head.to_owned());
        if !rest.is_empty() {
            for part in format!("[{rest}").split('[').skip(1) {
                path.push(part.trim_end_matches(']').to_owned());
            }
        }
        insert(&mut root, &path, value.to_string());
    }
    arrays(root)
}

fn insert(node: &mut Value, path: &[String], value: String) {
    let Some(object) = node.as_object_mut() else {
        return;
    };
    match path {
        [] => {}
        [last] => {
            object.insert(last.clone(), Value::String(value));
        }
        [head, rest @ ..] => {
            let child = object
                .entry(head.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            insert(child, rest, value);
        }
    }
}

/// Objects whose keys are all indexes become arrays.
fn arrays(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let indexed = !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok());
            if indexed {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(0), arrays(v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, arrays(v))).collect())
            }
        }
        other => other,
    }
}

fn error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> Response {
    let mut body = json!({"type": kind, "message": message});
    if let Some(code) = code {
        body["code"] = json!(code);
    }
    if let Some(param) = param {
        body["param"] = json!(param);
    }
    (status, axum::Json(json!({ "error": body }))).into_response()
}

fn missing(param: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_missing"),
        &format!("Missing required param: {param}."),
        Some(param),
    )
}

fn no_such(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {what}: '{id}'"),
        Some("id"),
    )
}

/// What every request goes through: recording, the key check, forms, injected failures and
/// idempotency; `handle` makes the answer when none of those did.
fn serve(
    world: &Shared,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    handle: impl FnOnce(&mut World, &Value) -> Result<Value, Response>,
) -> Response {
    let mut world = world.lock().expect("fake state");
    let raw = String::from_utf8_lossy(body).into_owned();
    let form = parse_form(&raw);
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    world.requests.push(Recorded {
        method: method.to_string(),
        path: path.to_owned(),
        idempotency_key: idempotency_key.clone(),
        raw: raw.clone(),
        form: form.clone(),
    });
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match authorization.strip_prefix("Bearer ") {
        Some(key) if key == SECRET_KEY => {}
        Some(key) if key.starts_with("sk_test_") || key.starts_with("sk_live_") => {
            let tail: String = key
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                &format!("Invalid API Key provided: sk_test_****{tail}"),
                None,
            );
        }
        _ => {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                "You did not provide an API key.",
                None,
            );
        }
    }
    if method == Method::POST && !raw.is_empty() {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if form_type != "application/x-www-form-urlencoded" {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                "Invalid request: bodies must be application/x-www-form-urlencoded",
                None,
            );
        }
    }
    if let Some(at) = world.failures.iter().position(|(p, _, _)| p == path) {
        let (_, status, body) = world.failures.remove(at);
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(body),
        )
            .into_response();
    }
    let scope = format!("{method} {path}");
    if let Some(key) = &idempotency_key
        && let Some((seen_scope, seen_raw, status, answer)) = world.idempotent.get(key)
    {
        if *seen_scope != scope || *seen_raw != raw {
            return error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                None,
            );
        }
        let mut response = (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
            axum::Json(answer.clone()),
        )
            .into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", "true".parse().expect("header"));
        return response;
    }
    match handle(&mut world, &form) {
        Ok(answer) => {
            if let Some(key) = idempotency_key {
                world
                    .idempotent
                    .insert(key, (scope, raw, 200, answer.clone()));
            }
            axum::Json(answer).into_response()
        }
        Err(response) => response,
    }
}

fn customer_object(id: &str, form: &Value) -> Value {
    json!({
        "id": id, "object": "customer", "address": null, "balance": 0, "created": now(),
        "currency": null, "default_source": null, "delinquent": false, "description": null,
        "discount": null, "email": form.get("email").cloned().unwrap_or(Value::Null),
        "invoice_prefix": "FAKE0001",
        "invoice_settings": {"custom_fields": null, "default_payment_method": null,
                             "footer": null, "rendering_options": null},
        "livemode": false, "metadata": form.get("metadata").cloned().unwrap_or(json!({})),
        "name": form.get("name").cloned().unwrap_or(Value::Null),
        "next_invoice_sequence": 1, "phone": null, "preferred_locales": [], "shipping": null,
        "tax_exempt": "none", "test_clock": null,
    })
}

async fn create_customer(State(world): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    serve(
        &world,
        Method::POST,
        "/v1/customers",
        &headers,
        &body,
        |world, form| {
            let id = format!("cus_{}", next_id(world));
            let customer = customer_object(&id, form);
            world.customers.insert(id, customer.clone());
            Ok(customer)
        },
    )
}

async fn create_session(State(world): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    serve(
        &world,
        Method::POST,
        "/v1/checkout/sessions",
        &headers,
        &body,
        |world, form| {
            let mode = form["mode"].as_str().ok_or_else(|| missing("mode"))?;
            let price = form["line_items"][0]["price"]
                .as_str()
                .ok_or_else(|| missing("line_items[0][price]"))?
                .to_owned();
            if !price.starts_with("price_") {
                return Err(no_such("price", &price));
            }
            for param in ["success_url", "cancel_url"] {
                if form[param].as_str().is_none() {
                    return Err(missing(param));
                }
            }
            let customer = form["customer"].as_str().unwrap_or_default().to_owned();
            if !customer.is_empty() && !world.customers.contains_key(&customer) {
                return Err(no_such("customer", &customer));
            }
            let id = format!("cs_test_{}", next_id(world));
            let session = json!({
                "id": id, "object": "checkout.session", "automatic_tax": {"enabled": false,
                "liability": null, "provider": null, "status": null},
                "cancel_url": form["cancel_url"], "success_url": form["success_url"],
                "client_reference_id": form.get("client_reference_id").cloned().unwrap_or(Value::Null),
                "created": now(), "currency": "usd", "custom_fields": [],
                "custom_text": {"after_submit": null, "shipping_address": null, "submit": null,
                                "terms_of_service_acceptance": null},
                "customer": if customer.is_empty() { Value::Null } else { json!(customer) },
                "expires_at": now() + 86_400, "livemode": false,
                "metadata": form.get("metadata").cloned().unwrap_or(json!({})),
                "mode": mode, "payment_method_types": ["card"], "payment_status": "unpaid",
                "shipping_options": [], "status": "open", "subscription": null,
                "url": format!("https://checkout.stripe.com/c/pay/{id}"),
                // Kept for complete_checkout; Stripe has them only through expansion.
                "line_items_price": price,
                "subscription_metadata": form["subscription_data"].get("metadata").cloned().unwrap_or(json!({})),
            });
            world.sessions.insert(id, session.clone());
            Ok(session)
        },
    )
}

fn price_object(id: &str) -> Value {
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit",
        "created": now() - 86_400, "currency": "usd", "livemode": false, "lookup_key": null,
        "metadata": {}, "nickname": null, "product": "prod_fake",
        "recurring": {"interval": "month", "interval_count": 1, "meter": null,
                      "trial_period_days": null, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "type": "recurring", "unit_amount": 2900,
        "unit_amount_decimal": "2900",
    })
}

fn plan_object(id: &str) -> Value {
    json!({
        "id": id, "object": "plan", "active": true, "amount": 2900,
        "amount_decimal": "2900", "billing_scheme": "per_unit", "created": now() - 86_400,
        "currency": "usd", "interval": "month", "interval_count": 1, "livemode": false,
        "metadata": {}, "nickname": null, "product": "prod_fake", "usage_type": "licensed",
    })
}

fn subscription_object(
    id: &str,
    item_id: &str,
    customer: &str,
    price: &str,
    metadata: Value,
) -> Value {
    let start = now();
    let end = start + 30 * 86_400;
    json!({
        "id": id, "object": "subscription", "automatic_tax": {"enabled": false, "liability": null},
        "billing_cycle_anchor": start, "billing_mode": {"type": "classic"},
        "billing_schedules": [],
        "cancel_at": null, "cancel_at_period_end": false, "canceled_at": null,
        "collection_method": "charge_automatically", "created": start, "currency": "usd",
        "customer": customer, "discounts": [], "ended_at": null,
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": {"object": "list", "has_more": false,
                  "url": format!("/v1/subscription_items?subscription={id}"),
                  "data": [{
                      "id": item_id, "object": "subscription_item", "created": start,
                      "current_period_start": start, "current_period_end": end,
                      "discounts": [], "metadata": {}, "plan": plan_object(price),
                      "price": price_object(price), "quantity": 1, "subscription": id,
                      "tax_rates": [],
                  }]},
        "livemode": false, "metadata": metadata, "start_date": start, "status": "active",
        "trial_end": null, "trial_start": null,
        // Older API versions, which Nocron's webhook also reads.
        "current_period_end": end,
    })
}

async fn retrieve_subscription(
    State(world): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/subscriptions/{id}");
    serve(
        &world,
        Method::GET,
        &path,
        &headers,
        &Bytes::new(),
        |world, _| {
            world
                .subscriptions
                .get(&id)
                .cloned()
                .ok_or_else(|| no_such("subscription", &id))
        },
    )
}

async fn update_subscription(
    State(world): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/subscriptions/{id}");
    serve(
        &world,
        Method::POST,
        &path,
        &headers,
        &body,
        |world, form| {
            let mut sub = world
                .subscriptions
                .get(&id)
                .cloned()
                .ok_or_else(|| no_such("subscription", &id))?;
            if sub["status"] == "canceled" {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    None,
                    "A canceled subscription can only update its cancellation_details and metadata.",
                    None,
                ));
            }
            if let Some(items) = form.get("items").and_then(Value::as_array) {
                for item in items {
                    let item_id = item["id"].as_str().ok_or_else(|| missing("items[0][id]"))?;
                    let current = &mut sub["items"]["data"][0];
                    if current["id"] != item_id {
                        return Err(no_such("subscription_item", item_id));
                    }
                    if let Some(price) = item["price"].as_str() {
                        current["price"] = price_object(price);
                        current["plan"] = plan_object(price);
                    }
                }
            }
            if let Some(value) = form["cancel_at_period_end"].as_str() {
                sub["cancel_at_period_end"] = json!(value == "true");
            }
            if let Some(metadata) = form.get("metadata").and_then(Value::as_object) {
                for (k, v) in metadata {
                    sub["metadata"][k] = v.clone();
                }
            }
            world.subscriptions.insert(id.clone(), sub.clone());
            Ok(sub)
        },
    )
}

async fn cancel_subscription(
    State(world): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/v1/subscriptions/{id}");
    serve(
        &world,
        Method::DELETE,
        &path,
        &headers,
        &body,
        |world, _| {
            let mut sub = world
                .subscriptions
                .get(&id)
                .cloned()
                .ok_or_else(|| no_such("subscription", &id))?;
            sub["status"] = json!("canceled");
            sub["canceled_at"] = json!(now());
            sub["ended_at"] = json!(now());
            world.subscriptions.insert(id.clone(), sub.clone());
            Ok(sub)
        },
    )
}

async fn create_portal_session(
    State(world): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(
        &world,
        Method::POST,
        "/v1/billing_portal/sessions",
        &headers,
        &body,
        |world, form| {
            let customer = form["customer"]
                .as_str()
                .ok_or_else(|| missing("customer"))?
                .to_owned();
            if !world.customers.contains_key(&customer) {
                return Err(no_such("customer", &customer));
            }
            let id = format!("bps_{}", next_id(world));
            Ok(json!({
                "id": id, "object": "billing_portal.session", "configuration": "bpc_fake",
                "created": now(), "customer": customer, "flow": null, "livemode": false,
                "locale": null, "on_behalf_of": null,
                "return_url": form.get("return_url").cloned().unwrap_or(Value::Null),
                "url": format!("https://billing.stripe.com/p/session/test_{id}"),
            }))
        },
    )
}

#[test]
fn bracket_forms_become_objects_and_arrays() {
    let form = parse_form(
        "mode=subscription&line_items[0][price]=price_pro&line_items[0][quantity]=1&metadata[user_id]=u&items[1][id]=b&items[0][id]=a",
    );
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items"][0]["price"], "price_pro");
    assert_eq!(form["metadata"]["user_id"], "u");
    assert_eq!(form["items"][0]["id"], "a");
    assert_eq!(form["items"][1]["id"], "b");
}
