//! Settings of user templates and outbound mail: the bounds every minijinja rendering runs
//! under (output size, value size, fuel, `range` length) and the limits on mail sent
//! through the server's SMTP (recipients per message, messages per account per hour).

use super::{ConfigError, values::bounded};

/// The bounds of one template rendering (a message, or one action configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLimits {
    /// `TEMPLATE_MAX_OUTPUT_BYTES`: bytes one rendering may write in all (default 1 MiB).
    pub max_output_bytes: usize,
    /// `TEMPLATE_MAX_VALUE_BYTES`: largest single value a template may print, and the
    /// largest literal a string may be repeated by (default 256 KiB).
    pub max_value_bytes: usize,
    /// `TEMPLATE_FUEL`: engine instructions one template may spend (default 200000).
    pub fuel: u64,
    /// `TEMPLATE_MAX_RANGE`: most items `range()` may produce (default 10000).
    pub max_range: usize,
    /// `TEMPLATE_MAX_MEMORY_BYTES`: memory one rendering may take, enforced by rendering in
    /// a child process whose address space is capped (default 256 MiB).
    pub max_memory_bytes: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            max_output_bytes: 1024 * 1024,
            max_value_bytes: 256 * 1024,
            fuel: 200_000,
            max_range: 10_000,
            max_memory_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Settings of templates and outbound mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplatesMailSettings {
    /// The bounds of every template rendering.
    pub template: TemplateLimits,
    /// `EMAIL_MAX_RECIPIENTS`: most recipients (to + cc + bcc) of one message (default 50).
    pub email_max_recipients: usize,
    /// `EMAIL_MAX_PER_HOUR`: messages one account may send per hour through the server's
    /// SMTP (default 200).
    pub email_max_per_hour: u32,
}

impl Default for TemplatesMailSettings {
    fn default() -> Self {
        TemplatesMailSettings {
            template: TemplateLimits::default(),
            email_max_recipients: 50,
            email_max_per_hour: 200,
        }
    }
}

pub(super) fn templates_mail_settings(
    var: &impl Fn(&str) -> Option<String>,
) -> Result<TemplatesMailSettings, ConfigError> {
    let defaults = TemplatesMailSettings::default();
    let max_output_bytes = bounded(
        var("TEMPLATE_MAX_OUTPUT_BYTES"),
        "TEMPLATE_MAX_OUTPUT_BYTES",
        1024..=(64 * 1024 * 1024),
        defaults.template.max_output_bytes,
    )?;
    let max_value_bytes = bounded(
        var("TEMPLATE_MAX_VALUE_BYTES"),
        "TEMPLATE_MAX_VALUE_BYTES",
        1024..=(64 * 1024 * 1024),
        defaults.template.max_value_bytes,
    )?;
    let fuel = bounded(
        var("TEMPLATE_FUEL"),
        "TEMPLATE_FUEL",
        1_000..=100_000_000,
        defaults.template.fuel,
    )?;
    let max_range = bounded(
        var("TEMPLATE_MAX_RANGE"),
        "TEMPLATE_MAX_RANGE",
        1..=100_000,
        defaults.template.max_range,
    )?;
    let max_memory_bytes = bounded(
        var("TEMPLATE_MAX_MEMORY_BYTES"),
        "TEMPLATE_MAX_MEMORY_BYTES",
        (16 * 1024 * 1024)..=(64 * 1024 * 1024 * 1024),
        defaults.template.max_memory_bytes,
    )?;
    let email_max_recipients = bounded(
        var("EMAIL_MAX_RECIPIENTS"),
        "EMAIL_MAX_RECIPIENTS",
        1..=1_000,
        defaults.email_max_recipients,
    )?;
    let email_max_per_hour = bounded(
        var("EMAIL_MAX_PER_HOUR"),
        "EMAIL_MAX_PER_HOUR",
        1..=1_000_000,
        defaults.email_max_per_hour,
    )?;
    Ok(TemplatesMailSettings {
        template: TemplateLimits {
            max_output_bytes,
            max_value_bytes,
            fuel,
            max_range,
            max_memory_bytes,
        },
        email_max_recipients,
        email_max_per_hour,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<TemplatesMailSettings, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        templates_mail_settings(&|name: &str| vars.get(name).cloned())
    }

    #[test]
    fn defaults_and_bad_values_name_the_variable() {
        assert_eq!(
            settings(&[]).expect("defaults"),
            TemplatesMailSettings::default()
        );
        let set = settings(&[
            ("TEMPLATE_MAX_OUTPUT_BYTES", "4096"),
            ("EMAIL_MAX_PER_HOUR", "3"),
        ])
        .expect("set");
        assert_eq!(set.template.max_output_bytes, 4096);
        assert_eq!(set.email_max_per_hour, 3);
        for name in [
            "TEMPLATE_MAX_OUTPUT_BYTES",
            "TEMPLATE_MAX_VALUE_BYTES",
            "TEMPLATE_FUEL",
            "TEMPLATE_MAX_RANGE",
            "EMAIL_MAX_RECIPIENTS",
            "EMAIL_MAX_PER_HOUR",
        ] {
            assert_eq!(settings(&[(name, "0")]).expect_err(name).name, name);
            assert_eq!(settings(&[(name, "lots")]).expect_err(name).name, name);
        }
    }
}
