//! The embedded default: with no DATABASE_URL, `nocron serve` starts its own PostgreSQL
//! under DATA_DIR, serves, stops it on SIGTERM, and reuses the data on the next start.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn start(data_dir: &Path, port: u16) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nocron"))
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", data_dir)
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn nocron");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a log line containing `needle`, returning every line seen.
fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let done = line.contains(needle);
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("never logged {needle:?}; saw {seen:#?}");
}

fn stop(child: &mut Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(status.success(), "nocron exited with {status}");
}

#[tokio::test]
async fn serve_without_database_url_runs_its_own_postgres() {
    nocron::install_crypto_provider();
    let data_dir =
        std::env::temp_dir().join(format!("nocron-embedded-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).expect("mkdir");
    // The cluster may run as another user, which must be able to reach the directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let port = free_port();
    let (mut child, rx) = start(&data_dir, port);
    let first = wait_for_line(&rx, "nocron listening");
    assert!(
        first
            .iter()
            .any(|l| l.contains("initialising local PostgreSQL"))
    );
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/health/ready"))
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    stop(&mut child);
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "the local PostgreSQL is stopped with nocron"
    );

    let port = free_port();
    let (mut child, rx) = start(&data_dir, port);
    let second = wait_for_line(&rx, "nocron listening");
    assert!(
        !second
            .iter()
            .any(|l| l.contains("initialising local PostgreSQL")),
        "the second start reuses the data directory"
    );
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/health/ready"))
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
    stop(&mut child);
    std::fs::remove_dir_all(&data_dir).ok();
}
