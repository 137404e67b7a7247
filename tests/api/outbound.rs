//! The SSRF guard against real HTTP servers on loopback: internal targets in every encoding,
//! names resolving to loopback, and redirects into loopback are refused before a request
//! reaches them; the operator allow-list lets local servers through. No test traffic leaves
//! loopback: off-host vectors are only checked with `check_url`.

use std::{
    collections::HashMap,
    error::Error,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use nocron::{
    app::Application,
    net::{OutboundPolicy, client::guarded_client_builder, try_outbound_client},
};
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

use crate::helpers::{TestDatabase, test_settings};

/// A local HTTP server counting the requests it receives.
struct LocalServer {
    address: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl LocalServer {
    fn url(&self, path: &str) -> String {
        match self.address {
            SocketAddr::V4(v4) => format!("http://{v4}{path}"),
            SocketAddr::V6(v6) => format!("http://[{}]:{}{path}", v6.ip(), v6.port()),
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct ServerState {
    hits: Arc<AtomicUsize>,
    redirect_to: Option<String>,
}

async fn answer(State(state): State<ServerState>) -> impl IntoResponse {
    state.hits.fetch_add(1, Ordering::SeqCst);
    match state.redirect_to {
        Some(location) => (StatusCode::FOUND, [(header::LOCATION, location)], "").into_response(),
        None => (StatusCode::OK, "sink").into_response(),
    }
}

/// Serves on `ip` (port chosen by the OS): a sink, or a redirect to `redirect_to`; a
/// `redirect_to` of `"self"` redirects to the server itself.
async fn serve(ip: &str, redirect_to: Option<&str>) -> LocalServer {
    let listener = tokio::net::TcpListener::bind((ip.parse::<IpAddr>().expect("ip"), 0))
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("address");
    let hits = Arc::new(AtomicUsize::new(0));
    let redirect_to = redirect_to.map(|to| {
        if to == "self" {
            format!("http://{address}/again")
        } else {
            to.to_owned()
        }
    });
    let router = Router::new()
        .route("/", get(answer))
        .route("/again", get(answer))
        .with_state(ServerState {
            hits: hits.clone(),
            redirect_to,
        });
    tokio::spawn(async move { axum::serve(listener, router).await });
    LocalServer { address, hits }
}

fn policy(allowed: &[&str]) -> Arc<OutboundPolicy> {
    Arc::new(OutboundPolicy::with_allowed(
        allowed.iter().map(|c| c.parse().expect("cidr")).collect(),
    ))
}

/// The error and all its causes, joined.
fn chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(" | ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn refused(client: &reqwest::Client, url: &str) -> String {
    match client.get(url).send().await {
        Ok(response) => panic!("{url} was reached: {}", response.status()),
        Err(err) => chain(&err),
    }
}

#[tokio::test]
async fn loopback_in_every_encoding_is_refused_before_a_request_is_sent() {
    nocron::install_crypto_provider();
    let sink = serve("127.0.0.1", None).await;
    let port = sink.address.port();
    let client = try_outbound_client(policy(&[]), "nocron-test").expect("client");
    let guard = OutboundPolicy::default();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        assert!(
            guard.check_url(&Url::parse(&url).expect("url")).is_err(),
            "{url} passes check_url"
        );
        // Even a caller that skips check_url cannot reach the server.
        let err = refused(&client, &url).await;
        assert!(err.contains("loopback"), "{url}: {err}");
    }
    let v6_sink = serve("::1", None).await;
    let err = refused(&client, &v6_sink.url("/")).await;
    assert!(err.contains("::1 is a loopback address"), "{err}");
    assert_eq!(sink.hits(), 0, "the IPv4 sink was reached");
    assert_eq!(v6_sink.hits(), 0, "the IPv6 sink was reached");

    // Off-host internal targets are refused by the URL check alone (no traffic sent).
    for (url, reason) in [
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is the cloud metadata address (link-local)",
        ),
        (
            "http://100.64.0.1/",
            "100.64.0.1 is a carrier-grade NAT (shared) address",
        ),
    ] {
        let err = guard
            .check_url(&Url::parse(url).expect("url"))
            .expect_err(url);
        assert_eq!(err.to_string(), reason);
    }
}

#[tokio::test]
async fn a_redirect_from_an_allowed_server_into_loopback_is_refused() {
    nocron::install_crypto_provider();
    let sink = serve("127.0.0.1", None).await;
    let client = try_outbound_client(policy(&["127.0.0.2/32"]), "nocron-test").expect("client");
    for target in [
        sink.url("/"),
        format!("http://localhost:{}/", sink.address.port()),
        format!("http://[::ffff:127.0.0.1]:{}/", sink.address.port()),
    ] {
        let redirector = serve("127.0.0.2", Some(&target)).await;
        let err = refused(&client, &redirector.url("/")).await;
        assert!(err.contains("redirect refused"), "{target}: {err}");
        assert!(err.contains("loopback"), "{target}: {err}");
        assert_eq!(redirector.hits(), 1, "the allowed server answered");
    }
    assert_eq!(sink.hits(), 0, "the loopback server was reached");
}

#[tokio::test]
async fn the_allow_list_lets_local_servers_through_including_redirects() {
    nocron::install_crypto_provider();
    let sink = serve("127.0.0.1", None).await;
    let client = try_outbound_client(policy(&["127.0.0.0/8"]), "nocron-test").expect("client");
    let response = client.get(sink.url("/")).send().await.expect("allowed");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "sink");
    let by_name = format!("http://localhost:{}/", sink.address.port());
    assert_eq!(
        client.get(&by_name).send().await.expect("allowed").status(),
        200
    );
    let redirector = serve("127.0.0.2", Some(&sink.url("/"))).await;
    let response = client
        .get(redirector.url("/"))
        .send()
        .await
        .expect("allowed hop");
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().as_str(), sink.url("/"));
    assert_eq!(sink.hits(), 3);
}

#[tokio::test]
async fn redirect_loops_stop_at_the_cap() {
    nocron::install_crypto_provider();
    let looping = serve("127.0.0.1", Some("self")).await;
    let client = try_outbound_client(policy(&["127.0.0.0/8"]), "nocron-test").expect("client");
    let err = refused(&client, &looping.url("/")).await;
    assert!(err.contains("stopped after 10 redirects"), "{err}");
    assert_eq!(looping.hits(), 11);
}

/// DNS answering from a fixed table: a public-looking name that points at loopback.
struct FixedLookup(HashMap<&'static str, IpAddr>);

impl Resolve for FixedLookup {
    fn resolve(&self, name: Name) -> Resolving {
        let addrs: Vec<SocketAddr> = self
            .0
            .get(name.as_str())
            .map(|ip| SocketAddr::new(*ip, 0))
            .into_iter()
            .collect();
        Box::pin(async move { Ok(Box::new(addrs.into_iter()) as Addrs) })
    }
}

#[tokio::test]
async fn a_public_name_resolving_to_loopback_is_refused() {
    nocron::install_crypto_provider();
    let sink = serve("127.0.0.1", None).await;
    let url = format!("http://hooks.example.com:{}/", sink.address.port());
    let lookup = || {
        Arc::new(FixedLookup(HashMap::from([(
            "hooks.example.com",
            "127.0.0.1".parse().expect("ip"),
        )])))
    };
    let guarded = guarded_client_builder(policy(&[]), "nocron-test", lookup())
        .build()
        .expect("client");
    let err = refused(&guarded, &url).await;
    assert!(
        err.contains(
            "hooks.example.com resolves only to refused addresses: 127.0.0.1 is a loopback address"
        ),
        "{err}"
    );
    assert_eq!(sink.hits(), 0);
    // The same lookup with loopback allowed does reach the server: the table is in use.
    let allowed = guarded_client_builder(policy(&["127.0.0.0/8"]), "nocron-test", lookup())
        .build()
        .expect("client");
    assert_eq!(
        allowed.get(&url).send().await.expect("allowed").status(),
        200
    );
    assert_eq!(sink.hits(), 1);
}

#[tokio::test]
async fn the_application_state_carries_the_configured_policy_and_client() {
    nocron::install_crypto_provider();
    let database = TestDatabase::create().await;
    let settings = test_settings(&database.url(), &[("OUTBOUND_ALLOW_CIDRS", "127.0.0.2/32")]);
    let application = Application::build(settings).await.expect("build");
    let state = application.state();
    let allowed: Vec<String> = state
        .outbound
        .allowed()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(allowed, ["127.0.0.2/32"]);
    let sink = serve("127.0.0.1", None).await;
    let allowed_server = serve("127.0.0.2", None).await;
    let redirector = serve("127.0.0.2", Some(&sink.url("/"))).await;
    let response = state
        .outbound_http
        .get(allowed_server.url("/"))
        .send()
        .await
        .expect("allowed");
    assert_eq!(response.status(), 200);
    assert!(
        response.url().host_str().is_some_and(|h| h == "127.0.0.2"),
        "{}",
        response.url()
    );
    let err = refused(&state.outbound_http, &redirector.url("/")).await;
    assert!(err.contains("127.0.0.1 is a loopback address"), "{err}");
    assert_eq!(sink.hits(), 0);
}
