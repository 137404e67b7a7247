//! Master-key rotation (`nocron rotate-master-key`): re-encrypts every secret not yet under
//! the current key, in batches, each batch in its own transaction. Running it again finds
//! nothing to do, so an interrupted rotation is finished by running it once more.

use sqlx::{PgConnection, PgPool};
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
/// in `report.failed` and left as it is.
fn reseal(
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

/// A table whose rows hold values sealed by the vault, as [`rotate_table`] rotates it.
pub(crate) trait SealedRows {
    /// Up to `limit` rows with an id after `after`, sealed under another key than `current`,
    /// locked for update, in id order: `(id, ciphertext, associated data)`.
    async fn fetch(
        &self,
        conn: &mut PgConnection,
        current: &str,
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<(Uuid, Vec<u8>, Vec<u8>)>, sqlx::Error>;

    /// Writes the resealed ciphertexts back, now under `current`; the rows changed.
    async fn store(
        &self,
        conn: &mut PgConnection,
        ids: &[Uuid],
        ciphertexts: &[Vec<u8>],
        current: &str,
    ) -> Result<u64, sqlx::Error>;
}

/// Re-encrypts every value of `table` sealed under another key than the vault's current
/// one, at most `batch_size` rows per transaction.
pub(crate) async fn rotate_table(
    db: &PgPool,
    vault: &Vault,
    batch_size: u32,
    table: &impl SealedRows,
) -> Result<RotationReport, sqlx::Error> {
    let batch_size = i64::from(batch_size.max(1));
    let current = vault.current_key_id().to_owned();
    let mut report = RotationReport::default();
    // Keyset pagination: rows that fail to decrypt stay under their old key and must not
    // be fetched again by the next batch.
    let mut after = Uuid::nil();
    loop {
        let mut tx = db.begin().await?;
        let rows = table.fetch(&mut tx, &current, after, batch_size).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.0;
        let (ids, ciphertexts) = reseal(vault, rows, &mut report);
        let updated = table.store(&mut tx, &ids, &ciphertexts, &current).await?;
        tx.commit().await?;
        report.rotated += updated;
        report.batches += 1;
    }
    Ok(report)
}

/// The `secrets` table.
struct Secrets;

impl SealedRows for Secrets {
    async fn fetch(
        &self,
        conn: &mut PgConnection,
        current: &str,
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<(Uuid, Vec<u8>, Vec<u8>)>, sqlx::Error> {
        let rows = sqlx::query!(
            r#"SELECT id, owner_id, ciphertext FROM secrets
               WHERE key_id <> $1 AND id > $2
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
                let aad = associated_data(row.owner_id, row.id);
                (row.id, row.ciphertext, aad)
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
            r#"UPDATE secrets AS s SET ciphertext = u.ciphertext, key_id = $3
               FROM UNNEST($1::uuid[], $2::bytea[]) AS u(id, ciphertext)
               WHERE s.id = u.id"#,
            ids,
            ciphertexts,
            current,
        )
        .execute(conn)
        .await?;
        Ok(updated.rows_affected())
    }
}

/// Re-encrypts every secret sealed under another key than the vault's current one, at most
/// `batch_size` rows per transaction.
pub async fn rotate_all(
    db: &PgPool,
    vault: &Vault,
    batch_size: u32,
) -> Result<RotationReport, sqlx::Error> {
    rotate_table(db, vault, batch_size, &Secrets).await
}
