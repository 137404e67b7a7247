//! DATABASE_QUERY with `sslmode=verify-full` against a fake TLS-speaking PostgreSQL: the
//! TLS connection goes to the address the outbound policy checked and its certificate is
//! verified against the host name, so a name that re-resolves elsewhere is never connected
//! to, and a server without a certificate for the name is refused before any query.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    str::FromStr,
    sync::{Arc, mpsc},
    time::Duration,
};

use nocron::{
    actions::database_tls::{self, TlsCheckError, TlsFiles},
    tasks::model::ActionType,
};
use rustls::{
    ServerConfig, ServerConnection,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use serde_json::json;
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

use crate::{
    action_support::run_action,
    email::TestPki,
    engine_support::{MANUAL_ENGINE, spawn_engine_app},
    helpers::TestApp,
};

/// A manual-engine app whose operator trusts the test CA for DATABASE_QUERY connections
/// (tasks themselves cannot name a CA file).
async fn spawn_app_trusting(pki: &TestPki) -> TestApp {
    let ca = pki.path("ca.pem");
    let mut settings = MANUAL_ENGINE.to_vec();
    settings.push(("DATABASE_QUERY_CA_FILE", ca.as_str()));
    spawn_engine_app(&settings).await
}

/// What the fake server saw on one connection.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    /// The name the client asked for (SNI); none when it connected by address.
    sni: Option<String>,
    /// Whether the TLS handshake completed.
    handshake: bool,
    /// Whether a PostgreSQL startup message arrived over TLS.
    startup: bool,
    /// Our own closing connection (not a client).
    sentinel: bool,
}

/// A loopback server that answers `SSLRequest` with `S`, completes TLS with a certificate of
/// a [`TestPki`], and answers the startup message with a FATAL error (SQLSTATE 28000).
struct FakeTlsPostgres {
    port: u16,
    seen: mpsc::Receiver<Seen>,
}

impl FakeTlsPostgres {
    fn start(pki: &TestPki) -> Self {
        let leaf = std::fs::read(pki.path("leaf.pem")).expect("leaf");
        let certs = CertificateDer::pem_slice_iter(&leaf)
            .collect::<Result<Vec<_>, _>>()
            .expect("leaf certificate");
        let key = PrivateKeyDer::from_pem_slice(&std::fs::read(pki.path("leaf.key")).expect("key"))
            .expect("leaf key");
        let config = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("server config"),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (sender, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(mut tcp) = tcp else { break };
                tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
                if sender.send(serve(&config, &mut tcp)).is_err() {
                    break;
                }
            }
        });
        FakeTlsPostgres { port, seen }
    }

    /// Every connection served so far: a sentinel connection of ours is queued after them
    /// and the connections are served in order, so none is missed.
    fn connections(&self) -> Vec<Seen> {
        let mut sentinel = TcpStream::connect(("127.0.0.1", self.port)).expect("sentinel");
        sentinel.write_all(&[0; 8]).expect("sentinel");
        let mut all = Vec::new();
        loop {
            let seen = self
                .seen
                .recv_timeout(Duration::from_secs(10))
                .expect("the fake server reports");
            if seen.sentinel {
                return all;
            }
            all.push(seen);
        }
    }
}

fn serve(config: &Arc<ServerConfig>, tcp: &mut TcpStream) -> Seen {
    let mut seen = Seen::default();
    let mut request = [0u8; 8];
    if tcp.read_exact(&mut request).is_err() || request != [0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f] {
        seen.sentinel = true;
        return seen;
    }
    if tcp.write_all(b"S").is_err() {
        return seen;
    }
    let mut tls = ServerConnection::new(config.clone()).expect("server connection");
    while tls.is_handshaking() {
        if tls.complete_io(tcp).is_err() {
            break;
        }
    }
    seen.sni = tls.server_name().map(str::to_owned);
    seen.handshake = !tls.is_handshaking();
    if seen.handshake {
        let mut stream = rustls::Stream::new(&mut tls, tcp);
        let mut startup = [0u8; 1024];
        if matches!(stream.read(&mut startup), Ok(n) if n > 0) {
            seen.startup = true;
            let _ = stream.write_all(&error_response("28000", "fake PostgreSQL: no logins here"));
            let _ = stream.flush();
        }
        tls.send_close_notify();
        let _ = tls.complete_io(tcp);
    }
    seen
}

/// A PostgreSQL `ErrorResponse`.
fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&i32::try_from(fields.len() + 4).expect("len").to_be_bytes());
    out.extend(fields);
    out
}

fn seen(sni: &str, handshake: bool, startup: bool) -> Seen {
    Seen {
        sni: Some(sni.to_owned()),
        handshake,
        startup,
        sentinel: false,
    }
}

#[tokio::test]
async fn postgres_verify_full_rebinding_is_closed_tls_goes_to_the_checked_address_and_verifies_the_name()
 {
    let pki = TestPki::for_names("DNS:db.nocron.test");
    let server = FakeTlsPostgres::start(&pki);
    let checked = SocketAddr::from(([127, 0, 0, 1], server.port));
    let files = TlsFiles {
        root: Some(std::fs::read(pki.path("ca.pem")).expect("ca")),
        ..TlsFiles::default()
    };
    let timeout = Duration::from_secs(10);
    // `db.nocron.test` does not resolve: the connection goes to the checked address only,
    // and the certificate is verified against the name.
    let tls = database_tls::connect_verified(checked, "db.nocron.test", &files, timeout)
        .await
        .expect("the address holds a certificate for the name");
    let url = format!(
        "postgres://nocron@db.nocron.test:{}/app?sslmode=verify-full",
        server.port
    );
    let options = database_tls::relay(
        tls,
        PgConnectOptions::from_str(&url).expect("options"),
        timeout,
    )
    .await
    .expect("relay");
    let Err(err) = PgConnection::connect_with(&options).await else {
        panic!("the fake server refuses the login");
    };
    let sqlx::Error::Database(db) = &err else {
        panic!("the startup should reach the server over the verified TLS: {err:?}");
    };
    assert_eq!(db.code().as_deref(), Some("28000"));
    assert_eq!(db.message(), "fake PostgreSQL: no logins here");

    let Err(refused) =
        database_tls::connect_verified(checked, "other.nocron.test", &files, timeout).await
    else {
        panic!("the certificate does not name other.nocron.test");
    };
    assert!(
        matches!(&refused, TlsCheckError::Refused(message) if message.starts_with(&format!(
            "sslmode=verify-full: the server at {checked} has no certificate valid for other.nocron.test: "
        ))),
        "{refused:?}"
    );
    assert_eq!(
        server.connections(),
        vec![
            seen("db.nocron.test", true, true),
            seen("other.nocron.test", false, false)
        ]
    );
}

#[tokio::test]
async fn postgres_verify_full_to_a_server_without_a_certificate_for_the_name_is_refused_before_any_query()
 {
    // The certificate names 127.0.0.1 and db.nocron.test, not localhost.
    let pki = TestPki::for_names("IP:127.0.0.1,DNS:db.nocron.test");
    let server = FakeTlsPostgres::start(&pki);
    let app = spawn_app_trusting(&pki).await;
    let user = app.login_as("USER").await;
    let port = server.port;
    let run = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        json!({"connection": format!(
            "postgres://nocron@localhost:{port}/app?sslmode=verify-full"
        ), "sql": "SELECT 1"}),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "DEAD", "{:?}", run.error);
    let error = run.error.expect("error");
    assert!(
        error.starts_with(&format!(
            "connection: sslmode=verify-full: the server at 127.0.0.1:{port} has no certificate valid for localhost: "
        )),
        "{error}"
    );
    assert_eq!(server.connections(), vec![seen("localhost", false, false)]);
}

#[tokio::test]
async fn postgres_verify_full_through_the_policy_reaches_the_server_with_the_name_verified() {
    let pki = TestPki::for_names("DNS:localhost");
    let server = FakeTlsPostgres::start(&pki);
    let app = spawn_app_trusting(&pki).await;
    let user = app.login_as("USER").await;
    let port = server.port;
    let run = run_action(
        &app,
        &user,
        ActionType::DatabaseQuery,
        json!({"connection": format!(
            "postgres://nocron@localhost:{port}/app?sslmode=verify-full"
        ), "sql": "SELECT 1"}),
        json!({}),
    )
    .await;
    assert_eq!(run.status, "DEAD", "{:?}", run.error);
    let error = run.error.expect("error");
    assert!(
        error.contains("fake PostgreSQL: no logins here (SQLSTATE 28000)"),
        "{error}"
    );
    // One connection: the verified one, which carried sqlx's startup message.
    assert_eq!(server.connections(), vec![seen("localhost", true, true)]);
}
