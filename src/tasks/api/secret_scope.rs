//! The `secrets:use` rule: an API key may create or change a task whose configuration
//! references secrets only if it holds `secrets:use` as well as `tasks:write`. Without it,
//! a key that may edit tasks could point a task at a URL of its choosing and have its
//! owner's secrets sent there. A signed-in user (the owner) holds every scope.

use crate::{
    actions,
    auth::{Caller, Scope},
    error::{AppError, ErrorCode, FieldError},
    secrets,
    tasks::model::ActionType,
};

/// Whether `config` of an action of this type uses secrets: a `{{ secrets.NAME }}` anywhere
/// in it, or a script's declared `secrets`. A malformed reference counts as one (it names
/// a secret all the same; validation reports it).
pub fn uses_secrets(action_type: ActionType, config: &serde_json::Value) -> bool {
    let referenced = match secrets::find_references(config) {
        Ok(names) => !names.is_empty(),
        Err(_) => true,
    };
    referenced || !actions::declared_secrets(action_type, config).is_empty()
}

/// 403 `INSUFFICIENT_SCOPE` naming `secrets:use` when the task's configuration uses secrets
/// and the caller lacks that scope.
pub fn require_for(
    caller: &Caller,
    action_type: ActionType,
    config: &serde_json::Value,
) -> Result<(), AppError> {
    if !uses_secrets(action_type, config) {
        return Ok(());
    }
    let message = "references secrets; the API key needs the scope secrets:use";
    caller.require(Scope::SecretsUse).map_err(|_| {
        AppError::new(
            ErrorCode::InsufficientScope,
            "this API key lacks the scope secrets:use, which a task whose configuration \
         references secrets needs",
        )
        .with_fields(vec![FieldError {
            field: "action.config".to_owned(),
            message: message.to_owned(),
        }])
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_and_declared_script_secrets_count_and_plain_configs_do_not() {
        assert!(uses_secrets(
            ActionType::HttpRequest,
            &json!({"url": "https://x.example/?k={{ secrets.KEY }}"})
        ));
        assert!(uses_secrets(
            ActionType::HttpRequest,
            &json!({"headers": {"X": "{{ secrets.bad-name }}"}})
        ));
        assert!(!uses_secrets(
            ActionType::HttpRequest,
            &json!({"url": "https://x.example/", "body": "{{ input.name }}"})
        ));
    }
}
