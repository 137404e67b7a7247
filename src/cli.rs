//! The command line: `nocron [serve]`, `nocron migrate`, `nocron openapi`,
//! `nocron create-admin --email … --password-stdin`, `nocron rotate-master-key`.

use clap::{Parser, Subcommand};

use crate::{app, auth, config::Settings, db, logging, secrets, users};

/// Nocron: scheduled, triggered and chained tasks with history, live logs and alerts.
#[derive(Debug, Parser)]
#[command(name = "nocron", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON) to stdout and exit.
    Openapi,
    /// Create a SUPER_ADMIN account (to bootstrap a new installation) and exit.
    CreateAdmin {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Read the password from the first line of standard input (required: passwords are
        /// never taken from arguments, which other users can see).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Re-encrypt every stored secret under `NOCRON_MASTER_KEY` (old keys from
    /// `NOCRON_OLD_MASTER_KEYS`); safe to run again.
    RotateMasterKey {
        /// Secrets re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u32,
    },
}

/// Parses arguments and runs the chosen command; returns the process exit code.
pub async fn run() -> i32 {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return match serde_json::to_string_pretty(&app::openapi()) {
            Ok(json) => {
                println!("{json}");
                0
            }
            Err(err) => {
                eprintln!("nocron: cannot serialize the OpenAPI document: {err}");
                1
            }
        };
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("nocron: {err}");
            return 2;
        }
    };
    logging::init(settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::CreateAdmin {
            email,
            name,
            password_stdin: _,
        } => create_admin(settings, email, name).await,
        Command::RotateMasterKey { batch_size } => rotate_master_key(settings, batch_size).await,
        Command::Openapi => unreachable!("handled above"),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "nocron stopped with an error");
            eprintln!("nocron: {err:#}");
            1
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = app::Application::build(settings).await?;
    let shutdown = application.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.cancel();
    });
    application.run_until_stopped().await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let (pool, cluster) = app::open_database(&settings).await?;
    db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    pool.close().await;
    drop(cluster);
    Ok(())
}

async fn create_admin(settings: Settings, email: String, name: String) -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    let email = email.trim().to_owned();
    if !validator::ValidateEmail::validate_email(&email) {
        anyhow::bail!("--email: {email:?} is not a valid email address");
    }
    auth::password::check_policy("password", &password, &email)
        .map_err(|e| anyhow::anyhow!("{}", e.detail()))?;
    let (pool, cluster) = app::open_database(&settings).await?;
    db::migrate(&pool).await?;
    let hash = auth::password::hash(password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let created = users::insert(&pool, &email, name.trim(), &hash, auth::Role::SuperAdmin).await;
    pool.close().await;
    drop(cluster);
    let user = created.map_err(|e| match e.code() {
        crate::error::ErrorCode::Conflict => {
            anyhow::anyhow!("an account with the email {email} already exists")
        }
        _ => anyhow::anyhow!("{e}"),
    })?;
    println!("created SUPER_ADMIN {} ({})", user.email, user.id);
    Ok(())
}

/// Re-encrypts every stored secret (and Notion token) under the current master key.
async fn rotate_master_key(settings: Settings, batch_size: u32) -> anyhow::Result<()> {
    let vault = secrets::build_vault(
        settings.master_key.as_ref(),
        &settings.old_master_keys,
        &settings.data_dir,
    )?;
    let (pool, cluster) = app::open_database(&settings).await?;
    db::migrate(&pool).await?;
    let result = secrets::rotation::rotate_all(&pool, &vault, batch_size).await;
    let webhooks =
        crate::triggers::secrets::rotate_webhook_secrets(&pool, &vault, batch_size).await;
    let endpoints =
        crate::notifications::secret_rotation::rotate_endpoint_secrets(&pool, &vault, batch_size)
            .await;
    let notion = crate::notion::connection::rotate_all(&pool, &vault).await;
    pool.close().await;
    drop(cluster);
    let mut report = result?;
    let webhooks = webhooks?;
    println!(
        "rotated {} webhook signing secrets to key {}",
        webhooks.rotated,
        vault.current_key_id()
    );
    report.failed.extend(webhooks.failed);
    let endpoints = endpoints?;
    println!(
        "rotated {} notification webhook signing secrets to key {}",
        endpoints.rotated,
        vault.current_key_id()
    );
    report.failed.extend(endpoints.failed);
    println!(
        "rotated {} secrets to key {} in {} batches",
        report.rotated,
        vault.current_key_id(),
        report.batches
    );
    let (notion_rotated, notion_failed) = notion?;
    println!("rotated {notion_rotated} Notion connection tokens");
    for user_id in &notion_failed {
        eprintln!("Notion connection of user {user_id}: no configured key opens its token");
    }
    if report.failed.is_empty() && notion_failed.is_empty() {
        return Ok(());
    }
    for (id, reason) in &report.failed {
        eprintln!("secret {id}: {reason}");
    }
    anyhow::bail!(
        "{} secrets and {} Notion tokens could not be decrypted with any configured key; add their key to NOCRON_OLD_MASTER_KEYS and run again",
        report.failed.len(),
        notion_failed.len()
    )
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
