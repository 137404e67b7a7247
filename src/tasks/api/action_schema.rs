//! The OpenAPI schema of [`ActionIn`]: a `oneOf` of one object per action type, told apart
//! by `type`, each with its own `config` schema (see `actions::schemas`), so a generated
//! client knows which configuration goes with which type.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        Ref, RefOr,
        schema::{Discriminator, ObjectBuilder, OneOfBuilder, Schema, Type},
    },
};

use super::body::ActionIn;
use crate::{actions::schemas, tasks::model::ActionType};

/// The component name of the `ActionIn` variant for an action type (`HttpRequestAction`).
fn variant_name(action_type: ActionType) -> String {
    let pascal: String = action_type
        .as_str()
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_string() + chars.as_str().to_ascii_lowercase().as_str()
            })
        })
        .collect();
    format!("{pascal}Action")
}

/// The object of one action type: `type` fixed to it, `config` of its schema.
fn variant(action_type: ActionType) -> Schema {
    ObjectBuilder::new()
        .description(Some(format!("A {} action.", action_type.as_str())))
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([action_type.as_str()])),
        )
        .required("type")
        .property(
            "config",
            Ref::from_schema_name(schemas::config_schema_name(action_type)),
        )
        .required("config")
        .into()
}

impl PartialSchema for ActionIn {
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new()
            .description(Some(
                "What a task does: its `type` and that type's `config` (see docs/ACTIONS.md); \
                 any string in `config` may reference `{{ secrets.NAME }}`.",
            ))
            .discriminator(Some(Discriminator::with_mapping(
                "type",
                ActionType::ALL.iter().map(|t| {
                    (
                        t.as_str(),
                        format!("#/components/schemas/{}", variant_name(*t)),
                    )
                }),
            )));
        for action_type in ActionType::ALL {
            one_of = one_of.item(Ref::from_schema_name(variant_name(*action_type)));
        }
        RefOr::T(one_of.into())
    }
}

impl ToSchema for ActionIn {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ActionIn")
    }

    fn schemas(out: &mut Vec<(String, RefOr<Schema>)>) {
        for action_type in ActionType::ALL {
            out.push((variant_name(*action_type), RefOr::T(variant(*action_type))));
        }
        schemas::register(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_named_after_their_type() {
        assert_eq!(variant_name(ActionType::HttpRequest), "HttpRequestAction");
        assert_eq!(variant_name(ActionType::NotionSync), "NotionSyncAction");
    }
}
