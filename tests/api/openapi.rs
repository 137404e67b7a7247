//! The OpenAPI document is valid, complete, and served with a working Swagger UI.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Routes deliberately outside the spec (the spec itself and its UI).
const UNDOCUMENTED: [&str; 2] = ["/api-json", "/api/docs"];

#[tokio::test]
async fn the_spec_is_valid_openapi_3_1() {
    let app = spawn_app().await;
    let text = app.get("/api-json").await.text().await.expect("spec");
    let parsed = oas3::from_json(&text).expect("a parser for OpenAPI 3.1 accepts the document");
    assert!(parsed.openapi.starts_with("3.1"));

    let spec: Value = serde_json::from_str(&text).expect("json");
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");

    // Every $ref resolves, every operation has responses and a unique operationId.
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("local ref");
        assert!(spec.pointer(pointer).is_some(), "dangling $ref {reference}");
    }
    let mut ids = HashSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                assert!(
                    operation["responses"]
                        .as_object()
                        .is_some_and(|r| !r.is_empty()),
                    "{method} {path} has no responses"
                );
                let id = operation["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
                assert!(
                    operation["summary"].is_string(),
                    "{method} {path} has no summary"
                );
            }
        }
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Every route registered with a literal `.route("…")` in the sources must be documented;
/// routes registered through utoipa-axum's `routes!` are documented by construction.
#[tokio::test]
async fn every_router_path_is_in_the_spec() {
    let app = spawn_app().await;
    let spec: Value = app.get("/api-json").await.json().await.expect("spec");
    let documented: BTreeSet<String> = spec["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    assert!(documented.contains("/health"));

    let mut literal_routes = Vec::new();
    collect_literal_routes(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut literal_routes,
    );
    for route in literal_routes {
        assert!(
            documented.contains(&route) || UNDOCUMENTED.contains(&route.as_str()),
            "route {route} is registered but missing from the OpenAPI document"
        );
    }

    // And every documented path without parameters is really routed.
    for path in documented.iter().filter(|p| !p.contains('{')) {
        let item = &spec["paths"][path];
        if item.get("get").is_some() {
            let response = app.get(path).await;
            let status = response.status();
            // An integration this server is not configured for answers 404 with its own code.
            let code = response.json::<Value>().await.unwrap_or_default()["code"].clone();
            assert!(
                status != 404 || code == "INTEGRATION_NOT_CONFIGURED",
                "{path} is documented but not routed"
            );
            assert_ne!(
                status, 405,
                "{path} is documented with GET but does not accept it"
            );
        }
    }
}

fn collect_literal_routes(dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_literal_routes(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source");
            for piece in text.split(".route(\"").skip(1) {
                if let Some(end) = piece.find('"') {
                    out.push(piece[..end].to_owned());
                }
            }
        }
    }
}

#[tokio::test]
async fn swagger_ui_is_served_offline_and_points_at_the_spec() {
    let app = spawn_app().await;
    let page = app.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");

    // The page's assets come from the binary, not a CDN.
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let response = app.get(&format!("/api/docs/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
    }
    let initializer = app
        .get("/api/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .expect("js");
    assert!(initializer.contains("/api-json"));
}

#[tokio::test]
async fn the_cli_prints_the_same_spec() {
    let app = spawn_app().await;
    let served: Value = app.get("/api-json").await.json().await.expect("spec");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nocron"))
        .arg("openapi")
        .output()
        .expect("run nocron openapi");
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(printed, served);
}

#[tokio::test]
async fn protected_operations_declare_their_security_and_error_responses() {
    let app = spawn_app().await;
    let spec: Value = app.get("/api-json").await.json().await.expect("spec");
    let public = [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/verify-email",
    ];
    let mut protected = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let identity = [
            "/auth",
            "/sessions",
            "/users",
            "/admin",
            "/api-keys",
            "/api/v1",
        ]
        .iter()
        .any(|prefix| path.starts_with(prefix));
        if !identity {
            continue;
        }
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let security = operation["security"].as_array();
            if public.contains(&path.as_str()) {
                assert!(security.is_none(), "{method} {path} needs no credential");
                assert!(
                    operation["responses"].get("429").is_some(),
                    "{method} {path}"
                );
                continue;
            }
            let schemes: Vec<&str> = security
                .unwrap_or_else(|| panic!("{method} {path} declares no security"))
                .iter()
                .flat_map(|s| s.as_object().expect("requirement").keys())
                .map(String::as_str)
                .collect();
            let expected: &[&str] = if path.starts_with("/api/v1") {
                &["api_key", "bearer"]
            } else {
                &["bearer"]
            };
            assert_eq!(schemes, expected, "{method} {path}");
            let unauthorized =
                &operation["responses"]["401"]["content"]["application/problem+json"];
            assert!(
                unauthorized["schema"]["$ref"]
                    .as_str()
                    .is_some_and(|r| r.ends_with("/Problem")),
                "{method} {path} documents its 401 problem"
            );
            protected += 1;
        }
    }
    assert!(protected >= 17, "{protected} protected operations");
}

/// `docs/openapi.json` is what the code generates, so clients can be built from the
/// repository alone. After changing the API: `cargo run --quiet -- openapi > docs/openapi.json`.
#[test]
fn the_committed_spec_is_the_one_the_code_generates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(path).expect("docs/openapi.json is committed"),
    )
    .expect("docs/openapi.json is JSON");
    let generated = serde_json::to_value(nocron::app::openapi()).expect("spec");
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `cargo run --quiet -- openapi > docs/openapi.json`"
    );
}
