//! Master-key rotation for webhook signing secrets: the same contract as
//! `secrets::rotation` (batches, each in its own transaction; running again finishes an
//! interrupted run), for the `webhook_triggers` rows sealed under an older key.

use sqlx::PgPool;
use uuid::Uuid;

use super::webhooks::secret_associated_data;
use crate::secrets::{
    Vault,
    rotation::{RotationReport, reseal},
};

/// Re-encrypts every webhook signing secret sealed under another key than the vault's
/// current one, at most `batch_size` rows per transaction.
pub async fn rotate_webhook_secrets(
    db: &PgPool,
    vault: &Vault,
    batch_size: u32,
) -> Result<RotationReport, sqlx::Error> {
    let batch_size = i64::from(batch_size.max(1));
    let current = vault.current_key_id().to_owned();
    let mut report = RotationReport::default();
    let mut after = Uuid::nil();
    loop {
        let mut tx = db.begin().await?;
        let rows = sqlx::query!(
            r#"SELECT id, secret_ciphertext AS "ciphertext!" FROM webhook_triggers
               WHERE secret_ciphertext IS NOT NULL AND secret_key_id <> $1 AND id > $2
               ORDER BY id LIMIT $3
               FOR UPDATE"#,
            current,
            after,
            batch_size,
        )
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;
        let (ids, ciphertexts) = reseal(
            vault,
            rows.into_iter().map(|row| {
                let aad = secret_associated_data(row.id);
                (row.id, row.ciphertext, aad)
            }),
            &mut report,
        );
        let updated = sqlx::query!(
            r#"UPDATE webhook_triggers AS w SET secret_ciphertext = u.ciphertext, secret_key_id = $3
               FROM UNNEST($1::uuid[], $2::bytea[]) AS u(id, ciphertext)
               WHERE w.id = u.id"#,
            &ids,
            &ciphertexts,
            current,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        report.rotated += updated.rows_affected();
        report.batches += 1;
    }
    Ok(report)
}
