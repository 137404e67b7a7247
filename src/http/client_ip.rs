//! The client's address behind reverse proxies (`TRUSTED_PROXIES`). When the TCP peer is a
//! trusted proxy, the client is the rightmost `X-Forwarded-For` address that is not itself a
//! trusted proxy; otherwise the peer is the client and `X-Forwarded-For` is ignored, so a
//! client cannot choose the address its rate limits and security events are recorded under.
//!
//! Rate limits key an IPv6 client by its /64 ([`limit_key`]): one subscriber or host usually
//! holds a whole /64, so counting each /128 would hand it 2^64 fresh budgets.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

/// `X-Forwarded-For`.
const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The resolved client address, put in the request's extensions by [`middleware`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Middleware: resolves the client address of requests that came through a trusted proxy.
/// Without trusted proxies (the default) it does nothing and the peer address is used.
pub async fn middleware(
    State(trusted): State<Arc<[IpNet]>>,
    mut request: Request,
    next: Next,
) -> Response {
    if !trusted.is_empty()
        && let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>()
    {
        let ip = resolve(peer.ip(), request.headers(), &trusted);
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

/// The client behind `peer`: walks `X-Forwarded-For` from the right while the hop is trusted.
/// A malformed entry stops the walk at the last address that is known to be real.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    // Several headers are one list, in order.
    let hops: Vec<&str> = headers
        .get_all(&FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

/// The address a client's rate limits are counted under: an IPv4 address itself, an IPv6
/// address its /64 network (IPv4-mapped IPv6 counts as IPv4).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(network))
        }
    }
}

/// `203.0.113.7`, `2001:db8::1`, and the forms some proxies write: with a port, or an IPv6
/// address in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse::<IpAddr>().ok())
        })
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("cidr")).collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(value).expect("value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers = forwarded(&["198.51.100.1"]);
        assert_eq!(
            resolve(ip("203.0.113.5"), &headers, &trusted),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.1/32"]);
        // The client forged the first entry; two proxies appended the rest.
        let headers = forwarded(&["1.2.3.4, 198.51.100.7", "192.168.1.1"]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &headers, &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ports_and_mapped_addresses_are_understood() {
        let trusted = nets(&["127.0.0.1/32"]);
        let headers = forwarded(&["[2001:db8::1]:4711"]);
        assert_eq!(
            resolve(ip("::ffff:127.0.0.1"), &headers, &trusted),
            ip("2001:db8::1")
        );
        let headers = forwarded(&["198.51.100.7:80"]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &headers, &trusted),
            ip("198.51.100.7")
        );
        let headers = forwarded(&["[2001:db8::2]"]);
        assert_eq!(
            resolve(ip("127.0.0.1"), &headers, &trusted),
            ip("2001:db8::2")
        );
    }

    #[test]
    fn a_malformed_hop_stops_at_the_last_real_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers = forwarded(&["198.51.100.7, garbage"]);
        assert_eq!(resolve(ip("10.0.0.2"), &headers, &trusted), ip("10.0.0.2"));
        // No header: the proxy itself.
        assert_eq!(
            resolve(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn rotating_through_an_ipv6_64_buys_no_fresh_rate_limit_budget() {
        let one = limit_key(ip("2001:db8:1:2::1"));
        assert_eq!(one, ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:fffe")), one);
        assert_ne!(limit_key(ip("2001:db8:1:3::1")), one);
        assert_eq!(limit_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(limit_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let headers = forwarded(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(resolve(ip("10.0.0.2"), &headers, &trusted), ip("10.1.1.1"));
    }
}
