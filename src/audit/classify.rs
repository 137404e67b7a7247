//! Names an HTTP request for the audit trail: a dotted action from the method and the matched
//! route template (an explicit table for the routes that matter, a generic rule for the rest),
//! its class, whether it is critical, and the targets its path names.

use super::model::{ActionClass, Outcome, Target};

/// How a request is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Dotted action (`tasks.create`, `auth.login.failed`).
    pub action: String,
    /// Its class.
    pub class: ActionClass,
    /// Whether it changes roles, keys, passwords, billing or administration.
    pub critical: bool,
}

/// Routes named explicitly: (method, template without `/api/v1`, action, class, critical).
const NAMED: &[(&str, &str, &str, ActionClass, bool)] = &[
    (
        "POST",
        "/auth/login",
        "auth.login",
        ActionClass::Auth,
        false,
    ),
    (
        "POST",
        "/auth/register",
        "auth.register",
        ActionClass::Auth,
        false,
    ),
    (
        "POST",
        "/auth/logout",
        "auth.logout",
        ActionClass::Auth,
        false,
    ),
    (
        "POST",
        "/auth/refresh",
        "auth.token.refresh",
        ActionClass::Auth,
        false,
    ),
    (
        "POST",
        "/auth/change-password",
        "auth.password.change",
        ActionClass::Auth,
        true,
    ),
    (
        "POST",
        "/auth/verify-email",
        "auth.email.verify",
        ActionClass::Auth,
        false,
    ),
    ("GET", "/auth/me", "auth.me.read", ActionClass::Read, false),
    (
        "GET",
        "/sessions",
        "auth.sessions.list",
        ActionClass::Read,
        false,
    ),
    (
        "DELETE",
        "/sessions/{id}",
        "auth.session.revoke",
        ActionClass::Auth,
        false,
    ),
    (
        "POST",
        "/admin/roles/{user_id}",
        "admin.role.grant",
        ActionClass::Admin,
        true,
    ),
    (
        "DELETE",
        "/admin/roles/{user_id}/{role}",
        "admin.role.revoke",
        ActionClass::Admin,
        true,
    ),
    (
        "PATCH",
        "/admin/users/{id}",
        "admin.user.update",
        ActionClass::Admin,
        true,
    ),
    (
        "DELETE",
        "/admin/users/{id}",
        "admin.user.delete",
        ActionClass::Admin,
        true,
    ),
    (
        "POST",
        "/admin/users/{id}/sessions/revoke",
        "admin.user.sessions.revoke",
        ActionClass::Admin,
        true,
    ),
    (
        "POST",
        "/admin/tasks/{id}/pause",
        "admin.task.pause",
        ActionClass::Admin,
        true,
    ),
    (
        "POST",
        "/admin/tasks/{id}/resume",
        "admin.task.resume",
        ActionClass::Admin,
        true,
    ),
    (
        "POST",
        "/api-keys",
        "api_keys.create",
        ActionClass::Security,
        true,
    ),
    (
        "DELETE",
        "/api-keys/{id}",
        "api_keys.revoke",
        ActionClass::Security,
        true,
    ),
    (
        "POST",
        "/api-keys/{id}/rotate",
        "api_keys.rotate",
        ActionClass::Security,
        true,
    ),
    (
        "POST",
        "/webhooks/notion/{token}",
        "notion.webhook.receive",
        ActionClass::Create,
        false,
    ),
    (
        "PATCH",
        "/users/{id}",
        "users.update",
        ActionClass::Update,
        true,
    ),
    (
        "DELETE",
        "/users/{id}",
        "users.delete",
        ActionClass::Delete,
        true,
    ),
];

/// Path parameters whose values are credentials and never stored.
const SECRET_PARAMS: &[&str] = &["token"];

/// What the audit trail calls a request. `route` is the matched template (`None` when no
/// route matched).
pub fn classify(method: &str, route: Option<&str>, outcome: Outcome) -> Classification {
    let Some(route) = route else {
        return Classification {
            action: "http.unmatched".to_owned(),
            class: class_of_method(method),
            critical: false,
        };
    };
    let template = route.strip_prefix("/api/v1").unwrap_or(route);
    let template = if template.len() > 1 {
        template.trim_end_matches('/')
    } else {
        template
    };
    let mut named = NAMED
        .iter()
        .find(|(m, t, ..)| *m == method && *t == template)
        .map(|(_, _, action, class, critical)| Classification {
            action: (*action).to_owned(),
            class: *class,
            critical: *critical,
        })
        .unwrap_or_else(|| generic(method, template));
    if named.class == ActionClass::Auth && outcome != Outcome::Success {
        named.action.push_str(".failed");
    }
    named
}

/// `tasks.create`, `tasks.read`, `tasks.execute`, `admin.audit_logs.list`, ….
fn generic(method: &str, template: &str) -> Classification {
    let segments: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let literals: Vec<String> = segments
        .iter()
        .filter(|s| !is_param(s))
        .map(|s| s.replace('-', "_"))
        .collect();
    let last_is_param = segments.last().is_some_and(|s| is_param(s));
    let verb_follows_param = segments.len() >= 2
        && !last_is_param
        && segments
            .get(segments.len() - 2)
            .is_some_and(|s| is_param(s));
    let verb = match method {
        "GET" | "HEAD" if last_is_param => Some("read"),
        "GET" | "HEAD" => Some("list"),
        "POST" if verb_follows_param => None,
        "POST" => Some("create"),
        "PUT" | "PATCH" => Some("update"),
        "DELETE" => Some("delete"),
        _ => Some("request"),
    };
    let mut parts = if literals.is_empty() {
        vec!["root".to_owned()]
    } else {
        literals
    };
    if let Some(verb) = verb {
        parts.push(verb.to_owned());
    }
    let first = segments.first().copied().unwrap_or_default();
    let reads = matches!(method, "GET" | "HEAD" | "OPTIONS");
    let class = match first {
        "auth" | "sessions" if !reads => ActionClass::Auth,
        "admin" => ActionClass::Admin,
        "billing" | "webhooks" => ActionClass::Billing,
        "api-keys" | "secrets" if !reads => ActionClass::Security,
        _ => class_of_method(method),
    };
    let critical = matches!(class, ActionClass::Admin | ActionClass::Billing) && !reads;
    Classification {
        action: parts.join("."),
        class,
        critical,
    }
}

fn class_of_method(method: &str) -> ActionClass {
    match method {
        "POST" => ActionClass::Create,
        "PUT" | "PATCH" => ActionClass::Update,
        "DELETE" => ActionClass::Delete,
        _ => ActionClass::Read,
    }
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// The targets a path names, and the path with credential parameters (webhook tokens)
/// replaced by `[REDACTED]`.
pub fn targets_and_safe_path(route: Option<&str>, path: &str) -> (Vec<Target>, String) {
    let Some(route) = route else {
        return (Vec::new(), path.to_owned());
    };
    let template: Vec<&str> = route.split('/').collect();
    let actual: Vec<&str> = path.split('/').collect();
    if template.len() != actual.len() {
        return (Vec::new(), path.to_owned());
    }
    let mut targets = Vec::new();
    let mut safe = Vec::with_capacity(actual.len());
    let mut previous_literal = "";
    for (pattern, value) in template.iter().zip(&actual) {
        if !is_param(pattern) {
            previous_literal = pattern;
            safe.push((*value).to_owned());
            continue;
        }
        let name = &pattern[1..pattern.len() - 1];
        if SECRET_PARAMS.contains(&name) {
            safe.push("[REDACTED]".to_owned());
            continue;
        }
        safe.push((*value).to_owned());
        let kind = match name.strip_suffix("_id") {
            Some(kind) => kind.to_owned(),
            None if name == "id" => singular(previous_literal),
            None => name.to_owned(),
        };
        targets.push(Target {
            kind,
            id: (*value).to_owned(),
        });
    }
    (targets, safe.join("/"))
}

/// `tasks` → `task`, `api-keys` → `api_key`, `from-template` → `template`.
fn singular(segment: &str) -> String {
    let name = segment.strip_prefix("from-").unwrap_or(segment);
    let name = name.replace('-', "_");
    name.strip_suffix('s').map(str::to_owned).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn important_routes_have_their_own_names() {
        let login = classify("POST", Some("/auth/login"), Outcome::Denied);
        assert_eq!(login.action, "auth.login.failed");
        assert_eq!(login.class, ActionClass::Auth);
        let grant = classify("POST", Some("/admin/roles/{user_id}"), Outcome::Success);
        assert_eq!(grant.action, "admin.role.grant");
        assert!(grant.critical);
        let key = classify("POST", Some("/api/v1/api-keys"), Outcome::Success);
        assert_eq!(key.action, "api_keys.create");
    }

    #[test]
    fn other_routes_follow_the_generic_rule() {
        let names = [
            ("POST", "/tasks", "tasks.create", ActionClass::Create),
            ("GET", "/tasks/{id}", "tasks.read", ActionClass::Read),
            ("GET", "/api/v1/tasks", "tasks.list", ActionClass::Read),
            (
                "POST",
                "/tasks/{id}/execute",
                "tasks.execute",
                ActionClass::Create,
            ),
            (
                "DELETE",
                "/tasks/{id}/chains/{chain_id}",
                "tasks.chains.delete",
                ActionClass::Delete,
            ),
            (
                "GET",
                "/admin/audit-logs",
                "admin.audit_logs.list",
                ActionClass::Admin,
            ),
        ];
        for (method, route, action, class) in names {
            let named = classify(method, Some(route), Outcome::Success);
            assert_eq!(
                (named.action.as_str(), named.class),
                (action, class),
                "{route}"
            );
        }
        assert!(!classify("GET", Some("/admin/audit-logs"), Outcome::Success).critical);
        assert_eq!(
            classify("GET", None, Outcome::Failure).action,
            "http.unmatched"
        );
    }

    #[test]
    fn targets_come_from_path_parameters_and_tokens_are_hidden() {
        let (targets, path) = targets_and_safe_path(
            Some("/tasks/{id}/webhooks/{webhook_id}"),
            "/tasks/a/webhooks/b",
        );
        assert_eq!(
            targets,
            vec![
                Target {
                    kind: "task".into(),
                    id: "a".into()
                },
                Target {
                    kind: "webhook".into(),
                    id: "b".into()
                },
            ]
        );
        assert_eq!(path, "/tasks/a/webhooks/b");
        let (targets, path) = targets_and_safe_path(Some("/hooks/{token}"), "/hooks/whsec");
        assert!(targets.is_empty());
        assert_eq!(path, "/hooks/[REDACTED]");
    }

    #[test]
    fn admin_console_mutations_are_critical_admin_events() {
        for (method, route, action) in [
            ("PATCH", "/admin/users/{id}", "admin.user.update"),
            ("DELETE", "/admin/users/{id}", "admin.user.delete"),
            (
                "POST",
                "/admin/users/{id}/sessions/revoke",
                "admin.user.sessions.revoke",
            ),
            ("POST", "/admin/tasks/{id}/pause", "admin.task.pause"),
            ("POST", "/admin/tasks/{id}/resume", "admin.task.resume"),
        ] {
            let named = classify(method, Some(route), Outcome::Success);
            assert_eq!(named.action, action);
            assert_eq!(named.class, ActionClass::Admin);
            assert!(named.critical, "{action}");
        }
        for route in [
            "/admin/users",
            "/admin/users/{id}",
            "/admin/tasks",
            "/admin/analytics",
            "/admin/system",
        ] {
            let read = classify("GET", Some(route), Outcome::Success);
            assert_eq!(read.class, ActionClass::Admin, "{route}");
            assert!(!read.critical, "{route}");
        }
    }
}
