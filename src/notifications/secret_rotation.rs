//! Master-key rotation for notification webhook endpoints' signing secrets: the same
//! contract as `secrets::rotation` (batches, each in its own transaction; running again
//! finishes an interrupted run).

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::webhooks::secret_associated_data;
use crate::secrets::{
    Vault,
    rotation::{RotationReport, SealedRows, rotate_table},
};

/// Re-encrypts every endpoint secret sealed under another key than the vault's current one,
/// at most `batch_size` rows per transaction.
pub async fn rotate_endpoint_secrets(
    db: &PgPool,
    vault: &Vault,
    batch_size: u32,
) -> Result<RotationReport, sqlx::Error> {
    rotate_table(db, vault, batch_size, &EndpointSecrets).await
}

/// The signing secrets of `notification_webhooks`.
struct EndpointSecrets;

impl SealedRows for EndpointSecrets {
    async fn fetch(
        &self,
        conn: &mut PgConnection,
        current: &str,
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<(Uuid, Vec<u8>, Vec<u8>)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT id, secret_ciphertext FROM notification_webhooks
               WHERE secret_key_id <> $1 AND id > $2
               ORDER BY id LIMIT $3
               FOR UPDATE"#,
            current,
            after,
            limit,
        )
        .fetch_all(conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                (
                    row.id,
                    row.secret_ciphertext,
                    secret_associated_data(row.id),
                )
            })
            .collect())
    }

    async fn store(
        &self,
        conn: &mut PgConnection,
        ids: &[Uuid],
        ciphertexts: &[Vec<u8>],
        current: &str,
    ) -> Result<u64, sqlx::Error> {
        let updated = sqlx::query!(
            r#"UPDATE notification_webhooks AS w
               SET secret_ciphertext = u.ciphertext, secret_key_id = $3
               FROM UNNEST($1::uuid[], $2::bytea[]) AS u(id, ciphertext)
               WHERE w.id = u.id"#,
            ids,
            ciphertexts,
            current,
        )
        .execute(conn)
        .await?;
        Ok(updated.rows_affected())
    }
}
