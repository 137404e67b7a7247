//! What the database holds: no plaintext password, refresh token or API key anywhere.

use serde_json::Value;

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn the_database_holds_no_plaintext_secret() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    let refreshed: Value = app
        .post_json(
            "/auth/refresh",
            &serde_json::json!({ "refresh_token": user.refresh_token }),
        )
        .await
        .json()
        .await
        .expect("json");
    let key = app
        .create_api_key(&user.access_token, &["tasks:read"])
        .await;
    let key = key["key"].as_str().expect("key").to_owned();
    app.get_with_key(&key, "/api/v1/me").await;
    let new_refresh = refreshed["refresh_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Every row of every table in the schema, as text.
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&app.db)
            .await
            .expect("tables");
    assert!(tables.iter().any(|t| t == "api_keys"));
    let mut dump = String::new();
    for table in &tables {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM \"{table}\" t"))
                .fetch_all(&app.db)
                .await
                .expect("rows");
        dump.extend(rows);
    }
    assert!(
        dump.contains(&user.email),
        "the dump is complete enough to find the email"
    );
    for (name, secret) in [
        ("password", PASSWORD),
        ("refresh token", user.refresh_token.as_str()),
        ("rotated refresh token", new_refresh.as_str()),
        ("API key", key.as_str()),
        ("API key secret part", &key[16..]),
    ] {
        assert!(!dump.contains(secret), "the {name} is stored in plaintext");
    }
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&app.db)
        .await
        .expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
}
