//! Checking cron expression text before croner sees it, so that every refusal names the
//! field at fault and says why (croner's own messages do not say which field failed).

use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};

/// Macros and the five-field expression each stands for.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// One field of the six-field (with seconds) form: name and allowed numeric range.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
}

const FIELDS: [FieldSpec; 6] = [
    FieldSpec {
        name: "second",
        min: 0,
        max: 59,
    },
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
    },
    FieldSpec {
        name: "day of month",
        min: 1,
        max: 31,
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
    },
    FieldSpec {
        name: "day of week",
        min: 0,
        max: 7,
    },
];

/// The parser every expression goes through: seconds optional, no year field, Vixie
/// semantics for day of month/day of week (either may match).
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Expands a macro, or returns the expression unchanged.
fn expand_macro(expression: &str) -> Result<&str, String> {
    if !expression.starts_with('@') {
        return Ok(expression);
    }
    MACROS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(expression))
        .map(|(_, expanded)| *expanded)
        .ok_or_else(|| {
            let names: Vec<&str> = MACROS.iter().map(|(name, _)| *name).collect();
            format!(
                "unknown macro {expression:?}; expected one of {}",
                names.join(", ")
            )
        })
}

/// Parses `expression` (5 or 6 fields, or a macro) into a croner [`Cron`], with errors
/// that name the field (`field 2 (hour) value 25 is out of range 0-23`).
pub(super) fn parse_expression(expression: &str) -> Result<Cron, String> {
    let trimmed = expression.trim();
    if trimmed.is_empty() {
        return Err("is empty; expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a macro such as @daily".into());
    }
    let expanded = expand_macro(trimmed)?;
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let offset = match fields.len() {
        5 => 1,
        6 => 0,
        n => {
            return Err(format!(
                "has {n} fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (with seconds first)"
            ));
        }
    };
    for (index, field) in fields.iter().enumerate() {
        check_numbers(index + 1, &FIELDS[index + offset], field)?;
    }
    parser().parse(expanded).map_err(|err| {
        // croner does not say which field it refused: ask it about each field alone
        // (parsing is costly, so only once something is known to be wrong).
        fields
            .iter()
            .enumerate()
            .find_map(|(index, field)| {
                probe_field(index + 1, &FIELDS[index + offset], offset + index, field).err()
            })
            .unwrap_or_else(|| format!("is invalid: {}", croner_message(&err)))
    })
}

/// Checks one field's numbers: within range, steps above zero.
fn check_numbers(position: usize, spec: &FieldSpec, text: &str) -> Result<(), String> {
    let at = |what: String| format!("field {position} ({}) {what}", spec.name);
    for item in text.split(',') {
        if item.is_empty() {
            return Err(at(format!("{text:?} has an empty list item")));
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(0) => return Err(at(format!("{item:?} has a step of 0"))),
                Ok(_) => {}
                Err(_) => return Err(at(format!("{item:?} has a step that is not a number"))),
            }
        }
        // What follows `#` is the nth weekday of the month (1-5), not a day number.
        let days_part = base.split('#').next().unwrap_or(base);
        for number in days_part
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
        {
            let value: u64 = number.parse().unwrap_or(u64::MAX);
            if value < u64::from(spec.min) || value > u64::from(spec.max) {
                return Err(at(format!(
                    "value {number} is out of range {}-{}",
                    spec.min, spec.max
                )));
            }
        }
    }
    Ok(())
}

/// croner's verdict on one field alone (all other fields `*`).
fn probe_field(
    position: usize,
    spec: &FieldSpec,
    six_field_index: usize,
    text: &str,
) -> Result<(), String> {
    let mut probe = ["0", "*", "*", "*", "*", "*"];
    probe[six_field_index] = text;
    parser().parse(&probe.join(" ")).map(|_| ()).map_err(|err| {
        format!(
            "field {position} ({}) {text:?} is invalid: {}",
            spec.name,
            croner_message(&err)
        )
    })
}

/// croner's message without its type prefixes, in lower case where it starts a sentence.
fn croner_message(err: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    let message = match err {
        CronError::InvalidPattern(m) | CronError::IllegalCharacters(m) => m.clone(),
        CronError::ComponentError(m) => m.clone(),
        other => other.to_string(),
    };
    let message = message
        .trim_end_matches('.')
        .replace("CronPattern contains ", "");
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => message,
    }
}
