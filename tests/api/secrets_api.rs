//! `/secrets` through the real server: create, list, read, rename, replace, delete; owner
//! scoping; conflicts and validation naming the field; values never in a response.

use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app};

const VALUE: &str = "sk_live_9f8e7d6c5b4a3210";

#[tokio::test]
async fn secrets_are_managed_by_their_owner_and_values_never_come_back() {
    let app = spawn_app().await;
    let ann = app.login_as("USER").await;
    let bob = app.login_as("USER").await;
    let mut bodies = Vec::new();

    let created = app
        .post_as(
            &ann.access_token,
            "/secrets",
            &json!({"name": "STRIPE_KEY", "description": "live key", "value": VALUE}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["name"], "STRIPE_KEY");
    assert_eq!(created["description"], "live key");
    assert!(created.get("value").is_none());
    let id = created["id"].as_str().expect("id").to_owned();
    bodies.push(created.to_string());

    let list = app.get_as(&ann.access_token, "/secrets").await;
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.expect("json");
    assert_eq!(list["items"].as_array().expect("array").len(), 1);
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["next_cursor"], Value::Null);
    bodies.push(list.to_string());

    let one = app
        .get_as(&ann.access_token, &format!("/secrets/{id}"))
        .await;
    assert_eq!(one.status(), 200);
    bodies.push(one.text().await.expect("text"));

    // Bob sees nothing of Ann's, and cannot change or delete it.
    let bobs_list: Value = app
        .get_as(&bob.access_token, "/secrets")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(bobs_list, json!({"items": [], "next_cursor": null}));
    for response in [
        app.get_as(&bob.access_token, &format!("/secrets/{id}"))
            .await,
        app.patch_as(
            &bob.access_token,
            &format!("/secrets/{id}"),
            &json!({"value": "stolen-value"}),
        )
        .await,
        app.delete_as(&bob.access_token, &format!("/secrets/{id}"))
            .await,
    ] {
        assert_eq!(response.status(), 404);
    }
    // Bob may use the same name for his own secret.
    let bobs = app
        .post_as(
            &bob.access_token,
            "/secrets",
            &json!({"name": "STRIPE_KEY", "value": "bob-value-1234"}),
        )
        .await;
    assert_eq!(bobs.status(), 201);

    // A second secret of Ann's with the same name is a conflict naming the field.
    let duplicate = app
        .post_as(
            &ann.access_token,
            "/secrets",
            &json!({"name": "STRIPE_KEY", "value": "another-value"}),
        )
        .await;
    assert_eq!(duplicate.status(), 409);
    let body = problem(duplicate).await;
    assert_eq!(body["errors"][0]["field"], "name");
    bodies.push(body.to_string());

    // Rename, describe and replace the value.
    let patched = app
        .patch_as(
            &ann.access_token,
            &format!("/secrets/{id}"),
            &json!({"name": "STRIPE_LIVE", "description": null, "value": "sk_live_rotated_0000"}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(patched["name"], "STRIPE_LIVE");
    assert_eq!(patched["description"], Value::Null);
    bodies.push(patched.to_string());
    let stored: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM secrets WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .expect("ciphertext");
    assert!(
        !String::from_utf8_lossy(&stored).contains("sk_live"),
        "stored encrypted"
    );

    let deleted = app
        .delete_as(&ann.access_token, &format!("/secrets/{id}"))
        .await;
    assert_eq!(deleted.status(), 204);
    let gone = app
        .get_as(&ann.access_token, &format!("/secrets/{id}"))
        .await;
    assert_eq!(gone.status(), 404);

    for body in &bodies {
        assert!(!body.contains(VALUE), "value in a response: {body}");
        assert!(
            !body.contains("sk_live_rotated"),
            "value in a response: {body}"
        );
    }
}

#[tokio::test]
async fn invalid_input_names_the_field() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    for (body, field) in [
        (json!({"name": "bad-name", "value": "x1234"}), "name"),
        (json!({"name": "", "value": "x1234"}), "name"),
        (json!({"name": "OK", "value": ""}), "value"),
        (
            json!({"name": "OK", "value": "x1234", "description": "d".repeat(501)}),
            "description",
        ),
    ] {
        let response = app.post_as(&user.access_token, "/secrets", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem = problem(response).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let response = app
        .post_as(&user.access_token, "/secrets", &json!({"name": "OK"}))
        .await;
    assert!(response.status().is_client_error());
    let unauthenticated = app.get("/secrets").await;
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn the_list_comes_in_pages_by_name() {
    let app = spawn_app().await;
    let user = app.login_as("USER").await;
    for name in ["E", "B", "D", "A", "C"] {
        let response = app
            .post_as(
                &user.access_token,
                "/secrets",
                &json!({"name": name, "value": "value-1234"}),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    let mut names = Vec::new();
    let mut path = "/secrets?limit=2".to_owned();
    loop {
        let page: Value = app
            .get_as(&user.access_token, &path)
            .await
            .json()
            .await
            .expect("json");
        for item in page["items"].as_array().expect("items") {
            names.push(item["name"].as_str().expect("name").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/secrets?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(names, ["A", "B", "C", "D", "E"]);
    let bad = app.get_as(&user.access_token, "/secrets?limit=0").await;
    assert_eq!(bad.status(), 422);
    assert_eq!(problem(bad).await["errors"][0]["field"], "query.limit");
}
