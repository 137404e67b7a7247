//! Room names and who may join them.
//!
//! `user:{id}` is joined automatically at connect and never by request; `task:{id}` is for the
//! task's owner; `admin` and `dashboard` (system-wide metrics) are for ADMIN and SUPER_ADMIN;
//! `dashboard:{id}` (one user's own metrics) is for that user. Refusals never say
//! whether a task exists: another owner's task and a missing one get the same message.

use std::fmt;

use uuid::Uuid;

use super::identity::SocketIdentity;

/// The room of administrators (alerts, every task's events).
pub const ADMIN: &str = "admin";
/// The room that receives `dashboard.metrics`.
pub const DASHBOARD: &str = "dashboard";

/// A parsed room name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// `user:{id}`: everything about one user's objects.
    User(Uuid),
    /// `task:{id}`: one task's events.
    Task(Uuid),
    /// `admin`.
    Admin,
    /// `dashboard`: system-wide `dashboard.metrics`.
    Dashboard,
    /// `dashboard:{user_id}`: one user's own `dashboard.metrics`.
    UserDashboard(Uuid),
}

impl Room {
    /// Parses `user:{uuid}`, `task:{uuid}`, `admin`, `dashboard` or `dashboard:{uuid}`.
    pub fn parse(name: &str) -> Result<Room, String> {
        let id = |raw: &str| {
            Uuid::parse_str(raw).map_err(|_| format!("room {name:?}: {raw:?} is not a UUID"))
        };
        match name.split_once(':') {
            Some(("user", raw)) => Ok(Room::User(id(raw)?)),
            Some(("task", raw)) => Ok(Room::Task(id(raw)?)),
            Some(("dashboard", raw)) => Ok(Room::UserDashboard(id(raw)?)),
            None if name == ADMIN => Ok(Room::Admin),
            None if name == DASHBOARD => Ok(Room::Dashboard),
            _ => Err(format!(
                "unknown room {name:?}: expected task:{{id}}, admin, dashboard or dashboard:{{your user id}}"
            )),
        }
    }

    /// The room of `user_id`.
    pub fn user(user_id: Uuid) -> String {
        Room::User(user_id).to_string()
    }

    /// The room of `task_id`.
    pub fn task(task_id: Uuid) -> String {
        Room::Task(task_id).to_string()
    }

    /// The room of `user_id`'s own dashboard metrics.
    pub fn user_dashboard(user_id: Uuid) -> String {
        Room::UserDashboard(user_id).to_string()
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Room::User(id) => write!(f, "user:{id}"),
            Room::Task(id) => write!(f, "task:{id}"),
            Room::Admin => f.write_str(ADMIN),
            Room::Dashboard => f.write_str(DASHBOARD),
            Room::UserDashboard(id) => write!(f, "{DASHBOARD}:{id}"),
        }
    }
}

/// What joining a room needs once the name is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRule {
    /// Allowed.
    Allowed,
    /// Allowed if the task's owner is the socket's user.
    OwnerOf(Uuid),
    /// Refused, with the reason.
    Refused(&'static str),
}

/// The rule for `identity` joining `room` (the owner lookup, if any, is the caller's).
pub fn join_rule(identity: &SocketIdentity, room: Room) -> JoinRule {
    match room {
        Room::User(_) => JoinRule::Refused("user rooms are joined automatically on connect"),
        Room::Task(task_id) => JoinRule::OwnerOf(task_id),
        Room::UserDashboard(user_id) if user_id == identity.user_id => JoinRule::Allowed,
        Room::UserDashboard(_) => JoinRule::Refused(
            "only your own dashboard room, dashboard:{your user id}, may be joined",
        ),
        Room::Admin | Room::Dashboard if identity.role.is_admin() => JoinRule::Allowed,
        Room::Admin => JoinRule::Refused("this room needs the ADMIN or SUPER_ADMIN role"),
        Room::Dashboard => JoinRule::Refused(
            "this room needs the ADMIN or SUPER_ADMIN role; your own figures are in dashboard:{your user id}",
        ),
    }
}

/// The refusal for a task that is not the caller's (or does not exist).
pub fn task_not_found(task_id: Uuid) -> String {
    format!("task {task_id} not found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn identity(role: Role) -> SocketIdentity {
        SocketIdentity {
            user_id: Uuid::new_v4(),
            role,
            expires_at: None,
        }
    }

    #[test]
    fn names_round_trip() {
        let id = Uuid::new_v4();
        for room in [
            Room::User(id),
            Room::Task(id),
            Room::Admin,
            Room::Dashboard,
            Room::UserDashboard(id),
        ] {
            assert_eq!(Room::parse(&room.to_string()), Ok(room));
        }
    }

    #[test]
    fn bad_names_say_what_is_expected() {
        for bad in [
            "",
            "task:",
            "task:42",
            "user:x",
            "admins",
            "room:1",
            "TASK:1",
            "dashboard:x",
        ] {
            let err = Room::parse(bad).expect_err(bad);
            assert!(err.contains(bad), "{err} names the input");
        }
    }

    #[test]
    fn rules_follow_roles() {
        let user = identity(Role::User);
        let admin = identity(Role::Admin);
        let task = Uuid::new_v4();
        assert_eq!(join_rule(&user, Room::Task(task)), JoinRule::OwnerOf(task));
        assert!(matches!(
            join_rule(&user, Room::Admin),
            JoinRule::Refused(_)
        ));
        assert!(matches!(
            join_rule(&user, Room::Dashboard),
            JoinRule::Refused(_)
        ));
        assert_eq!(join_rule(&admin, Room::Admin), JoinRule::Allowed);
        assert_eq!(
            join_rule(&identity(Role::SuperAdmin), Room::Dashboard),
            JoinRule::Allowed
        );
        assert!(matches!(
            join_rule(&admin, Room::User(admin.user_id)),
            JoinRule::Refused(_)
        ));
        assert_eq!(
            join_rule(&user, Room::UserDashboard(user.user_id)),
            JoinRule::Allowed
        );
        assert!(matches!(
            join_rule(&admin, Room::UserDashboard(user.user_id)),
            JoinRule::Refused(_)
        ));
    }
}
