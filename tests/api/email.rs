//! Outbound email against a real SMTP server process on loopback (Python's aiosmtpd, see
//! `tests/support/smtp_sink.py`): plain SMTP with AUTH, STARTTLS and implicit TLS with a
//! private CA, and the failures a task must be able to tell apart.

use std::{path::PathBuf, process::Stdio, time::Duration};

use nocron::email::{self, EmailError, EmailSpec, Mailer};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::helpers::test_settings;

/// A running SMTP sink and the lines it prints.
pub struct SmtpSink {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    lines: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl SmtpSink {
    /// Starts the sink with `smtp_sink.py` options.
    pub async fn start(args: &[&str]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start python3 tests/support/smtp_sink.py (scripts/test installs aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let mut sink = SmtpSink {
            port: 0,
            lines: BufReader::new(stdout).lines(),
            _child: child,
        };
        let ready = sink
            .next_line()
            .await
            .expect("the SMTP sink did not start: is aiosmtpd installed? (pip install aiosmtpd)");
        sink.port = ready["ready"].as_u64().expect("ready line") as u16;
        sink
    }

    /// The next JSON line the sink printed.
    pub async fn next_line(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(Duration::from_secs(15), self.lines.next_line())
            .await
            .ok()?
            .ok()??;
        Some(serde_json::from_str(&line).expect("sink prints JSON lines"))
    }

    /// The next message the server accepted.
    pub async fn received(&mut self) -> Value {
        self.next_line()
            .await
            .expect("the SMTP server received no message")
    }
}

fn configured_mailer(vars: &[(&str, &str)]) -> Mailer {
    let settings = test_settings("postgres://unused@127.0.0.1/unused", vars);
    email::mailer_from_settings(&settings)
        .expect("mailer")
        .expect("SMTP is configured")
}

fn digest_spec() -> EmailSpec {
    serde_json::from_value(json!({
        "to": ["{{ input.owner.name }} <{{ input.owner.email }}>"],
        "cc": ["ops@example.com"],
        "bcc": ["audit@example.com"],
        "reply_to": "support@example.com",
        "subject": "[{{ results.check.status }}] {{ input.site }}",
        "text": "Site {{ input.site }} answered {{ results.check.http_status }} in {{ results.check.ms }} ms.",
        "html": "<h1>{{ input.site }}</h1><p>{{ input.note }}</p>"
    }))
    .expect("spec")
}

fn digest_vars() -> Value {
    json!({
        "input": {
            "site": "shop.example.com",
            "owner": {"name": "Ann Lee", "email": "ann@example.com"},
            "note": "<b>bold</b> & more"
        },
        "results": {"check": {"status": "DOWN", "http_status": 503, "ms": 1234}}
    })
}

#[tokio::test]
async fn a_rendered_email_reaches_a_real_smtp_server_with_authentication() {
    let mut sink = SmtpSink::start(&["--user", "mailer", "--password", "s3cret pass"]).await;
    let mailer = configured_mailer(&[
        (
            "SMTP_URL",
            &format!("smtp://mailer:s3cret%20pass@127.0.0.1:{}", sink.port),
        ),
        ("SMTP_FROM", "Nocron Alerts <alerts@nocron.example>"),
    ]);
    let rendered = digest_spec().render(&digest_vars()).expect("render");
    let message = rendered.to_message(mailer.from()).expect("message");
    let sent = mailer.send(message).await.expect("send");
    assert!(sent.response.starts_with("250"), "{}", sent.response);

    let received = sink.received().await;
    assert_eq!(received["auth_user"], "mailer");
    assert_eq!(received["tls"], false);
    assert_eq!(received["mail_from"], "alerts@nocron.example");
    let mut rcpt: Vec<&str> = received["rcpt_tos"]
        .as_array()
        .expect("rcpt")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    rcpt.sort();
    assert_eq!(
        rcpt,
        ["ann@example.com", "audit@example.com", "ops@example.com"]
    );

    let data = received["data"].as_str().expect("data");
    let (headers, body) = data.split_once("\r\n\r\n").expect("headers and body");
    let header = |name: &str| {
        headers
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} header in {headers}"))
            .to_owned()
    };
    assert_eq!(header("Subject"), "[DOWN] shop.example.com");
    assert_eq!(header("From"), "\"Nocron Alerts\" <alerts@nocron.example>");
    assert_eq!(header("To"), "\"Ann Lee\" <ann@example.com>");
    assert_eq!(header("Cc"), "ops@example.com");
    assert_eq!(header("Reply-To"), "support@example.com");
    assert!(
        !data.contains("audit@example.com"),
        "Bcc stays out of the message"
    );
    let message_id = sent.message_id.expect("message id");
    assert_eq!(header("Message-ID"), message_id);
    assert!(header("Content-Type").starts_with("multipart/alternative"));
    assert!(body.contains("Site shop.example.com answered 503 in 1234 ms."));
    assert!(
        body.contains("<h1>shop.example.com</h1><p>&lt;b&gt;bold&lt;&#x2f;b&gt; &amp; more</p>")
    );
}

#[tokio::test]
async fn wrong_credentials_are_a_permanent_rejection_and_nothing_is_delivered() {
    let mut sink = SmtpSink::start(&["--user", "mailer", "--password", "right"]).await;
    let mailer = configured_mailer(&[
        (
            "SMTP_URL",
            &format!("smtp://mailer:wrong@127.0.0.1:{}", sink.port),
        ),
        ("SMTP_FROM", "noreply@nocron.example"),
    ]);
    let message = digest_spec()
        .render(&digest_vars())
        .expect("render")
        .to_message(mailer.from())
        .expect("message");
    let err = mailer.send(message).await.expect_err("refused");
    match &err {
        EmailError::Rejected { permanent, message } => {
            assert!(*permanent, "{message}");
            assert!(message.contains("535"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(
        !err.to_string().contains("wrong"),
        "the password is not echoed: {err}"
    );

    // The next message the server takes is one sent with the right password: nothing was
    // delivered by the refused attempt.
    let good = configured_mailer(&[
        (
            "SMTP_URL",
            &format!("smtp://mailer:right@127.0.0.1:{}", sink.port),
        ),
        ("SMTP_FROM", "noreply@nocron.example"),
    ]);
    let mut spec = digest_spec();
    spec.subject = "second attempt".into();
    let message = spec
        .render(&digest_vars())
        .expect("render")
        .to_message(good.from())
        .expect("message");
    good.send(message)
        .await
        .expect("send with the right password");
    let received = sink.received().await;
    assert!(
        received["data"]
            .as_str()
            .expect("data")
            .contains("Subject: second attempt"),
        "the first delivered message is the second attempt"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_retryable_connection_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mailer = configured_mailer(&[
        ("SMTP_URL", &format!("smtp://127.0.0.1:{port}")),
        ("SMTP_FROM", "noreply@nocron.example"),
        ("SMTP_TIMEOUT_SECONDS", "5"),
    ]);
    let message = digest_spec()
        .render(&digest_vars())
        .expect("render")
        .to_message(mailer.from())
        .expect("message");
    let err = mailer.send(message).await.expect_err("nothing listens");
    assert!(matches!(err, EmailError::Connection(_)), "{err:?}");
    assert!(err.is_retryable());
}

/// A private CA and a server certificate signed by it, made with openssl.
pub(crate) struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    /// A server certificate for 127.0.0.1 and `mail.nocron.test` (a name no resolver knows).
    fn create() -> Self {
        Self::for_names("IP:127.0.0.1,DNS:mail.nocron.test")
    }

    /// A server certificate whose subjectAltName is `names` (`DNS:…,IP:…`).
    pub(crate) fn for_names(names: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("nocron-pki-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("pki dir");
        std::fs::write(
            dir.join("leaf.ext"),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
                 extendedKeyUsage=serverAuth\nsubjectAltName={names}\n"
            ),
        )
        .expect("ext");
        let openssl = |args: &[&str]| {
            let output = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("run openssl");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=Nocron Test CA",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "leaf.key",
                    "-out",
                    "leaf.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ]);
        TestPki { dir }
    }

    /// The path of one of its files (`ca.pem`, `leaf.pem`, `leaf.key`).
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

#[tokio::test]
async fn starttls_and_implicit_tls_deliver_when_the_ca_is_trusted() {
    let pki = TestPki::create();
    for (url_format, extra) in [
        ("smtp://127.0.0.1:{port}?tls=required", None),
        ("smtps://127.0.0.1:{port}", Some("--implicit-tls")),
    ] {
        let (cert, key) = (pki.path("leaf.pem"), pki.path("leaf.key"));
        let mut args = vec!["--cert", &cert, "--key", &key];
        args.extend(extra);
        let mut sink = SmtpSink::start(&args).await;
        let url = url_format.replace("{port}", &sink.port.to_string());

        let untrusting =
            configured_mailer(&[("SMTP_URL", &url), ("SMTP_FROM", "noreply@nocron.example")]);
        let message = digest_spec()
            .render(&digest_vars())
            .expect("render")
            .to_message(untrusting.from())
            .expect("message");
        let err = untrusting
            .send(message.clone())
            .await
            .expect_err("unknown CA");
        assert!(matches!(err, EmailError::Connection(_)), "{url}: {err:?}");

        let trusting = configured_mailer(&[
            ("SMTP_URL", &url),
            ("SMTP_FROM", "noreply@nocron.example"),
            ("SMTP_CA_FILE", &pki.path("ca.pem")),
        ]);
        trusting.send(message).await.expect("send over TLS");
        let received = sink.received().await;
        assert_eq!(received["tls"], true, "{url}");
        assert_eq!(received["mail_from"], "noreply@nocron.example");
    }
}

#[tokio::test]
async fn smtp_rebinding_is_closed_tls_connects_to_the_checked_address_and_verifies_the_name() {
    let pki = TestPki::create();
    for (scheme, extra) in [
        ("smtp://{host}:{port}?tls=required", None),
        ("smtps://{host}:{port}", Some("--implicit-tls")),
    ] {
        let (cert, key) = (pki.path("leaf.pem"), pki.path("leaf.key"));
        let mut args = vec!["--cert", &cert, "--key", &key];
        args.extend(extra);
        let mut sink = SmtpSink::start(&args).await;
        let port = sink.port.to_string();
        let mailer_for = |host: &str| {
            let url = scheme.replace("{host}", host).replace("{port}", &port);
            Mailer::new(&email::MailerConfig {
                url: email::SmtpUrl::parse(&url).expect("url"),
                from: "noreply@nocron.example".parse().expect("from"),
                timeout: Duration::from_secs(10),
                ca_file: Some(pki.path("ca.pem").into()),
                // The address the outbound policy checked: the name is never looked up again
                // (`mail.nocron.test` does not even resolve).
                connect_to: Some(std::net::Ipv4Addr::LOCALHOST.into()),
            })
            .expect("mailer")
        };
        let mailer = mailer_for("mail.nocron.test");
        let message = digest_spec()
            .render(&digest_vars())
            .expect("render")
            .to_message(mailer.from())
            .expect("message");
        mailer
            .send(message.clone())
            .await
            .expect("delivered to the checked address");
        let received = sink.received().await;
        assert_eq!(received["tls"], true, "{scheme}");
        // The certificate is still checked against the name in the URL.
        let err = mailer_for("other.nocron.test")
            .send(message)
            .await
            .expect_err("the certificate does not name other.nocron.test");
        assert!(
            matches!(err, EmailError::Connection(_)),
            "{scheme}: {err:?}"
        );
    }
}
