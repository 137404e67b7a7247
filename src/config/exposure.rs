//! Settings of what the server shows about itself: who may scrape `/metrics`
//! (`METRICS_TOKEN`) and where it is served (`METRICS_ADDR`).

use std::net::SocketAddr;

use super::{ConfigError, values::parse};
use crate::secrets::SecretValue;

/// Shortest accepted `METRICS_TOKEN`.
const MIN_TOKEN_LENGTH: usize = 16;

/// Settings of the `health` module's exposure.
#[derive(Debug, Clone, Default)]
pub struct ExposureSettings {
    /// `METRICS_TOKEN`: when set, `/metrics` answers only requests with
    /// `Authorization: Bearer <token>` (16+ visible ASCII characters; never shown by `Debug`).
    pub metrics_token: Option<SecretValue>,
    /// `METRICS_ADDR`: when set, `/metrics` is served on its own listener at this address
    /// (e.g. `127.0.0.1:9100`) and no longer on the main port.
    pub metrics_addr: Option<SocketAddr>,
}

pub(super) fn exposure_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<ExposureSettings, ConfigError> {
    let metrics_token = var("METRICS_TOKEN")
        .map(|token| {
            // The message never repeats the value: it is a secret.
            if token.len() < MIN_TOKEN_LENGTH {
                return Err(ConfigError {
                    name: "METRICS_TOKEN",
                    message: format!(
                        "must be at least {MIN_TOKEN_LENGTH} characters, got {}",
                        token.chars().count()
                    ),
                });
            }
            if !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError {
                    name: "METRICS_TOKEN",
                    message: "must be visible ASCII characters only (it is sent in a header)"
                        .into(),
                });
            }
            Ok(SecretValue::new(token))
        })
        .transpose()?;
    let metrics_addr = parse(
        var("METRICS_ADDR"),
        "METRICS_ADDR",
        "an address and port such as 127.0.0.1:9100",
    )?;
    Ok(ExposureSettings {
        metrics_token,
        metrics_addr,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<ExposureSettings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        exposure_settings(&|name: &str| vars.get(name).cloned())
    }

    #[test]
    fn both_are_off_by_default() {
        let exposure = settings(&[]).expect("valid");
        assert!(exposure.metrics_token.is_none() && exposure.metrics_addr.is_none());
    }

    #[test]
    fn a_short_or_unsendable_token_stops_start_up_without_echoing_it() {
        let short = settings(&[("METRICS_TOKEN", "hunter2")]).expect_err("too short");
        assert_eq!(short.name, "METRICS_TOKEN");
        assert!(!short.to_string().contains("hunter2"), "{short}");
        let spaced =
            settings(&[("METRICS_TOKEN", "a token with spaces in it")]).expect_err("space");
        assert_eq!(spaced.name, "METRICS_TOKEN");
        assert!(!spaced.to_string().contains("spaces"), "{spaced}");
        let token = settings(&[("METRICS_TOKEN", "0123456789abcdef")]).expect("valid");
        assert_eq!(
            token.metrics_token.as_ref().map(SecretValue::expose),
            Some("0123456789abcdef")
        );
        assert!(!format!("{token:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn a_bad_address_names_the_variable() {
        let err = settings(&[("METRICS_ADDR", "9100")]).expect_err("no host");
        assert_eq!(err.name, "METRICS_ADDR");
        let addr = settings(&[("METRICS_ADDR", "127.0.0.1:9100")]).expect("valid");
        assert_eq!(
            addr.metrics_addr,
            Some("127.0.0.1:9100".parse().expect("addr"))
        );
    }
}
