//! The one HTTP client for user-configured requests, guarded three ways:
//!
//! 1. its DNS resolver resolves, then drops every address the [`OutboundPolicy`] refuses,
//!    so a name that resolves (or re-resolves, DNS rebinding) to an internal address cannot
//!    be reached;
//! 2. its redirect policy checks every hop's URL and caps their number;
//! 3. a connector layer checks the address actually connected to before a byte of the
//!    request is written, a backstop for IP-literal URLs (which never reach a resolver) in
//!    case a caller skipped [`OutboundPolicy::check_url`].
//!
//! Proxies are disabled: a proxy would resolve names out of our sight.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::http::Extensions;
use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};
use tower::{Layer, Service};

use super::policy::{OutboundPolicy, SsrfError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared client for user-configured requests; fails when the TLS backend cannot be
/// initialised (no crypto provider installed).
pub fn try_outbound_client(
    policy: Arc<OutboundPolicy>,
    user_agent: &str,
) -> Result<reqwest::Client, reqwest::Error> {
    guarded_client_builder(policy, user_agent, Arc::new(SystemLookup)).build()
}

/// A client builder with every guard in place, resolving names with `lookup`; for clients
/// with other settings (timeouts, a different redirect cap) and for tests.
pub fn guarded_client_builder(
    policy: Arc<OutboundPolicy>,
    user_agent: &str,
    lookup: Arc<dyn Resolve>,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .dns_resolver(Arc::new(GuardedResolver::new(policy.clone(), lookup)))
        .redirect(guarded_redirects(policy.clone(), MAX_REDIRECTS))
        .connector_layer(ConnectGuardLayer { policy })
}

/// A redirect policy that refuses hops the policy forbids and stops after `max_redirects`.
pub fn guarded_redirects(policy: Arc<OutboundPolicy>, max_redirects: usize) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max_redirects {
            let message = format!("stopped after {max_redirects} redirects");
            return attempt.error(message);
        }
        match policy.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(err) => {
                let refused = SsrfError::refused(format!("redirect refused: {err}"));
                attempt.error(refused)
            }
        }
    })
}

/// Resolves with the operating system (`getaddrinfo` on the blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Resolve for SystemLookup {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A resolver that keeps only the addresses the policy allows, and fails when none is left.
pub struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
    lookup: Arc<dyn Resolve>,
}

impl GuardedResolver {
    /// Guards `lookup` (normally [`SystemLookup`]) with `policy`.
    pub fn new(policy: Arc<OutboundPolicy>, lookup: Arc<dyn Resolve>) -> Self {
        GuardedResolver { policy, lookup }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = lookup.resolve(name).await?.collect();
            let mut first_refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check_ip(addr.ip()) {
                    Ok(()) => true,
                    Err(err) => {
                        first_refusal.get_or_insert(err);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let error: BoxError = match first_refusal {
                    Some(err) => Box::new(SsrfError::refused(format!(
                        "{host} resolves only to refused addresses: {err}"
                    ))),
                    None => format!("{host} has no addresses").into(),
                };
                return Err(error);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Resolves `host` for a connection that is not HTTP (SMTP, PostgreSQL) through the same
/// guarded resolver as the HTTP client, so the refusal (`NAME resolves only to refused
/// addresses: …`) is the same; returns the allowed addresses with `port`. The caller
/// connects to one of these addresses, never to the name again, so a second lookup cannot
/// answer differently (DNS rebinding).
pub async fn resolve_allowed(
    policy: Arc<OutboundPolicy>,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, ResolveError> {
    resolve_allowed_with(policy, Arc::new(SystemLookup), host, port).await
}

/// Why [`resolve_allowed`] gave no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The policy refused every address (or the IP literal): a new host is needed.
    #[error("{0}")]
    Refused(String),
    /// The name could not be looked up (it may resolve later).
    #[error("{0}")]
    Lookup(String),
}

/// [`resolve_allowed`] with another lookup (tests answer from a fixed table).
pub async fn resolve_allowed_with(
    policy: Arc<OutboundPolicy>,
    lookup: Arc<dyn Resolve>,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        policy
            .check_ip(ip)
            .map_err(|err| ResolveError::Refused(err.to_string()))?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name: Name = host
        .parse()
        .map_err(|_| ResolveError::Refused(format!("{host:?} is not a valid host name")))?;
    let addrs = GuardedResolver::new(policy, lookup)
        .resolve(name)
        .await
        .map_err(|err| {
            if err.is::<SsrfError>() {
                ResolveError::Refused(err.to_string())
            } else {
                ResolveError::Lookup(format!("cannot resolve {host}: {err}"))
            }
        })?;
    Ok(addrs.map(|addr| SocketAddr::new(addr.ip(), port)).collect())
}

/// Checks the peer address of every new connection.
#[derive(Clone)]
struct ConnectGuardLayer {
    policy: Arc<OutboundPolicy>,
}

impl<S> Layer<S> for ConnectGuardLayer {
    type Service = ConnectGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnectGuard {
            inner,
            policy: self.policy.clone(),
        }
    }
}

#[derive(Clone)]
struct ConnectGuard<S> {
    inner: S,
    policy: Arc<OutboundPolicy>,
}

impl<S, Request> Service<Request> for ConnectGuard<S>
where
    S: Service<Request, Error = BoxError>,
    S::Response: Connection + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let connecting = self.inner.call(request);
        let policy = self.policy.clone();
        Box::pin(async move {
            let connection = connecting.await?;
            let mut extensions = Extensions::new();
            connection.connected().get_extras(&mut extensions);
            let Some(info) = extensions.get::<HttpInfo>() else {
                return Err("refused: the connection's peer address is unknown".into());
            };
            policy.check_ip(info.remote_addr().ip())?;
            Ok(connection)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, net::IpAddr};

    use super::*;

    /// A DNS stand-in answering from a fixed table, for rebinding scenarios.
    struct FixedLookup(HashMap<&'static str, Vec<IpAddr>>);

    impl Resolve for FixedLookup {
        fn resolve(&self, name: Name) -> Resolving {
            let addrs: Vec<SocketAddr> = self
                .0
                .get(name.as_str())
                .into_iter()
                .flatten()
                .map(|ip| SocketAddr::new(*ip, 0))
                .collect();
            Box::pin(async move { Ok(Box::new(addrs.into_iter()) as Addrs) })
        }
    }

    async fn resolve(resolver: &GuardedResolver, host: &str) -> Result<Vec<IpAddr>, String> {
        let name: Name = host.parse().map_err(|_| "bad name".to_owned())?;
        resolver
            .resolve(name)
            .await
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|err| err.to_string())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[tokio::test]
    async fn localhost_is_refused_by_the_system_resolver_path() {
        let resolver = GuardedResolver::new(Arc::default(), Arc::new(SystemLookup));
        let err = resolve(&resolver, "localhost").await.expect_err("refused");
        assert!(
            err.starts_with("localhost resolves only to refused addresses: "),
            "{err}"
        );
        assert!(err.contains("is a loopback address"), "{err}");
    }

    #[tokio::test]
    async fn the_allow_list_lets_localhost_resolve() {
        let policy = OutboundPolicy::with_allowed(vec!["127.0.0.0/8".parse().expect("cidr")]);
        let resolver = GuardedResolver::new(Arc::new(policy), Arc::new(SystemLookup));
        let addrs = resolve(&resolver, "localhost").await.expect("allowed");
        assert!(addrs.contains(&ip("127.0.0.1")), "{addrs:?}");
        assert!(addrs.iter().all(|a| a.is_ipv4()), "::1 is not allow-listed");
    }

    #[tokio::test]
    async fn rebinding_names_keep_only_public_addresses() {
        let lookup = FixedLookup(HashMap::from([
            ("rebind.example.com", vec![ip("127.0.0.1")]),
            ("metadata.example.com", vec![ip("169.254.169.254")]),
            (
                "mixed.example.com",
                vec![ip("10.0.0.1"), ip("93.184.215.14")],
            ),
            ("mapped.example.com", vec![ip("::ffff:10.0.0.1")]),
        ]));
        let resolver = GuardedResolver::new(Arc::default(), Arc::new(lookup));
        assert_eq!(
            resolve(&resolver, "rebind.example.com").await,
            Err(
                "rebind.example.com resolves only to refused addresses: 127.0.0.1 is a loopback address"
                    .to_owned()
            )
        );
        assert!(
            resolve(&resolver, "metadata.example.com")
                .await
                .expect_err("metadata")
                .contains("cloud metadata")
        );
        assert!(
            resolve(&resolver, "mapped.example.com")
                .await
                .expect_err("mapped")
                .contains("embeds the IPv4 address 10.0.0.1")
        );
        assert_eq!(
            resolve(&resolver, "mixed.example.com").await,
            Ok(vec![ip("93.184.215.14")])
        );
        assert!(
            resolve(&resolver, "nothing.example.com")
                .await
                .expect_err("no addresses")
                .contains("has no addresses")
        );
    }

    #[tokio::test]
    async fn non_http_rebinding_is_refused_by_the_same_resolver_and_ports_are_kept() {
        let lookup = Arc::new(FixedLookup(HashMap::from([
            ("rebind.example.com", vec![ip("127.0.0.1")]),
            (
                "mixed.example.com",
                vec![ip("10.0.0.1"), ip("93.184.215.14")],
            ),
        ])));
        let policy: Arc<OutboundPolicy> = Arc::default();
        let refused =
            resolve_allowed_with(policy.clone(), lookup.clone(), "rebind.example.com", 465).await;
        assert_eq!(
            refused,
            Err(ResolveError::Refused(
                "rebind.example.com resolves only to refused addresses: 127.0.0.1 is a loopback address"
                    .to_owned()
            ))
        );
        assert_eq!(
            resolve_allowed_with(policy.clone(), lookup.clone(), "mixed.example.com", 5432).await,
            Ok(vec![SocketAddr::new(ip("93.184.215.14"), 5432)])
        );
        assert_eq!(
            resolve_allowed_with(policy.clone(), lookup.clone(), "[::1]", 25).await,
            Err(ResolveError::Refused(
                "::1 is a loopback address".to_owned()
            ))
        );
        assert!(matches!(
            resolve_allowed_with(policy, lookup, "nothing.example.com", 25).await,
            Err(ResolveError::Lookup(_))
        ));
    }
}
