//! Master-key rotation (`nocron rotate-master-key`): re-encrypts every secret not yet under
//! the current key, in batches, each batch in its own transaction. Running it again finds
//! nothing to do, so an interrupted rotation is finished by running it once more.

use sqlx::PgPool;
use uuid::Uuid;

use super::{Vault, VaultError, store::associated_data};

/// The outcome of a rotation run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Secrets re-encrypted under the current key.
    pub rotated: u64,
    /// Batches committed.
    pub batches: u64,
    /// Secrets that could not be decrypted with any configured key (id and reason); they
    /// are left untouched.
    pub failed: Vec<(Uuid, VaultError)>,
}

/// Opens each `(id, ciphertext, associated data)` and seals it again under the vault's current
/// key: the ids and new ciphertexts to write back. What no configured key opens is recorded
/// in `report.failed` and left as it is. Shared by every table holding sealed values.
pub fn reseal(
    vault: &Vault,
    rows: impl IntoIterator<Item = (Uuid, Vec<u8>, Vec<u8>)>,
    report: &mut RotationReport,
) -> (Vec<Uuid>, Vec<Vec<u8>>) {
    let (mut ids, mut ciphertexts) = (Vec::new(), Vec::new());
    for (id, ciphertext, aad) in rows {
        match vault
            .open(&ciphertext, &aad)
            .and_then(|plaintext| vault.seal(&plaintext, &aad))
        {
            Ok(sealed) => {
                ids.push(id);
                ciphertexts.push(sealed.bytes);
            }
            Err(err) => report.failed.push((id, err)),
        }
    }
    (ids, ciphertexts)
}

/// Re-encrypts every secret sealed under another key than the vault's current one, at most
/// `batch_size` rows per transaction.
pub async fn rotate_all(
    db: &PgPool,
    vault: &Vault,
    batch_size: u32,
) -> Result<RotationReport, sqlx::Error> {
    let batch_size = i64::from(batch_size.max(1));
    let current = vault.current_key_id().to_owned();
    let mut report = RotationReport::default();
    // Keyset pagination: rows that fail to decrypt stay under their old key and must not
    // be fetched again by the next batch.
    let mut after = Uuid::nil();
    loop {
        let mut tx = db.begin().await?;
        let rows = sqlx::query!(
            r#"SELECT id, owner_id, ciphertext FROM secrets
               WHERE key_id <> $1 AND id > $2
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
                let aad = associated_data(row.owner_id, row.id);
                (row.id, row.ciphertext, aad)
            }),
            &mut report,
        );
        let updated = sqlx::query!(
            r#"UPDATE secrets AS s SET ciphertext = u.ciphertext, key_id = $3
               FROM UNNEST($1::uuid[], $2::bytea[]) AS u(id, ciphertext)
               WHERE s.id = u.id"#,
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
