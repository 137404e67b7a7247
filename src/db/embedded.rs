//! The embedded local PostgreSQL cluster: with no `DATABASE_URL`, Nocron initialises (first
//! run) and starts a private cluster from the PostgreSQL binaries installed on the machine,
//! and stops it on shutdown. The data directory is reused by later starts.
//!
//! We drive `initdb` and `pg_ctl` directly rather than through `postgresql_embedded`: initdb
//! refuses to run as root, and that crate cannot run the server as another user. Here, when
//! the process is root, the cluster runs as the unprivileged `postgres` system user, which
//! owns the data directory. The cluster listens on 127.0.0.1 only, on a free port, with
//! password (SCRAM) authentication; the generated password is kept beside the data directory
//! with mode 0600.

use std::{
    fs,
    io::Write,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Command, Output},
};

use anyhow::{Context, bail};
use rand::{Rng, distr::Alphanumeric};

/// The database Nocron uses inside the local cluster.
pub const DATABASE_NAME: &str = "nocron";
/// The cluster's superuser.
pub const SUPERUSER: &str = "nocron";
/// The system user the cluster runs as when Nocron runs as root.
const UNPRIVILEGED_USER: &str = "postgres";

/// A running local cluster. Dropping it stops the server.
#[derive(Debug)]
pub struct LocalCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    port: u16,
    password: String,
    stopped: bool,
}

impl LocalCluster {
    /// Initialises `root/postgres` if needed and starts it; if a server from an earlier run
    /// is still up on that directory, it is reused.
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        Self::start_with(root, &[])
    }

    /// Like [`LocalCluster::start`], with extra server settings (`-c name=value`) applied
    /// when this call starts the server; a server already running keeps its own.
    pub fn start_with(root: &Path, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let root = fs::canonicalize(root)?;
        // Serialise concurrent starts on the same directory (e.g. parallel test processes).
        let lock = fs::File::create(root.join("cluster.lock"))?;
        lock.lock()
            .context("cannot lock the local PostgreSQL directory")?;
        let data_dir = root.join("postgres");
        let run_as = if is_root() {
            Some(lookup_user(UNPRIVILEGED_USER)?)
        } else {
            None
        };
        let password = read_or_create_password(&root.join("postgres.password"))?;
        let mut cluster = LocalCluster {
            bin_dir,
            data_dir,
            run_as,
            port: 0,
            password,
            stopped: false,
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.init(&root)?;
        }
        match cluster.running_port() {
            Some(port) => {
                tracing::info!(port, data_dir = %cluster.data_dir.display(), "reusing running local PostgreSQL");
                cluster.port = port;
            }
            None => cluster.launch(settings)?,
        }
        Ok(cluster)
    }

    /// A URL for `database` on this cluster, as the superuser.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// The URL of Nocron's database (created by [`LocalCluster::ensure_database`]).
    pub fn database_url(&self) -> String {
        self.url_for(DATABASE_NAME)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates Nocron's database if it does not exist yet.
    pub async fn ensure_database(&self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url_for("postgres"))
            .await
            .context("cannot connect to the local PostgreSQL cluster")?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE_NAME)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DATABASE_NAME}"))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Ok(())
    }

    /// Stops the server (fast shutdown: open sessions are ended).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let output = self.pg_ctl(&["stop", "-m", "fast", "-w"])?;
        if !output.status.success() && self.running_port().is_some() {
            bail!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        tracing::info!(data_dir = %self.data_dir.display(), "local PostgreSQL stopped");
        Ok(())
    }

    fn init(&self, root: &Path) -> anyhow::Result<()> {
        tracing::info!(data_dir = %self.data_dir.display(), "initialising local PostgreSQL cluster");
        fs::create_dir_all(&self.data_dir)?;
        fs::set_permissions(&self.data_dir, fs::Permissions::from_mode(0o700))?;
        let pwfile = root.join("postgres.pwfile");
        fs::write(&pwfile, &self.password)?;
        fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o600))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&self.data_dir, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
            ensure_traversable(root, uid)?;
        }
        let result = self.command("initdb").and_then(|mut cmd| {
            cmd.arg("-D")
                .arg(&self.data_dir)
                .args([
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ])
                .arg(format!("--pwfile={}", pwfile.display()));
            run(cmd)
        });
        let _ = fs::remove_file(&pwfile);
        let output = result?;
        if !output.status.success() {
            let _ = fs::remove_dir_all(&self.data_dir);
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn launch(&mut self, settings: &[(&str, &str)]) -> anyhow::Result<()> {
        // A stale pid file from a killed server would make pg_ctl refuse to start.
        let pid_file = self.data_dir.join("postmaster.pid");
        if pid_file.exists() {
            let _ = fs::remove_file(&pid_file);
        }
        let port = free_port()?;
        let log = self.data_dir.join("server.log");
        let mut options =
            format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
        for (name, value) in settings {
            options.push_str(&format!(" -c {name}={value}"));
        }
        let output = self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "-l",
            &log.to_string_lossy(),
        ])?;
        if !output.status.success() {
            let tail = fs::read_to_string(&log)
                .map(|s| s.lines().rev().take(5).collect::<Vec<_>>().join(" | "))
                .unwrap_or_default();
            bail!(
                "local PostgreSQL did not start: {} {}",
                String::from_utf8_lossy(&output.stderr).trim(),
                tail
            );
        }
        self.port = port;
        tracing::info!(port, data_dir = %self.data_dir.display(), "local PostgreSQL started");
        Ok(())
    }

    /// The port of a server already running on this data directory, if any.
    fn running_port(&self) -> Option<u16> {
        let status = self.pg_ctl(&["status"]).ok()?;
        if !status.status.success() {
            return None;
        }
        let pid_file = fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        let mut cmd = self.command("pg_ctl")?;
        cmd.arg("-D").arg(&self.data_dir).args(args);
        run(cmd)
    }

    fn command(&self, program: &str) -> anyhow::Result<Command> {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.env("LC_ALL", "C").env_remove("PGDATA");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid).current_dir("/");
        }
        Ok(cmd)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(error = %err, "stopping local PostgreSQL failed");
        }
    }
}

fn run(mut cmd: Command) -> anyhow::Result<Output> {
    cmd.output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))
}

/// Finds a directory holding `initdb`, `pg_ctl` and `postgres`: `PG_BIN_DIR`, then the
/// newest `/usr/lib/postgresql/*/bin`, then `PATH`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        let dir = PathBuf::from(dir);
        if has_all(&dir) {
            return Ok(dir);
        }
        bail!(
            "PG_BIN_DIR={} does not contain initdb, pg_ctl and postgres",
            dir.display()
        );
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_all(&bin).then_some((version, bin))
        })
        .collect();
    versioned.sort();
    if let Some((_, dir)) = versioned.pop() {
        return Ok(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_all(&dir) {
                return Ok(dir);
            }
        }
    }
    bail!(
        "no PostgreSQL server binaries found (initdb, pg_ctl, postgres). Install them with \
         `sudo apt-get install -y postgresql` (Debian/Ubuntu), set PG_BIN_DIR to their directory, \
         or set DATABASE_URL to an existing PostgreSQL"
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn lookup_user(name: &str) -> anyhow::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .with_context(|| {
            format!(
                "running as root, the local PostgreSQL must run as the unprivileged `{name}` user, \
                 which does not exist: install the postgresql package (it creates it) or run as a normal user"
            )
        })
}

/// Every ancestor of `dir` must be searchable by the cluster's user.
fn ensure_traversable(dir: &Path, uid: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for ancestor in dir.ancestors() {
        let meta = fs::metadata(ancestor)?;
        let searchable =
            meta.mode() & 0o001 != 0 || (meta.uid() == uid && meta.mode() & 0o100 != 0);
        if !searchable {
            bail!(
                "{} is not searchable by the `{UNPRIVILEGED_USER}` user that runs the local PostgreSQL; \
                 choose another DATA_DIR or `chmod o+x` it",
                ancestor.display()
            );
        }
    }
    Ok(())
}

fn read_or_create_password(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = fs::read_to_string(path) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            return Ok(existing);
        }
    }
    let password: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(password.as_bytes())?;
    Ok(password)
}

use std::os::unix::fs::OpenOptionsExt;

fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free local port")?;
    Ok(listener.local_addr()?.port())
}
