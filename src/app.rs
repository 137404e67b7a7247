//! Router assembly, start-up and shutdown: the only place that knows every module.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use anyhow::Context;
use axum::{Router, extract::FromRef};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    admin, analytics, api_keys,
    audit::{self, AuditPipeline, AuditSink},
    auth::{self, AuthContext},
    billing,
    config::{self, Settings},
    cron, dashboard,
    db::{self, embedded::LocalCluster},
    events::EventBus,
    executions, health, http,
    net::{self, OutboundPolicy},
    notifications, notion,
    openapi::{self, ApiDoc},
    realtime::{self, RealtimeHooks},
    scheduler::{self, engine::Engine},
    secrets, security,
    state::AppState,
    system_jobs, tasks, triggers, users,
};

/// Every documented route, with the base OpenAPI document.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(cron::explain::router())
        .merge(auth::handlers::router())
        .merge(auth::verification::router())
        .merge(auth::sessions::router())
        .merge(auth::api_v1::router())
        .merge(users::router())
        .merge(admin::router())
        .merge(audit::routes::router())
        .merge(audit::export::router())
        .merge(security::router())
        .merge(api_keys::router())
        .merge(billing::routes::router())
        .merge(billing::history::router())
        .merge(billing::webhook::router())
        .merge(billing::admin::router())
        .merge(notifications::tracking::router())
        .merge(billing::checkout::router())
        .merge(billing::changes::router())
        .merge(notion::routes::router())
        .merge(notion::webhook_endpoint::router())
        .merge(notion::webhook_receive::router())
        .merge(tasks::templates::routes::router())
        .nest("/tasks", tasks::api::router())
        .nest("/api/v1/tasks", openapi::for_api_v1(tasks::api::router()))
        .nest("/executions", executions::router())
        .nest(
            "/api/v1/executions",
            openapi::for_api_v1(executions::router()),
        )
        .nest("/notifications", notifications_router())
        .nest(
            "/api/v1/notifications",
            openapi::for_api_v1(notifications_router()),
        )
        .nest(
            "/api/v1/tasks",
            openapi::for_api_v1(notifications::rules_api::router()),
        )
        .nest("/analytics", analytics_router())
        .nest("/api/v1/analytics", openapi::for_api_v1(analytics_router()))
        .nest(
            "/dashboard",
            OpenApiRouter::new()
                .merge(dashboard::overview::router())
                .merge(dashboard::metrics::router())
                .merge(dashboard::recent::router()),
        )
        .merge(secrets::routes::router())
        .nest(
            "/tasks",
            OpenApiRouter::new()
                .merge(notifications::rules_api::router())
                .merge(triggers::webhooks::router())
                .merge(triggers::chains::router())
                .merge(triggers::notion::router())
                .merge(triggers::email::router()),
        )
        .nest(
            "/hooks",
            OpenApiRouter::new()
                .merge(triggers::inbound::router())
                .merge(triggers::email::inbound_router()),
        )
}

/// `/notifications`: the inbox, the account's webhook endpoints and test messages.
fn notifications_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(notifications::routes::router())
        .merge(notifications::preferences_api::router())
        .merge(notifications::webhooks::router())
        .merge(notifications::test_send::router())
        .merge(notifications::resend::router())
}

/// `/analytics` (also nested under `/api/v1`).
fn analytics_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(analytics::summary::router())
        .merge(analytics::series::router())
}

/// The routes, and the OpenAPI document of the whole API as the server really answers.
fn api_parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut spec) = api_router().split_for_parts();
    openapi::contract::finish(&mut spec);
    (api, spec)
}

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_parts().1
}

/// The complete router with middleware, Swagger UI at `/api/docs` and the spec at `/api-json`.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    http::apply_middleware(routes(state), &settings)
}

/// Every route, without middleware.
fn routes(state: AppState) -> Router {
    let (api, spec) = api_parts();
    api.merge(SwaggerUi::new("/api/docs").url("/api-json", spec))
        .fallback(http::problems::not_found)
        .with_state(state)
}

/// [`router`] with the Socket.IO gateway mounted between the request layers and the outer
/// ones (see `http::apply_request_layers`).
/// The audit layer, when given, wraps the request layers (inside Socket.IO, which it never
/// sees).
async fn router_with_realtime(
    state: &AppState,
    hooks: RealtimeHooks,
    queue: tokio::sync::mpsc::Receiver<realtime::Emit>,
    audit: Option<AuditSink>,
) -> anyhow::Result<Router> {
    let settings = state.settings.clone();
    let mut inner = http::apply_request_layers(routes(state.clone()), &settings);
    if let Some(sink) = audit {
        inner = inner.layer(axum::middleware::from_fn_with_state(
            sink,
            audit::layer::middleware,
        ));
    }
    let with_gateway = realtime::mount(
        inner,
        &realtime::RealtimeState::from_ref(state),
        hooks,
        queue,
    )
    .await?;
    Ok(http::apply_outer_layers(with_gateway, &settings))
}

/// A database pool, and the local cluster behind it when `DATABASE_URL` is unset.
pub async fn open_database(settings: &Settings) -> anyhow::Result<(PgPool, Option<LocalCluster>)> {
    match &settings.database_url {
        Some(url) => Ok((
            db::connect(url, settings.database_max_connections).await?,
            None,
        )),
        None => {
            let data_dir = settings.data_dir.clone();
            let cluster = tokio::task::spawn_blocking(move || LocalCluster::start(&data_dir))
                .await
                .context("starting the local PostgreSQL panicked")??;
            cluster.ensure_database().await?;
            let pool =
                db::connect(&cluster.database_url(), settings.database_max_connections).await?;
            Ok((pool, Some(cluster)))
        }
    }
}

/// A built application, bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    /// The separate `/metrics` listener (`METRICS_ADDR`).
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    cluster: Option<LocalCluster>,
    /// The audit writer, told when the server has stopped so it flushes and ends.
    audit: AuditPipeline,
}

impl Application {
    /// Opens the database (starting the local cluster if needed), applies migrations, binds
    /// the listener, and mounts the Socket.IO gateway with the application's hooks.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_realtime(settings, RealtimeHooks::for_application()).await
    }

    /// [`Application::build`] with other realtime hooks (how handshakes are authenticated,
    /// task owners found and dashboard metrics computed).
    pub async fn build_with_realtime(
        settings: Settings,
        hooks: RealtimeHooks,
    ) -> anyhow::Result<Self> {
        let jwt_secret = config::resolve_jwt_secret(&settings)?;
        let vault = secrets::build_vault(
            settings.master_key.as_ref(),
            &settings.old_master_keys,
            &settings.data_dir,
        )?;
        let (db, cluster) = open_database(&settings).await?;
        db::migrate(&db).await?;
        let listener = TcpListener::bind((settings.host, settings.port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}:{} (HOST/PORT)",
                    settings.host, settings.port
                )
            })?;
        let metrics_listener = match settings.exposure.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (METRICS_ADDR)"))?,
            ),
            None => None,
        };
        let (gateway, queue) = realtime::Gateway::channel(settings.realtime_queue_capacity);
        let outbound = Arc::new(OutboundPolicy::from_settings(&settings));
        let outbound_http =
            net::try_outbound_client(outbound.clone(), &format!("nocron/{}", health::VERSION))
                .context("cannot build the outbound HTTP client")?;
        let action_http = scheduler::engine::action_client(&outbound, &outbound_http);
        let auth = Arc::new(AuthContext::new(&settings, &jwt_secret)?);
        let trigger_runtime = Arc::new(triggers::TriggerRuntime::new(&settings.triggers));
        let vault = Arc::new(vault);
        // Built once: the SMTP transport and the Notion access every engine handle shares.
        let action_services = Arc::new(crate::actions::ActionServices::from_settings(
            &settings,
            vault.clone(),
            &db,
        ));
        let notion = Arc::new(notion::NotionAccess::with_connections(
            settings.notion.api_url.clone(),
            db.clone(),
            vault.clone(),
        ));
        let stripe = billing::StripeApi::from_settings(&settings.billing)?;
        let state = AppState {
            db,
            settings: Arc::new(settings),
            auth,
            instance_id: instance_id().into(),
            metrics: health::metrics::install(),
            started_at: Instant::now(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            realtime: gateway,
            events: EventBus::default(),
            outbound,
            outbound_http,
            action_http,
            vault,
            action_services,
            notion,
            triggers: trigger_runtime,
            stripe,
            health_probes: Arc::default(),
        };
        start_background_work(&state).await?;
        let security_feed = security::feed::start(
            security::SecurityState::from_ref(&state),
            &state.tasks,
            state.shutdown.clone(),
        );
        let audit = AuditPipeline::start(
            &state.db,
            &state.settings.audit,
            &state.shutdown,
            &state.tasks,
            Some(security_feed),
        );
        let (hooks, audit_sink) = if state.settings.audit.enabled {
            let sink = audit.sink.clone();
            let for_refusals = sink.clone();
            let hooks = hooks.with_on_refused(move |refused| {
                let sink = for_refusals.clone();
                async move { sink.record(audit::refused_handshake_event(refused)).await }
            });
            (hooks, Some(sink))
        } else {
            (hooks, None)
        };
        let router = router_with_realtime(&state, hooks, queue, audit_sink).await?;
        scheduler::start(
            Engine::from_ref(&state),
            &state.settings,
            &state.tasks,
            &state.shutdown,
        );
        Ok(Application {
            listener,
            metrics_listener,
            router,
            state,
            cluster,
            audit,
        })
    }

    /// The port actually bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of the separate metrics listener, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// The shared state (pool, settings) for callers that need it.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Cancelling this token starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops accepting, lets in-flight
    /// requests finish within `SHUTDOWN_GRACE_SECONDS`, waits for background work, closes
    /// the pool and stops the local cluster.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            listener,
            metrics_listener,
            router,
            state,
            cluster,
            audit,
        } = self;
        let grace = state.settings.shutdown_grace;
        let shutdown = state.shutdown.clone();
        if let Some(metrics_listener) = metrics_listener {
            tracing::info!(address = %metrics_listener.local_addr()?, "metrics listening");
            let serve = axum::serve(
                metrics_listener,
                health::metrics_router(health::HealthState::from_ref(&state)),
            )
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
            // Waited for with the other background work at shutdown.
            state.tasks.spawn(async move {
                if let Err(err) = serve.await {
                    tracing::error!(error = %err, "the metrics listener failed");
                }
            });
        }
        tracing::info!(address = %listener.local_addr()?, instance = %state.instance_id, "nocron listening");
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let mut server = tokio::spawn(serve.into_future());
        tokio::select! {
            result = &mut server => result.context("server task failed")?.context("server failed")?,
            _ = shutdown.cancelled() => {
                tracing::info!(grace_seconds = grace.as_secs(), "shutting down: finishing in-flight requests");
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(result) => result.context("server task failed")?.context("server failed")?,
                    Err(_) => {
                        tracing::warn!("in-flight requests did not finish within the grace period; closing them");
                        server.abort();
                    }
                }
            }
        }
        // No request is left to record: the audit writer writes what is queued and ends.
        audit.server_stopped();
        shutdown.cancel();
        state.tasks.close();
        if tokio::time::timeout(grace, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background work did not stop within the grace period");
        }
        state.db.close().await;
        if let Some(mut cluster) = cluster {
            tokio::task::spawn_blocking(move || cluster.stop())
                .await
                .context("stopping the local PostgreSQL panicked")??;
        }
        tracing::info!("nocron stopped");
        Ok(())
    }
}

/// Starts what runs beside the server: the API-key and access-cache invalidation listeners, the system cron
/// jobs, rate-limiter housekeeping, and the dummy password hash (computed off the request
/// path). All of it stops when `state.shutdown` is cancelled.
async fn start_background_work(state: &AppState) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(auth::password::warm_up)
        .await
        .context("preparing password hashing panicked")?;
    api_keys::verify::start_listener(&auth::AuthState::from_ref(state), state.shutdown.clone())
        .await
        .context("listening for API key changes")?;
    auth::access_listener::start_listener(
        &auth::AuthState::from_ref(state),
        state.shutdown.clone(),
    )
    .await
    .context("listening for session and user changes")?;
    let jobs_context = system_jobs::JobContext {
        db: state.db.clone(),
        settings: state.settings.clone(),
        engine: scheduler::engine::Engine::from_ref(state),
        shutdown: state.shutdown.clone(),
        tasks: state.tasks.clone(),
    };
    let mut jobs = system_jobs::auth_jobs(&jobs_context);
    jobs.extend(scheduler::maintenance::system_jobs(&jobs_context));
    jobs.extend(notifications::system_jobs());
    jobs.extend(audit::system_jobs());
    jobs.extend(billing::notices::system_jobs());
    jobs.extend(security::system_jobs());
    jobs.extend(admin::purge::system_jobs());
    system_jobs::start(&jobs_context, jobs).await?;
    triggers::start(&triggers::InboundState::from_ref(state))
        .await
        .context("starting inbound triggers")?;
    notifications::start(
        notifications::Notifier::from_ref(state),
        &state.settings,
        &state.tasks,
        &state.shutdown,
    );
    admin::instances::start(
        state.db.clone(),
        state.instance_id.to_string(),
        admin::instances::roles(&state.settings),
        &state.tasks,
        state.shutdown.clone(),
    )
    .await
    .context("recording this instance")?;
    let auth = state.auth.clone();
    auth::rate_limit::spawn_housekeeping(&state.tasks, state.shutdown.clone(), move || {
        auth.forget_idle_keys()
    });
    Ok(())
}

/// `hostname-pid-random`: unique per process, readable in logs.
fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".to_owned());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    format!("{host}-{}-{suffix}", std::process::id())
}
