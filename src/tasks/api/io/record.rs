//! One task as exported and imported: its definition ([`TaskIn`]) and what hangs off it,
//! by name rather than by id: triggers, chains and alert rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    notifications::{model::Channel, rules::RuleKind, rules_api::AlertRuleIn},
    tasks::api::body::TaskIn,
    triggers::{chains::ChainOn, webhooks::SignatureScheme},
};

/// Longest `external_id`.
pub const MAX_EXTERNAL_ID: usize = 200;

/// A task in an export or an import: the fields of `TaskIn`, plus `external_id`, triggers,
/// chains and alert rules. Secrets stay references (`{{ secrets.NAME }}` in the action's
/// configuration); tokens and signing secrets are never exported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskRecord {
    /// The definition.
    #[serde(flatten)]
    pub definition: TaskIn,
    /// Triggers, chains, alert rules and the external id.
    #[serde(flatten)]
    pub extras: RecordExtras,
}

/// What a record adds to the definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RecordExtras {
    /// Your identifier for the task (1–200 characters, unique among your tasks): an import
    /// matches existing tasks on it before their name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: Option<String>,
    /// Webhook triggers (an import gives each a new URL and signing secret).
    #[serde(default)]
    pub webhooks: Vec<WebhookRecord>,
    /// Email triggers (an import gives each a new address).
    #[serde(default)]
    pub email_triggers: Vec<EmailTriggerRecord>,
    /// The tasks after which this one runs, by name.
    #[serde(default)]
    pub chains: Vec<ChainRecord>,
    /// Alert rules; omitted on import: the default rules of a new task (an updated task
    /// keeps its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_rules: Option<Vec<AlertRuleRecord>>,
}

/// A webhook trigger, without its token or secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRecord {
    /// Its label (at most 100 characters).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub name: String,
    /// Its signature scheme (default `none`).
    #[serde(default = "no_signature")]
    pub signature: SignatureScheme,
    /// Standard Webhooks only: accepted clock difference in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 86400)]
    pub replay_window_seconds: Option<i32>,
}

fn no_signature() -> SignatureScheme {
    SignatureScheme::None
}

/// An email trigger, without its token or address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTriggerRecord {
    /// Its label (at most 100 characters).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub name: String,
}

/// A chain: this task runs when an execution of the task named `after` ends as `on` says.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainRecord {
    /// The source task's name: a task of the same import first, else one of yours.
    #[schema(min_length = 1, max_length = 200)]
    pub after: String,
    /// Which endings count.
    pub on: ChainOn,
}

/// An alert rule, without its state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleRecord {
    /// What the rule watches.
    pub kind: RuleKind,
    /// Its parameters (see `AlertRuleIn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
    /// Where its notifications go (default `IN_APP` and `EMAIL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Channel>>,
    /// Send again this often while the condition holds (1–10080).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 10080)]
    pub repeat_every_minutes: Option<i32>,
    /// Send nothing until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<DateTime<Utc>>,
}

impl AlertRuleRecord {
    /// The rule as `POST /tasks/{id}/alert-rules` takes it.
    pub fn to_input(&self) -> AlertRuleIn {
        AlertRuleIn {
            kind: self.kind,
            params: self.params.clone(),
            channels: self.channels.clone(),
            repeat_every_minutes: self.repeat_every_minutes,
            muted_until: self.muted_until,
        }
    }
}
