//! The tasks API, mounted at `/tasks` for signed-in users and at `/api/v1/tasks` for users
//! and API keys (see [`crate::auth::Caller`]): definitions ([`crud`]), running and status
//! ([`runs`]), what happened and will happen ([`history`]), and tasks made from templates
//! ([`from_template`]), and import and export ([`io`]). Another owner's task is a 404.

mod action_schema;
pub mod body;
pub mod bulk;
mod crud;
mod from_template;
mod history;
pub mod io;
mod runs;
pub mod secret_scope;
mod version;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use crud::set_location;

use crate::state::AppState;

/// Routes of this module, relative to `/tasks`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::list_tasks, crud::create_task))
        .routes(routes!(
            crud::get_task,
            crud::replace_task,
            crud::patch_task,
            crud::delete_task
        ))
        .routes(routes!(bulk::bulk_tasks))
        .routes(routes!(io::export::export_tasks))
        .routes(routes!(io::import::import_tasks))
        .routes(routes!(runs::execute_task))
        .routes(routes!(runs::pause_task))
        .routes(routes!(runs::resume_task))
        .routes(routes!(runs::stop_task))
        .routes(routes!(runs::duplicate_task))
        .routes(routes!(history::task_logs))
        .routes(routes!(history::next_runs))
        .routes(routes!(from_template::create_from_template))
}
