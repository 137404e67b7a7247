//! Which addresses user-configured outbound requests may reach: everything public, nothing
//! internal (loopback, private, link-local and cloud metadata, CGNAT, multicast, broadcast,
//! unspecified, documentation and reserved ranges, and IPv6 forms that embed such an IPv4
//! address), except the ranges an operator allows with `OUTBOUND_ALLOW_CIDRS`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use reqwest::Url;

use crate::config::Settings;

/// Why an outbound URL or address was refused; the text says what and why
/// (`127.0.0.1 is a loopback address`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SsrfError {
    message: String,
}

impl SsrfError {
    /// A refusal with this explanation.
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        SsrfError {
            message: message.into(),
        }
    }

    /// The explanation, for problem documents and execution logs.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The outbound address policy: a fixed block list and the operator's allow-list.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<IpNet>,
}

/// A blocked IPv4 range and what it is.
const BLOCKED_V4: [(Ipv4Addr, u8, &str); 16] = [
    (Ipv4Addr::new(0, 0, 0, 0), 32, "the unspecified address"),
    (Ipv4Addr::new(0, 0, 0, 0), 8, "a \"this network\" address"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "a private address"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "a carrier-grade NAT (shared) address",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "a loopback address"),
    (
        Ipv4Addr::new(169, 254, 169, 254),
        32,
        "the cloud metadata address (link-local)",
    ),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "a link-local address"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "a private address"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "an IETF protocol assignment (reserved)",
    ),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "a documentation address"),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "a 6to4 relay address (reserved)",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "a private address"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "a benchmarking address"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "a documentation address",
    ),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "a documentation address"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "a multicast address"),
];

/// A blocked IPv6 range and what it is (embedded-IPv4 forms are handled before these).
const BLOCKED_V6: [(Ipv6Addr, u8, &str); 10] = [
    (Ipv6Addr::UNSPECIFIED, 128, "the unspecified address"),
    (Ipv6Addr::LOCALHOST, 128, "a loopback address"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "a local-use NAT64 address",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "a discard-only address",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "an IETF protocol assignment (reserved)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "a documentation address",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "a documentation address",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "a unique local (private) address",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        9,
        "a link-local or site-local address",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "a multicast address",
    ),
];

impl OutboundPolicy {
    /// The policy configured by `OUTBOUND_ALLOW_CIDRS`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::with_allowed(settings.outbound_allow_cidrs.clone())
    }

    /// A policy that also allows `allowed` (an operator's self-hosted targets).
    pub fn with_allowed(allowed: Vec<IpNet>) -> Self {
        OutboundPolicy { allowed }
    }

    /// The allow-listed ranges.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Refuses an address outside the allow-list that is not publicly routable.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), SsrfError> {
        let target = canonical(ip);
        if self.allowed.iter().any(|net| net.contains(&target)) {
            return Ok(());
        }
        match blocked_reason(target) {
            None => Ok(()),
            Some(reason) if target == ip => Err(SsrfError::refused(format!("{ip} is {reason}"))),
            Some(reason) => Err(SsrfError::refused(format!(
                "{ip} embeds the IPv4 address {target}, {reason}"
            ))),
        }
    }

    /// Parses a user-supplied URL and checks it with [`OutboundPolicy::check_url`]: the
    /// one call for validating a URL field when a task is saved.
    pub fn parse_url(&self, raw: &str) -> Result<Url, SsrfError> {
        let url = Url::parse(raw.trim())
            .map_err(|err| SsrfError::refused(format!("is not a valid URL: {err}")))?;
        self.check_url(&url)?;
        Ok(url)
    }

    /// Accepts only `http`/`https` URLs whose host is allowed: IP literals in every encoding
    /// the URL parser normalises (`0x7f000001`, `2130706433`, `[::ffff:127.0.0.1]`) are
    /// checked, and `localhost` names count as loopback. Other host names are checked
    /// when they are resolved (see `net::client`).
    pub fn check_url(&self, url: &Url) -> Result<(), SsrfError> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(SsrfError::refused(format!(
                    "the {other}: scheme is not allowed; use http or https"
                )));
            }
        }
        match url.host() {
            None => Err(SsrfError::refused("the URL has no host")),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) if is_localhost_name(name) => self
                .check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .map_err(|_| SsrfError::refused(format!("{name} is a loopback host name"))),
            Some(url::Host::Domain(_)) => Ok(()),
        }
    }
}

/// `localhost`, `*.localhost` (RFC 6761), with or without the trailing dot.
fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// The IPv4 address an IPv6 address stands for when it embeds one (mapped, compatible,
/// NAT64 well-known prefix, 6to4), otherwise the address itself.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let segments = v6.segments();
    let octets = v6.octets();
    let last_four = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated), but not :: and ::1 themselves.
    if segments[..6].iter().all(|s| *s == 0) && !v6.is_unspecified() && !v6.is_loopback() {
        return IpAddr::V4(last_four);
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return IpAddr::V4(last_four);
    }
    // 6to4 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if segments[0] == 0x2002 {
        return IpAddr::V4(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    ip
}

/// What makes `ip` unreachable for user requests, if anything.
fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            if v4 == Ipv4Addr::BROADCAST {
                return Some("the broadcast address");
            }
            if v4.octets()[0] >= 240 {
                return Some("a reserved address");
            }
            BLOCKED_V4
                .iter()
                .find(|(net, prefix, _)| in_v4(v4, *net, *prefix))
                .map(|(_, _, reason)| *reason)
        }
        IpAddr::V6(v6) => BLOCKED_V6
            .iter()
            .find(|(net, prefix, _)| in_v6(v6, *net, *prefix))
            .map(|(_, _, reason)| *reason),
    }
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &OutboundPolicy, url: &str) -> String {
        let url = Url::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"));
        policy
            .check_url(&url)
            .expect_err(url.as_str())
            .message()
            .to_owned()
    }

    fn accepted(policy: &OutboundPolicy, url: &str) {
        let parsed = Url::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"));
        if let Err(err) = policy.check_url(&parsed) {
            panic!("{url} refused: {err}");
        }
    }

    #[test]
    fn ssrf_vectors_are_refused_with_the_reason() {
        let policy = OutboundPolicy::default();
        let cases = [
            ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
            (
                "http://localhost:8080/",
                "localhost is a loopback host name",
            ),
            (
                "http://api.localhost./",
                "api.localhost. is a loopback host name",
            ),
            ("http://[::1]/", "::1 is a loopback address"),
            (
                "http://[::ffff:127.0.0.1]/",
                "::ffff:127.0.0.1 embeds the IPv4 address 127.0.0.1, a loopback address",
            ),
            ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
            ("http://2130706433/", "127.0.0.1 is a loopback address"),
            ("http://017700000001/", "127.0.0.1 is a loopback address"),
            ("http://127.1/", "127.0.0.1 is a loopback address"),
            ("http://10.0.0.1/", "10.0.0.1 is a private address"),
            ("http://172.20.1.1/", "172.20.1.1 is a private address"),
            ("https://192.168.1.1/", "192.168.1.1 is a private address"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "169.254.169.254 is the cloud metadata address (link-local)",
            ),
            ("http://169.254.1.1/", "169.254.1.1 is a link-local address"),
            (
                "http://100.64.0.1/",
                "100.64.0.1 is a carrier-grade NAT (shared) address",
            ),
            ("http://0.0.0.0/", "0.0.0.0 is the unspecified address"),
            ("http://[::]/", ":: is the unspecified address"),
            ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
            (
                "http://255.255.255.255/",
                "255.255.255.255 is the broadcast address",
            ),
            ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
            ("http://192.0.2.7/", "192.0.2.7 is a documentation address"),
            (
                "http://[fd00::1]/",
                "fd00::1 is a unique local (private) address",
            ),
            (
                "http://[fe80::1]/",
                "fe80::1 is a link-local or site-local address",
            ),
            ("http://[ff02::1]/", "ff02::1 is a multicast address"),
            (
                "http://[2001:db8::1]/",
                "2001:db8::1 is a documentation address",
            ),
            (
                "ftp://example.com/",
                "the ftp: scheme is not allowed; use http or https",
            ),
            (
                "file:///etc/passwd",
                "the file: scheme is not allowed; use http or https",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(refused(&policy, url), expected, "{url}");
        }
        // IPv6 forms that carry a forbidden IPv4 address.
        for url in [
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:7f00:1::1]/",
            "http://[2002:a9fe:a9fe::]/",
            "http://[::5]/",
        ] {
            assert!(
                refused(&policy, url).contains("embeds the IPv4 address"),
                "{url}"
            );
        }
    }

    #[test]
    fn parse_url_parses_then_checks() {
        let policy = OutboundPolicy::default();
        assert_eq!(
            policy
                .parse_url(" https://example.com/hook ")
                .expect("public")
                .as_str(),
            "https://example.com/hook"
        );
        assert!(
            policy
                .parse_url("not a url")
                .expect_err("garbage")
                .message()
                .starts_with("is not a valid URL")
        );
        assert_eq!(
            policy
                .parse_url("http://0x7f000001/")
                .expect_err("loopback")
                .message(),
            "127.0.0.1 is a loopback address"
        );
    }

    #[test]
    fn public_addresses_and_names_pass() {
        let policy = OutboundPolicy::default();
        for url in [
            "https://example.com/hook",
            "http://93.184.215.14/",
            "https://[2606:4700:4700::1111]/",
            "http://[64:ff9b::5db8:d70e]/",
            "http://[2002:5db8:d70e::1]/",
            "http://100.128.0.1/",
            "http://172.32.0.1/",
        ] {
            accepted(&policy, url);
        }
    }

    #[test]
    fn the_allow_list_overrides_the_block_for_its_ranges_only() {
        let policy = OutboundPolicy::with_allowed(vec![
            "127.0.0.0/8".parse().expect("cidr"),
            "::1/128".parse().expect("cidr"),
        ]);
        accepted(&policy, "http://127.0.0.1:3000/");
        accepted(&policy, "http://localhost:3000/");
        accepted(&policy, "http://[::1]/");
        accepted(&policy, "http://[::ffff:127.0.0.2]/");
        assert_eq!(
            refused(&policy, "http://10.0.0.1/"),
            "10.0.0.1 is a private address"
        );
        let narrow = OutboundPolicy::with_allowed(vec!["127.0.0.2/32".parse().expect("cidr")]);
        accepted(&narrow, "http://127.0.0.2/");
        assert_eq!(
            refused(&narrow, "http://127.0.0.1/"),
            "127.0.0.1 is a loopback address"
        );
    }
}
