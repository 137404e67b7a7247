//! Parsers for single settings: each names its variable in the error it returns.

use std::{net::IpAddr, time::Duration};

use super::{AuthSettings, ConfigError, NotionOAuthSettings, NotionSettings};

pub(super) fn auth_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<AuthSettings, ConfigError> {
    let count = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
        let value: u32 = parse(var(name), name, "a whole number above 0")?.unwrap_or(default);
        if value == 0 {
            return Err(invalid(name, "0", "a whole number above 0"));
        }
        Ok(value)
    };
    let access_token_ttl = seconds(
        var("ACCESS_TOKEN_TTL_SECONDS"),
        "ACCESS_TOKEN_TTL_SECONDS",
        900,
    )?;
    let session_idle_ttl = seconds(
        var("SESSION_IDLE_TTL_SECONDS"),
        "SESSION_IDLE_TTL_SECONDS",
        7 * 24 * 3600,
    )?;
    let session_absolute_ttl = seconds(
        var("SESSION_ABSOLUTE_TTL_SECONDS"),
        "SESSION_ABSOLUTE_TTL_SECONDS",
        30 * 24 * 3600,
    )?;
    if session_idle_ttl > session_absolute_ttl {
        return Err(ConfigError {
            name: "SESSION_IDLE_TTL_SECONDS",
            message: "must not exceed SESSION_ABSOLUTE_TTL_SECONDS".into(),
        });
    }
    Ok(AuthSettings {
        jwt_issuer: var("JWT_ISSUER").unwrap_or_else(|| "nocron".to_owned()),
        jwt_audience: var("JWT_AUDIENCE").unwrap_or_else(|| "nocron-api".to_owned()),
        access_token_ttl,
        session_idle_ttl,
        session_absolute_ttl,
        auth_rate_limit_per_minute: count("AUTH_RATE_LIMIT_PER_MINUTE", 20)?,
        auth_rate_limit_burst: count("AUTH_RATE_LIMIT_BURST", 10)?,
        api_key_rate_limit_per_minute: count("API_KEY_RATE_LIMIT_PER_MINUTE", 600)?,
        api_key_rate_limit_burst: count("API_KEY_RATE_LIMIT_BURST", 100)?,
        login_lockout_threshold: count("LOGIN_LOCKOUT_THRESHOLD", 5)?,
        login_lockout_base: seconds(
            var("LOGIN_LOCKOUT_BASE_SECONDS"),
            "LOGIN_LOCKOUT_BASE_SECONDS",
            60,
        )?,
        registration_email_verification: boolean(
            var("REGISTRATION_EMAIL_VERIFICATION"),
            "REGISTRATION_EMAIL_VERIFICATION",
            var("SMTP_URL").is_some(),
        )?,
        registration_token_ttl: seconds(
            var("REGISTRATION_TOKEN_TTL_SECONDS"),
            "REGISTRATION_TOKEN_TTL_SECONDS",
            24 * 3600,
        )?,
        session_cleanup_cron: cron_with_seconds(
            var("SESSION_CLEANUP_CRON"),
            "SESSION_CLEANUP_CRON",
            "0 */15 * * * *",
        )?,
    })
}

pub(super) fn notion_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<NotionSettings, ConfigError> {
    let http_url = |name: &'static str, text: String| -> Result<reqwest::Url, ConfigError> {
        reqwest::Url::parse(&text)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| invalid(name, &text, "an http:// or https:// URL"))
    };
    let api_url = http_url(
        "NOTION_API_URL",
        var("NOTION_API_URL").unwrap_or_else(|| "https://api.notion.com".to_owned()),
    )?;
    let names = [
        "NOTION_CLIENT_ID",
        "NOTION_CLIENT_SECRET",
        "NOTION_REDIRECT_URI",
    ];
    let oauth = match names.map(var) {
        [None, None, None] => None,
        [Some(client_id), Some(client_secret), Some(redirect_uri)] => {
            http_url("NOTION_REDIRECT_URI", redirect_uri.clone())?;
            Some(NotionOAuthSettings {
                client_id,
                client_secret: crate::secrets::SecretValue::new(client_secret),
                redirect_uri,
            })
        }
        values => {
            let missing = names
                .iter()
                .zip(&values)
                .find(|(_, value)| value.is_none())
                .map_or("NOTION_CLIENT_ID", |(name, _)| *name);
            return Err(ConfigError {
                name: missing,
                message:
                    "NOTION_CLIENT_ID, NOTION_CLIENT_SECRET and NOTION_REDIRECT_URI go together"
                        .into(),
            });
        }
    };
    Ok(NotionSettings { api_url, oauth })
}

/// A six-field cron expression (with seconds) for a system job.
pub(super) fn cron_with_seconds(
    value: Option<String>,
    name: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    use croner::parser::{CronParser, Seconds};
    let expression = value.unwrap_or_else(|| default.to_owned());
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(&expression)
        .map_err(|_| {
            invalid(
                name,
                &expression,
                "a cron expression with seconds, e.g. \"0 */15 * * * *\"",
            )
        })?;
    Ok(expression)
}

pub(super) fn invalid(name: &'static str, value: &str, expected: &str) -> ConfigError {
    ConfigError {
        name,
        message: format!("got {value:?}, expected {expected}"),
    }
}

pub(super) fn parse<T: std::str::FromStr>(
    value: Option<String>,
    name: &'static str,
    expected: &str,
) -> Result<Option<T>, ConfigError> {
    value
        .map(|v| v.parse::<T>().map_err(|_| invalid(name, &v, expected)))
        .transpose()
}

pub(super) fn seconds(
    value: Option<String>,
    name: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let secs: u64 = parse(value, name, "a whole number of seconds")?.unwrap_or(default);
    if secs == 0 {
        return Err(invalid(name, "0", "a whole number of seconds above 0"));
    }
    Ok(Duration::from_secs(secs))
}

pub(super) fn boolean(
    value: Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(invalid(name, other, "true or false")),
    }
}

pub(super) fn bounded<T>(
    value: Option<String>,
    name: &'static str,
    range: std::ops::RangeInclusive<T>,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let expected = format!("a whole number from {} to {}", range.start(), range.end());
    let number = parse::<T>(value, name, &expected)?.unwrap_or(default);
    if !range.contains(&number) {
        return Err(invalid(name, &number.to_string(), &expected));
    }
    Ok(number)
}

/// `127.0.0.0/8, ::1/128, 10.1.2.3`: a bare address is a single-host range.
pub(super) fn parse_cidrs(
    list: &str,
    name: &'static str,
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<ipnet::IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| item.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        name,
                        item,
                        "comma-separated CIDR ranges such as 127.0.0.0/8,::1/128",
                    )
                })
        })
        .collect()
}

pub(super) fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && origin != "*";
            if ok {
                Ok(origin.to_owned())
            } else {
                Err(invalid(
                    "CORS_ORIGINS",
                    origin,
                    "comma-separated origins like https://app.example.com (no path, no trailing slash), or *",
                ))
            }
        })
        .collect()
}
