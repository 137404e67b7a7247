//! Users' templates in `task_templates`, always read and deleted by owner.

use sqlx::PgPool;
use uuid::Uuid;

use super::{Template, TemplateVariable};
use crate::error::{AppError, AppResult};

/// Most templates one user keeps.
pub const MAX_PER_OWNER: i64 = 200;

struct Row {
    id: Uuid,
    name: String,
    description: String,
    definition: serde_json::Value,
    variables: serde_json::Value,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl Row {
    fn into_template(self) -> AppResult<Template> {
        let variables: Vec<TemplateVariable> =
            serde_json::from_value(self.variables).map_err(AppError::internal)?;
        Ok(Template {
            id: self.id.to_string(),
            name: self.name,
            description: self.description,
            builtin: false,
            variables,
            definition: self.definition,
            created_at: Some(self.created_at),
        })
    }
}

/// The owner's templates, oldest first.
pub async fn list(db: &PgPool, owner_id: Uuid) -> AppResult<Vec<Template>> {
    sqlx::query_as!(
        Row,
        "SELECT id, name, description, definition, variables, created_at
         FROM task_templates WHERE owner_id = $1 ORDER BY created_at, id",
        owner_id
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(Row::into_template)
    .collect()
}

/// One of the owner's templates.
pub async fn get(db: &PgPool, owner_id: Uuid, id: Uuid) -> AppResult<Option<Template>> {
    sqlx::query_as!(
        Row,
        "SELECT id, name, description, definition, variables, created_at
         FROM task_templates WHERE id = $1 AND owner_id = $2",
        id,
        owner_id
    )
    .fetch_optional(db)
    .await?
    .map(Row::into_template)
    .transpose()
}

/// Stores a template for the owner; refuses beyond [`MAX_PER_OWNER`].
pub async fn insert(
    db: &PgPool,
    owner_id: Uuid,
    name: &str,
    description: &str,
    definition: &serde_json::Value,
    variables: &[TemplateVariable],
) -> AppResult<Template> {
    let variables = serde_json::to_value(variables).map_err(AppError::internal)?;
    let mut tx = db.begin().await?;
    // One owner's inserts queue here, so the count below cannot be raced past the limit.
    sqlx::query!("SELECT id FROM users WHERE id = $1 FOR UPDATE", owner_id)
        .fetch_optional(&mut *tx)
        .await?;
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM task_templates WHERE owner_id = $1"#,
        owner_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_PER_OWNER {
        return Err(AppError::conflict(format!(
            "you have {MAX_PER_OWNER} templates, the most one account keeps; delete one first"
        )));
    }
    let row = sqlx::query_as!(
        Row,
        "INSERT INTO task_templates (id, owner_id, name, description, definition, variables)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, description, definition, variables, created_at",
        Uuid::now_v7(),
        owner_id,
        name,
        description,
        definition,
        variables
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    row.into_template()
}

/// Deletes one of the owner's templates; `false` when there was none.
pub async fn delete(db: &PgPool, owner_id: Uuid, id: Uuid) -> AppResult<bool> {
    Ok(sqlx::query!(
        "DELETE FROM task_templates WHERE id = $1 AND owner_id = $2",
        id,
        owner_id
    )
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}
