//! A local stand-in for the Notion API (we cannot reach the real one from tests), speaking
//! its documented wire format for the endpoints Nocron uses: OAuth authorize and token
//! exchange, search, database query, page create and update. It checks what Notion checks
//! (`Authorization: Bearer`, `Notion-Version`, JSON bodies, property names and value shapes
//! against the database schema), answers Notion's objects (`page`, `list` with
//! `has_more`/`next_cursor`, `error` with `status`/`code`/`message`), can rate-limit with
//! `Retry-After`, and records every request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, patch, post},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};

/// The version the fake (like Nocron) speaks.
pub const VERSION: &str = "2022-06-28";
/// The OAuth client the fake knows.
pub const CLIENT_ID: &str = "fake-client-id";
/// Its secret.
pub const CLIENT_SECRET: &str = "fake-client-secret";
/// An internal-integration token the fake accepts.
pub const INTEGRATION_TOKEN: &str = "secret_fake_integration_token";

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// Headers, lower-case names.
    pub headers: HashMap<String, String>,
    /// The JSON body, or null.
    pub body: Value,
}

/// A database: its schema (property name → type) and pages.
#[derive(Debug, Clone)]
pub struct Database {
    /// The id.
    pub id: String,
    /// The title.
    pub title: String,
    /// Property name → Notion type (`title`, `rich_text`, `number`, `select`, `checkbox`).
    pub schema: Vec<(String, String)>,
    /// Page ids in creation order.
    pub pages: Vec<String>,
}

#[derive(Default)]
struct World {
    requests: Vec<Recorded>,
    tokens: Vec<String>,
    codes: HashMap<String, String>,
    databases: Vec<Database>,
    pages: HashMap<String, Value>,
    rate_limits: Vec<(String, u64)>,
    max_page_size: usize,
    next_id: u64,
}

type Shared = Arc<Mutex<World>>;

/// The running fake.
pub struct FakeNotion {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    world: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNotion {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeNotion {
    /// Starts the fake on a free loopback port. It accepts [`INTEGRATION_TOKEN`] and the
    /// tokens it grants through OAuth; list answers hold at most `max_page_size` items.
    pub async fn start(max_page_size: usize) -> Self {
        let world: Shared = Arc::new(Mutex::new(World {
            tokens: vec![INTEGRATION_TOKEN.to_owned()],
            max_page_size,
            ..World::default()
        }));
        let router = Router::new()
            .route("/v1/oauth/authorize", get(authorize))
            .route("/v1/oauth/token", post(token))
            .route("/v1/search", post(search))
            .route("/v1/databases/{id}/query", post(query))
            .route("/v1/pages", post(create_page))
            .route("/v1/pages/{id}", patch(update_page))
            .fallback(|| async {
                error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_url",
                    "Invalid request URL.",
                )
            })
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the fake Notion");
        let port = listener.local_addr().expect("address").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeNotion {
            base: format!("http://127.0.0.1:{port}"),
            world,
            task,
        }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("fake state")
    }

    /// Adds a database with this schema; returns its id.
    pub fn add_database(&self, title: &str, schema: &[(&str, &str)]) -> String {
        let mut world = self.world();
        let id = next_id(&mut world);
        world.databases.push(Database {
            id: id.clone(),
            title: title.to_owned(),
            schema: schema
                .iter()
                .map(|(name, kind)| ((*name).to_owned(), (*kind).to_owned()))
                .collect(),
            pages: Vec::new(),
        });
        id
    }

    /// Adds a page (properties in request form) to a database; returns its id.
    pub fn add_page(&self, database_id: &str, properties: Value) -> String {
        let mut world = self.world();
        let schema = find_database(&world, database_id)
            .expect("database")
            .schema
            .clone();
        let properties = validate_properties(&schema, &properties, true).expect("valid page");
        let id = next_id(&mut world);
        let page = page_object(&id, database_id, properties);
        world.pages.insert(id.clone(), page);
        if let Some(database) = world.databases.iter_mut().find(|d| d.id == database_id) {
            database.pages.push(id.clone());
        }
        id
    }

    /// A page as the fake holds it (Notion's page object).
    pub fn page(&self, id: &str) -> Value {
        self.world().pages.get(id).cloned().expect("page")
    }

    /// The pages of a database, in creation order.
    pub fn pages_of(&self, database_id: &str) -> Vec<Value> {
        let world = self.world();
        let database = find_database(&world, database_id).expect("database");
        database
            .pages
            .iter()
            .filter_map(|id| world.pages.get(id).cloned())
            .collect()
    }

    /// The next `times` requests to `path` get a 429 with `Retry-After: retry_after`.
    pub fn rate_limit(&self, path: &str, times: usize, retry_after: u64) {
        let mut world = self.world();
        for _ in 0..times {
            world.rate_limits.push((path.to_owned(), retry_after));
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.world().requests.clone()
    }

    /// The requests to `path` with `method`.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }
}

fn next_id(world: &mut World) -> String {
    world.next_id += 1;
    uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 + u128::from(world.next_id))
        .to_string()
}

fn find_database<'a>(world: &'a World, id: &str) -> Option<&'a Database> {
    let wanted = id.replace('-', "");
    world
        .databases
        .iter()
        .find(|d| d.id.replace('-', "") == wanted)
}

/// An error answer: Notion's error object, with `Retry-After` on a 429.
struct Fail {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// Notion's error object.
fn error(status: StatusCode, code: &str, message: &str) -> Fail {
    Fail {
        status,
        body: json!({
            "object": "error",
            "status": status.as_u16(),
            "code": code,
            "message": message,
            "request_id": "00000000-0000-4000-8000-000000000000",
        }),
        retry_after: None,
    }
}

fn record(world: &Shared, method: &Method, path: &str, headers: &HeaderMap, body: &Bytes) {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    world.lock().expect("fake state").requests.push(Recorded {
        method: method.to_string(),
        path: path.to_owned(),
        headers,
        body,
    });
}

/// What every API call must carry; the parsed JSON body when it does.
fn check_api_call(
    world: &Shared,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Fail> {
    record(world, &method, path, headers, body);
    let version = headers.get("notion-version").and_then(|v| v.to_str().ok());
    if version != Some(VERSION) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "missing_version",
            "Notion-Version header failed validation: should be a supported version.",
        ));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let mut world = world.lock().expect("fake state");
    if !token.is_some_and(|t| world.tokens.iter().any(|known| known == t)) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "API token is invalid.",
        ));
    }
    if let Some(at) = world.rate_limits.iter().position(|(p, _)| p == path) {
        let (_, retry_after) = world.rate_limits.remove(at);
        let mut fail = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
        );
        fail.retry_after = Some(retry_after);
        return Err(fail);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "Body failed validation: Content-Type must be application/json.",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "Error parsing JSON body.",
        )
    })
}

fn validation(message: &str) -> Fail {
    error(StatusCode::BAD_REQUEST, "validation_error", message)
}

/// Notion's rich-text array from a request's `[{type: "text", text: {content}}]`.
fn rich_text(value: &Value, name: &str) -> Result<Value, String> {
    let parts = value
        .as_array()
        .ok_or_else(|| format!("body.properties.{name} should be an array."))?;
    let mut out = Vec::new();
    for part in parts {
        let content = part["text"]["content"]
            .as_str()
            .ok_or_else(|| format!("body.properties.{name}[].text.content should be a string."))?;
        if part.get("type").is_some_and(|t| t != "text") {
            return Err(format!("body.properties.{name}[].type should be `text`."));
        }
        out.push(json!({
            "type": "text",
            "text": {"content": content, "link": null},
            "annotations": {"bold": false, "italic": false, "strikethrough": false,
                            "underline": false, "code": false, "color": "default"},
            "plain_text": content,
            "href": null,
        }));
    }
    Ok(Value::Array(out))
}

/// Checks property values against the schema; returns them in page-object form.
fn validate_properties(
    schema: &[(String, String)],
    properties: &Value,
    all_required_title: bool,
) -> Result<Map<String, Value>, String> {
    let given = properties
        .as_object()
        .ok_or("body.properties should be an object.")?;
    let mut out = Map::new();
    for (name, value) in given {
        let Some((_, kind)) = schema.iter().find(|(n, _)| n == name) else {
            return Err(format!("{name} is not a property that exists."));
        };
        let object = value
            .as_object()
            .ok_or_else(|| format!("body.properties.{name} should be an object."))?;
        let inner = object
            .get(kind.as_str())
            .ok_or_else(|| format!("body.properties.{name}.{kind} should be defined."))?;
        let converted = match kind.as_str() {
            "title" | "rich_text" => rich_text(inner, name)?,
            "number" if inner.is_number() || inner.is_null() => inner.clone(),
            "checkbox" if inner.is_boolean() => inner.clone(),
            "select" if inner["name"].is_string() => {
                json!({"id": "opt", "name": inner["name"], "color": "default"})
            }
            _ => {
                return Err(format!(
                    "body.properties.{name}.{kind} has an invalid value."
                ));
            }
        };
        out.insert(
            name.clone(),
            json!({ "id": name.to_lowercase(), "type": kind, kind.as_str(): converted }),
        );
    }
    if all_required_title
        && !schema
            .iter()
            .any(|(n, k)| k == "title" && out.contains_key(n))
    {
        return Err("Title is not provided".into());
    }
    Ok(out)
}

fn page_object(id: &str, database_id: &str, properties: Map<String, Value>) -> Value {
    json!({
        "object": "page",
        "id": id,
        "created_time": "2026-11-22T05:00:00.000Z",
        "last_edited_time": "2026-11-22T05:00:00.000Z",
        "created_by": {"object": "user", "id": "fake-bot"},
        "last_edited_by": {"object": "user", "id": "fake-bot"},
        "cover": null,
        "icon": null,
        "parent": {"type": "database_id", "database_id": database_id},
        "archived": false,
        "in_trash": false,
        "properties": properties,
        "url": format!("https://www.notion.so/{}", id.replace('-', "")),
        "public_url": null,
    })
}

/// A list object of `items` from `start_cursor`, at most `page_size` (and the fake's cap).
fn list(items: Vec<Value>, body: &Value, cap: usize, kind: &str) -> Result<Value, Fail> {
    let page_size = match &body["page_size"] {
        Value::Null => 100,
        Value::Number(n) => match n.as_u64() {
            Some(n @ 1..=100) => n as usize,
            _ => {
                return Err(validation(
                    "body.page_size should be ≤ `100`, instead was > 100.",
                ));
            }
        },
        _ => return Err(validation("body.page_size should be a number.")),
    };
    let start = match &body["start_cursor"] {
        Value::Null => 0,
        Value::String(cursor) => items
            .iter()
            .position(|item| item["id"] == *cursor)
            .ok_or_else(|| validation("body.start_cursor should be a valid cursor."))?,
        _ => return Err(validation("body.start_cursor should be a string.")),
    };
    let take = page_size.min(cap);
    let end = (start + take).min(items.len());
    let next = items.get(end).map(|item| item["id"].clone());
    Ok(json!({
        "object": "list",
        "results": items[start..end].to_vec(),
        "next_cursor": next.clone().unwrap_or(Value::Null),
        "has_more": next.is_some(),
        "type": kind,
        kind: {},
        "request_id": "00000000-0000-4000-8000-000000000001",
    }))
}

/// The subset of Notion's filter language the tests use: one `equals` condition on a
/// property, or `and` of such conditions.
fn matches(page: &Value, filter: &Value) -> Result<bool, Fail> {
    if let Some(all) = filter.get("and").and_then(Value::as_array) {
        for condition in all {
            if !matches(page, condition)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let name = filter["property"]
        .as_str()
        .ok_or_else(|| validation("body.filter.property should be defined."))?;
    let property = &page["properties"][name];
    for kind in ["checkbox", "number", "select", "rich_text", "title"] {
        if let Some(condition) = filter.get(kind) {
            let expected = &condition["equals"];
            if expected.is_null() {
                return Err(validation("body.filter.equals should be defined."));
            }
            let actual = match kind {
                "select" => property["select"]["name"].clone(),
                "rich_text" | "title" => {
                    json!(plain(&property[kind]))
                }
                _ => property[kind].clone(),
            };
            return Ok(actual == *expected);
        }
    }
    Err(validation("body.filter should be a property filter."))
}

/// The plain text of a rich-text array.
pub fn plain(rich_text: &Value) -> String {
    rich_text
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["plain_text"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

async fn authorize(
    State(world): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || query.get("response_type").map(String::as_str) != Some("code")
        || query.get("owner").map(String::as_str) != Some("user")
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let (Some(redirect_uri), Some(state)) = (query.get("redirect_uri"), query.get("state")) else {
        return (
            StatusCode::BAD_REQUEST,
            "redirect_uri and state are required",
        )
            .into_response();
    };
    let code = format!("code-{}", uuid::Uuid::new_v4().simple());
    world
        .lock()
        .expect("fake state")
        .codes
        .insert(code.clone(), redirect_uri.clone());
    let mut target = reqwest::Url::parse(redirect_uri).expect("redirect uri");
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state);
    Redirect::to(target.as_str()).into_response()
}

async fn token(State(world): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    record(&world, &Method::POST, "/v1/oauth/token", &headers, &body);
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            axum::Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Body is not JSON.",
        );
    };
    if body["grant_type"] != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code.",
        );
    }
    let mut world = world.lock().expect("fake state");
    let code = body["code"].as_str().unwrap_or_default();
    let Some(redirect_uri) = world.codes.remove(code) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid code.");
    };
    if body["redirect_uri"] != redirect_uri.as_str() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match.",
        );
    }
    let access_token = format!("ntn_oauth_{}", uuid::Uuid::new_v4().simple());
    world.tokens.push(access_token.clone());
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "bot_id": "b0b0b0b0-0000-4000-8000-000000000001",
        "workspace_name": "Acme Ops",
        "workspace_icon": "🛠",
        "workspace_id": "a0a0a0a0-0000-4000-8000-000000000001",
        "owner": {"type": "user", "user": {"object": "user", "id": "u0u0u0u0-0000-4000-8000-000000000001"}},
        "duplicated_template_id": null,
        "request_id": "00000000-0000-4000-8000-000000000002",
    }))
    .into_response()
}

async fn search(
    State(world): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Fail> {
    let body = check_api_call(&world, Method::POST, "/v1/search", &headers, &body)?;
    if body["filter"] != json!({"property": "object", "value": "database"}) {
        return Err(validation(
            "body.filter should be `{property: \"object\", value: \"database\"}`.",
        ));
    }
    let world = world.lock().expect("fake state");
    let items = world
        .databases
        .iter()
        .map(|d| {
            json!({
                "object": "database",
                "id": d.id,
                "title": [{"type": "text", "text": {"content": d.title, "link": null}, "plain_text": d.title, "href": null}],
                "url": format!("https://www.notion.so/{}", d.id.replace('-', "")),
                "properties": d.schema.iter().map(|(n, k)| (n.clone(), json!({"id": n.to_lowercase(), "name": n, "type": k, k.as_str(): {}}))).collect::<Map<_, _>>(),
            })
        })
        .collect();
    let list = list(items, &body, world.max_page_size, "page_or_database")?;
    Ok(axum::Json(list).into_response())
}

async fn query(
    State(world): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Fail> {
    let path = format!("/v1/databases/{id}/query");
    let body = check_api_call(&world, Method::POST, &path, &headers, &body)?;
    if body.get("sorts").is_some_and(|s| !s.is_array()) {
        return Err(validation("body.sorts should be an array."));
    }
    let world = world.lock().expect("fake state");
    let Some(database) = find_database(&world, &id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!(
                "Could not find database with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
            ),
        ));
    };
    let mut items = Vec::new();
    for page_id in &database.pages {
        let page = world.pages[page_id].clone();
        let keep = match body.get("filter") {
            None => true,
            Some(filter) => matches(&page, filter)?,
        };
        if keep {
            items.push(page);
        }
    }
    let list = list(items, &body, world.max_page_size, "page_or_database")?;
    Ok(axum::Json(list).into_response())
}

async fn create_page(
    State(world): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Fail> {
    let body = check_api_call(&world, Method::POST, "/v1/pages", &headers, &body)?;
    let Some(database_id) = body["parent"]["database_id"].as_str() else {
        return Err(validation("body.parent.database_id should be defined."));
    };
    if body.get("children").is_some_and(|c| !c.is_array()) {
        return Err(validation("body.children should be an array."));
    }
    let mut world = world.lock().expect("fake state");
    let Some(database) = find_database(&world, database_id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find database with ID: {database_id}."),
        ));
    };
    let (database_id, schema) = (database.id.clone(), database.schema.clone());
    let properties = match validate_properties(&schema, &body["properties"], true) {
        Ok(properties) => properties,
        Err(message) => return Err(validation(&message)),
    };
    let id = next_id(&mut world);
    let page = page_object(&id, &database_id, properties);
    world.pages.insert(id.clone(), page.clone());
    if let Some(database) = world.databases.iter_mut().find(|d| d.id == database_id) {
        database.pages.push(id);
    }
    Ok(axum::Json(page).into_response())
}

async fn update_page(
    State(world): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Fail> {
    let path = format!("/v1/pages/{id}");
    let body = check_api_call(&world, Method::PATCH, &path, &headers, &body)?;
    let mut world = world.lock().expect("fake state");
    let Some(page) = world.pages.get(&id).cloned() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "object_not_found",
            &format!("Could not find page with ID: {id}."),
        ));
    };
    let database_id = page["parent"]["database_id"].as_str().unwrap_or_default();
    let schema = find_database(&world, database_id)
        .map(|d| d.schema.clone())
        .unwrap_or_default();
    let changes = match validate_properties(&schema, &body["properties"], false) {
        Ok(changes) => changes,
        Err(message) => return Err(validation(&message)),
    };
    let mut page = page;
    for (name, value) in changes {
        page["properties"][name] = value;
    }
    page["last_edited_time"] = json!("2026-11-22T05:01:00.000Z");
    world.pages.insert(id, page.clone());
    Ok(axum::Json(page).into_response())
}
