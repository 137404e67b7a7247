//! Tamper evidence. A background sealer chains new rows in `seq` order:
//! `hash = SHA-256(prev_hash ‖ canonical JSON of the row)`, where the canonical JSON is
//! PostgreSQL's `jsonb` text of the row without `hash` and `prev_hash` (keys in `jsonb`'s
//! fixed order, so every instance and the verifier compute the same bytes). It holds an
//! advisory lock, so several instances build one chain, and takes a `SHARE` lock on the table
//! while it seals so no insert still in flight can commit a lower `seq` behind it.
//!
//! [`verify`] walks the chain; [`purge_expired`] deletes old rows under
//! `nocron.audit_purge = 'on'` and keeps the hash of the newest one as the anchor the rest
//! starts from.

use std::time::Duration;

use futures::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use utoipa::ToSchema;

/// The advisory lock of the sealer and the purge.
const CHAIN_LOCK: i64 = 0x6e6f_6372_6175_6469; // "nocraudi"
/// Rows sealed per transaction at most.
const SEAL_BATCH: i64 = 1000;

/// The hash of a row after `prev` (empty for the first row of the chain).
pub fn row_hash(prev: &[u8], canonical: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(canonical.as_bytes());
    hasher.finalize().to_vec()
}

/// Seals the rows written since the last run (up to a batch); returns how many. Another
/// instance sealing at the same moment makes this one skip.
pub async fn seal_pending(db: &PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    let locked = sqlx::query_scalar!("SELECT pg_try_advisory_xact_lock($1)", CHAIN_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if locked != Some(true) {
        return Ok(0);
    }
    sqlx::query!("LOCK TABLE audit_events IN SHARE MODE")
        .execute(&mut *tx)
        .await?;
    let last: Option<Option<Vec<u8>>> = sqlx::query_scalar!(
        "SELECT hash FROM audit_events WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1"
    )
    .fetch_optional(&mut *tx)
    .await?;
    let mut prev = match last.flatten() {
        Some(hash) => hash,
        None => anchor(&mut tx).await?.unwrap_or_default(),
    };
    let rows = sqlx::query!(
        r#"SELECT seq, (to_jsonb(a) - 'hash' - 'prev_hash')::text AS "canonical!"
           FROM audit_events a WHERE hash IS NULL ORDER BY seq LIMIT $1"#,
        SEAL_BATCH
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let (mut seqs, mut hashes, mut prevs) = (Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        let hash = row_hash(&prev, &row.canonical);
        seqs.push(row.seq);
        prevs.push(std::mem::replace(&mut prev, hash.clone()));
        hashes.push(hash);
    }
    sqlx::query!(
        r#"UPDATE audit_events a SET hash = u.hash, prev_hash = NULLIF(u.prev, ''::bytea)
           FROM UNNEST($1::int8[], $2::bytea[], $3::bytea[]) AS u(seq, hash, prev)
           WHERE a.seq = u.seq AND a.hash IS NULL"#,
        &seqs,
        &hashes,
        &prevs
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.len())
}

async fn anchor(conn: &mut sqlx::PgConnection) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!("SELECT hash FROM audit_anchor")
        .fetch_optional(conn)
        .await
}

/// Starts the sealer on `tasks`: every `interval` until shutdown.
pub fn start_sealer(
    db: PgPool,
    interval: Duration,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    tasks.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            loop {
                match seal_pending(&db).await {
                    Ok(n) if n as i64 == SEAL_BATCH => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "sealing audit events failed; trying again later");
                        break;
                    }
                }
            }
        }
    });
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VerifyReport {
    /// The last `seq` of the unbroken chain from its start (`null`: nothing sealed, or the
    /// very first row is broken).
    pub verified_through_seq: Option<i64>,
    /// The first row whose hash or link does not match (`null`: the chain is intact).
    pub first_broken_seq: Option<i64>,
}

/// Walks every sealed row in `seq` order from the anchor, recomputing each hash.
pub async fn verify(db: &PgPool) -> Result<VerifyReport, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let mut expected_prev = anchor(&mut conn).await?;
    let mut report = VerifyReport {
        verified_through_seq: None,
        first_broken_seq: None,
    };
    let mut rows = sqlx::query!(
        r#"SELECT seq, hash AS "hash!", prev_hash,
                  (to_jsonb(a) - 'hash' - 'prev_hash')::text AS "canonical!"
           FROM audit_events a WHERE hash IS NOT NULL ORDER BY seq"#
    )
    .fetch(&mut *conn);
    while let Some(row) = rows.try_next().await? {
        let prev = expected_prev.as_deref().unwrap_or_default();
        let linked = row.prev_hash.as_deref().unwrap_or_default() == prev;
        if !linked || row_hash(prev, &row.canonical) != row.hash {
            report.first_broken_seq = Some(row.seq);
            break;
        }
        report.verified_through_seq = Some(row.seq);
        expected_prev = Some(row.hash);
    }
    Ok(report)
}

/// Deletes sealed rows older than `days` and moves the anchor to the newest of them;
/// returns how many were deleted.
pub async fn purge_expired(db: &PgPool, days: u32) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        r#"SELECT 1 AS "one!" FROM pg_advisory_xact_lock($1)"#,
        CHAIN_LOCK
    )
    .fetch_one(&mut *tx)
    .await?;
    let newest = sqlx::query!(
        r#"SELECT seq, hash AS "hash!" FROM audit_events
           WHERE hash IS NOT NULL AND occurred_at < now() - make_interval(days => $1)
           ORDER BY seq DESC LIMIT 1"#,
        i32::try_from(days).unwrap_or(i32::MAX)
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(newest) = newest else {
        return Ok(0);
    };
    sqlx::query!("SELECT set_config('nocron.audit_purge', 'on', true)")
        .fetch_one(&mut *tx)
        .await?;
    let deleted = sqlx::query!("DELETE FROM audit_events WHERE seq <= $1", newest.seq)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query!(
        r#"INSERT INTO audit_anchor (singleton, seq, hash) VALUES (true, $1, $2)
           ON CONFLICT (singleton) DO UPDATE SET seq = $1, hash = $2, purged_at = now()"#,
        newest.seq,
        newest.hash
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hash_depends_on_the_previous_one() {
        let first = row_hash(&[], "{\"a\": 1}");
        assert_eq!(first.len(), 32);
        assert_ne!(row_hash(&first, "{}"), row_hash(&[], "{}"));
        assert_ne!(row_hash(&[], "{\"a\": 2}"), first);
    }
}
