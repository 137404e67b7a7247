//! `SMTP_URL`: where and how the mailer connects. Parsed with the settings, so it lives
//! here; [`crate::email`] re-exports it next to the mailer that uses it.

use std::fmt;

use reqwest::Url;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte (port 465 by default).
    ImplicitTls,
    /// `smtp://…?tls=required`: plain connect, then STARTTLS, refusing servers without it
    /// (port 587 by default).
    StartTls,
    /// `smtp://`: no encryption (port 25 by default); for local relays and tests.
    None,
}

/// A parsed `SMTP_URL`. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    /// Server host name or IP literal.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection protection.
    pub security: SmtpSecurity,
    /// `user:password` from the URL, percent-decoded.
    pub credentials: Option<(String, String)>,
    /// The name sent in EHLO (the URL's path), when given.
    pub hello_name: Option<String>,
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("hello_name", &self.hello_name)
            .finish()
    }
}

impl SmtpUrl {
    /// Parses `smtp://[user:pass@]host[:port][/ehlo-name][?tls=required]` or
    /// `smtps://…`. Messages never repeat the URL (it may hold a password).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text.trim()).map_err(|err| format!("not a valid URL ({err})"))?;
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        if let Some((key, _)) = url.query_pairs().find(|(key, _)| key != "tls") {
            return Err(format!(
                "unknown parameter {key:?} (only tls=required is known)"
            ));
        }
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtps", None) => (SmtpSecurity::ImplicitTls, 465),
            ("smtp", Some("required")) => (SmtpSecurity::StartTls, 587),
            ("smtp", None) => (SmtpSecurity::None, 25),
            ("smtp", Some(other)) | ("smtps", Some(other)) => {
                return Err(format!(
                    "tls={other:?} is not supported: use smtps:// for TLS or smtp://…?tls=required for STARTTLS"
                ));
            }
            (scheme, _) => {
                return Err(format!(
                    "the scheme {scheme:?} is not supported: use smtp:// or smtps://"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("the URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| "the credentials are not valid UTF-8 once percent-decoded".to_owned())
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, Some(password)) => Some((decode(user)?, decode(password)?)),
            (_, None) => return Err("a user name without a password (write user:password@)".into()),
        };
        let path = url.path().trim_matches('/');
        Ok(SmtpUrl {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
            hello_name: (!path.is_empty()).then(|| path.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_protection_and_default_port() {
        let url =
            SmtpUrl::parse("smtps://mailer%40example.com:p%40ss@smtp.example.com").expect("parse");
        assert_eq!(url.security, SmtpSecurity::ImplicitTls);
        assert_eq!(url.port, 465);
        assert_eq!(
            url.credentials,
            Some(("mailer@example.com".into(), "p@ss".into()))
        );
        let url = SmtpUrl::parse("smtp://smtp.example.com?tls=required").expect("parse");
        assert_eq!((url.security, url.port), (SmtpSecurity::StartTls, 587));
        assert!(url.credentials.is_none());
        let url = SmtpUrl::parse("smtp://127.0.0.1:2525/nocron.example").expect("parse");
        assert_eq!((url.security, url.port), (SmtpSecurity::None, 2525));
        assert_eq!(url.hello_name.as_deref(), Some("nocron.example"));
        let url = SmtpUrl::parse("smtp://[::1]:25").expect("ipv6");
        assert_eq!(url.host, "::1");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_secrets() {
        for (text, expected) in [
            ("http://smtp.example.com", "scheme"),
            ("smtp://smtp.example.com?tls=opportunistic", "not supported"),
            ("smtp://smtp.example.com?foo=bar", "unknown parameter"),
            ("smtp://user@smtp.example.com", "without a password"),
            ("smtp://", "host"),
            ("not a url", "valid URL"),
        ] {
            let err = SmtpUrl::parse(text).expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = SmtpUrl::parse("ftp://user:hunter2@host").expect_err("scheme");
        assert!(!err.contains("hunter2"));
        let debug = format!("{:?}", SmtpUrl::parse("smtp://u:hunter2@h").expect("parse"));
        assert!(!debug.contains("hunter2"));
    }
}
