//! The secrets vault against real PostgreSQL: storage is encrypted and owner-scoped, values
//! load only for their owner and row, and master-key rotation (library and CLI) re-encrypts
//! everything exactly once.

use nocron::secrets::{
    MasterKey, NewSecret, SecretChanges, SecretError, SecretValue, Vault, VaultError,
    rotation::rotate_all,
    store::{self, SecretMeta},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::TestDatabase;

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes([byte; 32])
}

fn new_secret(name: &str, value: &str) -> NewSecret {
    NewSecret {
        name: name.to_owned(),
        description: Some(format!("{name} for tests")),
        value: SecretValue::new(value.to_owned()),
    }
}

async fn create(db: &PgPool, vault: &Vault, owner: Uuid, name: &str, value: &str) -> SecretMeta {
    crate::engine_support::ensure_owner(db, owner).await;
    store::create(db, vault, owner, new_secret(name, value))
        .await
        .expect("create secret")
}

async fn load_one(
    db: &PgPool,
    vault: &Vault,
    owner: Uuid,
    name: &str,
) -> Result<String, SecretError> {
    let values = store::load_values(db, vault, owner, &[name.to_owned()]).await?;
    Ok(values[name].expose().to_owned())
}

#[tokio::test]
async fn values_are_stored_encrypted_and_never_listed() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let vault = Vault::new(key(1), vec![]);
    let owner = Uuid::new_v4();
    let value = "sk_live_4f9d8e7c6b5a";
    let created = create(&db, &vault, owner, "STRIPE_KEY", value).await;

    let (ciphertext, key_id): (Vec<u8>, String) =
        sqlx::query_as("SELECT ciphertext, key_id FROM secrets WHERE id = $1")
            .bind(created.id)
            .fetch_one(&db)
            .await
            .expect("row");
    assert!(
        !ciphertext
            .windows(value.len())
            .any(|w| w == value.as_bytes())
    );
    assert_eq!(key_id, vault.current_key_id());

    let listed = store::list(&db, owner).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "STRIPE_KEY");
    assert_eq!(
        listed[0].description.as_deref(),
        Some("STRIPE_KEY for tests")
    );
    let listed_json = serde_json::to_string(&listed).expect("serialize");
    assert!(!listed_json.contains(value), "listing never carries values");

    assert_eq!(
        load_one(&db, &vault, owner, "STRIPE_KEY")
            .await
            .expect("load"),
        value
    );
}

#[tokio::test]
async fn another_owner_cannot_see_change_delete_or_load_a_secret() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let vault = Vault::new(key(1), vec![]);
    let (alice, mallory) = (Uuid::new_v4(), Uuid::new_v4());
    let secret = create(&db, &vault, alice, "TOKEN", "alice-token-value").await;

    assert!(store::list(&db, mallory).await.expect("list").is_empty());
    assert!(
        store::get(&db, mallory, secret.id)
            .await
            .expect("get")
            .is_none()
    );
    let changes = SecretChanges {
        value: Some(SecretValue::new("mallory-value".into())),
        ..Default::default()
    };
    assert!(
        store::update(&db, &vault, mallory, secret.id, changes)
            .await
            .expect("update")
            .is_none()
    );
    assert!(
        !store::delete(&db, mallory, secret.id)
            .await
            .expect("delete")
    );
    match load_one(&db, &vault, mallory, "TOKEN").await {
        Err(SecretError::Missing(names)) => assert_eq!(names, ["TOKEN"]),
        other => panic!("expected Missing, got {other:?}"),
    }
    // The same name is free for another owner, and both stay separate.
    create(&db, &vault, mallory, "TOKEN", "mallory-token-value").await;
    assert_eq!(
        load_one(&db, &vault, alice, "TOKEN").await.expect("alice"),
        "alice-token-value"
    );
    assert_eq!(
        load_one(&db, &vault, mallory, "TOKEN")
            .await
            .expect("mallory"),
        "mallory-token-value"
    );
}

#[tokio::test]
async fn names_are_unique_per_owner_and_validated() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let vault = Vault::new(key(1), vec![]);
    let owner = Uuid::new_v4();
    create(&db, &vault, owner, "DUP", "first-value").await;
    let err = store::create(&db, &vault, owner, new_secret("DUP", "second"))
        .await
        .expect_err("duplicate");
    assert!(
        matches!(err, SecretError::DuplicateName(ref n) if n == "DUP"),
        "{err:?}"
    );

    let other = create(&db, &vault, owner, "OTHER", "other-value").await;
    let rename = SecretChanges {
        name: Some("DUP".into()),
        ..Default::default()
    };
    let err = store::update(&db, &vault, owner, other.id, rename)
        .await
        .expect_err("rename onto an existing name");
    assert!(matches!(err, SecretError::DuplicateName(_)), "{err:?}");

    for (name, value, field) in [
        ("bad-name", "v", "name"),
        ("1ST", "v", "name"),
        ("EMPTY", "", "value"),
        ("HUGE", &"x".repeat(64 * 1024 + 1), "value"),
    ] {
        let err = store::create(&db, &vault, owner, new_secret(name, value))
            .await
            .expect_err(name);
        assert!(
            matches!(err, SecretError::Invalid { field: f, .. } if f == field),
            "{name}: {err:?}"
        );
    }
    let problem = nocron::error::AppError::from(SecretError::Invalid {
        field: "name",
        message: "bad".into(),
    })
    .to_problem();
    assert_eq!(problem.status, 422);
    assert_eq!(problem.errors[0].field, "name");
}

#[tokio::test]
async fn updates_change_only_what_is_given() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let vault = Vault::new(key(1), vec![]);
    let owner = Uuid::new_v4();
    let secret = create(&db, &vault, owner, "API_KEY", "old-value-123").await;

    let renamed = store::update(
        &db,
        &vault,
        owner,
        secret.id,
        SecretChanges {
            name: Some("RENAMED".into()),
            description: Some(None),
            ..Default::default()
        },
    )
    .await
    .expect("update")
    .expect("found");
    assert_eq!(renamed.name, "RENAMED");
    assert_eq!(renamed.description, None);
    assert!(renamed.updated_at >= secret.updated_at);
    // The value survives a rename: it is bound to the row id, not the name.
    assert_eq!(
        load_one(&db, &vault, owner, "RENAMED").await.expect("load"),
        "old-value-123"
    );

    store::update(
        &db,
        &vault,
        owner,
        secret.id,
        SecretChanges {
            value: Some(SecretValue::new("new-value-456".into())),
            ..Default::default()
        },
    )
    .await
    .expect("update value")
    .expect("found");
    assert_eq!(
        load_one(&db, &vault, owner, "RENAMED").await.expect("load"),
        "new-value-456"
    );
    let after = store::get(&db, owner, secret.id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(after.name, "RENAMED");

    assert!(store::delete(&db, owner, secret.id).await.expect("delete"));
    assert!(
        store::get(&db, owner, secret.id)
            .await
            .expect("get")
            .is_none()
    );
    assert!(!store::delete(&db, owner, secret.id).await.expect("again"));
}

#[tokio::test]
async fn loading_several_names_reports_every_missing_one() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let vault = Vault::new(key(1), vec![]);
    let owner = Uuid::new_v4();
    create(&db, &vault, owner, "A", "value-a-1").await;
    create(&db, &vault, owner, "B", "value-b-2").await;
    let names = ["A".to_owned(), "B".to_owned()];
    let values = store::load_values(&db, &vault, owner, &names)
        .await
        .expect("load");
    assert_eq!(values.len(), 2);
    assert_eq!(values["B"].expose(), "value-b-2");
    let names = ["A".into(), "Z".into(), "C".into()];
    match store::load_values(&db, &vault, owner, &names).await {
        Err(SecretError::Missing(missing)) => assert_eq!(missing, ["C", "Z"]),
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let vault = Vault::new(key(1), vec![]);
    let (victim, attacker) = (Uuid::new_v4(), Uuid::new_v4());
    let stolen = create(&db, &vault, victim, "PROD_DB", "postgres://prod-password").await;
    let decoy = create(&db, &vault, attacker, "MINE", "attacker-value").await;
    sqlx::query("UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE id = $1) WHERE id = $2")
        .bind(stolen.id)
        .bind(decoy.id)
        .execute(&db)
        .await
        .expect("swap");
    match load_one(&db, &vault, attacker, "MINE").await {
        Err(SecretError::Undecryptable { name, source }) => {
            assert_eq!(name, "MINE");
            assert_eq!(source, VaultError::Tampered);
        }
        other => panic!("expected Undecryptable, got {other:?}"),
    }
}

async fn key_ids(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT key_id FROM secrets ORDER BY id")
        .fetch_all(db)
        .await
        .expect("key ids")
}

#[tokio::test]
async fn rotation_reencrypts_in_batches_and_is_idempotent() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let old = Vault::new(key(1), vec![]);
    let owners = [Uuid::new_v4(), Uuid::new_v4()];
    for i in 0..5 {
        create(
            &db,
            &old,
            owners[i % 2],
            &format!("S{i}"),
            &format!("value-{i}-xyz"),
        )
        .await;
    }
    let orphan_vault = Vault::new(key(9), vec![]);
    let orphan = create(&db, &orphan_vault, owners[0], "ORPHAN", "lost-key-value").await;

    let rotated = Vault::new(key(2), vec![key(1)]);
    let report = rotate_all(&db, &rotated, 2).await.expect("rotate");
    assert_eq!(report.rotated, 5);
    assert_eq!(report.batches, 3, "6 candidate rows in batches of 2");
    assert_eq!(
        report.failed,
        vec![(orphan.id, VaultError::UnknownKey(key(9).id().to_owned()))]
    );
    let ids = key_ids(&db).await;
    assert_eq!(ids.iter().filter(|id| *id == key(2).id()).count(), 5);
    assert_eq!(ids.iter().filter(|id| *id == key(9).id()).count(), 1);

    // The old key is no longer needed for the rotated rows.
    let new_only = Vault::new(key(2), vec![]);
    for i in 0..5 {
        let value = load_one(&db, &new_only, owners[i % 2], &format!("S{i}"))
            .await
            .expect("load");
        assert_eq!(value, format!("value-{i}-xyz"));
    }
    let again = rotate_all(&db, &rotated, 2).await.expect("rotate again");
    assert_eq!(again.rotated, 0);
    assert_eq!(
        again.failed.len(),
        1,
        "the orphan is reported again, untouched"
    );
}

#[tokio::test]
async fn the_rotate_master_key_command_rotates_a_real_database() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let old_key = MasterKey::parse(&format!("old:{}", base64_of(3))).expect("key");
    let new_key = MasterKey::parse(&format!("new:{}", base64_of(4))).expect("key");
    let owner = Uuid::new_v4();
    let old_vault = Vault::new(old_key.clone(), vec![]);
    for i in 0..3 {
        create(
            &db,
            &old_vault,
            owner,
            &format!("K{i}"),
            &format!("cli-value-{i}"),
        )
        .await;
    }
    let dir = std::env::temp_dir().join(format!("nocron-rotate-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_nocron"))
            .args(["rotate-master-key", "--batch-size", "2"])
            .current_dir(&dir)
            .env_clear()
            .env("NOCRON_ENV", "test")
            .env("DATABASE_URL", database.url())
            .env("DATA_DIR", &dir)
            .env("NOCRON_MASTER_KEY", new_key.to_config_string())
            .env("NOCRON_OLD_MASTER_KEYS", old_key.to_config_string())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run nocron")
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("rotated 3 secrets to key new in 2 batches"),
        "{stdout}"
    );
    assert_eq!(key_ids(&db).await, ["new", "new", "new"]);
    let second = run();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("rotated 0 secrets"));
    let new_only = Vault::new(new_key, vec![]);
    assert_eq!(
        load_one(&db, &new_only, owner, "K2").await.expect("load"),
        "cli-value-2"
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn base64_of(byte: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

#[tokio::test]
async fn a_task_config_resolves_for_its_owner_only_and_yields_a_redactor() {
    let database = TestDatabase::create().await;
    let db = database.pool().await;
    let vault = Vault::new(key(1), vec![]);
    let (owner, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    create(&db, &vault, owner, "API_TOKEN", "tok_abcdef987654").await;
    create(&db, &vault, owner, "SCRIPT_KEY", "script-key-value").await;
    let config = serde_json::json!({
        "url": "https://api.example/items",
        "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"}
    });
    let resolved = store::resolve_config(&db, &vault, owner, &config, &["SCRIPT_KEY".into()])
        .await
        .expect("resolve");
    assert_eq!(
        resolved.config["headers"]["Authorization"],
        "Bearer tok_abcdef987654"
    );
    assert_eq!(resolved.secrets.len(), 2);
    assert_eq!(resolved.secrets["SCRIPT_KEY"].expose(), "script-key-value");
    let outcome = format!("sent {}", resolved.config);
    let redacted = resolved.redactor.redact(&outcome);
    assert!(!redacted.contains("tok_abcdef987654"), "{redacted}");
    assert!(redacted.contains("Bearer [REDACTED]"));

    match store::resolve_config(&db, &vault, stranger, &config, &[]).await {
        Err(SecretError::Missing(names)) => assert_eq!(names, ["API_TOKEN"]),
        other => panic!("expected Missing, got {other:?}"),
    }
    let bad = serde_json::json!({"x": "{{ secrets.not-valid }}"});
    assert!(matches!(
        store::resolve_config(&db, &vault, owner, &bad, &[]).await,
        Err(SecretError::Invalid {
            field: "config",
            ..
        })
    ));
}
