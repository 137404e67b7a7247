//! Test harness: each test gets the real application on a free port, against a fresh
//! database cloned from a migrated template, on the PostgreSQL named by `DATABASE_URL` or,
//! when it is unset, on a local cluster started once from the system binaries.

use std::{collections::HashMap, str::FromStr};

use nocron::{
    app::Application,
    config::Settings,
    db::{self, embedded::LocalCluster},
};
use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// A JWT secret only tests use.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// Settings for the throwaway test cluster: durability off for speed. `DROP DATABASE` waits
/// until every backend has answered its signal barrier, and two kinds of backend answer
/// late: the checkpointer during a spread checkpoint (so checkpoints never spread), and a
/// connection still in authentication, whose client (an app whose test just ended) will
/// never answer (so authentication times out after a second, not a minute).
const TEST_CLUSTER_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("checkpoint_completion_target", "0"),
    ("authentication_timeout", "1s"),
    ("max_connections", "300"),
];

/// Where tests create their databases.
struct Server {
    admin: PgConnectOptions,
    template: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            nocron::install_crypto_provider();
            if std::env::var_os("TEST_LOG").is_some() {
                nocron::logging::init(nocron::config::LogFormat::Pretty);
            }
            let admin_url = match std::env::var("DATABASE_URL") {
                Ok(url) => url,
                Err(_) => {
                    // scripts/test names the directory (and stops the cluster afterwards).
                    let root = std::env::var_os("NOCRON_TEST_PG_DIR")
                        .map(std::path::PathBuf::from)
                        .unwrap_or_else(|| {
                            let checkout = std::hash::BuildHasher::hash_one(
                                &std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default(),
                                env!("CARGO_MANIFEST_DIR"),
                            );
                            std::env::temp_dir().join(format!("nocron-test-pg-{checkout:x}"))
                        });
                    let cluster = tokio::task::spawn_blocking(move || {
                        LocalCluster::start_with(&root, TEST_CLUSTER_SETTINGS)
                    })
                        .await
                        .expect("cluster start task")
                        .expect("start the local test PostgreSQL (install the postgresql package or set DATABASE_URL)");
                    let url = cluster.url_for("postgres");
                    // Kept running after the process ends: the next run reuses it and the
                    // test script stops it.
                    std::mem::forget(cluster);
                    url
                }
            };
            let admin = PgConnectOptions::from_str(&admin_url)
                .expect("DATABASE_URL parses")
                .disable_statement_logging();
            let template = ensure_template(&admin).await;
            Server { admin, template }
        })
        .await
}

/// Creates (once per set of migrations, across processes) a migrated template database.
async fn ensure_template(admin: &PgConnectOptions) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for migration in db::MIGRATOR.iter() {
        std::hash::Hash::hash(&(migration.version, &*migration.checksum), &mut hasher);
    }
    let name = format!(
        "nocron_template_{:016x}",
        std::hash::Hasher::finish(&hasher)
    );
    let mut conn = PgConnection::connect_with(admin)
        .await
        .expect("connect to the test PostgreSQL");
    conn.execute("SELECT pg_advisory_lock(74206931)")
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("query pg_database");
    if !exists {
        let building = format!("{name}_building");
        conn.execute(format!("DROP DATABASE IF EXISTS {building}").as_str())
            .await
            .expect("drop");
        conn.execute(format!("CREATE DATABASE {building}").as_str())
            .await
            .expect("create template");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin.clone().database(&building))
            .await
            .expect("connect to template");
        db::migrate(&pool).await.expect("migrate template");
        pool.close().await;
        conn.execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str())
            .await
            .expect("publish template");
    }
    conn.execute("SELECT pg_advisory_unlock(74206931)")
        .await
        .expect("unlock");
    name
}

/// A fresh database cloned from the template; dropped when the returned guard drops.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Options to connect to it.
    pub options: PgConnectOptions,
    admin: PgConnectOptions,
}

impl TestDatabase {
    /// Creates a new database for one test.
    pub async fn create() -> Self {
        let server = server().await;
        let name = format!("nocron_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect_with(&server.admin)
            .await
            .expect("connect admin");
        let sql = format!("CREATE DATABASE {name} TEMPLATE {}", server.template);
        let mut attempt = 0;
        while let Err(err) = conn.execute(sql.as_str()).await {
            // Two clones of one template at the same instant can collide; try again.
            attempt += 1;
            assert!(attempt < 20, "create test database: {err}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        conn.close().await.ok();
        TestDatabase {
            options: server.admin.clone().database(&name),
            name,
            admin: server.admin.clone(),
        }
    }

    /// A URL for this database (what `DATABASE_URL` would be).
    pub fn url(&self) -> String {
        self.options.to_url_lossy().to_string()
    }

    /// A pool for assertions and direct manipulation.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with(self.options.clone())
            .await
            .expect("connect to test database")
    }

    /// A connection with administrative rights on the server (not on this database).
    pub async fn admin_connection(&self) -> PgConnection {
        PgConnection::connect_with(&self.admin)
            .await
            .expect("connect admin")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs outside async context rules; use a private runtime on a plain thread.
        // Refuse new connections, end the app's open ones, then drop.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect_with(&admin).await.ok()?;
                let refuse = format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false");
                conn.execute(refuse.as_str()).await.ok()?;
                for _ in 0..50 {
                    let open: i64 = sqlx::query_scalar(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
                    )
                    .bind(&name)
                    .fetch_one(&mut conn)
                    .await
                    .ok()?;
                    if open == 0 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Settings for a test app: port 0, the test database, a fixed JWT secret, a private data dir.
pub fn test_settings(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let data_dir =
        std::env::temp_dir().join(format!("nocron-test-{}", uuid::Uuid::new_v4().simple()));
    let mut vars: HashMap<String, String> = [
        ("NOCRON_ENV", "test"),
        ("PORT", "0"),
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", TEST_JWT_SECRET),
        ("DATA_DIR", data_dir.to_str().unwrap_or("/tmp")),
        ("SHUTDOWN_GRACE_SECONDS", "10"),
        // Tests register many users from 127.0.0.1; the rate-limit tests lower these.
        ("AUTH_RATE_LIMIT_PER_MINUTE", "10000"),
        ("AUTH_RATE_LIMIT_BURST", "10000"),
        // `register`/`login_as` sign users in directly, also in tests that configure SMTP;
        // the verification tests turn it on.
        ("REGISTRATION_EMAIL_VERIFICATION", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid")
}

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// An HTTP client (no redirects followed, so tests see them).
    pub client: reqwest::Client,
    /// A pool on the app's database for assertions.
    pub db: PgPool,
    /// Cancelling it starts the app's graceful shutdown.
    pub shutdown: CancellationToken,
    /// The running server; resolves when it has stopped.
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The realtime gateway's input, to emit as domain code would.
    pub realtime: nocron::realtime::Gateway,
    /// The application's state (engine handles, event bus, settings).
    pub state: nocron::state::AppState,
    /// The database (dropped last).
    pub database: TestDatabase,
}

/// Starts the application with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the application with some settings overridden (`("CORS_ORIGINS", "...")`).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let database = TestDatabase::create().await;
    let settings = test_settings(&database.url(), overrides);
    let application = Application::build(settings)
        .await
        .expect("build the application");
    TestApp::start(application, database).await
}

impl TestApp {
    /// Runs a built application in the background.
    pub async fn start(application: Application, database: TestDatabase) -> TestApp {
        let port = application.port();
        let shutdown = application.shutdown_token();
        let state = application.state().clone();
        let realtime = state.realtime.clone();
        let server = tokio::spawn(application.run_until_stopped());
        TestApp {
            state,
            address: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            db: database.pool().await,
            shutdown,
            server: Some(server),
            realtime,
            database,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Starts a graceful shutdown and waits for the server to stop.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// Reads a response as a problem document, checking the content type.
pub async fn problem(response: reqwest::Response) -> serde_json::Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        content_type, "application/problem+json",
        "error responses are problem documents"
    );
    response.json().await.expect("problem JSON")
}

/// The `field` of each entry in a problem's `errors`, in order.
pub fn problem_fields(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The user id.
    pub id: uuid::Uuid,
    /// The email.
    pub email: String,
    /// The password.
    pub password: String,
    /// A valid access token.
    pub access_token: String,
    /// The session's current refresh token.
    pub refresh_token: String,
}

/// A unique email for a test.
pub fn unique_email(name: &str) -> String {
    format!(
        "{name}-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl TestApp {
    /// `POST /auth/register`; asserts 201 and returns (user, access token, refresh token).
    pub async fn register(
        &self,
        email: &str,
        password: &str,
    ) -> (serde_json::Value, String, String) {
        let response = self
            .post_json(
                "/auth/register",
                &serde_json::json!({ "email": email, "password": password, "name": "Test User" }),
            )
            .await;
        assert_eq!(response.status(), 201, "register {email}");
        let body: serde_json::Value = response.json().await.expect("json");
        let access = body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        let refresh = body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned();
        (body["user"].clone(), access, refresh)
    }

    /// `POST /auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/auth/login",
            &serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers a new user with `role` (set directly in the database for admins) and
    /// returns it signed in.
    pub async fn login_as(&self, role: &str) -> TestUser {
        let email = unique_email(&role.to_ascii_lowercase());
        let (user, access_token, refresh_token) = self.register(&email, PASSWORD).await;
        let id: uuid::Uuid = user["id"].as_str().expect("id").parse().expect("uuid");
        if role != "USER" {
            sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
                .bind(id)
                .bind(role)
                .execute(&self.db)
                .await
                .expect("set role");
        }
        TestUser {
            id,
            email,
            password: PASSWORD.to_owned(),
            access_token,
            refresh_token,
        }
    }

    fn with_token(&self, builder: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
        builder.bearer_auth(token)
    }

    /// `GET path` with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.with_token(self.client.get(self.url(path)), token)
            .send()
            .await
            .expect("request")
    }

    /// `GET path` with a bearer token, answering its JSON body.
    pub async fn get_json_as(&self, token: &str, path: &str) -> serde_json::Value {
        self.get_as(token, path)
            .await
            .json()
            .await
            .expect("a JSON body")
    }

    /// `POST path` with a bearer token and a JSON body, answering the JSON body.
    pub async fn post_json_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        self.post_as(token, path, body)
            .await
            .json()
            .await
            .expect("a JSON body")
    }

    /// `POST path` with a bearer token and a JSON body.
    pub async fn post_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.with_token(self.client.post(self.url(path)), token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `PATCH path` with a bearer token and a JSON body.
    pub async fn patch_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.with_token(self.client.patch(self.url(path)), token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `DELETE path` with a bearer token.
    pub async fn delete_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.with_token(self.client.delete(self.url(path)), token)
            .send()
            .await
            .expect("request")
    }

    /// An admin sets a user's account status (`active` or `disabled`); asserts the 200.
    pub async fn set_user_status(&self, admin_token: &str, user_id: uuid::Uuid, status: &str) {
        let response = self
            .patch_as(
                admin_token,
                &format!("/users/{user_id}"),
                &serde_json::json!({ "status": status }),
            )
            .await;
        assert_eq!(response.status(), 200, "set the account {status}");
    }

    /// `POST /tasks/{id}/execute` as the user, with an empty body.
    pub async fn execute_as(&self, token: &str, task_id: uuid::Uuid) -> reqwest::Response {
        self.post_as(
            token,
            &format!("/tasks/{task_id}/execute"),
            &serde_json::json!({}),
        )
        .await
    }

    /// `GET path` with an `X-API-Key` header.
    pub async fn get_with_key(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("x-api-key", key)
            .send()
            .await
            .expect("request")
    }

    /// `method path` with an `X-API-Key` header and a JSON body.
    pub async fn send_json_with_key(
        &self,
        method: reqwest::Method,
        key: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .header("x-api-key", key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `PUT path` with a bearer token and a JSON body.
    pub async fn put_as(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.with_token(self.client.put(self.url(path)), token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Creates an API key for the user; returns the creation response body.
    pub async fn create_api_key(&self, token: &str, scopes: &[&str]) -> serde_json::Value {
        let response = self
            .post_as(
                token,
                "/api-keys",
                &serde_json::json!({ "name": "test key", "scopes": scopes }),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.expect("json")
    }

    /// Starts a second instance of the application on the same database (for tests of
    /// cross-instance behaviour).
    pub async fn spawn_sibling(&self, overrides: &[(&str, &str)]) -> Sibling {
        let settings = test_settings(&self.database.url(), overrides);
        let application = Application::build(settings)
            .await
            .expect("build the sibling");
        let port = application.port();
        let shutdown = application.shutdown_token();
        let server = tokio::spawn(application.run_until_stopped());
        Sibling {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            shutdown,
            server: Some(server),
        }
    }
}

/// A second application instance on a test's database.
pub struct Sibling {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// Cancelling it stops the instance.
    pub shutdown: CancellationToken,
    /// The running server.
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for Sibling {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// `POST /auth/change-password` from the session of `token`; `extra` fields (such as
    /// `keep_api_keys`) are merged into the body.
    pub async fn change_password(
        &self,
        token: &str,
        current: &str,
        new_password: &str,
        extra: serde_json::Value,
    ) -> reqwest::Response {
        let mut body = serde_json::json!({
            "current_password": current,
            "new_password": new_password,
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.post_as(token, "/auth/change-password", &body).await
    }

    /// `POST /auth/login` as a client behind a trusted proxy that forwarded `client`.
    pub async fn login_forwarded_for(
        &self,
        client: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/auth/login"))
            .header("x-forwarded-for", client)
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login")
    }
}
