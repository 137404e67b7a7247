// Generated from docs/openapi.json by `npm run generate` (openapi-typescript). Do not edit.

export interface paths {
    "/admin/analytics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Platform analytics per day (admins). */
        get: operations["platform_analytics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/audit-logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List audit events, newest first, with filters and cursor pagination. */
        get: operations["list_audit_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/audit-logs/export": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Export audit events matching the filters, oldest first, as CSV or NDJSON (streamed). */
        get: operations["export_audit_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/audit-logs/verify": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Check the hash chain: how far it holds, and the first row that does not. */
        get: operations["verify_audit_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/audit-logs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One audit event. */
        get: operations["get_audit_log"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/plans/{code}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A plan with its limits. */
        get: operations["get_plan"];
        /** Change a plan's limits, name and display price (Stripe's price is changed in Stripe). */
        put: operations["update_plan"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/roles/{user_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Give a user a role. */
        post: operations["grant_role"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/roles/{user_id}/{role}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Take a role away from a user (they become USER). */
        delete: operations["remove_role"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/security-alert-rules": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The security alert rules as they are evaluated (defaults unless an admin changed them). */
        get: operations["get_security_alert_rules"];
        /** Change security alert rules; the rules not named keep their settings. */
        put: operations["put_security_alert_rules"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/security-alerts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List security alerts, most recently seen first, with filters and cursor pagination. */
        get: operations["list_security_alerts"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/security-alerts/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One security alert with its history. */
        get: operations["get_security_alert"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/security-alerts/{id}/acknowledge": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Acknowledge an open alert (`OPEN → ACKNOWLEDGED`). */
        post: operations["acknowledge_security_alert"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/security-alerts/{id}/false-positive": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Mark an open or acknowledged alert a false positive (`→ FALSE_POSITIVE`), optionally
         *     suppressing the rule for its subject for some days.
         */
        post: operations["false_positive_security_alert"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/security-alerts/{id}/resolve": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Resolve an open or acknowledged alert (`→ RESOLVED`). */
        post: operations["resolve_security_alert"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/subscriptions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Every subscription, by account id. */
        get: operations["list_subscriptions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/system": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Configuration (secrets masked), version, migrations and live instances (admins). */
        get: operations["system"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/tasks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List tasks across owners (admins). */
        get: operations["admin_list_tasks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/tasks/{id}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Pause any owner's task (admins); the owner is notified with the reason. */
        post: operations["admin_pause_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/tasks/{id}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Resume any owner's task (admins); the owner is notified with the reason. */
        post: operations["admin_resume_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List accounts (admins), with search, filters, sorting and pagination. */
        get: operations["admin_list_users"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/users/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** An account with its sessions and API keys (admins). */
        get: operations["admin_get_user"];
        put?: never;
        post?: never;
        /** Soft-delete an account and schedule its purge (admins). */
        delete: operations["admin_delete_user"];
        options?: never;
        head?: never;
        /** Change an account's status or force a password reset (admins). */
        patch: operations["admin_update_user"];
        trace?: never;
    };
    "/admin/users/{id}/plan": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Give a user a plan by hand (an active subscription without Stripe). A later Stripe event
         *     about the user's subscription replaces it. Tasks over a smaller plan's limit are paused.
         */
        put: operations["grant_plan"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/admin/users/{id}/sessions/revoke": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** End every session of an account (admins): its access and refresh tokens stop working. */
        post: operations["revoke_sessions"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/analytics/dashboard": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your executions and notifications over a period, bucketed in your time zone. */
        get: operations["dashboard"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/analytics/summary": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your executions and notifications over a period, compared with the period before. */
        get: operations["summary"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api-keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your active API keys (never the keys themselves). */
        get: operations["list_keys"];
        put?: never;
        /** Create an API key; the response shows the key once. */
        post: operations["create_key"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api-keys/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Revoke an API key; it stops working on every instance within a second. */
        delete: operations["revoke_key"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api-keys/{id}/rotate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Replace an API key's secret; the old key stops working at once. */
        post: operations["rotate_key"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Version and health; admins also see the build, environment, uptime and instance. */
        get: operations["status"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/analytics/dashboard": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your executions and notifications over a period, bucketed in your time zone. */
        get: operations["v1_dashboard"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/analytics/summary": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your executions and notifications over a period, compared with the period before. */
        get: operations["v1_summary"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/executions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Your executions across all your tasks, newest first: `?status=DEAD` is the dead-letter
         *     list, `?status=RUNNING` what runs now.
         */
        get: operations["v1_list_executions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/executions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of your executions, with its log lines. */
        get: operations["v1_get_execution"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/executions/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Cancel a queued or running execution. */
        post: operations["v1_cancel_execution"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/executions/{id}/retry": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Run a `DEAD`, `TIMED_OUT` or `CANCELLED` execution again, as a new execution. */
        post: operations["v1_retry_execution"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/me": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Who the API key or token belongs to, and its scopes. */
        get: operations["whoami"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your notifications, newest first, with filters and cursor pagination. */
        get: operations["v1_list_notifications"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/preferences": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your notification preferences (the defaults when you have set none). */
        get: operations["v1_get_preferences"];
        /**
         * Replace your notification preferences. A critical type's email cannot be turned off, and
         *     `IN_APP` is always on.
         */
        put: operations["v1_put_preferences"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/preferences/effective": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * What your preferences resolve to for every type and channel, and which setting decided
         *     each: critical, then per type, per category, per channel, then the default.
         */
        get: operations["v1_effective_preferences"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/read-all": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Mark all your notifications read. */
        post: operations["v1_read_all"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/test": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Send yourself a test notification through one channel. */
        post: operations["v1_send_test"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/unread-count": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** How many of your notifications are unread. */
        get: operations["v1_unread_count"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/webhooks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your webhook endpoints, oldest first. */
        get: operations["v1_list_endpoints"];
        put?: never;
        /**
         * Add a webhook endpoint; the response shows its signing secret once. Notifications whose
         *     channels include `WEBHOOK` are posted to every endpoint, signed the Standard Webhooks way.
         */
        post: operations["v1_create_endpoint"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/webhooks/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Remove one of your webhook endpoints; its queued deliveries end `NOT_SENT`. */
        delete: operations["v1_delete_endpoint"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/webhooks/{id}/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Replace one of your endpoints' signing secret; the response shows the new one once.
         *     Deliveries sent from now on are signed with it.
         */
        post: operations["v1_rotate_secret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of your notifications with its deliveries; opening it records `seen_at`. */
        get: operations["v1_get_notification"];
        put?: never;
        post?: never;
        /** Delete one of your notifications. */
        delete: operations["v1_delete_notification"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/notifications/{id}/read": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Mark one of your notifications read. */
        patch: operations["v1_mark_read"];
        trace?: never;
    };
    "/api/v1/notifications/{id}/resend": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Send a notification again on each channel whose last delivery failed. */
        post: operations["v1_resend"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/scopes/{scope}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Whether the caller holds a scope: 200 if so, 403 `INSUFFICIENT_SCOPE` if not. */
        get: operations["check_scope"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your tasks, with filters, a sort and cursor pagination. */
        get: operations["v1_list_tasks"];
        put?: never;
        /** Create a task. */
        post: operations["v1_create_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/bulk": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Apply one action to many tasks.
         * @description In `all_or_nothing` mode (the default) the items run in one transaction and any failure
         *     rolls all of them back (`applied: false`, the others `ROLLED_BACK`); in `partial` mode each
         *     item commits on its own. Another owner's task is `NOT_FOUND`. `execute` queues each run on
         *     its own (a queued run is not rolled back) and needs `tasks:execute`; the other actions need
         *     `tasks:write`. Give either `ids` or a `filter` (the filters of `GET /tasks`); a filter
         *     matching more than 1,000 tasks is refused (422 naming `filter`) and nothing is done.
         */
        post: operations["v1_bulk_tasks"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/export": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Export your tasks (definitions, triggers, chains and alert rules by name; secrets as
         *     references, never values), oldest first, as JSON or CSV (streamed).
         */
        get: operations["v1_export_tasks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/from-template/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Create a task from a template: its variables are filled in, then the definition goes
         *     through the same validation as `POST /tasks`.
         */
        post: operations["v1_create_from_template"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/import": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Import tasks from JSON, CSV or an uploaded file, with the rules of `POST /tasks`.
         * @description Each row is a `TaskRecord` (CSV: one column per field, nested parts as JSON cells, the
         *     columns of `GET /tasks/export?format=csv`). At most 10,000 rows, within the request body
         *     limit. Plan limits apply. `dry_run=true` answers what the import would answer (the same
         *     status and report) and writes nothing.
         */
        post: operations["v1_import_tasks"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of your tasks. */
        get: operations["v1_get_task"];
        /**
         * Replace a task's definition. Send `If-Match` with the task's `ETag` to refuse the change
         *     (412) if someone changed the task since you read it.
         */
        put: operations["v1_replace_task"];
        post?: never;
        /** Delete a task with its history. */
        delete: operations["v1_delete_task"];
        options?: never;
        head?: never;
        /**
         * Change some fields of a task: the body is a JSON merge patch (RFC 7396) of its definition,
         *     e.g. `{"schedule": {"cron": "0 * * * *"}}`; `null` removes an optional field
         *     (`{"schedule": null}` makes the task run only when triggered).
         */
        patch: operations["v1_patch_task"];
        trace?: never;
    };
    "/api/v1/tasks/{id}/alert-rules": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The alert rules of one of your tasks, oldest first. */
        get: operations["v1_list_rules"];
        put?: never;
        /** Add an alert rule to one of your tasks. */
        post: operations["v1_create_rule"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/alert-rules/{rule_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Replace one of your task's alert rules. Its alerting state is kept while its kind and
         *     parameters stay the same.
         */
        put: operations["v1_replace_rule"];
        post?: never;
        /** Delete one of your task's alert rules. */
        delete: operations["v1_delete_rule"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/duplicate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Copy a task. The copy starts `PAUSED`, so it never fires alongside the original until you
         *     resume it.
         */
        post: operations["v1_duplicate_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/execute": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Run a task now. With an `Idempotency-Key` header, repeating the request (same key, same
         *     input) answers the first execution instead of running again; the answer then carries
         *     `Idempotent-Replayed: true`.
         */
        post: operations["v1_execute_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A task's history: its executions and the slots that did not run (with the reason), newest
         *     first. Nothing is skipped silently: every slot is either an execution or a `SKIPPED` entry.
         */
        get: operations["v1_task_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/next-runs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The next runs of a task's schedule, in UTC and local time, with DST notes. */
        get: operations["v1_next_runs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Pause a task: its slots are recorded as `PAUSED` in the history until it is resumed. */
        post: operations["v1_pause_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Resume a paused, stopped or failed task: it fires from its next slot after now. */
        post: operations["v1_resume_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/tasks/{id}/stop": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Stop a task: it neither fires nor accepts triggers until it is resumed. */
        post: operations["v1_stop_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/change-password": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Change your password: every other session is signed out and, unless `keep_api_keys`,
         *     every API key is revoked; the answer lists what was revoked.
         */
        post: operations["change_password"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/login": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign in with email and password. */
        post: operations["login"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/logout": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Sign out of this session, or of every session with `{"all": true}`. */
        post: operations["logout"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/me": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The signed-in user. */
        get: operations["me"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/refresh": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Exchange a refresh token for a new token pair (the old refresh token stops working). */
        post: operations["refresh"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/register": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Create an account and sign in, or, with email verification on, start a registration
         *     that `POST /auth/verify-email` completes.
         * @description With `REGISTRATION_EMAIL_VERIFICATION` on, every acceptable request answers the same 202,
         *     whether or not the email has an account; the mailbox receives either a verification token
         *     or a notice that the address is taken. With it off, the account is created at once and a
         *     taken email is a 409.
         */
        post: operations["register"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/auth/verify-email": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Confirm an email with the token mailed at registration: creates the account, signs no one
         *     in (sign in with the password afterwards).
         */
        post: operations["verify_email"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/billing/invoices": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your invoices, newest first. */
        get: operations["list_invoices"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/billing/payments": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your payments (paid, failed, confirmation asked), newest first. */
        get: operations["list_payments"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/billing/plans": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List the plans with their limits and prices (public). */
        get: operations["list_plans"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/billing/portal": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Open Stripe's Billing Portal (payment methods, invoices, plan changes, cancellation). */
        post: operations["open_portal"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/billing/subscription": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your subscription: the plan that applies, its status and period, and your usage. */
        get: operations["get_subscription"];
        /** Change your subscription's plan; Stripe prorates the difference. */
        put: operations["change_plan"];
        /**
         * Start a subscription: a Stripe Checkout Session for `plan`.
         * @description Your Stripe customer is created on the first call (one per account, even under
         *     concurrent calls) and reused after. The subscription is active once Stripe's
         *     `checkout.session.completed` and subscription events have arrived.
         */
        post: operations["start_checkout"];
        /** Cancel your subscription at the end of its period, or now with `immediately=true`. */
        delete: operations["cancel"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/billing/subscription/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Keep your subscription: undo a cancellation pending for the end of the period. */
        post: operations["resume"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/billing/usage": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your plan's limits and what you use of each. */
        get: operations["get_usage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/cron/explain": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Explain a cron expression: description, next runs and DST notes. */
        post: operations["explain"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * What runs and waits now, throughput over the last 5 minutes, p99 start lateness over
         *     the last hour, and the last hour minute by minute.
         */
        get: operations["dashboard_metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/overview": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Your tasks, today's executions, the last 24 hours, what runs next, what fails, and your
         *     unread notifications.
         */
        get: operations["overview"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/dashboard/recent-tasks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The tasks that ran most recently, with their last outcome and run time. */
        get: operations["recent_tasks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/executions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Your executions across all your tasks, newest first: `?status=DEAD` is the dead-letter
         *     list, `?status=RUNNING` what runs now.
         */
        get: operations["list_executions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/executions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of your executions, with its log lines. */
        get: operations["get_execution"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/executions/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Cancel a queued or running execution. */
        post: operations["cancel_execution"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/executions/{id}/retry": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Run a `DEAD`, `TIMED_OUT` or `CANCELLED` execution again, as a new execution. */
        post: operations["retry_execution"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process is up. */
        get: operations["liveness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health/details": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Every dependency and loop of this instance: database and pool, SMTP relay, Stripe,
         *     Redis, inbound SMTP, scheduler, workers, queue, memory, uptime and version.
         * @description For an admin's access token, or `Authorization: Bearer <METRICS_TOKEN>` when that is set.
         *     Failing external services show as `degraded`; the answer is 200 either way.
         */
        get: operations["details"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health/ready": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: the database is reachable and every migration is applied. */
        get: operations["readiness"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/hooks/email/{token}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Deliver an inbound email over HTTP: JSON fields `{from, to, subject, text, html}` or a raw
         *     message as `message/rfc822`. The task receives the same input as from the SMTP listener.
         */
        post: operations["receive_email"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/hooks/{token}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Deliver a webhook: the request becomes the input of an execution of the trigger's task.
         * @description The input is `{body, headers, query, content_type, received_at}`: the body parsed as JSON,
         *     a form (an object) or text, the headers without credentials (`Authorization`, `Cookie`, …).
         */
        post: operations["receive_webhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics in the text exposition format.
         * @description With `METRICS_TOKEN` set, send it as `Authorization: Bearer <METRICS_TOKEN>`. With
         *     `METRICS_ADDR` set, the metrics are served there and this port answers 404.
         */
        get: operations["prometheus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your notifications, newest first, with filters and cursor pagination. */
        get: operations["list_notifications"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/preferences": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your notification preferences (the defaults when you have set none). */
        get: operations["get_preferences"];
        /**
         * Replace your notification preferences. A critical type's email cannot be turned off, and
         *     `IN_APP` is always on.
         */
        put: operations["put_preferences"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/preferences/effective": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * What your preferences resolve to for every type and channel, and which setting decided
         *     each: critical, then per type, per category, per channel, then the default.
         */
        get: operations["effective_preferences"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/read-all": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Mark all your notifications read. */
        post: operations["read_all"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/test": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Send yourself a test notification through one channel. */
        post: operations["send_test"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/unread-count": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** How many of your notifications are unread. */
        get: operations["unread_count"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/webhooks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your webhook endpoints, oldest first. */
        get: operations["list_endpoints"];
        put?: never;
        /**
         * Add a webhook endpoint; the response shows its signing secret once. Notifications whose
         *     channels include `WEBHOOK` are posted to every endpoint, signed the Standard Webhooks way.
         */
        post: operations["create_endpoint"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/webhooks/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Remove one of your webhook endpoints; its queued deliveries end `NOT_SENT`. */
        delete: operations["delete_endpoint"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/webhooks/{id}/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Replace one of your endpoints' signing secret; the response shows the new one once.
         *     Deliveries sent from now on are signed with it.
         */
        post: operations["rotate_secret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of your notifications with its deliveries; opening it records `seen_at`. */
        get: operations["get_notification"];
        put?: never;
        post?: never;
        /** Delete one of your notifications. */
        delete: operations["delete_notification"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notifications/{id}/read": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        /** Mark one of your notifications read. */
        patch: operations["mark_read"];
        trace?: never;
    };
    "/notifications/{id}/resend": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Send a notification again on each channel whose last delivery failed. */
        post: operations["resend"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notion/connection": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your Notion connection (never the token). */
        get: operations["get_connection"];
        put?: never;
        post?: never;
        /** Disconnect Notion: the stored token is deleted (revoke the integration in Notion too). */
        delete: operations["delete_connection"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notion/databases": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The databases shared with your Notion connection. */
        get: operations["databases"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notion/oauth/authorize": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Start connecting Notion: returns the consent URL with a fresh single-use `state`, and sets
         *     the cookie that binds it to this browser (the callback must come from the same browser).
         */
        get: operations["authorize"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notion/oauth/callback": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Where Notion sends the browser back: checks that this browser started the flow (its state
         *     cookie), then exchanges the code and stores the connection.
         */
        get: operations["callback"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/notion/webhook": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Your Notion webhook endpoint, with the verification token once Notion has sent it. */
        get: operations["get_notion_webhook"];
        put?: never;
        /**
         * Create your Notion webhook endpoint, or replace it: the old URL stops working at once and
         *     Notion's verification starts over.
         */
        post: operations["create_notion_webhook"];
        /** Delete your Notion webhook endpoint; its URL answers 404 from now on. */
        delete: operations["delete_notion_webhook"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/secrets": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your secrets by name (never their values), a page at a time. */
        get: operations["list_secrets"];
        put?: never;
        /** Store a new secret; the response shows its metadata, never the value. */
        post: operations["create_secret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/secrets/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of your secrets (never its value). */
        get: operations["get_secret"];
        put?: never;
        post?: never;
        /** Delete one of your secrets; tasks referring to it fail until it exists again. */
        delete: operations["delete_secret"];
        options?: never;
        head?: never;
        /** Rename, describe or replace the value of one of your secrets. */
        patch: operations["update_secret"];
        trace?: never;
    };
    "/sessions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your active sessions (devices). */
        get: operations["list_sessions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/sessions/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** End one of your sessions (sign a device out). */
        delete: operations["revoke_session"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/t/c/{token}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The link in a notification email was followed: records it and redirects to the
         *     notification's own link.
         */
        get: operations["clicked"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/t/o/{token}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A notification email was opened: records it and answers a transparent pixel. */
        get: operations["opened"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List your tasks, with filters, a sort and cursor pagination. */
        get: operations["list_tasks"];
        put?: never;
        /** Create a task. */
        post: operations["create_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/bulk": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Apply one action to many tasks.
         * @description In `all_or_nothing` mode (the default) the items run in one transaction and any failure
         *     rolls all of them back (`applied: false`, the others `ROLLED_BACK`); in `partial` mode each
         *     item commits on its own. Another owner's task is `NOT_FOUND`. `execute` queues each run on
         *     its own (a queued run is not rolled back) and needs `tasks:execute`; the other actions need
         *     `tasks:write`. Give either `ids` or a `filter` (the filters of `GET /tasks`); a filter
         *     matching more than 1,000 tasks is refused (422 naming `filter`) and nothing is done.
         */
        post: operations["bulk_tasks"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/export": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Export your tasks (definitions, triggers, chains and alert rules by name; secrets as
         *     references, never values), oldest first, as JSON or CSV (streamed).
         */
        get: operations["export_tasks"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/from-template/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Create a task from a template: its variables are filled in, then the definition goes
         *     through the same validation as `POST /tasks`.
         */
        post: operations["create_from_template"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/import": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Import tasks from JSON, CSV or an uploaded file, with the rules of `POST /tasks`.
         * @description Each row is a `TaskRecord` (CSV: one column per field, nested parts as JSON cells, the
         *     columns of `GET /tasks/export?format=csv`). At most 10,000 rows, within the request body
         *     limit. Plan limits apply. `dry_run=true` answers what the import would answer (the same
         *     status and report) and writes nothing.
         */
        post: operations["import_tasks"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of your tasks. */
        get: operations["get_task"];
        /**
         * Replace a task's definition. Send `If-Match` with the task's `ETag` to refuse the change
         *     (412) if someone changed the task since you read it.
         */
        put: operations["replace_task"];
        post?: never;
        /** Delete a task with its history. */
        delete: operations["delete_task"];
        options?: never;
        head?: never;
        /**
         * Change some fields of a task: the body is a JSON merge patch (RFC 7396) of its definition,
         *     e.g. `{"schedule": {"cron": "0 * * * *"}}`; `null` removes an optional field
         *     (`{"schedule": null}` makes the task run only when triggered).
         */
        patch: operations["patch_task"];
        trace?: never;
    };
    "/tasks/{id}/alert-rules": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The alert rules of one of your tasks, oldest first. */
        get: operations["list_rules"];
        put?: never;
        /** Add an alert rule to one of your tasks. */
        post: operations["create_rule"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/alert-rules/{rule_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        /**
         * Replace one of your task's alert rules. Its alerting state is kept while its kind and
         *     parameters stay the same.
         */
        put: operations["replace_rule"];
        post?: never;
        /** Delete one of your task's alert rules. */
        delete: operations["delete_rule"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/chains": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List the chains that start one of your tasks. */
        get: operations["list_chains"];
        put?: never;
        /**
         * Chain `task_id` after another of your tasks. A chain that would close a cycle is refused
         *     unless every task on the cycle has `allow_cycles`; a task starts at most
         *     `CHAIN_MAX_OUT_DEGREE` tasks.
         */
        post: operations["create_chain"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/chains/{chain_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Delete a chain. */
        delete: operations["delete_chain"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/duplicate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Copy a task. The copy starts `PAUSED`, so it never fires alongside the original until you
         *     resume it.
         */
        post: operations["duplicate_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/email-triggers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List one of your tasks' email triggers (never tokens or addresses). */
        get: operations["list_email_triggers"];
        put?: never;
        /** Create an email trigger for one of your tasks; the response shows its address once. */
        post: operations["create_email_trigger"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/email-triggers/{trigger_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Delete an email trigger; its address rejects mail from now on. */
        delete: operations["delete_email_trigger"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/execute": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Run a task now. With an `Idempotency-Key` header, repeating the request (same key, same
         *     input) answers the first execution instead of running again; the answer then carries
         *     `Idempotent-Replayed: true`.
         */
        post: operations["execute_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * A task's history: its executions and the slots that did not run (with the reason), newest
         *     first. Nothing is skipped silently: every slot is either an execution or a `SKIPPED` entry.
         */
        get: operations["task_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/next-runs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The next runs of a task's schedule, in UTC and local time, with DST notes. */
        get: operations["next_runs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/notion-triggers": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List one of your tasks' NOTION triggers, oldest first. */
        get: operations["list_triggers"];
        put?: never;
        /**
         * Add a NOTION trigger to one of your tasks: Notion events about a page or a database, of
         *     the types named, queue an execution with the event as input.
         */
        post: operations["create_trigger"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/notion-triggers/{trigger_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Delete a NOTION trigger. */
        delete: operations["delete_trigger"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/pause": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Pause a task: its slots are recorded as `PAUSED` in the history until it is resumed. */
        post: operations["pause_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/resume": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Resume a paused, stopped or failed task: it fires from its next slot after now. */
        post: operations["resume_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/stop": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Stop a task: it neither fires nor accepts triggers until it is resumed. */
        post: operations["stop_task"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/webhooks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List one of your tasks' webhook triggers (never tokens or secrets). */
        get: operations["list_webhooks"];
        put?: never;
        /**
         * Create a webhook trigger for one of your tasks; the response shows its URL, token and
         *     signing secret once.
         */
        post: operations["create_webhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/webhooks/{webhook_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Delete a webhook trigger; its URL answers 404 from now on. */
        delete: operations["delete_webhook"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/tasks/{id}/webhooks/{webhook_id}/rotate": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Replace a webhook trigger's token; the old URL stops working at once. The signing secret
         *     is kept.
         */
        post: operations["rotate_webhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/templates": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The built-in templates and yours. */
        get: operations["list_templates"];
        put?: never;
        /**
         * Save a template: from one of your tasks (`task_id`) or from a definition with
         *     `{{ vars.NAME }}` placeholders and the `variables` they use. When every variable has a
         *     default, the template is also checked by building a task from it.
         */
        post: operations["save_template"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/templates/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A built-in template (by slug) or one of yours (by id). */
        get: operations["get_template"];
        put?: never;
        post?: never;
        /** Delete one of your templates (built-in ones cannot be deleted). */
        delete: operations["delete_template"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/users": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List users (admins), with filters and cursor pagination. */
        get: operations["list_users"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/users/me/audit-logs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Your account's security history: sign-ins, sessions, password and key changes, and
         *     every critical action you made, newest first.
         */
        get: operations["my_audit_logs"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/users/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A user: yourself, or anyone for admins. */
        get: operations["get_user"];
        put?: never;
        post?: never;
        /** Delete an account (yours, or as an admin anyone's): sessions and API keys are revoked. */
        delete: operations["delete_user"];
        options?: never;
        head?: never;
        /** Update a profile (name, time zone); admins can also enable or disable accounts. */
        patch: operations["update_user"];
        trace?: never;
    };
    "/webhooks/notion/{token}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Receive a Notion webhook: the subscription handshake, or a signed event that queues an
         *     execution of each of the owner's tasks with a matching NOTION trigger.
         * @description Create the endpoint with `POST /notion/webhook` and enter its URL as the subscription's
         *     webhook URL in Notion. The execution input is `{event, received_at, trigger}`.
         */
        post: operations["receive"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/webhooks/stripe": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Receive a Stripe event (signed with `STRIPE_WEBHOOK_SECRET`). */
        post: operations["stripe_webhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /**
         * @description An account's status as the admin console shows and sets it.
         * @enum {string}
         */
        AccountStatus: "ACTIVE" | "DISABLED" | "LOCKED" | "DELETED";
        /**
         * @description What kind of action.
         * @enum {string}
         */
        ActionClass: "READ" | "CREATE" | "UPDATE" | "DELETE" | "AUTH" | "ADMIN" | "BILLING" | "SECURITY";
        /** @description What a task does: its `type` and that type's `config` (see docs/ACTIONS.md); any string in `config` may reference `{{ secrets.NAME }}`. */
        ActionIn: components["schemas"]["HttpRequestAction"] | components["schemas"]["EmailSendAction"] | components["schemas"]["DatabaseQueryAction"] | components["schemas"]["ApiCallAction"] | components["schemas"]["CustomScriptAction"] | components["schemas"]["NotionSyncAction"];
        /**
         * @description What a task does when it runs.
         * @enum {string}
         */
        ActionType: "HTTP_REQUEST" | "EMAIL_SEND" | "DATABASE_QUERY" | "API_CALL" | "CUSTOM_SCRIPT" | "NOTION_SYNC";
        /** @description Who acted. */
        ActorOut: {
            /** @description The user's email when the event was written. */
            email?: string | null;
            /**
             * Format: uuid
             * @description The user (an API key's owner for a key); absent for anonymous and system actors.
             */
            id?: string | null;
            /** @description What kind of actor. */
            type: components["schemas"]["ActorType"];
        };
        /**
         * @description Who acted.
         * @enum {string}
         */
        ActorType: "USER" | "API_KEY" | "ANONYMOUS" | "SYSTEM";
        /** @description Platform analytics. */
        AdminAnalytics: {
            /** @description One entry per day, oldest first. */
            days: components["schemas"]["AdminDay"][];
            /**
             * Format: date-time
             * @description Start, inclusive.
             */
            from: string;
            /** @description The queue at the time of the request. */
            queue_now: components["schemas"]["QueueNow"];
            /**
             * Format: date-time
             * @description End, exclusive.
             */
            to: string;
            /** @description The 10 accounts with the most failures in the period. */
            top_failing_accounts: components["schemas"]["FailingAccount"][];
            /** @description The 10 tasks with the most failures in the period. */
            top_failing_tasks: components["schemas"]["AdminFailingTask"][];
            /** @description The time zone. */
            tz: string;
        };
        /** @description An API key of the account, without its secret. */
        AdminApiKeyOut: {
            /**
             * Format: date-time
             * @description When it was created.
             */
            created_at: string;
            /**
             * Format: date-time
             * @description When it expires, if it does.
             */
            expires_at?: string | null;
            /**
             * Format: uuid
             * @description Key id.
             */
            id: string;
            /**
             * Format: date-time
             * @description When it was last used.
             */
            last_used_at?: string | null;
            /** @description Its name. */
            name: string;
            /** @description The public prefix that identifies it. */
            prefix: string;
            /**
             * Format: date-time
             * @description When it was revoked, if it was.
             */
            revoked_at?: string | null;
            /** @description Scopes it holds. */
            scopes: string[];
        };
        /** @description One day. */
        AdminDay: {
            /** @description The date in the time zone (`YYYY-MM-DD`). */
            date: string;
            /**
             * Format: double
             * @description 95th percentile of run time, ms.
             */
            duration_p95_ms?: number | null;
            /** @description Executions queued that day (within the period), by status. */
            executions: components["schemas"]["ExecutionCounts"];
            /**
             * Format: double
             * @description 95th percentile of start lateness, ms.
             */
            lateness_p95_ms?: number | null;
            /**
             * Format: int64
             * @description Executions queued (in the 30 days before) and not yet started at the end of the day.
             */
            queue_depth: number;
            /**
             * Format: date-time
             * @description Midnight in the time zone, as UTC.
             */
            start: string;
            /**
             * Format: double
             * @description `SUCCEEDED / (SUCCEEDED + FAILED + DEAD + TIMED_OUT)`; null when none ended.
             */
            success_rate?: number | null;
            /** @description Accounts. */
            users: components["schemas"]["UserFigures"];
        };
        /** @description A task with failures. */
        AdminFailingTask: {
            /**
             * Format: int64
             * @description Failed, dead and timed-out executions in the period.
             */
            failures: number;
            /** @description Its name. */
            name: string;
            /**
             * Format: uuid
             * @description Its owner.
             */
            owner_id: string;
            /**
             * Format: uuid
             * @description Task id.
             */
            task_id: string;
        };
        /** @description A session of the account. */
        AdminSessionOut: {
            /**
             * Format: date-time
             * @description When it ends at the latest.
             */
            absolute_expires_at: string;
            /**
             * Format: date-time
             * @description When it started.
             */
            created_at: string;
            /**
             * Format: uuid
             * @description Session id.
             */
            id: string;
            /** @description The network it signed in from (as stored: a /24 or /48). */
            ip?: string | null;
            /**
             * Format: date-time
             * @description When it was last refreshed.
             */
            last_used_at: string;
            /**
             * Format: date-time
             * @description When it was revoked, if it was.
             */
            revoked_at?: string | null;
            /** @description Why it was revoked. */
            revoked_reason?: string | null;
            /** @description The browser or client that signed in. */
            user_agent?: string | null;
        };
        /** @description `POST /admin/tasks/{id}/pause` and `…/resume` body. */
        AdminTaskAction: {
            /** @description Why; the owner is told. 1–500 characters. */
            reason: string;
        };
        /** @description What an admin's pause or resume did. */
        AdminTaskChanged: {
            /**
             * Format: uuid
             * @description Task id.
             */
            id: string;
            /**
             * Format: uuid
             * @description The notification the owner received (absent when nothing changed).
             */
            notification_id?: string | null;
            /**
             * Format: uuid
             * @description Its owner.
             */
            owner_id: string;
            /** @description The status now. */
            status: components["schemas"]["TaskStatus"];
        };
        /** @description One page of tasks, newest first. */
        AdminTaskPage: {
            /** @description The tasks. */
            items: components["schemas"]["AdminTaskRow"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description A task in the admin list. */
        AdminTaskRow: {
            /**
             * Format: int32
             * @description Consecutive failed executions.
             */
            consecutive_failures: number;
            /**
             * Format: date-time
             * @description When it was created.
             */
            created_at: string;
            /** @description Cron expression, for scheduled tasks. */
            cron?: string | null;
            /**
             * Format: uuid
             * @description Task id.
             */
            id: string;
            /** @description Task name. */
            name: string;
            /**
             * Format: date-time
             * @description Next scheduled run.
             */
            next_run_at?: string | null;
            /** @description The owner's email. */
            owner_email: string;
            /**
             * Format: uuid
             * @description Its owner.
             */
            owner_id: string;
            /** @description Status. */
            status: components["schemas"]["TaskStatus"];
            /** @description Tags. */
            tags: string[];
        };
        /** @description An account as the admin console shows it. */
        AdminUserDetail: {
            /** @description The newest API keys (at most 100). */
            api_keys: components["schemas"]["AdminApiKeyOut"][];
            /**
             * Format: date-time
             * @description When the account was created.
             */
            created_at: string;
            /**
             * Format: date-time
             * @description When it was deleted.
             */
            deleted_at?: string | null;
            /** @description Sign-in email. */
            email: string;
            /** @description Whether the account must choose a new password. */
            force_password_reset: boolean;
            /**
             * Format: uuid
             * @description The user id.
             */
            id: string;
            /**
             * Format: date-time
             * @description Last sign-in.
             */
            last_login_at?: string | null;
            /** @description Display name. */
            name: string;
            /**
             * Format: date-time
             * @description When the deleted account is purged.
             */
            purge_after?: string | null;
            /** @description Role. */
            role: components["schemas"]["Role"];
            /** @description The newest sessions (at most 100). */
            sessions: components["schemas"]["AdminSessionOut"][];
            /** @description Status. */
            status: components["schemas"]["AccountStatus"];
            /** @description Why an admin last changed the status. */
            status_reason?: string | null;
            /**
             * Format: int64
             * @description Tasks owned.
             */
            task_count: number;
            /** @description Preferred time zone. */
            timezone?: string | null;
            /**
             * Format: date-time
             * @description When it last changed.
             */
            updated_at: string;
        };
        /** @description One page of accounts. */
        AdminUserPage: {
            /** @description The accounts in the requested order. */
            items: components["schemas"]["AdminUserRow"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description `PATCH /admin/users/{id}` body. */
        AdminUserPatch: {
            /**
             * @description `true` ends every session and makes the account choose a new password; `false`
             *     lifts the requirement.
             */
            force_password_reset?: boolean | null;
            /** @description Why; required with `status`, 1–500 characters. */
            reason?: string | null;
            status?: null | components["schemas"]["AccountStatus"];
        };
        /** @description One account in the admin list. */
        AdminUserRow: {
            /**
             * Format: date-time
             * @description When the account was created.
             */
            created_at: string;
            /** @description Sign-in email. */
            email: string;
            /**
             * Format: int64
             * @description Executions queued over the last 30 days.
             */
            executions_30d: number;
            /**
             * Format: uuid
             * @description The user id.
             */
            id: string;
            /**
             * Format: date-time
             * @description Last sign-in, if any.
             */
            last_login_at?: string | null;
            /** @description Display name. */
            name: string;
            /** @description The effective plan. */
            plan: components["schemas"]["PlanCode"];
            /** @description Role. */
            role: components["schemas"]["Role"];
            /** @description Status. */
            status: components["schemas"]["AccountStatus"];
            /**
             * Format: int64
             * @description Tasks owned.
             */
            task_count: number;
        };
        /**
         * @description `alert.created`: a security or operations alert (admin room). Reserved: security alerts
         *     are sent as `security_alert`.
         */
        AlertCreated: {
            /**
             * Format: uuid
             * @description The alert.
             */
            alert_id: string;
            /**
             * Format: date-time
             * @description When it was raised.
             */
            created_at: string;
            /**
             * @description What was detected, e.g. `BRUTE_FORCE`.
             * @example BRUTE_FORCE
             */
            kind: string;
            /** @description A human-readable description. */
            message: string;
            /**
             * @description `INFO`, `WARNING` or `CRITICAL`.
             * @example WARNING
             */
            severity: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description An alert with its history. */
        AlertDetail: components["schemas"]["AlertOut"] & {
            /** @description Its transitions, oldest first. */
            transitions: components["schemas"]["TransitionOut"][];
        };
        /** @description One alert. */
        AlertOut: {
            /**
             * Format: int32
             * @description Occurrences folded into it.
             */
            count: number;
            /**
             * Format: date-time
             * @description When it was raised.
             */
            created_at: string;
            /** @description Details (email, address, user agent, …). */
            details: Record<string, unknown>;
            /** @description The audit events that caused it (the first 50). */
            event_ids: string[];
            /**
             * Format: date-time
             * @description The first occurrence.
             */
            first_seen: string;
            /**
             * Format: uuid
             * @description UUIDv7.
             */
            id: string;
            /**
             * Format: date-time
             * @description The latest occurrence.
             */
            last_seen: string;
            /** @description Raised while the rule was monitor-only: nobody was blocked or notified. */
            monitor_only: boolean;
            /** @description The rule that raised it. */
            rule: components["schemas"]["SecurityRuleKind"];
            /** @description How serious it is. */
            severity: components["schemas"]["Severity"];
            /** @description Where it is in its life cycle. */
            status: components["schemas"]["AlertStatus"];
            /**
             * @description Who or what it is about: an email (`FAILED_LOGINS`), an address (`PASSWORD_SPRAY`,
             *     `SUSPICIOUS_USER_AGENT`), `{user id} {network}` (`UNUSUAL_IP`), a user id
             *     (`ADMIN_BURST`) or an API key id (`API_KEY_ABUSE`).
             */
            subject: string;
            /**
             * Format: date-time
             * @description When it last changed.
             */
            updated_at: string;
        };
        /** @description One page of alerts, most recently seen first. */
        AlertPage: {
            /** @description Most recently seen first. */
            items: components["schemas"]["AlertOut"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description An alert rule as sent by the client (`POST`, and `PUT` which replaces it). */
        AlertRuleIn: {
            /** @description Where its notifications go (default both `IN_APP` and `EMAIL`). */
            channels?: components["schemas"]["Channel"][] | null;
            /** @description What the rule watches. */
            kind: components["schemas"]["RuleKind"];
            /**
             * Format: date-time
             * @description Send nothing until then (the rule keeps its state meanwhile).
             */
            muted_until?: string | null;
            /**
             * @description `{"count": n}` (1–1000) for `CONSECUTIVE_FAILURES`, `{"ms": n}` (1–86400000) for
             *     `DURATION_OVER`, nothing for the others.
             */
            params?: Record<string, unknown> | null;
            /**
             * Format: int32
             * @description Send again this often while the condition holds, 1–10080 (default: no repeats).
             */
            repeat_every_minutes?: number | null;
        };
        /** @description An alert rule. */
        AlertRuleOut: {
            /** @description Whether its condition holds and it has fired. */
            alerting: boolean;
            /** @description Where its notifications go. */
            channels: components["schemas"]["Channel"][];
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /**
             * Format: uuid
             * @description The rule.
             */
            id: string;
            /** @description What it watches. */
            kind: components["schemas"]["RuleKind"];
            /**
             * Format: date-time
             * @description When it last sent a notification.
             */
            last_fired_at?: string | null;
            /**
             * Format: date-time
             * @description Muted until then.
             */
            muted_until?: string | null;
            /** @description Its parameters. */
            params: Record<string, unknown>;
            /**
             * Format: int32
             * @description Repeat interval while the condition holds.
             */
            repeat_every_minutes?: number | null;
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /**
             * Format: date-time
             * @description Last changed.
             */
            updated_at: string;
        };
        /** @description An alert rule, without its state. */
        AlertRuleRecord: {
            /** @description Where its notifications go (default `IN_APP` and `EMAIL`). */
            channels?: components["schemas"]["Channel"][] | null;
            /** @description What the rule watches. */
            kind: components["schemas"]["RuleKind"];
            /**
             * Format: date-time
             * @description Send nothing until then.
             */
            muted_until?: string | null;
            /** @description Its parameters (see `AlertRuleIn`). */
            params?: Record<string, unknown> | null;
            /**
             * Format: int32
             * @description Send again this often while the condition holds (1–10080).
             */
            repeat_every_minutes?: number | null;
        };
        /**
         * @description Where an alert is in its life cycle.
         * @enum {string}
         */
        AlertStatus: "OPEN" | "ACKNOWLEDGED" | "RESOLVED" | "FALSE_POSITIVE";
        /** @description A period as a time series. */
        AnalyticsSeries: {
            /** @description The bucket width. */
            bucket: components["schemas"]["Bucket"];
            /**
             * Format: date-time
             * @description Start, inclusive.
             */
            from: string;
            /** @description One point per bucket, oldest first. */
            points: components["schemas"]["SeriesPoint"][];
            /**
             * Format: date-time
             * @description End, exclusive.
             */
            to: string;
            /**
             * @description The time zone buckets follow.
             * @example Europe/Berlin
             */
            tz: string;
            /** @description The first day of week buckets. */
            week_start: components["schemas"]["WeekStart"];
        };
        /** @description The summary of a period. */
        AnalyticsSummary: {
            /** @description The tasks with the most executions in the period (at most 10), most first. */
            busiest_tasks: components["schemas"]["TaskFigures"][];
            /** @description The current period against the previous one. */
            change: components["schemas"]["SummaryChange"];
            /** @description The requested period. */
            current: components["schemas"]["PeriodFigures"];
            /** @description The period of equal length just before it. */
            previous: components["schemas"]["PeriodFigures"];
            /** @description The tasks with the most failures in the period (at most 10, only tasks that failed). */
            top_failing_tasks: components["schemas"]["TaskFigures"][];
            /**
             * @description The time zone of the request.
             * @example Europe/Berlin
             */
            tz: string;
        };
        /** @description A API_CALL action. */
        ApiCallAction: {
            config: components["schemas"]["HttpActionConfig"];
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "API_CALL";
        };
        /** @description A new or rotated key: the only time the key is shown. */
        ApiKeyCreated: components["schemas"]["ApiKeyOut"] & {
            /**
             * @description The key; store it now, it cannot be shown again.
             * @example nck_3fX9aQ2mLp0ZkR7tYb1cVn4sWe8uIo6a9xQ2Lm
             */
            key: string;
        };
        /** @description `POST /api-keys` body. */
        ApiKeyIn: {
            /**
             * Format: date-time
             * @description When the key stops working; never when omitted.
             */
            expires_at?: string | null;
            /**
             * @description A label to recognise the key by.
             * @example CI pipeline
             */
            name: string;
            /** @description What the key may do; at least one scope of the catalogue. */
            scopes: components["schemas"]["Scope"][];
        };
        /** @description A key as listed (never the key itself). */
        ApiKeyOut: {
            /**
             * Format: date-time
             * @description When it was created.
             */
            created_at: string;
            /**
             * Format: date-time
             * @description When it expires, if ever.
             */
            expires_at?: string | null;
            /**
             * Format: uuid
             * @description The key id.
             */
            id: string;
            /**
             * Format: date-time
             * @description When it was last used (updated at most once a minute).
             */
            last_used_at?: string | null;
            /** @description Its label. */
            name: string;
            /**
             * @description The key's public start, to recognise it.
             * @example nck_3fX9aQ2mLp0Z
             */
            prefix: string;
            /** @description Its scopes. */
            scopes: components["schemas"]["Scope"][];
        };
        /** @description One audit event. */
        AuditEventOut: {
            /** @description Dotted action, e.g. `tasks.create`, `auth.login.failed`, `admin.role.grant`. */
            action: string;
            /** @description Class of the action. */
            action_class: components["schemas"]["ActionClass"];
            /** @description Who acted. */
            actor: components["schemas"]["ActorOut"];
            /**
             * Format: uuid
             * @description The API key used, if any.
             */
            api_key_id?: string | null;
            /** @description Role, key, password, billing or admin change. */
            critical: boolean;
            /** @description The row's hash in the chain, hex (absent until sealed, within seconds). */
            hash?: string | null;
            /**
             * Format: uuid
             * @description UUIDv7.
             */
            id: string;
            /** @description The client address (through `TRUSTED_PROXIES`). */
            ip?: string | null;
            /**
             * Format: int32
             * @description Milliseconds to the response head.
             */
            latency_ms: number;
            /** @description HTTP method (`WS` for a Socket.IO handshake). */
            method: string;
            /**
             * Format: date-time
             * @description When the request arrived.
             */
            occurred_at: string;
            /** @description `SUCCESS`, `FAILURE`, or `DENIED` (401, 403, 429). */
            outcome: components["schemas"]["Outcome"];
            /** @description The request path (credentials in it, such as webhook tokens, replaced). */
            path: string;
            /** @description The previous row's hash, hex. */
            prev_hash?: string | null;
            /** @description The JSON request body, credentials redacted, capped at 8 KiB. */
            request_body?: unknown;
            /** @description The JSON response body, credentials redacted, capped at 8 KiB. */
            response_body?: unknown;
            /** @description The matched route template (absent when no route matched). */
            route?: string | null;
            /**
             * Format: int64
             * @description Position in the trail and in the hash chain.
             */
            seq: number;
            /**
             * Format: int32
             * @description HTTP status answered.
             */
            status: number;
            /** @description What the request acted on, from its path. */
            targets: components["schemas"]["Target"][];
            /** @description The `X-Request-Id` the response carried. */
            transaction_id: string;
            /** @description `User-Agent`. */
            user_agent?: string | null;
        };
        /** @description One page of audit events, newest first. */
        AuditPage: {
            /** @description Newest first. */
            items: components["schemas"]["AuditEventOut"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description Tokens and the user they are for. */
        AuthOut: {
            /** @description A JWT for `Authorization: Bearer …`. */
            access_token: string;
            /**
             * Format: int64
             * @description Seconds until the access token expires.
             * @example 900
             */
            expires_in: number;
            /** @description Opaque; exchange it at `POST /auth/refresh`. Each one works once. */
            refresh_token: string;
            /**
             * @description Always `Bearer`.
             * @example Bearer
             */
            token_type: string;
            /** @description The signed-in user. */
            user: components["schemas"]["UserOut"];
        };
        /** @description Where to send the user to connect Notion. */
        AuthorizeOut: {
            /**
             * Format: int64
             * @description Seconds the link works.
             */
            expires_in: number;
            /** @description Notion's consent page; open it in the browser. */
            url: string;
        };
        /**
         * @description The width of a series bucket, in the requested time zone's calendar.
         * @enum {string}
         */
        Bucket: "hour" | "day" | "week" | "month";
        /**
         * @description What to do to each task.
         * @enum {string}
         */
        BulkAction: "pause" | "resume" | "stop" | "delete" | "execute" | "add_tags" | "remove_tags" | "set_priority";
        /**
         * @description Which tasks a bulk action applies to: the filters of `GET /tasks`; omitted fields match
         *     every task.
         */
        BulkFilter: {
            action_type?: null | components["schemas"]["ActionType"];
            /** @description Text in the name or description (case-insensitive). */
            q?: string | null;
            status?: null | components["schemas"]["TaskStatus"];
            /** @description Only tasks carrying this tag. */
            tag?: string | null;
        };
        /** @description `POST /tasks/bulk` body. */
        BulkIn: {
            /** @description The action. */
            action: components["schemas"]["BulkAction"];
            filter?: null | components["schemas"]["BulkFilter"];
            /** @description The tasks, 1 to 1,000 distinct ids; or give `filter` instead. */
            ids?: string[] | null;
            mode?: null | components["schemas"]["BulkMode"];
            /**
             * Format: int32
             * @description For `set_priority`: 0 (lowest) to 9.
             */
            priority?: number | null;
            /** @description For `add_tags` and `remove_tags`: 1 to 20 tags of 1 to 50 characters. */
            tags?: string[] | null;
        };
        /** @description One task's result. */
        BulkItemOut: {
            /** @description Why it failed. */
            error?: string | null;
            /**
             * Format: uuid
             * @description For `execute`: the queued execution.
             */
            execution_id?: string | null;
            /**
             * Format: uuid
             * @description The task.
             */
            id: string;
            /** @description What happened to it. */
            status: components["schemas"]["BulkItemStatus"];
        };
        /**
         * @description One item's result.
         * @enum {string}
         */
        BulkItemStatus: "OK" | "NOT_FOUND" | "FAILED" | "ROLLED_BACK";
        /**
         * @description Whether one failing item cancels the others.
         * @enum {string}
         */
        BulkMode: "all_or_nothing" | "partial";
        /** @description The answer: each id's result, in the order sent. */
        BulkOut: {
            /** @description Whether any change was kept (false when `all_or_nothing` rolled everything back). */
            applied: boolean;
            /** @description Items not found or refused. */
            failed: number;
            /** @description How many tasks the request covered: the ids given, or the tasks the filter matched. */
            matched: number;
            /** @description Each id's result. */
            results: components["schemas"]["BulkItemOut"][];
            /** @description Items done. */
            succeeded: number;
        };
        /** @description The state of an execution after a cancel request. */
        CancelOut: {
            /**
             * Format: uuid
             * @description The execution.
             */
            execution_id: string;
            /**
             * @description `CANCELLED` for a queued execution; `RUNNING` for one that was asked to stop and
             *     will end as `CANCELLED` shortly.
             */
            status: components["schemas"]["ExecutionStatus"];
        };
        /**
         * @description What happens to slots missed while no scheduler was running.
         * @enum {string}
         */
        CatchUpPolicy: "SKIP" | "LATEST" | "ALL";
        /** @description A channel turned on or off for one category. */
        CategorySetting: {
            /** @description The category. */
            category: components["schemas"]["NotificationCategory"];
            /** @description `EMAIL` or `WEBHOOK`. */
            channel: components["schemas"]["Channel"];
            /** @description On or off. */
            enabled: boolean;
        };
        /** @description `POST /tasks/{task_id}/chains` body. */
        ChainIn: {
            /** @description Which endings count. */
            on: components["schemas"]["ChainOn"];
            /**
             * Format: uuid
             * @description The task whose executions start this one (one of yours).
             */
            source_task_id: string;
        };
        /**
         * @description Which endings of the source task's executions start the chained task.
         * @enum {string}
         */
        ChainOn: "SUCCEEDED" | "DEAD" | "ANY";
        /** @description A chain: `task_id` runs when an execution of `source_task_id` ends as `on` says. */
        ChainOut: {
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /**
             * Format: uuid
             * @description The chain id.
             */
            id: string;
            /** @description Which endings count. */
            on: components["schemas"]["ChainOn"];
            /**
             * Format: uuid
             * @description The task whose executions start it.
             */
            source_task_id: string;
            /**
             * Format: uuid
             * @description The task that runs.
             */
            task_id: string;
        };
        /** @description A chain: this task runs when an execution of the task named `after` ends as `on` says. */
        ChainRecord: {
            /** @description The source task's name: a task of the same import first, else one of yours. */
            after: string;
            /** @description Which endings count. */
            on: components["schemas"]["ChainOn"];
        };
        /** @description `POST /auth/change-password` body. */
        ChangePasswordIn: {
            /** @description The password in use now. */
            current_password: string;
            /**
             * @description Keep your API keys working. By default (`false`) every active API key is revoked
             *     along with your other sessions, since whoever knew the old password may have made one.
             */
            keep_api_keys?: boolean;
            /** @description The new password (same rules as at registration). */
            new_password: string;
        };
        /**
         * @description A way a notification reaches its recipient.
         * @enum {string}
         */
        Channel: "IN_APP" | "EMAIL" | "WEBHOOK";
        /** @description A channel turned on or off for every type. */
        ChannelSetting: {
            /** @description `EMAIL` or `WEBHOOK` (`IN_APP` is always on). */
            channel: components["schemas"]["Channel"];
            /** @description On or off. */
            enabled: boolean;
        };
        /** @description A Checkout Session to send the browser to. */
        CheckoutOut: {
            /** @description Stripe's hosted payment page. */
            checkout_url: string;
            /** @description The Checkout Session's id (`cs_…`). */
            session_id: string;
        };
        /**
         * @description What happens when a slot is due while an earlier run is still active.
         * @enum {string}
         */
        ConcurrencyPolicy: "ALLOW" | "SKIP" | "QUEUE_ONE" | "CANCEL_RUNNING";
        /** @description One setting. */
        ConfigEntry: {
            /** @description The environment variable. */
            name: string;
            /** @description Whether the value is secret (and so masked). */
            secret: boolean;
            /** @description The value in effect; `"********"` for a secret that is set, null when unset. */
            value: Record<string, unknown>;
        };
        /** @description A user's Notion connection, without the token. */
        ConnectionOut: {
            /** @description The integration's bot user in that workspace. */
            bot_id: string;
            /**
             * Format: date-time
             * @description When it was first connected.
             */
            created_at: string;
            /**
             * Format: date-time
             * @description When the token was last replaced.
             */
            updated_at: string;
            /** @description Its icon (URL or emoji). */
            workspace_icon?: string | null;
            /** @description The Notion workspace. */
            workspace_id: string;
            /** @description Its name. */
            workspace_name?: string | null;
        };
        /** @description A CUSTOM_SCRIPT action. */
        CustomScriptAction: {
            config: components["schemas"]["ScriptActionConfig"];
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "CUSTOM_SCRIPT";
        };
        /**
         * @description `dashboard.metrics`: live execution numbers, the figures of `GET /dashboard/metrics`.
         *     System-wide in the `dashboard` room (administrators), one user's own in
         *     `dashboard:{user_id}`; computed once per instance per tick and pushed when they change.
         */
        DashboardMetrics: {
            /**
             * Format: date-time
             * @description When the numbers were taken.
             */
            at: string;
            /**
             * Format: int64
             * @description Executions that failed (any failed final status) in the last hour.
             */
            failed_last_hour: number;
            /**
             * Format: int64
             * @description Executions that ended (any final status) in the last 5 minutes.
             */
            finished_last_5m: number;
            /**
             * Format: double
             * @description 95th percentile run time of executions finished in the last hour, in milliseconds.
             */
            p95_duration_ms?: number | null;
            /**
             * Format: double
             * @description 99th percentile start lateness (how long after it was due a worker started it) of
             *     executions started in the last hour, in milliseconds.
             */
            p99_lateness_ms?: number | null;
            /**
             * @description The last hour minute by minute (60 points, oldest first; the last is the current,
             *     partial minute).
             */
            per_minute: components["schemas"]["MinuteFigures"][];
            /**
             * Format: int64
             * @description Executions waiting for a worker.
             */
            queued: number;
            /**
             * Format: int64
             * @description Executions running now.
             */
            running: number;
            /**
             * Format: double
             * @description How late queued scheduled executions are: now − the oldest `scheduled_for` still
             *     queued, in milliseconds (0 when none is late).
             */
            scheduler_lag_ms?: number | null;
            /** @description `system` for every user's executions, `user` for the caller's own. */
            scope: components["schemas"]["DashboardScope"];
            /**
             * Format: int64
             * @description Executions that succeeded in the last hour.
             */
            succeeded_last_hour: number;
            /**
             * Format: double
             * @description `finished_last_5m` per minute.
             */
            throughput_per_minute: number;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description The dashboard's overview. */
        DashboardOverview: {
            /** @description Up to 10 failing tasks, most consecutive failures first. */
            failing_tasks: components["schemas"]["FailingTask"][];
            /** @description The last 24 hours' outcomes. */
            last_24h: components["schemas"]["LastDay"];
            /** @description The next 10 scheduled runs, soonest first. */
            next_runs: components["schemas"]["NextRun"][];
            /** @description Whose figures these are. */
            scope: components["schemas"]["DashboardScope"];
            /** @description Tasks by status. */
            tasks: components["schemas"]["TaskCounts"];
            /** @description Today's executions. */
            today: components["schemas"]["Today"];
            /**
             * @description The time zone of "today".
             * @example Asia/Shanghai
             */
            tz: string;
            /**
             * Format: int64
             * @description Your unread notifications.
             */
            unread_notifications: number;
        };
        /**
         * @description Whose figures: the caller's own, or every user's.
         * @enum {string}
         */
        DashboardScope: "user" | "system";
        /** @description A DATABASE_QUERY configuration. */
        DatabaseActionConfig: {
            /** @description Runs the statement in a read-write transaction (default: `READ ONLY`). */
            allow_writes?: boolean;
            /**
             * @description `postgres://user:password@host:port/database[?sslmode=…]`, normally
             *     `{{ secrets.NAME }}`.
             */
            connection: string;
            /**
             * Format: int32
             * @description Rows kept in the result; more are reported as truncated.
             */
            max_rows?: number;
            /**
             * @description Parameter values: strings are sent as text, numbers as `bigint`/`double precision`,
             *     booleans as `boolean`, arrays and objects as `jsonb`, `null` as a text null.
             */
            params?: unknown[];
            /** @description One SQL statement; `$1`, `$2`, … are bound from `params`. */
            sql: string;
            /**
             * Format: int64
             * @description `statement_timeout` for the statement, in milliseconds.
             */
            timeout_ms?: number;
        };
        /** @description The database as this instance sees it. */
        DatabaseDetail: {
            /** @description Why the check failed. */
            error?: string | null;
            /**
             * Format: double
             * @description Round trip of a ping on a pooled connection, in milliseconds (including the wait
             *     for a free connection).
             */
            latency_ms?: number | null;
            /**
             * Format: int32
             * @description Open connections waiting for work.
             */
            pool_idle: number;
            /**
             * Format: int32
             * @description Open connections in use.
             */
            pool_in_use: number;
            /**
             * Format: int32
             * @description Connections the pool may open (`DATABASE_MAX_CONNECTIONS`).
             */
            pool_max: number;
            /**
             * Format: int32
             * @description Connections open now.
             */
            pool_size: number;
            /** @description `ok`, or `degraded` when no connection answered within 2 seconds. */
            status: components["schemas"]["ServiceStatus"];
        };
        /** @description A database shared with the integration. */
        DatabaseOut: {
            /** @description The database id (use it as `database_id` in NOTION_SYNC). */
            id: string;
            /** @description Its title as plain text. */
            title: string;
            /** @description Its page in Notion. */
            url?: string | null;
        };
        /** @description A DATABASE_QUERY action. */
        DatabaseQueryAction: {
            config: components["schemas"]["DatabaseActionConfig"];
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "DATABASE_QUERY";
        };
        /** @description The databases shared with the integration. */
        DatabasesOut: {
            /** @description The databases, in Notion's order. */
            databases: components["schemas"]["DatabaseOut"][];
            /** @description More exist than were read. */
            has_more: boolean;
        };
        /** @description The answer to an accepted delivery. */
        DeliveryAccepted: {
            /** @description True when this delivery id had already been received. */
            duplicate: boolean;
            /**
             * Format: uuid
             * @description The queued execution (the first one, for a redelivery).
             */
            execution_id: string;
        };
        /** @description One channel's delivery of a notification. */
        DeliveryOut: {
            /**
             * Format: int32
             * @description Attempts made.
             */
            attempts: number;
            /** @description The channel. */
            channel: components["schemas"]["Channel"];
            /**
             * Format: date-time
             * @description When the email's link was first followed.
             */
            clicked_at?: string | null;
            /**
             * Format: date-time
             * @description When it reached the recipient.
             */
            delivered_at?: string | null;
            /**
             * Format: int32
             * @description 0 for the first delivery; each resend of a failed one adds a delivery one higher.
             */
            generation: number;
            /** @description Why the last attempt failed, or why it was not sent. */
            last_error?: string | null;
            /**
             * Format: date-time
             * @description When the email was first opened (its tracking image loaded).
             */
            opened_at?: string | null;
            /**
             * Format: date-time
             * @description When the provider took it.
             */
            sent_at?: string | null;
            /** @description Where the delivery is. */
            status: components["schemas"]["DeliveryStatus"];
            /**
             * Format: date-time
             * @description Last change.
             */
            updated_at: string;
        };
        /**
         * @description Where one channel's delivery of a notification is; it only moves forward.
         * @enum {string}
         */
        DeliveryStatus: "QUEUED" | "SENT" | "DELIVERED" | "UNDELIVERED" | "BOUNCED" | "NOT_SENT";
        /**
         * @description How a wall-clock schedule treats daylight-saving transitions. Interval schedules (hour
         *     field `*`) keep their cadence in absolute time and ignore it.
         */
        DstPolicy: {
            /** @default ONCE */
            repeated?: components["schemas"]["RepeatedHour"];
            /** @default RUN_AT_GAP_END */
            skipped?: components["schemas"]["SkippedHour"];
        };
        /** @description `POST /tasks/{id}/duplicate` body (optional). */
        DuplicateIn: {
            /** @description The copy's name (default: "<name> (copy)"). */
            name?: string | null;
        };
        /** @description Every type and channel, resolved. */
        EffectivePreferences: {
            quiet_hours?: null | components["schemas"]["QuietHours"];
            /** @description One entry per type and channel. */
            settings: components["schemas"]["EffectiveSetting"][];
        };
        /** @description One resolved value. */
        EffectiveSetting: {
            /** @description The channel. */
            channel: components["schemas"]["Channel"];
            /** @description Whether this type goes out on this channel. */
            enabled: boolean;
            /** @description Which setting decided it. */
            source: components["schemas"]["Source"];
            /** @description The type. */
            type: components["schemas"]["NotificationType"];
        };
        /**
         * @description An EMAIL_SEND configuration: the message (every string a template) and, optionally, the
         *     SMTP server to send it through instead of the server's own.
         */
        EmailActionConfig: {
            /**
             * @description Blind-copy recipients (in the envelope only, never in the headers).
             * @default []
             */
            bcc: string[];
            /**
             * @description Copy recipients.
             * @default []
             */
            cc: string[];
            /** @description The sender, with `smtp_url`. */
            from?: string | null;
            /** @description The HTML body. */
            html?: string | null;
            /** @description Where replies go. */
            reply_to?: string | null;
            /**
             * @description `smtps://…` or `smtp://…` of your own server, usually `{{ secrets.NAME }}`; the
             *     server's `SMTP_URL` when omitted.
             */
            smtp_url?: string | null;
            /** @description The subject line. */
            subject: string;
            /** @description The plain-text body. */
            text?: string | null;
            /**
             * @description Recipients (`ann@example.com` or `Ann <ann@example.com>`).
             * @default []
             */
            to: string[];
        };
        /** @description A EMAIL_SEND action. */
        EmailSendAction: {
            config: components["schemas"]["EmailActionConfig"];
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "EMAIL_SEND";
        };
        /** @description A new email trigger: the only time its address and token are shown. */
        EmailTriggerCreated: components["schemas"]["EmailTriggerOut"] & {
            /**
             * @description `task-{token}@INBOUND_DOMAIN`, when `INBOUND_DOMAIN` is configured.
             * @example task-k3q7x2m4p9d5w8r6t1y0z2a4b6c8e0f2@hooks.example.com
             */
            address?: string | null;
            /** @description Where a mail provider can post inbound messages for this trigger. */
            http_url: string;
            /** @description The token; store it now, it cannot be shown again. */
            token: string;
        };
        /** @description `POST /tasks/{task_id}/email-triggers` body. */
        EmailTriggerIn: {
            /**
             * @description A label (at most 100 characters).
             * @example Invoices inbox
             */
            name?: string | null;
        };
        /** @description An email trigger as listed (never its token or address). */
        EmailTriggerOut: {
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /**
             * Format: uuid
             * @description The trigger id.
             */
            id: string;
            /**
             * Format: date-time
             * @description When a message was last accepted (updated at most once a minute).
             */
            last_used_at?: string | null;
            /** @description Its label. */
            name: string;
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /** @description The token's public start, to recognise the address. */
            token_prefix: string;
        };
        /** @description An email trigger, without its token or address. */
        EmailTriggerRecord: {
            /** @description Its label (at most 100 characters). */
            name?: string;
        };
        /**
         * @description The answer of `POST /auth/verify-email`: the address is confirmed and its account
         *     exists. It carries no tokens; sign in with the password at `POST /auth/login`.
         */
        EmailVerified: {
            /**
             * @description The confirmed address.
             * @example ada@example.com
             */
            email: string;
            /** @description Always `true`. */
            verified: boolean;
        };
        /** @description `POST /notifications/webhooks` body. */
        EndpointIn: {
            /** @description A note for yourself. */
            description?: string | null;
            /**
             * @description Where notifications are posted: `http` or `https`, a public address (or one in
             *     `OUTBOUND_ALLOW_CIDRS`).
             * @example https://hooks.example.com/nocron
             */
            url: string;
        };
        /** @description One of your webhook endpoints (never its secret). */
        EndpointOut: {
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /** @description Your note. */
            description: string;
            /**
             * Format: uuid
             * @description The endpoint.
             */
            id: string;
            /**
             * Format: date-time
             * @description The last delivery attempt that failed.
             */
            last_failure_at?: string | null;
            /**
             * Format: date-time
             * @description The last delivery it accepted.
             */
            last_success_at?: string | null;
            /**
             * Format: date-time
             * @description When the secret was last rotated.
             */
            rotated_at?: string | null;
            /** @description Where notifications are posted. */
            url: string;
        };
        /** @description An endpoint with its signing secret, shown only in this response. */
        EndpointWithSecret: components["schemas"]["EndpointOut"] & {
            /** @description The Standard Webhooks signing secret (`whsec_<base64>`); store it now. */
            secret: string;
        };
        /** @description A queued execution, as answered to a trigger. */
        Enqueued: {
            /** @description False when an execution with the same idempotency key already existed. */
            created: boolean;
            /**
             * Format: uuid
             * @description The execution.
             */
            execution_id: string;
            /** @description Its status now (`QUEUED` unless an idempotent repeat found an older one). */
            status: components["schemas"]["ExecutionStatus"];
        };
        /**
         * @description What a history entry records.
         * @enum {string}
         */
        EntryKind: "EXECUTION" | "SKIPPED";
        /**
         * @description Stable machine-readable error codes. The string form is what clients switch on.
         * @enum {string}
         */
        ErrorCode: "UNAUTHORIZED" | "FORBIDDEN" | "INVALID_CREDENTIALS" | "ACCOUNT_LOCKED" | "INSUFFICIENT_SCOPE" | "RATE_LIMITED" | "VALIDATION_ERROR" | "MALFORMED_JSON" | "INVALID_CONTENT_TYPE" | "PAYLOAD_TOO_LARGE" | "INVALID_QUERY" | "INVALID_PATH" | "BAD_REQUEST" | "NOT_FOUND" | "METHOD_NOT_ALLOWED" | "CONFLICT" | "PRECONDITION_FAILED" | "REQUEST_TIMEOUT" | "DATABASE_ERROR" | "DATABASE_UNAVAILABLE" | "EXTERNAL_SERVICE_ERROR" | "EXTERNAL_SERVICE_TIMEOUT" | "INTEGRATION_NOT_CONFIGURED" | "INTERNAL_ERROR" | "PLAN_LIMIT_REACHED" | "BILLING_DISABLED";
        /** @description `POST /tasks/{id}/execute` body (optional). */
        ExecuteIn: {
            /** @description Passed to the action as its input (default `{}`), up to 256 KiB. */
            input?: unknown;
            /**
             * Format: int32
             * @description This run's priority, 0 (lowest) to 9 (default: the task's).
             */
            priority?: number | null;
        };
        /** @description Executions (attempts: a retry is an execution of its own) counted by status. */
        ExecutionCounts: {
            /**
             * Format: int64
             * @description Cancelled.
             */
            cancelled: number;
            /**
             * Format: int64
             * @description Failed for the last time (dead-lettered).
             */
            dead: number;
            /**
             * Format: int64
             * @description Failed, with a retry queued.
             */
            failed: number;
            /**
             * Format: int64
             * @description Waiting for a worker.
             */
            queued: number;
            /**
             * Format: int64
             * @description Running.
             */
            running: number;
            /**
             * Format: int64
             * @description Succeeded.
             */
            succeeded: number;
            /**
             * Format: int64
             * @description Ran past the task's timeout.
             */
            timed_out: number;
            /**
             * Format: int64
             * @description Every status together.
             */
            total: number;
        };
        /** @description `execution.finished`: the attempt ended. */
        ExecutionFinished: {
            /**
             * Format: int32
             * @description Attempt number, from 1.
             * @example 1
             */
            attempt: number;
            /**
             * Format: int64
             * @description Run time in milliseconds.
             * @example 142
             */
            duration_ms?: number | null;
            /**
             * Format: uuid
             * @description The execution.
             */
            execution_id: string;
            /**
             * Format: date-time
             * @description When it ended.
             */
            finished_at: string;
            /**
             * Format: date-time
             * @description When the action started.
             */
            started_at?: string | null;
            /** @description `SUCCEEDED`, `FAILED` (will retry), `DEAD`, `CANCELLED` or `TIMED_OUT`. */
            status: components["schemas"]["ExecutionStatus"];
            /** @description The outcome in brief. */
            summary: components["schemas"]["OutcomeSummary"];
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description One execution in a list across tasks. */
        ExecutionListItem: {
            /**
             * Format: int32
             * @description Attempt number.
             */
            attempt: number;
            /**
             * Format: int32
             * @description Chain links from the root (0 on a root).
             */
            chain_depth: number;
            /**
             * Format: int64
             * @description How long it ran.
             */
            duration_ms?: number | null;
            /** @description Why it failed. */
            error?: string | null;
            /**
             * Format: date-time
             * @description When it finished.
             */
            finished_at?: string | null;
            /**
             * Format: uuid
             * @description The execution.
             */
            id: string;
            /**
             * Format: date-time
             * @description When it was queued.
             */
            queued_at: string;
            /**
             * Format: uuid
             * @description The execution that started this one's chain; `null` on a root.
             */
            root_execution_id?: string | null;
            /**
             * Format: date-time
             * @description The schedule slot, for scheduled runs.
             */
            scheduled_for?: string | null;
            /**
             * Format: date-time
             * @description When it started.
             */
            started_at?: string | null;
            /** @description Its status. */
            status: components["schemas"]["ExecutionStatus"];
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /** @description The task's name. */
            task_name: string;
            /** @description What started it. */
            trigger_kind: components["schemas"]["TriggerKind"];
        };
        /** @description `execution.log`: one structured log line of a running execution. */
        ExecutionLog: {
            /**
             * Format: date-time
             * @description When the line was written.
             */
            at: string;
            /**
             * Format: uuid
             * @description The execution.
             */
            execution_id: string;
            /**
             * @description `DEBUG`, `INFO`, `WARN` or `ERROR`.
             * @example INFO
             */
            level: string;
            /**
             * @description The message.
             * @example GET https://api.example.com/report -> 200 in 142 ms
             */
            message: string;
            /**
             * Format: int64
             * @description Position of the line within the execution, from 1; gaps mean lines were dropped.
             * @example 3
             */
            seq: number;
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /**
         * @description An execution with its log lines, as clients see it: the queue's bookkeeping (which
         *     instance holds the claim, until when, and when it may be claimed) stays inside.
         */
        ExecutionOut: {
            /**
             * Format: int32
             * @description 1 for the first try.
             */
            attempt: number;
            /**
             * Format: int32
             * @description Chain links from the root: 0 on a root, the source's depth + 1 on a chained
             *     execution; retries keep their attempt's depth.
             */
            chain_depth: number;
            /**
             * Format: int64
             * @description Wall time of the attempt.
             */
            duration_ms?: number | null;
            /** @description Why it failed. */
            error?: string | null;
            /**
             * Format: date-time
             * @description When it reached a final state.
             */
            finished_at?: string | null;
            /**
             * Format: uuid
             * @description UUID v7.
             */
            id: string;
            /** @description The caller's idempotency key, for API triggers. */
            idempotency_key?: string | null;
            /** @description The trigger's input. */
            input: unknown;
            /**
             * Format: int64
             * @description How long after it was due (its slot, plus any jitter or retry delay) a worker
             *     started it; absent until it starts.
             */
            lateness_ms?: number | null;
            /** @description Its log lines, oldest first. */
            logs: components["schemas"]["StoredLogLine"][];
            /** @description What the action produced. */
            outcome?: unknown;
            /**
             * Format: int32
             * @description 0 (lowest) to 9: the task's, unless the run was started with another.
             */
            priority: number;
            /**
             * Format: date-time
             * @description When it was queued.
             */
            queued_at: string;
            /**
             * Format: uuid
             * @description The attempt this one retries.
             */
            retry_of?: string | null;
            /**
             * Format: uuid
             * @description The execution that started this one's chain; `null` on a root (an execution not
             *     started by a chain, or a retry of one). Retries keep their attempt's root.
             */
            root_execution_id?: string | null;
            /**
             * Format: date-time
             * @description The schedule slot, for scheduled runs.
             */
            scheduled_for?: string | null;
            /**
             * Format: date-time
             * @description When a worker started it.
             */
            started_at?: string | null;
            /** @description Where it is. */
            status: components["schemas"]["ExecutionStatus"];
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /** @description What created it. */
            trigger_kind: components["schemas"]["TriggerKind"];
        };
        /** @description One page of executions across tasks. */
        ExecutionPage: {
            /** @description Newest first. */
            items: components["schemas"]["ExecutionListItem"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description `execution.queued`: an execution row was inserted (`QUEUED`). */
        ExecutionQueued: {
            /**
             * Format: uuid
             * @description The execution.
             */
            execution_id: string;
            /**
             * Format: date-time
             * @description When it was queued.
             */
            queued_at: string;
            /**
             * Format: date-time
             * @description The schedule slot it fills, for scheduled runs.
             */
            scheduled_for?: string | null;
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /** @description What started it: `SCHEDULE`, `MANUAL`, `API`, `WEBHOOK`, `EMAIL`, `CHAIN`, `RETRY`. */
            trigger: components["schemas"]["TriggerKind"];
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description `execution.skipped`: a planned run that did not happen (a ledger entry). */
        ExecutionSkipped: {
            /**
             * @description Why: `SKIPPED_CONCURRENCY`, `OUTSIDE_CATCH_UP`, `PAUSED`, `AFTER_END`,
             *     `OWNER_INACTIVE`, `QUEUE_FULL`, `CHAIN_DEPTH`, `CHAIN_BUDGET` (for chain entries the
             *     slot is when the source execution finished).
             */
            reason: components["schemas"]["SkipReason"];
            /**
             * Format: date-time
             * @description When the skip was recorded.
             */
            recorded_at: string;
            /**
             * Format: date-time
             * @description The slot that did not run.
             */
            scheduled_for: string;
            /**
             * Format: uuid
             * @description The task.
             */
            task_id: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description `execution.started`: a worker claimed the execution (`RUNNING`). */
        ExecutionStarted: {
            /**
             * Format: int32
             * @description Attempt number, from 1.
             * @example 1
             */
            attempt: number;
            /**
             * Format: uuid
             * @description The execution.
             */
            execution_id: string;
            /**
             * @description The Nocron instance running it.
             * @example web-1-4242-a1b2c3
             */
            instance_id: string;
            /**
             * Format: date-time
             * @description When the action started.
             */
            started_at: string;
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /**
         * @description Where an execution is in its life.
         * @enum {string}
         */
        ExecutionStatus: "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT";
        /** @description The latest execution of a task, in brief. */
        ExecutionSummary: {
            /**
             * Format: int32
             * @description Attempt number.
             */
            attempt: number;
            /**
             * Format: int64
             * @description How long it ran.
             */
            duration_ms?: number | null;
            /** @description Why it failed. */
            error?: string | null;
            /**
             * Format: date-time
             * @description When it finished.
             */
            finished_at?: string | null;
            /**
             * Format: uuid
             * @description The execution.
             */
            id: string;
            /**
             * Format: date-time
             * @description When it was queued.
             */
            queued_at: string;
            /**
             * Format: date-time
             * @description When it started.
             */
            started_at?: string | null;
            /** @description Its status. */
            status: components["schemas"]["ExecutionStatus"];
            /** @description What started it. */
            trigger_kind: components["schemas"]["TriggerKind"];
        };
        /** @description A cron expression to explain. */
        ExplainIn: {
            /**
             * Format: date-time
             * @description List runs strictly after this instant (default: now).
             */
            after?: string | null;
            /**
             * Format: int64
             * @description How many runs to list (1-100, default 10); only runs within 100 years are listed.
             * @example 10
             */
            count?: number | null;
            /**
             * @description 5 fields (minute first), 6 (second first), or a macro such as `@daily`.
             * @example 30 2 * * *
             */
            cron: string;
            /** @description How the skipped and the repeated hour are handled (defaults: `RUN_AT_GAP_END`, `ONCE`). */
            dst_policy?: components["schemas"]["DstPolicy"];
            /**
             * @description IANA time zone the expression is read in.
             * @example America/New_York
             */
            timezone: string;
        };
        /** @description The explanation. */
        ExplainOut: {
            /** @description The expression, as given. */
            cron: string;
            /**
             * @description Plain-English description.
             * @example At 02:30 (America/New_York)
             */
            description: string;
            /** @description Daylight-saving transitions that affect the listed runs, in words. */
            dst_notes: string[];
            /** @description The DST policy applied. */
            dst_policy: components["schemas"]["DstPolicy"];
            /** @description Wall-clock or interval schedule. */
            kind: components["schemas"]["ScheduleKind"];
            /** @description The next runs, earliest first. */
            next_runs: components["schemas"]["NextRun"][];
            /** @description The time zone. */
            timezone: string;
        };
        /** @description An account with failures. */
        FailingAccount: {
            /** @description Email. */
            email: string;
            /**
             * Format: int64
             * @description Failed, dead and timed-out executions of its tasks in the period.
             */
            failures: number;
            /**
             * Format: uuid
             * @description User id.
             */
            user_id: string;
        };
        /** @description A task that is failing: stopped by the engine, or whose last executions failed. */
        FailingTask: {
            /**
             * Format: int32
             * @description Failed executions in a row, up to now.
             */
            consecutive_failures: number;
            /** @description Its name. */
            name: string;
            /** @description Its status. */
            status: components["schemas"]["TaskStatus"];
            /**
             * Format: uuid
             * @description The task.
             */
            task_id: string;
        };
        /** @description The body of `false-positive`. */
        FalsePositiveIn: {
            /**
             * @description Why (1–2000 characters).
             * @example Our load test
             */
            note: string;
            /**
             * Format: int32
             * @description Suppress this rule for this subject for so many days (1–365); no suppression when
             *     absent.
             */
            suppress_days?: number | null;
        };
        /** @description One failing field of a validation error. */
        FieldError: {
            /** @description The field's path in the request, e.g. `schedule.cron` or `query.limit`. */
            field: string;
            /** @description What is wrong with it, in words for a person. */
            message: string;
        };
        /** @description `POST /tasks/from-template/{id}` body. */
        FromTemplateIn: {
            /** @description The new task's name, instead of the template's. */
            name?: string | null;
            /** @description A value per variable (those with a default may be left out). */
            variables?: Record<string, unknown>;
        };
        /** @description `PUT /admin/users/{id}/plan` body. */
        GrantPlanIn: {
            /** @description The plan to give. */
            plan: components["schemas"]["PlanCode"];
        };
        /**
         * @description Whether the server can serve: `ok` when a database connection is available.
         * @enum {string}
         */
        Health: "ok" | "degraded";
        /** @description `GET /health/details`. */
        HealthDetails: {
            /** @description The commit the binary was built from, when known. */
            commit?: string | null;
            /** @description The database: reachability, round trip and the pool. */
            database: components["schemas"]["DatabaseDetail"];
            /** @description The inbound SMTP listener. */
            inbound_smtp: components["schemas"]["InboundSmtpDetail"];
            /** @description This instance's id. */
            instance_id: string;
            /** @description This process's memory. */
            memory: components["schemas"]["MemoryDetail"];
            queue?: null | components["schemas"]["QueueDetail"];
            /** @description Redis (`REDIS_URL`), the realtime gateway's link. */
            redis: components["schemas"]["RedisDetail"];
            /** @description The dispatcher of this instance. */
            scheduler: components["schemas"]["LoopDetail"];
            /** @description The outbound SMTP relay (`SMTP_URL`): a real connection with EHLO, cached 5 s. */
            smtp_relay: components["schemas"]["ServiceCheck"];
            /** @description `ok`, or `degraded` when any check below is `degraded`. */
            status: components["schemas"]["Health"];
            /**
             * @description Stripe's API address (`STRIPE_API_BASE`) when billing is configured: a TCP
             *     connection, cached 5 s.
             */
            stripe: components["schemas"]["ServiceCheck"];
            /**
             * Format: int64
             * @description Seconds since start.
             */
            uptime_seconds: number;
            /** @description The server version. */
            version: string;
            /** @description The workers of this instance. */
            workers: components["schemas"]["LoopDetail"];
        };
        /** @description One entry of a task's history. */
        HistoryEntry: {
            /**
             * Format: date-time
             * @description When it happened: when the execution was queued, or the skipped slot.
             */
            at: string;
            /**
             * Format: int32
             * @description The attempt number.
             */
            attempt?: number | null;
            /** @description More about the skip. */
            detail?: string | null;
            /**
             * Format: int64
             * @description How long it ran.
             */
            duration_ms?: number | null;
            /** @description Why the execution failed. */
            error?: string | null;
            /**
             * Format: uuid
             * @description The execution (absent for skipped slots).
             */
            execution_id?: string | null;
            /**
             * Format: date-time
             * @description When the execution finished.
             */
            finished_at?: string | null;
            /** @description An execution or a skipped slot. */
            kind: components["schemas"]["EntryKind"];
            reason?: null | components["schemas"]["SkipReason"];
            /**
             * Format: date-time
             * @description The schedule slot, for scheduled executions and skipped slots.
             */
            scheduled_for?: string | null;
            /**
             * Format: date-time
             * @description When the execution started.
             */
            started_at?: string | null;
            /**
             * @description The execution's status, or `SKIPPED`.
             * @example SUCCEEDED
             */
            status: string;
            /** @description What started the execution. */
            trigger_kind?: string | null;
        };
        /** @description One page of history. */
        HistoryPage: {
            /** @description Newest first. */
            items: components["schemas"]["HistoryEntry"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description The raw shape accepted in `action.config` of `HTTP_REQUEST` and `API_CALL`. */
        HttpActionConfig: {
            auth?: null | components["schemas"]["HttpAuth"];
            body?: null | components["schemas"]["HttpBody"];
            headers?: {
                [key: string]: string;
            };
            /** Format: int32 */
            max_redirects?: number | null;
            method?: string | null;
            query?: {
                [key: string]: string;
            };
            success?: components["schemas"]["HttpSuccess"];
            /** Format: int64 */
            timeout_seconds?: number | null;
            url: string;
        };
        /** @description How the request authenticates. */
        HttpAuth: {
            /** @description Password. */
            password: string;
            /** @enum {string} */
            type: "basic";
            /** @description User name. */
            username: string;
        } | {
            /** @description The token. */
            token: string;
            /** @enum {string} */
            type: "bearer";
        } | {
            /** @description Header name. */
            name: string;
            /** @enum {string} */
            type: "header";
            /** @description Header value. */
            value: string;
        };
        /** @description The request body. */
        HttpBody: {
            /** @enum {string} */
            type: "json";
            /** @description Sent as `application/json`. */
            value: unknown;
        } | {
            /** @enum {string} */
            type: "text";
            /** @description Sent as `text/plain` unless a `Content-Type` header says otherwise. */
            value: string;
        } | {
            /** @enum {string} */
            type: "form";
            /** @description Sent as `application/x-www-form-urlencoded`. */
            value: {
                [key: string]: string;
            };
        } | {
            /** @enum {string} */
            type: "input";
        };
        /** @description A HTTP_REQUEST action. */
        HttpRequestAction: {
            config: components["schemas"]["HttpActionConfig"];
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "HTTP_REQUEST";
        };
        /** @description When an attempt counts as a success (default: any 2xx status). */
        HttpSuccess: {
            body_regex?: string | null;
            equals?: unknown;
            json_pointer?: string | null;
            /** Format: int64 */
            max_latency_ms?: number | null;
            status_codes?: string[] | null;
        };
        /** @description The answer: the counts and each row's result, in the order sent. */
        ImportReport: {
            /** @description Whether anything was written. */
            applied: boolean;
            /** @description Rows that created a task. */
            created: number;
            /** @description Whether this was a dry run. */
            dry_run: boolean;
            /** @description Rows refused. */
            failed: number;
            /** @description Each row's result. */
            rows: components["schemas"]["ImportRowOut"][];
            /** @description Rows that left a task alone. */
            skipped: number;
            /** @description Rows read. */
            total: number;
            /** @description Rows that changed a task. */
            updated: number;
        };
        /** @description One row's result. */
        ImportRowOut: {
            /** @description Email triggers created, with their address and token shown this once. */
            email_triggers?: components["schemas"]["EmailTriggerCreated"][];
            /** @description What is wrong: fields are named within the row (`schedule.cron`, `chains[0].after`). */
            errors?: components["schemas"]["FieldError"][];
            /** @description The row's `external_id`. */
            external_id?: string | null;
            /** @description The task's name as imported (after renaming). */
            name?: string | null;
            /** @description The row's number: 1 for the first task (the CSV header is not counted). */
            row: number;
            /** @description What happened. */
            status: components["schemas"]["RowStatus"];
            /**
             * Format: uuid
             * @description The task created, changed or left alone (absent on a dry run for a new task).
             */
            task_id?: string | null;
            /** @description Webhook triggers created, with their URL, token and secret shown this once. */
            webhooks?: components["schemas"]["WebhookCreated"][];
        };
        /** @description The `multipart/form-data` form of an import. */
        ImportUpload: {
            /**
             * Format: binary
             * @description The tasks: CSV (`text/csv` or a `.csv` name) or a JSON array of `TaskRecord`.
             */
            file: string;
        };
        /** @description An inbound message as JSON fields (what mail providers' inbound webhooks post). */
        InboundEmailJson: {
            /** @description The sender. */
            from?: string | null;
            /** @description HTML body. */
            html?: string | null;
            /** @description The `Message-ID`, used to recognise a redelivery. */
            message_id?: string | null;
            /** @description Subject. */
            subject?: string | null;
            /** @description Plain-text body. */
            text?: string | null;
            to?: null | components["schemas"]["Recipients"];
        };
        /** @description The inbound SMTP listener (email triggers). */
        InboundSmtpDetail: {
            /** @description Whether `INBOUND_SMTP_ADDR` is set. */
            enabled: boolean;
            /** @description The address it listens on, once bound. */
            listening_on?: string | null;
        };
        /** @description A live instance. */
        InstanceOut: {
            /** @description `hostname-pid-random`. */
            id: string;
            /**
             * Format: date-time
             * @description Its last heartbeat.
             */
            last_heartbeat_at: string;
            /** @description What it runs: `api`, `scheduler`, `worker`, `notifications`. */
            roles: string[];
            /**
             * Format: date-time
             * @description When it started.
             */
            started_at: string;
            /** @description Its version. */
            version: string;
        };
        /** @description An invoice. */
        InvoiceOut: {
            /**
             * Format: int64
             * @description Due, in the currency's smallest unit.
             */
            amount_due: number;
            /**
             * Format: int64
             * @description Paid, in the currency's smallest unit.
             */
            amount_paid: number;
            /**
             * Format: date-time
             * @description When Stripe created it.
             */
            created: string;
            /** @description Lowercase ISO 4217 code. */
            currency: string;
            /** @description Stripe's page for the invoice. */
            hosted_invoice_url?: string | null;
            /** @description Stripe's id (`in_…`). */
            id: string;
            /** @description The invoice's PDF. */
            invoice_pdf?: string | null;
            /** @description Its number. */
            number?: string | null;
            /**
             * Format: date-time
             * @description The period billed.
             */
            period_end?: string | null;
            /**
             * Format: date-time
             * @description The period billed.
             */
            period_start?: string | null;
            /** @description `draft`, `open`, `paid`, `uncollectible` or `void`. */
            status: string;
        };
        /** @description A page of invoices. */
        InvoicePage: {
            /** @description Newest first. */
            items: components["schemas"]["InvoiceOut"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description The last 24 hours. */
        LastDay: {
            /**
             * Format: int64
             * @description Executions that failed (`FAILED`, `DEAD`, `TIMED_OUT`) in the last 24 hours.
             */
            failed: number;
            /**
             * Format: int64
             * @description Executions that succeeded in the last 24 hours.
             */
            succeeded: number;
            /**
             * Format: double
             * @description `succeeded / (succeeded + failed)`, 0–1; `null` when none ended.
             */
            success_rate?: number | null;
        };
        /** @description One limit with what is used of it. */
        LimitUsage: {
            /**
             * Format: int64
             * @description The plan's value; `null` is unlimited.
             */
            limit?: number | null;
            /**
             * @description The limit's name (`max_tasks`, `executions_per_month`, `max_api_keys`,
             *     `max_alert_rules_per_task`: the most rules any one task has).
             */
            name: string;
            /**
             * Format: date-time
             * @description When the count starts again (period limits only).
             */
            resets_at?: string | null;
            /**
             * Format: int64
             * @description What is used now.
             */
            used: number;
        };
        /** @description Liveness report. */
        Liveness: {
            /**
             * Format: int64
             * @description Resident memory of the process, in bytes.
             */
            memory_rss_bytes: number;
            /**
             * @description Always `ok` while the process answers.
             * @example ok
             */
            status: string;
            /**
             * Format: int64
             * @description Seconds since start.
             */
            uptime_seconds: number;
            /** @description The server version. */
            version: string;
        };
        /** @description `POST /auth/login` body. */
        LoginIn: {
            /** @description The sign-in email. */
            email: string;
            /** @description The password. */
            password: string;
        };
        /** @description `POST /auth/logout` body (optional). */
        LogoutIn: {
            /** @description End every session of the account, not just this one. */
            all?: boolean;
        };
        /** @description One of the engine's loops on this instance. */
        LoopDetail: {
            /** @description Whether the role flag runs it here (`SCHEDULER_ENABLED`, `WORKERS_ENABLED`). */
            enabled: boolean;
            /**
             * Format: date-time
             * @description When it last went round (a dispatcher tick, a worker poll of the queue); absent
             *     before the first.
             */
            last_tick_at?: string | null;
            /**
             * Format: double
             * @description Seconds since then.
             */
            seconds_since_last_tick?: number | null;
        };
        /** @description This process's memory. */
        MemoryDetail: {
            /**
             * Format: int64
             * @description Open file descriptors.
             */
            open_fds: number;
            /**
             * Format: int64
             * @description Resident set size, in bytes.
             */
            rss_bytes: number;
            /**
             * Format: int64
             * @description OS threads.
             */
            threads: number;
            /**
             * Format: int64
             * @description Virtual memory size, in bytes.
             */
            virtual_bytes: number;
        };
        /** @description A migration applied to the database. */
        MigrationOut: {
            /** @description Its description (the file's name). */
            description: string;
            /**
             * Format: date-time
             * @description When it was applied.
             */
            installed_on: string;
            /** @description Whether it succeeded. */
            success: boolean;
            /**
             * Format: int64
             * @description Its version (the file's prefix).
             */
            version: number;
        };
        /** @description Executions that ended in one minute. */
        MinuteFigures: {
            /**
             * Format: int64
             * @description Those that failed (`FAILED`, `DEAD`, `TIMED_OUT`).
             */
            failed: number;
            /**
             * Format: int64
             * @description Executions that ended in it (any final status).
             */
            finished: number;
            /**
             * Format: date-time
             * @description The minute's start.
             */
            minute: string;
            /**
             * Format: int64
             * @description Those that succeeded.
             */
            succeeded: number;
        };
        /** @description One upcoming run. */
        NextRun: {
            /**
             * @description The zone's abbreviation at that instant.
             * @example EDT
             */
            abbreviation: string;
            /**
             * @description The same instant in the schedule's zone, with its offset.
             * @example 2026-03-08T03:00:00-04:00
             */
            local: string;
            /**
             * @description The zone's UTC offset at that instant.
             * @example -04:00
             */
            offset: string;
            /**
             * Format: date-time
             * @description When it fires, in UTC.
             * @example 2026-03-08T07:00:00Z
             */
            utc: string;
        };
        /** @description A task's upcoming runs. */
        NextRunsOut: {
            schedule?: null | components["schemas"]["ExplainOut"];
            /** @description Its status; runs of a task that is not `ACTIVE` are those it would have once resumed. */
            status: components["schemas"]["TaskStatus"];
            /**
             * Format: uuid
             * @description The task.
             */
            task_id: string;
        };
        /**
         * @description The group a notification type belongs to.
         * @enum {string}
         */
        NotificationCategory: "TASKS" | "SECURITY" | "BILLING" | "REPORTS" | "SYSTEM";
        /**
         * @description `notification.created`: a notification addressed to the user. Reserved: nothing sends it
         *     until the notifications module exists.
         */
        NotificationCreated: {
            /** @description The text. */
            body: string;
            /**
             * Format: date-time
             * @description When it was created.
             */
            created_at: string;
            /**
             * @description Its kind, e.g. `EXECUTION_FAILED`.
             * @example EXECUTION_FAILED
             */
            kind: string;
            /**
             * Format: uuid
             * @description The notification.
             */
            notification_id: string;
            /** @description A one-line title. */
            title: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description A notification with its deliveries. */
        NotificationDetail: components["schemas"]["NotificationOut"] & {
            /** @description One per channel. */
            deliveries: components["schemas"]["DeliveryOut"][];
        };
        /** @description A notification. */
        NotificationOut: {
            /** @description The text. */
            body: string;
            /** @description The type's category. */
            category: components["schemas"]["NotificationCategory"];
            /**
             * Format: date-time
             * @description When you followed its link.
             */
            clicked_at?: string | null;
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /** @description Whether it is critical (security, account). */
            critical: boolean;
            /** @description Details (task, execution, status, …). */
            data: unknown;
            /**
             * Format: uuid
             * @description The notification.
             */
            id: string;
            /** @description Where in the app it leads. */
            link?: string | null;
            /**
             * Format: date-time
             * @description When you marked it read.
             */
            read_at?: string | null;
            /**
             * Format: date-time
             * @description When you first opened it.
             */
            seen_at?: string | null;
            /**
             * Format: uuid
             * @description The task it is about.
             */
            task_id?: string | null;
            /** @description One line. */
            title: string;
            /** @description What it is about. */
            type: components["schemas"]["NotificationType"];
        };
        /** @description One page of notifications. */
        NotificationPage: {
            /** @description Newest first. */
            items: components["schemas"]["NotificationOut"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description `notification`: a notification stored for the user (`user:{recipient}`). */
        NotificationPush: {
            /** @description The text. */
            body: string;
            /** @description The type's category, e.g. `TASKS`. */
            category: components["schemas"]["NotificationCategory"];
            /**
             * Format: date-time
             * @description When it was stored.
             */
            created_at: string;
            /** @description Whether it is critical. */
            critical: boolean;
            /** @description Details (task, execution, status, …). */
            data: Record<string, unknown>;
            /**
             * Format: uuid
             * @description The notification.
             */
            id: string;
            /** @description Where in the app it leads. */
            link?: string | null;
            /** @description One line. */
            title: string;
            /** @description Its type, e.g. `TASK_FAILED`. */
            type: components["schemas"]["NotificationType"];
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /**
         * @description What a notification is about.
         * @enum {string}
         */
        NotificationType: "TASK_FAILED" | "TASK_RECOVERED" | "TASK_SUCCEEDED" | "TASK_SLOW" | "TASK_AUTO_PAUSED" | "TASK_LATE" | "TASK_MISSED" | "SECURITY_ALERT" | "BILLING" | "REPORT_READY" | "SYSTEM";
        /** @description The raw shape accepted in `action.config` of `NOTION_SYNC` (see docs/NOTION.md). */
        NotionActionConfig: {
            children?: unknown[] | null;
            database_id: string;
            filter?: unknown;
            /** Format: int32 */
            limit?: number | null;
            operation: components["schemas"]["NotionOperation"];
            properties?: Record<string, unknown> | null;
            sorts?: unknown[] | null;
            token?: string | null;
        };
        /** @description The answer to an accepted handshake or event. */
        NotionDeliveryAccepted: {
            /** @description True when this event id had already been received. */
            duplicate: boolean;
            /**
             * @description The executions the event queued (or had queued, for a redelivery); empty when no
             *     trigger matched, and for the handshake.
             */
            executions: string[];
            /**
             * @description `verification` for the handshake, `event` for an event.
             * @example event
             */
            kind: string;
        };
        /**
         * @description What a NOTION trigger watches.
         * @enum {string}
         */
        NotionEntity: "page" | "database";
        /**
         * @description What the action does.
         * @enum {string}
         */
        NotionOperation: "create_page" | "update_pages" | "query_database";
        /** @description A NOTION_SYNC action. */
        NotionSyncAction: {
            config: components["schemas"]["NotionActionConfig"];
            /**
             * @description discriminator enum property added by openapi-typescript
             * @enum {string}
             */
            type: "NOTION_SYNC";
        };
        /** @description `POST /tasks/{id}/notion-triggers` body. */
        NotionTriggerIn: {
            /**
             * @description The page's or database's id, with or without dashes.
             * @example 0b0c2ee7-d6e4-4f4d-8ea3-bb0e6c5f0f1a
             */
            entity_id: string;
            /** @description `page` or `database`. */
            entity_type: components["schemas"]["NotionEntity"];
            /**
             * @description The event types that start the task (1 to 32, no repeats), e.g. `page.created`,
             *     `page.content_updated`, `page.properties_updated`, `page.deleted`,
             *     `database.content_updated`.
             * @example [
             *       "page.created",
             *       "page.properties_updated"
             *     ]
             */
            event_types: string[];
        };
        /** @description A NOTION trigger. */
        NotionTriggerOut: {
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /**
             * Format: uuid
             * @description The page's or database's id.
             */
            entity_id: string;
            /** @description `page` or `database`. */
            entity_type: components["schemas"]["NotionEntity"];
            /** @description The event types that start the task. */
            event_types: string[];
            /**
             * Format: uuid
             * @description The trigger id.
             */
            id: string;
            /**
             * Format: date-time
             * @description When an event last queued an execution through it.
             */
            last_fired_at?: string | null;
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
        };
        /** @description A new endpoint: the only time its URL is shown. */
        NotionWebhookCreated: {
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /**
             * Format: uuid
             * @description The endpoint id.
             */
            id: string;
            /** @description The token in the URL; store it now, it cannot be shown again. */
            token: string;
            /**
             * @description The URL to enter as the subscription's webhook URL in Notion:
             *     `PUBLIC_URL/webhooks/notion/{token}` (the path alone without `PUBLIC_URL`).
             * @example https://nocron.example.com/webhooks/notion/nwh_3fX9aQ2mLp0ZkR7tYb1cVn4sWe8uIo6a
             */
            url: string;
        };
        /** @description The account's endpoint as its owner sees it. */
        NotionWebhookOut: {
            /**
             * Format: date-time
             * @description Created (or last replaced).
             */
            created_at: string;
            /**
             * Format: uuid
             * @description The endpoint id.
             */
            id: string;
            /**
             * Format: date-time
             * @description When an event was last accepted.
             */
            last_event_at?: string | null;
            /**
             * @description The URL token's public start.
             * @example nwh_3fX9aQ2m
             */
            token_prefix: string;
            /**
             * @description The verification token Notion sent: paste it into the subscription's "Verify" form
             *     in Notion. Absent until the handshake.
             */
            verification_token?: string | null;
            /** @description Whether Notion's handshake has arrived (events are accepted from then on). */
            verified: boolean;
            /**
             * Format: date-time
             * @description When the handshake arrived.
             */
            verified_at?: string | null;
        };
        /**
         * @description How it ended.
         * @enum {string}
         */
        Outcome: "SUCCESS" | "FAILURE" | "DENIED";
        /** @description What an execution produced, in brief (the full outcome is at `GET /executions/{id}`). */
        OutcomeSummary: {
            /** @description The error, when it failed. */
            error?: string | null;
            /**
             * Format: int32
             * @description The HTTP status the action received, for HTTP actions.
             * @example 200
             */
            http_status?: number | null;
            /**
             * Format: uuid
             * @description The execution of the next attempt, if any.
             */
            retry_execution_id?: string | null;
            /** @description Whether another attempt is queued. */
            will_retry: boolean;
        };
        /** @description The answer to a password change: new tokens for this session, and what was revoked. */
        PasswordChangedOut: components["schemas"]["AuthOut"] & {
            /** @description The API keys that were revoked (empty with `keep_api_keys`). */
            revoked_api_keys: components["schemas"]["RevokedKeyOut"][];
            /**
             * Format: int64
             * @description How many other sessions were signed out.
             * @example 2
             */
            revoked_sessions: number;
        };
        /** @description A payment outcome. */
        PaymentOut: {
            /**
             * Format: int64
             * @description The amount, in the currency's smallest unit.
             */
            amount: number;
            /**
             * Format: date-time
             * @description When Stripe reported it.
             */
            created: string;
            /** @description Lowercase ISO 4217 code. */
            currency: string;
            /**
             * Format: uuid
             * @description The payment.
             */
            id: string;
            /** @description The invoice it was for. */
            invoice_id?: string | null;
            /** @description What happened. */
            outcome: components["schemas"]["PaymentOutcomeOut"];
        };
        /**
         * @description What happened to a payment.
         * @enum {string}
         */
        PaymentOutcomeOut: "succeeded" | "failed" | "action_required";
        /** @description A page of payments. */
        PaymentPage: {
            /** @description Newest first. */
            items: components["schemas"]["PaymentOut"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /**
         * @description The 50th, 95th and 99th percentiles (continuous, interpolated) of a time in
         *     milliseconds; `null` when there is nothing to measure.
         */
        Percentiles: {
            /**
             * Format: double
             * @description Median.
             */
            p50?: number | null;
            /**
             * Format: double
             * @description 95th percentile.
             */
            p95?: number | null;
            /**
             * Format: double
             * @description 99th percentile.
             */
            p99?: number | null;
        };
        /** @description One period's figures. */
        PeriodFigures: {
            /**
             * Format: int64
             * @description Tasks with at least one execution in the period.
             */
            active_tasks: number;
            /** @description Run time of the period's executions, in milliseconds. */
            duration_ms: components["schemas"]["Percentiles"];
            /** @description Executions queued in the period, by status. */
            executions: components["schemas"]["ExecutionCounts"];
            /**
             * Format: date-time
             * @description Start, inclusive.
             */
            from: string;
            /** @description How late the period's executions started (after they were due), in milliseconds. */
            lateness_ms: components["schemas"]["Percentiles"];
            /**
             * Format: int64
             * @description Notifications sent to you in the period (whatever their channels).
             */
            notifications_sent: number;
            /**
             * Format: double
             * @description Share of ended executions that succeeded (0–1), `null` when none ended.
             */
            success_rate?: number | null;
            /**
             * Format: date-time
             * @description End, exclusive.
             */
            to: string;
        };
        /** @description A plan with its limits, for admins. */
        PlanAdminIn: {
            /** @description Lowercase ISO 4217 code. */
            currency: string;
            /** @description The limits; `null` is unlimited. */
            limits: components["schemas"]["PlanLimits"];
            /**
             * Format: int32
             * @description Display price per month in the currency's smallest unit (0–100000000).
             */
            monthly_price_cents: number;
            /** @description Display name, 1–50 characters. */
            name: string;
        };
        /** @description A plan. */
        PlanAdminOut: components["schemas"]["PlanAdminIn"] & {
            /** @description Its code. */
            code: components["schemas"]["PlanCode"];
        };
        /** @description `POST /billing/subscription` and `PUT /billing/subscription` body. */
        PlanChoice: {
            /** @description The paid plan wanted (`PRO` or `ENTERPRISE`; BASIC is free). */
            plan: components["schemas"]["PlanCode"];
        };
        /**
         * @description A plan.
         * @enum {string}
         */
        PlanCode: "BASIC" | "PRO" | "ENTERPRISE";
        /** @description A plan's limits; `None` is unlimited. */
        PlanLimits: {
            /**
             * Format: int64
             * @description Executions started per calendar month (UTC); retries are not counted.
             */
            executions_per_month?: number | null;
            /**
             * Format: int32
             * @description Days of execution history kept (1–36500).
             */
            history_retention_days: number;
            /**
             * Format: int32
             * @description Alert rules per task (the defaults a new task gets count too).
             */
            max_alert_rules_per_task?: number | null;
            /**
             * Format: int32
             * @description Active API keys.
             */
            max_api_keys?: number | null;
            /**
             * Format: int32
             * @description Tasks an account may have.
             */
            max_tasks?: number | null;
            /**
             * Format: int32
             * @description The shortest interval between two slots of a schedule, in seconds (1–86400).
             */
            min_interval_seconds: number;
        };
        /** @description The plans, smallest first. */
        PlanList: {
            /** @description Whether billing is on: when off, every account has `default_plan`. */
            billing_enabled: boolean;
            /** @description The plan of accounts without a current subscription. */
            default_plan: components["schemas"]["PlanCode"];
            /** @description The plans. */
            items: components["schemas"]["PlanOut"][];
        };
        /** @description A plan, with its limits and display price. */
        PlanOut: {
            /** @description Its code. */
            code: components["schemas"]["PlanCode"];
            /** @description ISO 4217 currency code, lowercase. */
            currency: string;
            /** @description Its limits; `null` is unlimited. */
            limits: components["schemas"]["PlanLimits"];
            /**
             * Format: int32
             * @description Display price per month in the currency's smallest unit.
             */
            monthly_price_cents: number;
            /** @description Its name. */
            name: string;
            /** @description Whether it can be bought here (billing is on and a Stripe price is configured). */
            purchasable: boolean;
        };
        /** @description A Billing Portal session. */
        PortalOut: {
            /** @description Stripe's hosted portal page, valid for a short while. */
            url: string;
        };
        /** @description A user's notification preferences (`GET/PUT /notifications/preferences`). */
        Preferences: {
            /** @description Per category and channel. */
            categories?: components["schemas"]["CategorySetting"][];
            /** @description Per channel, for every type. */
            channels?: components["schemas"]["ChannelSetting"][];
            quiet_hours?: null | components["schemas"]["QuietHours"];
            /** @description Per type and channel. */
            types?: components["schemas"]["TypeSetting"][];
        };
        /** @description The caller as `/api/v1` sees it. */
        PrincipalOut: {
            /**
             * Format: uuid
             * @description The API key used, if any.
             */
            api_key_id?: string | null;
            /** @description The user's role. */
            role: components["schemas"]["Role"];
            /** @description The scopes held (all of them for a signed-in user). */
            scopes: components["schemas"]["Scope"][];
            /**
             * Format: uuid
             * @description The user (the key's owner for an API key).
             */
            user_id: string;
        };
        /** @description An RFC 9457 problem document: the body of every error response. */
        Problem: {
            /** @description Stable machine-readable code. */
            code: components["schemas"]["ErrorCode"];
            /**
             * @description What went wrong in this occurrence.
             * @example task not found
             */
            detail: string;
            /**
             * Format: int32
             * @description Numeric code; thousands digit is the family (1 auth, 2 validation, 3 resource, 4 database, 5 external, 9 internal).
             * @example 3001
             */
            error_code: number;
            /** @description The failing fields, for validation errors. */
            errors?: components["schemas"]["FieldError"][];
            /**
             * Format: int64
             * @description `PLAN_LIMIT_REACHED` only: the plan's value of the limit.
             */
            limit?: number | null;
            /**
             * @description `PLAN_LIMIT_REACHED` only: the limit's name (`max_tasks`, `min_interval_seconds`,
             *     `executions_per_month`, `max_api_keys`, `max_alert_rules_per_task`).
             */
            limit_name?: string | null;
            /** @description `PLAN_LIMIT_REACHED` only: the account's plan now. */
            plan?: string | null;
            /** @description The request id (also in the `x-request-id` header). */
            request_id?: string | null;
            /**
             * Format: date-time
             * @description `PLAN_LIMIT_REACHED` only, for period limits: when the count starts again.
             */
            resets_at?: string | null;
            /**
             * Format: int32
             * @description The HTTP status code.
             * @example 404
             */
            status: number;
            /**
             * @description A short summary of the kind of problem.
             * @example Not Found
             */
            title: string;
            /**
             * @description A URI naming the kind of problem.
             * @example urn:nocron:problem:not-found
             */
            type: string;
            /** @description `PLAN_LIMIT_REACHED` only: where to choose a larger plan. */
            upgrade_url?: string | null;
            /**
             * Format: int64
             * @description `PLAN_LIMIT_REACHED` only: how much is used (for `min_interval_seconds`, the
             *     interval asked for).
             */
            used?: number | null;
        };
        /** @description The execution queue, over every instance. */
        QueueDetail: {
            /**
             * Format: int64
             * @description Queued executions already due.
             */
            due: number;
            /**
             * Format: double
             * @description Seconds the oldest due execution has waited.
             */
            oldest_due_seconds?: number | null;
            /**
             * Format: int64
             * @description Executions waiting (`QUEUED`), due now or later.
             */
            queued: number;
            /**
             * Format: int64
             * @description Executions running.
             */
            running: number;
        };
        /** @description The queue now. */
        QueueNow: {
            /**
             * Format: int64
             * @description Executions waiting for a worker.
             */
            queued: number;
            /**
             * Format: int64
             * @description Executions running.
             */
            running: number;
        };
        /** @description A daily window, in a time zone, when only critical notifications go out at once. */
        QuietHours: {
            /**
             * @description Local end, `HH:MM` (before `start`: the window spans midnight).
             * @example 07:00
             */
            end: string;
            /**
             * @description Local start, `HH:MM`.
             * @example 22:00
             */
            start: string;
            /**
             * @description IANA time zone.
             * @example America/New_York
             */
            timezone: string;
        };
        /** @description What `read-all` changed. */
        ReadAll: {
            /**
             * Format: int64
             * @description Notifications newly marked read.
             */
            updated: number;
        };
        /** @description Readiness report, the same shape for 200 and 503. */
        Readiness: {
            /** @description Every check and its outcome. */
            checks: components["schemas"]["ReadinessCheck"][];
            /**
             * @description The realtime gateway's reach: `ok` (through Redis, every instance), `local` (no
             *     `REDIS_URL`), or `degraded` (Redis unreachable: events reach this instance's sockets
             *     only while it reconnects). Informational: it does not change `status`.
             */
            realtime: components["schemas"]["RealtimeHealth"];
            /**
             * @description `ready` or `unavailable`.
             * @example ready
             */
            status: string;
        };
        /** @description One readiness check. */
        ReadinessCheck: {
            /** @description Why it failed. */
            error?: string | null;
            /** @description `database` or `migrations`. */
            name: string;
            /** @description Whether it passed. */
            ok: boolean;
        };
        /**
         * @description The realtime gateway's reach, as `/health/ready` reports it.
         * @enum {string}
         */
        RealtimeHealth: "local" | "ok" | "degraded";
        /** @description A task and its last ended execution. */
        RecentTask: {
            /**
             * Format: int64
             * @description Its run time in milliseconds.
             */
            duration_ms?: number | null;
            /**
             * Format: uuid
             * @description Its last ended execution.
             */
            execution_id: string;
            /**
             * Format: date-time
             * @description When it ended.
             */
            finished_at: string;
            /** @description How that execution ended. */
            last_status: components["schemas"]["ExecutionStatus"];
            /** @description Its name. */
            name: string;
            /**
             * Format: date-time
             * @description When it started.
             */
            started_at?: string | null;
            /** @description Whether it is scheduled. */
            status: components["schemas"]["TaskStatus"];
            /**
             * Format: uuid
             * @description The task.
             */
            task_id: string;
        };
        /** @description The most recently run tasks, most recent first. */
        RecentTasks: {
            /** @description At most `limit`. */
            items: components["schemas"]["RecentTask"][];
        };
        /** @description One or several addresses. */
        Recipients: string | string[];
        /** @description What a record adds to the definition. */
        RecordExtras: {
            /**
             * @description Alert rules; omitted on import: the default rules of a new task (an updated task
             *     keeps its own).
             */
            alert_rules?: components["schemas"]["AlertRuleRecord"][] | null;
            /** @description The tasks after which this one runs, by name. */
            chains?: components["schemas"]["ChainRecord"][];
            /** @description Email triggers (an import gives each a new address). */
            email_triggers?: components["schemas"]["EmailTriggerRecord"][];
            /**
             * @description Your identifier for the task (1–200 characters, unique among your tasks): an import
             *     matches existing tasks on it before their name.
             */
            external_id?: string | null;
            /** @description Webhook triggers (an import gives each a new URL and signing secret). */
            webhooks?: components["schemas"]["WebhookRecord"][];
        };
        /** @description The Redis link of the realtime gateway. */
        RedisDetail: {
            /**
             * @description `ok`, `degraded` (configured and unreachable: events reach this instance's sockets
             *     only) or `not_configured`.
             */
            status: components["schemas"]["ServiceStatus"];
        };
        /** @description `POST /auth/refresh` body. */
        RefreshIn: {
            /** @description The refresh token from the last login or refresh. */
            refresh_token: string;
        };
        /** @description `POST /auth/register` body. */
        RegisterIn: {
            /**
             * Format: email
             * @description The sign-in email.
             * @example ada@example.com
             */
            email: string;
            /**
             * @description Display name.
             * @example Ada Lovelace
             */
            name: string;
            /**
             * @description 8–128 characters, any Unicode; the most common passwords are refused.
             * @example correct horse battery staple
             */
            password: string;
        };
        /** @description The answer to every registration while verification is on. */
        RegistrationAccepted: {
            /**
             * @description Always `verification_sent`: check the mailbox.
             * @example verification_sent
             */
            status: string;
        };
        /**
         * @description What to do with a wall-clock time that occurs twice when clocks go back.
         * @enum {string}
         */
        RepeatedHour: "ONCE" | "TWICE";
        /** @description How failed attempts are retried; omitted fields take their defaults. */
        RetryIn: {
            /**
             * Format: int32
             * @description Delay before the second attempt (0–86400 s, default 10).
             */
            initial_delay_seconds?: number | null;
            /**
             * Format: int32
             * @description Attempts in total, the first included (1–100, default 3; 1 = no retry).
             */
            max_attempts?: number | null;
            /**
             * Format: int32
             * @description Upper bound of any delay (default 3600 s).
             */
            max_delay_seconds?: number | null;
            /**
             * Format: double
             * @description Growth factor of the delay (1.0–10.0, default 2.0).
             */
            multiplier?: number | null;
        };
        /** @description How failed attempts are retried. */
        RetryPolicy: {
            /**
             * Format: int32
             * @description Delay before the second attempt.
             */
            initial_delay_seconds: number;
            /**
             * Format: int32
             * @description Attempts in total, the first included (1 = no retry).
             */
            max_attempts: number;
            /**
             * Format: int32
             * @description Upper bound of any delay.
             */
            max_delay_seconds: number;
            /**
             * Format: double
             * @description Each delay is the previous one times this.
             */
            multiplier: number;
        };
        /** @description A key that was revoked along with its owner's others. */
        RevokedKeyOut: {
            /**
             * Format: uuid
             * @description The key id.
             */
            id: string;
            /** @description Its label. */
            name: string;
            /**
             * @description The key's public start, to recognise it.
             * @example nck_3fX9aQ2mLp0Z
             */
            prefix: string;
        };
        /**
         * @description What an account may do. `ADMIN` manages users; `SUPER_ADMIN` also manages admins.
         *     Roles are ordered: a later variant includes every right of an earlier one.
         * @enum {string}
         */
        Role: "USER" | "ADMIN" | "SUPER_ADMIN";
        /** @description `POST /admin/roles/{user_id}` body. */
        RoleIn: {
            /** @description The role to give. */
            role: components["schemas"]["Role"];
        };
        /**
         * @description What happened to a row (or would, on a dry run or a refused import).
         * @enum {string}
         */
        RowStatus: "CREATED" | "UPDATED" | "SKIPPED" | "FAILED";
        /** @description A rule as evaluated and served. */
        Rule: {
            /**
             * @description Client addresses inside these networks never count for this rule.
             * @example [
             *       "10.0.0.0/8"
             *     ]
             */
            allow_cidrs: string[];
            /**
             * Format: int32
             * @description `FAILED_LOGINS` only: failures of one (account, address) pair that block the pair
             *     (60 s, doubling up to 15 minutes; failures are forgotten after 12 hours).
             */
            block_after?: number | null;
            /** @description What it detects, with the meaning of `threshold` and `window_seconds` for it. */
            description: string;
            /** @description Whether it is evaluated at all. */
            enabled: boolean;
            /** @description Alerts are recorded, but nobody is blocked or notified. */
            monitor_only: boolean;
            /** @description Which rule. */
            rule: components["schemas"]["SecurityRuleKind"];
            /** @description The severity of its alerts. */
            severity: components["schemas"]["Severity"];
            /**
             * Format: int32
             * @description How many occurrences within the window raise an alert.
             */
            threshold: number;
            /**
             * Format: date-time
             * @description When an admin last changed it (absent: the default).
             */
            updated_at?: string | null;
            /**
             * Format: int32
             * @description The sliding window, in seconds (`UNUSUAL_IP`: how long a network stays known).
             */
            window_seconds: number;
        };
        /** @description A rule as an admin sets it. */
        RuleIn: {
            /**
             * @description Networks (CIDR, or single addresses) whose requests never count; at most 100.
             * @example [
             *       "10.0.0.0/8"
             *     ]
             */
            allow_cidrs: string[];
            /**
             * Format: int32
             * @description `FAILED_LOGINS` only: failures of one (account, address) pair that block it
             *     (1–100000); absent turns blocking off. Must be absent for other rules.
             */
            block_after?: number | null;
            /** @description Whether it is evaluated. */
            enabled: boolean;
            /** @description Record alerts without blocking or notifying anyone. */
            monitor_only: boolean;
            /** @description Which rule. */
            rule: components["schemas"]["SecurityRuleKind"];
            /**
             * Format: int32
             * @description Occurrences within the window that raise an alert (1–100000).
             */
            threshold: number;
            /**
             * Format: int32
             * @description The window in seconds (1–7776000, 90 days).
             */
            window_seconds: number;
        };
        /**
         * @description What an alert rule watches.
         * @enum {string}
         */
        RuleKind: "CONSECUTIVE_FAILURES" | "RECOVERY" | "SUCCESS" | "DURATION_OVER" | "FAILURE_RATE" | "LATE_START" | "MISSED";
        /** @description `PUT` body: the rules to replace. */
        RulesIn: {
            /** @description One entry per rule to change (each rule at most once). */
            rules: components["schemas"]["RuleIn"][];
        };
        /** @description Every rule. */
        RulesOut: {
            /** @description One per rule, in a fixed order. */
            rules: components["schemas"]["Rule"][];
        };
        /** @description `POST /templates` body: a template from one of your tasks or from a definition. */
        SaveTemplateIn: {
            /** @description A task definition as `POST /tasks` takes it, with `{{ vars.NAME }}` placeholders. */
            definition?: Record<string, unknown> | null;
            /** @description What it does. */
            description?: string;
            /** @description Short name, 1–200 characters. */
            name: string;
            /**
             * Format: uuid
             * @description Copy the definition of this task of yours (give this or `definition`).
             */
            task_id?: string | null;
            /** @description The variables the placeholders use. */
            variables?: components["schemas"]["TemplateVariable"][];
        };
        /**
         * @description How local times in the hour skipped or repeated by a daylight-saving change fire.
         * @enum {string}
         */
        ScheduleDstPolicy: "SHIFT_ONCE" | "SHIFT_TWICE" | "SKIP_ONCE" | "SKIP_TWICE";
        /**
         * @description Whether DST policies apply to the schedule.
         * @enum {string}
         */
        ScheduleKind: "WALL_CLOCK" | "INTERVAL";
        /** @description When a task fires on its own. */
        ScheduleSpec: {
            /**
             * @description 5 fields (minute first), 6 (second first), or a macro such as `@hourly`.
             * @example *\/5 * * * *
             */
            cron: string;
            /** @description The skipped and the repeated hour of daylight-saving changes (default `SHIFT_ONCE`). */
            dst_policy?: components["schemas"]["ScheduleDstPolicy"];
            /**
             * Format: date-time
             * @description No run after this instant.
             */
            end_at?: string | null;
            /**
             * Format: int32
             * @description Each run starts up to this many seconds after its slot, at random (0–3600, default 0).
             */
            jitter_seconds?: number;
            /**
             * Format: date-time
             * @description No run before this instant.
             */
            start_at?: string | null;
            /**
             * @description IANA time zone the expression is read in (default `UTC`).
             * @example Europe/Berlin
             */
            timezone?: string;
        };
        /**
         * @description One permission an API key can carry.
         * @enum {string}
         */
        Scope: "tasks:read" | "tasks:write" | "tasks:execute" | "executions:read" | "analytics:read" | "secrets:use" | "notifications:read" | "notifications:write";
        /** @description A granted scope. */
        ScopeCheckOut: {
            /** @description Always true (a missing scope is a 403). */
            granted: boolean;
            /** @description The scope asked about. */
            scope: components["schemas"]["Scope"];
        };
        /** @description A CUSTOM_SCRIPT configuration. */
        ScriptActionConfig: {
            /**
             * Format: int64
             * @description The operation budget.
             */
            max_operations?: number | null;
            /** @description Secret names the script reads as `secrets.NAME`. */
            secrets?: string[];
            /** @description The Rhai source. */
            source: string;
            /**
             * Format: int64
             * @description A wall-time limit shorter than the task's timeout.
             */
            timeout_seconds?: number | null;
        };
        /** @description `POST /secrets` body. */
        SecretIn: {
            /** @description What it is for (at most 500 characters). */
            description?: string | null;
            /**
             * @description The name tasks use in `{{ secrets.NAME }}`: a letter or `_` first, then letters,
             *     digits or `_`, at most 64 characters.
             * @example STRIPE_API_KEY
             */
            name: string;
            /**
             * Format: password
             * @description The value (1 byte to 64 KiB). Stored encrypted; never returned.
             * @example sk_live_…
             */
            value: string;
        };
        /** @description What is stored about a secret, without its value. */
        SecretMeta: {
            /**
             * Format: date-time
             * @description When it was created.
             */
            created_at: string;
            /** @description What it is for. */
            description?: string | null;
            /**
             * Format: uuid
             * @description The secret's id.
             */
            id: string;
            /** @description The name used in `{{ secrets.NAME }}`. */
            name: string;
            /**
             * Format: date-time
             * @description When its name, description or value last changed.
             */
            updated_at: string;
        };
        /** @description One page of secrets. */
        SecretPage: {
            /** @description The secrets, by name. */
            items: components["schemas"]["SecretMeta"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description `PATCH /secrets/{id}` body; fields left out stay as they are. */
        SecretPatch: {
            /** @description A new description; `null` clears it. */
            description?: string | null;
            /** @description A new name (tasks referring to the old name will fail to resolve it). */
            name?: string | null;
            /**
             * Format: password
             * @description A new value, used by the next execution.
             */
            value?: string | null;
        };
        /**
         * @description `security_alert`: a new HIGH or CRITICAL security alert, sent to the `admin` room (which
         *     admins join when they connect). `GET /admin/security-alerts/{alert_id}` has the rest.
         */
        SecurityAlertPush: {
            /**
             * Format: uuid
             * @description The alert.
             */
            alert_id: string;
            /**
             * Format: int32
             * @description Occurrences when it was raised.
             */
            count: number;
            /**
             * Format: date-time
             * @description The first occurrence.
             */
            first_seen: string;
            /**
             * @description The rule, e.g. `PASSWORD_SPRAY`.
             * @example PASSWORD_SPRAY
             */
            rule: string;
            /**
             * @description `HIGH` or `CRITICAL`.
             * @example HIGH
             */
            severity: string;
            /** @description Who or what it is about (an address, an email, a user or key id). */
            subject: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /**
         * @description A detection rule.
         * @enum {string}
         */
        SecurityRuleKind: "FAILED_LOGINS" | "PASSWORD_SPRAY" | "UNUSUAL_IP" | "ADMIN_BURST" | "SUSPICIOUS_USER_AGENT" | "API_KEY_ABUSE";
        /** @description One bucket's figures. */
        SeriesPoint: {
            /**
             * Format: int64
             * @description Tasks with at least one execution in the bucket.
             */
            active_tasks: number;
            /** @description Run time, in milliseconds. */
            duration_ms: components["schemas"]["Percentiles"];
            /** @description Executions queued in the bucket, by status. */
            executions: components["schemas"]["ExecutionCounts"];
            /** @description How late executions started, in milliseconds. */
            lateness_ms: components["schemas"]["Percentiles"];
            /**
             * @description The same instant on the wall clock of `tz` (`YYYY-MM-DDTHH:MM:SS`).
             * @example 2026-03-29T00:00:00
             */
            local_start: string;
            /**
             * Format: int64
             * @description Notifications sent to you in the bucket.
             */
            notifications_sent: number;
            /**
             * Format: date-time
             * @description When the bucket starts.
             */
            start: string;
            /**
             * Format: double
             * @description Share of ended executions that succeeded (0–1), `null` when none ended.
             */
            success_rate?: number | null;
        };
        /** @description What `/api/status` tells anyone: the version and health; admins also get `detail`. */
        ServerStatus: {
            detail?: null | components["schemas"]["StatusDetail"];
            /** @description Whether the server can serve. */
            health: components["schemas"]["Health"];
            /** @description The server version. */
            version: string;
        };
        /** @description The outcome of one check. */
        ServiceCheck: {
            /**
             * Format: date-time
             * @description When the check ran (results are reused for 5 seconds).
             */
            checked_at?: string | null;
            /** @description Why the check failed. */
            error?: string | null;
            /**
             * Format: double
             * @description How long the check took, in milliseconds (absent when not configured).
             */
            latency_ms?: number | null;
            /** @description `ok`, `degraded` or `not_configured`. */
            status: components["schemas"]["ServiceStatus"];
        };
        /**
         * @description The state of one dependency.
         * @enum {string}
         */
        ServiceStatus: "ok" | "degraded" | "not_configured";
        /** @description `session.expired`: sent right before the server disconnects a socket at its token's expiry. */
        SessionExpired: {
            /**
             * Format: date-time
             * @description When the credentials expired.
             */
            expired_at: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description A signed-in device. */
        SessionOut: {
            /**
             * Format: date-time
             * @description When the session started.
             */
            created_at: string;
            /** @description Whether this is the session of the calling token. */
            current: boolean;
            /**
             * @description Browser and system read from the user agent, e.g. `Firefox on Linux`.
             * @example Firefox on Linux
             */
            device: string;
            /**
             * Format: date-time
             * @description When it ends at the latest.
             */
            expires_at: string;
            /**
             * Format: uuid
             * @description The session id.
             */
            id: string;
            /**
             * @description The client address at login or last refresh.
             * @example 203.0.113.7
             */
            ip?: string | null;
            /**
             * Format: date-time
             * @description When its refresh token was last used.
             */
            last_used_at: string;
            /** @description The raw user agent. */
            user_agent?: string | null;
        };
        /** @description What `POST /admin/users/{id}/sessions/revoke` did. */
        SessionsRevoked: {
            /**
             * Format: int64
             * @description Sessions that were live and are now revoked.
             */
            revoked: number;
        };
        /**
         * @description How serious an alert is.
         * @enum {string}
         */
        Severity: "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
        /**
         * @description How a webhook trigger's deliveries must be signed.
         * @enum {string}
         */
        SignatureScheme: "none" | "standard_webhooks" | "github";
        /**
         * @description Why a planned slot did not produce an execution.
         * @enum {string}
         */
        SkipReason: "SKIPPED_CONCURRENCY" | "OUTSIDE_CATCH_UP" | "PAUSED" | "AFTER_END" | "OWNER_INACTIVE" | "QUEUE_FULL" | "PLAN_LIMIT" | "CHAIN_DEPTH" | "CHAIN_BUDGET";
        /**
         * @description What to do with a wall-clock time that falls in the hour skipped when clocks go forward.
         * @enum {string}
         */
        SkippedHour: "RUN_AT_GAP_END" | "SKIP";
        /**
         * @description Ascending or descending.
         * @enum {string}
         */
        SortOrder: "asc" | "desc";
        /**
         * @description Which setting decided a resolved value.
         * @enum {string}
         */
        Source: "CRITICAL" | "TYPE" | "CATEGORY" | "CHANNEL" | "DEFAULT";
        /** @description Build and runtime facts, shown to admins. */
        StatusDetail: {
            /** @description The commit the binary was built from, when known. */
            commit?: string | null;
            /** @description `development`, `test` or `production`. */
            environment: string;
            /** @description This instance's id (host name, process id and a random suffix). */
            instance_id: string;
            /** @description Always `nocron`. */
            name: string;
            /**
             * Format: int64
             * @description Seconds since start.
             */
            uptime_seconds: number;
        };
        /** @description One stored execution log line. */
        StoredLogLine: {
            /** @description `DEBUG`, `INFO`, `WARN` or `ERROR`. */
            level: string;
            /**
             * Format: date-time
             * @description When it was written.
             */
            logged_at: string;
            /** @description The line. */
            message: string;
        };
        /** @description The acknowledgement of `subscribe`/`unsubscribe`: `{"ok": true}` or `{"error": "…"}`. */
        SubscribeAck: {
            /** @description Always `true`. */
            ok: boolean;
        } | {
            /** @description Why. */
            error: string;
        };
        /** @description The body of a `subscribe` or `unsubscribe` event: a room name, bare or in an object. */
        SubscribeRequest: string | {
            /** @description The room. */
            room: string;
        };
        /** @description A subscription, for admins. */
        SubscriptionAdminOut: {
            /** @description Whether it ends at the period end. */
            cancel_at_period_end: boolean;
            /**
             * Format: date-time
             * @description When the period ends.
             */
            current_period_end?: string | null;
            /** @description The subscribed plan. */
            plan: components["schemas"]["PlanCode"];
            /** @description Its status. */
            status: components["schemas"]["SubscriptionStatus"];
            /** @description Stripe's customer id. */
            stripe_customer_id?: string | null;
            /** @description Stripe's subscription id (`null` for a plan granted by hand). */
            stripe_subscription_id?: string | null;
            /**
             * Format: date-time
             * @description Last change.
             */
            updated_at: string;
            /**
             * Format: uuid
             * @description The account.
             */
            user_id: string;
        };
        /** @description A page of subscriptions. */
        SubscriptionAdminPage: {
            /** @description By account id. */
            items: components["schemas"]["SubscriptionAdminOut"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /** @description The subscription as Stripe answered the change. */
        SubscriptionChangeOut: {
            /** @description Whether it ends at the end of the period. */
            cancel_at_period_end: boolean;
            /**
             * Format: date-time
             * @description When the current period ends.
             */
            current_period_end?: string | null;
            plan?: null | components["schemas"]["PlanCode"];
            /**
             * @description Stripe's status: `trialing`, `active`, `past_due`, `canceled`, `incomplete`,
             *     `incomplete_expired`, `unpaid` or `paused`.
             */
            status: string;
            /** @description Stripe's subscription id (`sub_…`). */
            subscription_id: string;
        };
        /** @description The caller's subscription. */
        SubscriptionOut: {
            /** @description Whether it ends at the end of the period. */
            cancel_at_period_end: boolean;
            /**
             * Format: date-time
             * @description When the current period ends.
             */
            current_period_end?: string | null;
            /** @description The plan that applies now (the default plan without a current subscription). */
            plan: components["schemas"]["PlanCode"];
            status?: null | components["schemas"]["SubscriptionStatus"];
            subscribed_plan?: null | components["schemas"]["PlanCode"];
            /**
             * Format: date-time
             * @description When the trial ends.
             */
            trial_end?: string | null;
            /** @description Each countable limit with its use. */
            usage: components["schemas"]["LimitUsage"][];
        };
        /**
         * @description Where a subscription is, as Stripe names it.
         * @enum {string}
         */
        SubscriptionStatus: "trialing" | "active" | "past_due" | "canceled" | "incomplete" | "unpaid";
        /**
         * @description How the period compares with the previous one: relative changes
         *     (`(current − previous) / previous`, `null` when the previous figure is 0 or unknown),
         *     except `success_rate`, a difference of rates.
         */
        SummaryChange: {
            /**
             * Format: double
             * @description Relative change of active tasks.
             */
            active_tasks?: number | null;
            /**
             * Format: double
             * @description Relative change of the median run time.
             */
            duration_p50?: number | null;
            /**
             * Format: double
             * @description Relative change of the 95th percentile run time.
             */
            duration_p95?: number | null;
            /**
             * Format: double
             * @description Relative change of all executions.
             */
            executions?: number | null;
            /**
             * Format: double
             * @description Relative change of failures.
             */
            failures?: number | null;
            /**
             * Format: double
             * @description Relative change of the 95th percentile lateness.
             */
            lateness_p95?: number | null;
            /**
             * Format: double
             * @description Relative change of notifications sent.
             */
            notifications_sent?: number | null;
            /**
             * Format: double
             * @description Current success rate minus the previous one.
             */
            success_rate?: number | null;
        };
        /** @description The system as an admin sees it. */
        SystemOut: {
            /** @description The settings in effect, secrets masked. */
            config: components["schemas"]["ConfigEntry"][];
            /** @description The instance that answered. */
            instance_id: string;
            /** @description Instances heard from in the last minute. */
            instances: components["schemas"]["InstanceOut"][];
            /** @description Migrations applied, oldest first. */
            migrations: components["schemas"]["MigrationOut"][];
            /** @description The server's version. */
            version: string;
        };
        /** @description A target of an action, from the request path (`/tasks/{id}` → `{type: "task", id}`). */
        Target: {
            /** @description Its id as it appears in the path. */
            id: string;
            /** @description What it is (`task`, `execution`, `user`, …). */
            type: string;
        };
        /** @description `task.created` and `task.updated`: the task as it now is, in brief. */
        TaskChanged: {
            /**
             * Format: date-time
             * @description When the change happened.
             */
            at: string;
            /**
             * @description Its name.
             * @example Nightly report
             */
            name: string;
            /**
             * Format: date-time
             * @description The next scheduled run, if any.
             */
            next_run_at?: string | null;
            /** @description `ACTIVE`, `PAUSED`, `STOPPED` or `FAILED`. */
            status: components["schemas"]["TaskStatus"];
            /**
             * Format: uuid
             * @description The task.
             */
            task_id: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description Tasks by status. */
        TaskCounts: {
            /**
             * Format: int64
             * @description Scheduled and triggerable.
             */
            active: number;
            /**
             * Format: int64
             * @description Stopped by the engine after repeated failures.
             */
            failed: number;
            /**
             * Format: int64
             * @description Paused.
             */
            paused: number;
            /**
             * Format: int64
             * @description Stopped by their owner.
             */
            stopped: number;
            /**
             * Format: int64
             * @description Every status together.
             */
            total: number;
        };
        /** @description `task.deleted`. */
        TaskDeleted: {
            /**
             * Format: date-time
             * @description When it was deleted.
             */
            at: string;
            /**
             * Format: uuid
             * @description The task that no longer exists.
             */
            task_id: string;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description One task in the busiest or top failing list. */
        TaskFigures: {
            /**
             * Format: int64
             * @description Its executions in the period.
             */
            executions: number;
            /**
             * Format: int64
             * @description Those that failed (`FAILED`, `DEAD`, `TIMED_OUT`).
             */
            failures: number;
            /** @description Its name. */
            name: string;
            /**
             * Format: int64
             * @description Its executions in the previous period.
             */
            previous_executions: number;
            /**
             * Format: int64
             * @description Its failures in the previous period.
             */
            previous_failures: number;
            /**
             * Format: uuid
             * @description The task.
             */
            task_id: string;
        };
        /**
         * @description A task definition, for `POST /tasks` and `PUT /tasks/{id}`. `PATCH` takes any subset of
         *     it as a JSON merge patch (RFC 7396). Unknown and read-only fields (`id`, `owner_id`,
         *     `next_run_at`, …) are ignored.
         */
        TaskIn: {
            /** @description What the task does. */
            action: components["schemas"]["ActionIn"];
            /**
             * @description Whether chains that close a cycle through this task may be saved (default `false`:
             *     a cycle is usually a mistake). Every task on the cycle must allow it; see
             *     docs/TRIGGERS.md.
             */
            allow_cycles?: boolean;
            /**
             * Format: int32
             * @description Consecutive dead executions after which the task is set to `FAILED`; `null`: never.
             */
            auto_pause_after_failures?: number | null;
            /**
             * Format: int32
             * @description Most missed slots run under `ALL` (1–1000, default 10).
             */
            catch_up_max?: number;
            /** @description What happens to slots missed while no scheduler ran (default `LATEST`). */
            catch_up_policy?: components["schemas"]["CatchUpPolicy"];
            /** @description What happens when a slot is due while a run is active (default `ALLOW`). */
            concurrency_policy?: components["schemas"]["ConcurrencyPolicy"];
            /** @description Free text, up to 5000 characters. */
            description?: string;
            /**
             * @description Short name, 1–200 characters.
             * @example Ping the shop
             */
            name: string;
            /**
             * Format: int32
             * @description 0 (lowest) to 9 (default 5): workers start higher priorities first; a lower one that
             *     has waited `PRIORITY_AGEING_SECONDS` per level of difference goes first all the same.
             * @default 5
             */
            priority?: number;
            retry?: null | components["schemas"]["RetryIn"];
            schedule?: null | components["schemas"]["ScheduleSpec"];
            status?: null | components["schemas"]["TaskStatus"];
            /** @description Up to 20 labels of 1–50 characters. */
            tags?: string[];
            /**
             * Format: int32
             * @description Per-attempt time limit in seconds (1–86400, default 30).
             */
            timeout_seconds?: number;
        };
        /** @description A task as the API shows it. */
        TaskOut: {
            /** @description What it does. */
            action: components["schemas"]["ActionIn"];
            /** @description Whether chains that close a cycle through this task may be saved. */
            allow_cycles: boolean;
            /**
             * Format: int32
             * @description Consecutive dead executions that set the task to `FAILED`.
             */
            auto_pause_after_failures?: number | null;
            /**
             * Format: int32
             * @description Most missed slots run under `ALL`.
             */
            catch_up_max: number;
            /** @description Missed slots. */
            catch_up_policy: components["schemas"]["CatchUpPolicy"];
            /** @description Overlapping runs. */
            concurrency_policy: components["schemas"]["ConcurrencyPolicy"];
            /**
             * Format: int32
             * @description Dead executions since the last success.
             */
            consecutive_failures: number;
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /** @description Free text. */
            description: string;
            /**
             * Format: uuid
             * @description Its id.
             */
            id: string;
            last_execution?: null | components["schemas"]["ExecutionSummary"];
            /** @description Short name. */
            name: string;
            /**
             * Format: date-time
             * @description The next slot the scheduler fires (read-only).
             */
            next_run_at?: string | null;
            /**
             * Format: uuid
             * @description Its owner.
             */
            owner_id: string;
            /**
             * Format: int32
             * @description 0 (lowest) to 9.
             */
            priority: number;
            /** @description Retries of failed attempts. */
            retry: components["schemas"]["RetryPolicy"];
            schedule?: null | components["schemas"]["ScheduleSpec"];
            /** @description `ACTIVE`, `PAUSED`, `STOPPED` or `FAILED`. */
            status: components["schemas"]["TaskStatus"];
            /** @description Labels. */
            tags: string[];
            /**
             * Format: int32
             * @description Per-attempt time limit in seconds.
             */
            timeout_seconds: number;
            /**
             * Format: date-time
             * @description Last changed; its value is also the `ETag` to send in `If-Match`.
             */
            updated_at: string;
        };
        /** @description One page of tasks. */
        TaskPage: {
            /** @description The tasks, in the requested order. */
            items: components["schemas"]["TaskOut"][];
            /** @description Pass as `cursor` for the next page; absent on the last one. */
            next_cursor?: string | null;
        };
        /**
         * @description A task in an export or an import: the fields of `TaskIn`, plus `external_id`, triggers,
         *     chains and alert rules. Secrets stay references (`{{ secrets.NAME }}` in the action's
         *     configuration); tokens and signing secrets are never exported.
         */
        TaskRecord: components["schemas"]["TaskIn"] & components["schemas"]["RecordExtras"];
        /**
         * @description The order tasks are listed in.
         * @enum {string}
         */
        TaskSort: "created_at" | "updated_at" | "name" | "next_run_at";
        /**
         * @description Whether the scheduler fires a task.
         * @enum {string}
         */
        TaskStatus: "ACTIVE" | "PAUSED" | "STOPPED" | "FAILED";
        /** @description `task.status_changed`. */
        TaskStatusChanged: {
            /**
             * Format: date-time
             * @description When it changed.
             */
            at: string;
            /** @description The previous status. */
            from: components["schemas"]["TaskStatus"];
            /** @description Why, when the system changed it (e.g. `auto_pause_after_failures`). */
            reason?: string | null;
            /**
             * Format: uuid
             * @description The task.
             */
            task_id: string;
            /** @description The new status. */
            to: components["schemas"]["TaskStatus"];
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description A template. */
        Template: {
            /** @description Whether it is part of the built-in catalogue (read-only). */
            builtin: boolean;
            /**
             * Format: date-time
             * @description When you saved it (absent for built-in templates).
             */
            created_at?: string | null;
            /** @description The task definition (as `POST /tasks` takes it) with `{{ vars.NAME }}` placeholders. */
            definition: Record<string, unknown>;
            /** @description What it does. */
            description: string;
            /**
             * @description A slug for built-in templates (`http-uptime-check`), a UUID for yours.
             * @example http-uptime-check
             */
            id: string;
            /** @description Short name. */
            name: string;
            /** @description The variables it takes. */
            variables: components["schemas"]["TemplateVariable"][];
        };
        /** @description The templates you can use. */
        TemplateList: {
            /** @description The built-in catalogue first, then yours, oldest first. */
            items: components["schemas"]["Template"][];
        };
        /** @description A variable a template declares. */
        TemplateVariable: {
            /** @description The value used when none is given; a variable without one is required. */
            default?: unknown;
            /** @description What to give, for a person. */
            description?: string;
            /** @description A value that shows the expected form, for forms and documentation. */
            example?: unknown;
            /** @description Its name, used as `{{ vars.NAME }}` (a letter or `_`, then letters, digits or `_`). */
            name: string;
            /** @description `string` (default), `number` or `boolean`. */
            type?: components["schemas"]["VariableKind"];
        };
        /** @description One delivery of the test notification, as first stored. */
        TestDelivery: {
            /** @description The channel. */
            channel: components["schemas"]["Channel"];
            /** @description Why it will not be sent. */
            last_error?: string | null;
            /**
             * @description Where it starts: `QUEUED` (the worker sends it next), `DELIVERED` (in-app), or
             *     `NOT_SENT` when the channel is not set up (`last_error` says why).
             */
            status: components["schemas"]["DeliveryStatus"];
        };
        /** @description `POST /notifications/test` body. */
        TestIn: {
            /** @description The channel to try. */
            channel: components["schemas"]["Channel"];
        };
        /** @description The test notification; follow it with `GET /notifications/{id}`. */
        TestSent: {
            /** @description Its deliveries (one per webhook endpoint for `WEBHOOK`). */
            deliveries: components["schemas"]["TestDelivery"][];
            /**
             * Format: uuid
             * @description The notification.
             */
            notification_id: string;
        };
        /** @description Today's executions. */
        Today: {
            /** @description Executions queued today, by status. */
            executions: components["schemas"]["ExecutionCounts"];
            /**
             * Format: date-time
             * @description Local midnight, as an instant.
             */
            from: string;
            /**
             * Format: date-time
             * @description The next local midnight.
             */
            to: string;
        };
        /** @description The body of `acknowledge` and `resolve`. */
        TransitionIn: {
            /**
             * @description Why (1–2000 characters).
             * @example Looking into it
             */
            note: string;
        };
        /** @description One step of an alert's life cycle. */
        TransitionOut: {
            /**
             * Format: uuid
             * @description The admin who made it (absent once their account is gone).
             */
            actor_id?: string | null;
            /**
             * Format: date-time
             * @description When.
             */
            created_at: string;
            /** @description The state before. */
            from_status: components["schemas"]["AlertStatus"];
            /** @description Why. */
            note: string;
            /** @description The state after. */
            to_status: components["schemas"]["AlertStatus"];
        };
        /**
         * @description What created an execution.
         * @enum {string}
         */
        TriggerKind: "SCHEDULE" | "MANUAL" | "API" | "WEBHOOK" | "EMAIL" | "CHAIN" | "NOTION" | "RETRY";
        /** @description A channel turned on or off for one type. */
        TypeSetting: {
            /** @description `EMAIL` or `WEBHOOK`. */
            channel: components["schemas"]["Channel"];
            /** @description On or off. */
            enabled: boolean;
            /** @description The type. */
            type: components["schemas"]["NotificationType"];
        };
        /** @description The unread count. */
        UnreadCount: {
            /**
             * Format: int64
             * @description Notifications not read and not deleted.
             */
            count: number;
        };
        /** @description `unread_count`: the user's unread notifications, after each change. */
        UnreadCountPush: {
            /**
             * Format: int64
             * @description Unread, not deleted notifications.
             */
            count: number;
            /**
             * Format: int32
             * @description Payload version (1).
             * @example 1
             */
            v: number;
        };
        /** @description What the caller uses of its plan. */
        UsageOut: {
            /** @description Whether billing is on. */
            billing_enabled: boolean;
            /** @description The plan's limits; `null` is unlimited. */
            limits: components["schemas"]["PlanLimits"];
            /** @description The plan that applies now. */
            plan: components["schemas"]["PlanCode"];
            /** @description Each countable limit with its use. */
            usage: components["schemas"]["LimitUsage"][];
        };
        /** @description Accounts on one day. */
        UserFigures: {
            /**
             * Format: int64
             * @description Accounts that signed in or had an execution queued that day.
             */
            active: number;
            /**
             * Format: int64
             * @description Accounts created that day.
             */
            new: number;
            /**
             * Format: int64
             * @description Accounts that existed (not deleted) at the end of the day.
             */
            total: number;
        };
        /** @description A user account. */
        UserOut: {
            /**
             * Format: date-time
             * @description When the account was created.
             */
            created_at: string;
            /**
             * @description The sign-in email.
             * @example ada@example.com
             */
            email: string;
            /**
             * Format: uuid
             * @description The user id.
             */
            id: string;
            /**
             * @description Display name.
             * @example Ada Lovelace
             */
            name: string;
            /** @description The role. */
            role: components["schemas"]["Role"];
            /** @description Whether the account can sign in. */
            status: components["schemas"]["UserStatus"];
            /** @description Preferred IANA time zone, e.g. `Europe/Paris`. */
            timezone?: string | null;
            /**
             * Format: date-time
             * @description When it last changed.
             */
            updated_at: string;
        };
        /** @description One page of users. */
        UserPage: {
            /** @description The users, oldest first. */
            items: components["schemas"]["UserOut"][];
            /**
             * Format: uuid
             * @description Pass as `cursor` for the next page; absent on the last one.
             */
            next_cursor?: string | null;
        };
        /** @description `PATCH /users/{id}` body. Fields not listed (`role`, `id`, `email`, …) are ignored. */
        UserPatch: {
            /** @description Display name. */
            name?: string | null;
            status?: null | components["schemas"]["UserStatus"];
            /** @description IANA time zone such as `Europe/Paris`; `null` clears it. */
            timezone?: string | null;
        };
        /**
         * @description Whether an account can sign in.
         * @enum {string}
         */
        UserStatus: "active" | "disabled" | "locked" | "deleted";
        /**
         * @description The type of a variable's value.
         * @enum {string}
         */
        VariableKind: "string" | "number" | "boolean";
        /** @description `POST /auth/verify-email` body. */
        VerifyEmailIn: {
            /** @description The token from the verification email. */
            token: string;
        };
        /** @description What `verify` found. */
        VerifyReport: {
            /**
             * Format: int64
             * @description The first row whose hash or link does not match (`null`: the chain is intact).
             */
            first_broken_seq?: number | null;
            /**
             * Format: int64
             * @description The last `seq` of the unbroken chain from its start (`null`: nothing sealed, or the
             *     very first row is broken).
             */
            verified_through_seq?: number | null;
        };
        /**
         * @description A new or rotated webhook trigger: the only time its URL and token (and, on creation, its
         *     signing secret) are shown.
         */
        WebhookCreated: components["schemas"]["WebhookOut"] & {
            /** @description The signing secret, on creation with a scheme; store it now. */
            secret?: string | null;
            /** @description The token; store it now, it cannot be shown again. */
            token: string;
            /**
             * @description Where to send deliveries: `PUBLIC_URL/hooks/{token}` (the path alone without
             *     `PUBLIC_URL`).
             * @example https://nocron.example.com/hooks/nwh_3fX9aQ2mLp0ZkR7tYb1cVn4sWe8uIo6a
             */
            url: string;
        };
        /** @description `POST /tasks/{task_id}/webhooks` body. */
        WebhookIn: {
            /**
             * @description A label (at most 100 characters).
             * @example GitHub pushes
             */
            name?: string | null;
            /**
             * Format: int32
             * @description Standard Webhooks only: accepted clock difference in seconds (1–86400, default 300).
             */
            replay_window_seconds?: number | null;
            /**
             * @description The signing secret: `whsec_<base64>` (at least 16 bytes) for Standard Webhooks, a
             *     string of 16 to 256 characters for GitHub. Generated when omitted and a scheme is set.
             */
            secret?: string | null;
            signature?: null | components["schemas"]["SignatureScheme"];
        };
        /** @description A webhook trigger as listed (never its token or secret). */
        WebhookOut: {
            /**
             * Format: date-time
             * @description Created.
             */
            created_at: string;
            /**
             * Format: uuid
             * @description The trigger id.
             */
            id: string;
            /**
             * Format: date-time
             * @description When a delivery was last accepted (updated at most once a minute).
             */
            last_used_at?: string | null;
            /** @description Its label. */
            name: string;
            /**
             * Format: int32
             * @description Standard Webhooks: accepted clock difference in seconds.
             */
            replay_window_seconds?: number | null;
            /**
             * Format: date-time
             * @description When the token was last rotated.
             */
            rotated_at?: string | null;
            /** @description The signature scheme. */
            signature: components["schemas"]["SignatureScheme"];
            /**
             * Format: uuid
             * @description Its task.
             */
            task_id: string;
            /**
             * @description The token's public start, to recognise it.
             * @example nwh_3fX9aQ2m
             */
            token_prefix: string;
        };
        /** @description What the endpoint answers Stripe. */
        WebhookReceived: {
            /** @description True when this event id was applied before (nothing changed now). */
            duplicate: boolean;
            /** @description Always true: the event needs no redelivery. */
            received: boolean;
        };
        /** @description A webhook trigger, without its token or secret. */
        WebhookRecord: {
            /** @description Its label (at most 100 characters). */
            name?: string;
            /**
             * Format: int32
             * @description Standard Webhooks only: accepted clock difference in seconds.
             */
            replay_window_seconds?: number | null;
            /** @description Its signature scheme (default `none`). */
            signature?: components["schemas"]["SignatureScheme"];
        };
        /**
         * @description The first day of a week bucket.
         * @enum {string}
         */
        WeekStart: "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday";
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    platform_analytics: {
        parameters: {
            query?: {
                /** @description Start, inclusive (RFC 3339); default: 7 days before `to`. */
                from?: string;
                /** @description End, exclusive (RFC 3339); default: now. At most 92 days after `from`. */
                to?: string;
                /**
                 * @description IANA time zone the days follow; default `UTC`.
                 * @example Europe/Berlin
                 */
                tz?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The figures */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminAnalytics"];
                };
            };
            /** @description Malformed query parameter */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unknown time zone, `to` not after `from`, or more than 92 days */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_audit_logs: {
        parameters: {
            query?: {
                /** @description The acting user. */
                actor_id?: string;
                /** @description The kind of actor. */
                actor_type?: components["schemas"]["ActorType"];
                /** @description Actions starting with this (`auth.`, `tasks.create`); at most 200 characters. */
                action?: string;
                /** @description The class. */
                action_class?: components["schemas"]["ActionClass"];
                /** @description The outcome. */
                outcome?: components["schemas"]["Outcome"];
                /** @description Only critical (`true`) or only other (`false`) events. */
                critical?: boolean;
                /** @description The client address, exactly. */
                ip?: string;
                /** @description The route template, exactly (`/tasks/{id}`). */
                route?: string;
                /** @description The `X-Request-Id`. */
                transaction_id?: string;
                /** @description At or after this time. */
                from?: string;
                /** @description Before this time. */
                to?: string;
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page (keep the filters while paging). */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of events */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditPage"];
                };
            };
            /** @description A query parameter is malformed (an id, enum, boolean or time) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit`, `cursor`, `ip` or a text filter is invalid, or `to` is not after `from` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    export_audit_logs: {
        parameters: {
            query: {
                /** @description `csv` or `ndjson`. */
                format: "csv" | "ndjson";
                /** @description The acting user. */
                actor_id?: string;
                /** @description The kind of actor. */
                actor_type?: components["schemas"]["ActorType"];
                /** @description Actions starting with this (`auth.`, `tasks.create`); at most 200 characters. */
                action?: string;
                /** @description The class. */
                action_class?: components["schemas"]["ActionClass"];
                /** @description The outcome. */
                outcome?: components["schemas"]["Outcome"];
                /** @description Only critical (`true`) or only other (`false`) events. */
                critical?: boolean;
                /** @description The client address, exactly. */
                ip?: string;
                /** @description The route template, exactly (`/tasks/{id}`). */
                route?: string;
                /** @description The `X-Request-Id`. */
                transaction_id?: string;
                /** @description At or after this time. */
                from?: string;
                /** @description Before this time. */
                to?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The events: `text/csv` (RFC 4180, header row, cells that could run as spreadsheet formulas prefixed with `'`) or `application/x-ndjson` (one `AuditEventOut` per line) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/csv": string;
                    "application/x-ndjson": string;
                };
            };
            /** @description `format` is missing or not `csv`/`ndjson`, or a filter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `ip` or a text filter is invalid, or `to` is not after `from` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    verify_audit_logs: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description How far the chain verifies */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["VerifyReport"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_audit_log: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The event */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The event */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditEventOut"];
                };
            };
            /** @description `id` is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such event */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_plan: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The plan */
                code: components["schemas"]["PlanCode"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The plan */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PlanAdminOut"];
                };
            };
            /** @description Unknown plan code */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such object of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    update_plan: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The plan */
                code: components["schemas"]["PlanCode"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PlanAdminIn"];
            };
        };
        responses: {
            /** @description The plan */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PlanAdminOut"];
                };
            };
            /** @description The body is not JSON, or an unknown plan code */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such object of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    grant_role: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                user_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RoleIn"];
            };
        };
        responses: {
            /** @description The user with the new role */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UserOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin, or an admin role without being SUPER_ADMIN */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such user */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Would demote the last SUPER_ADMIN */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unknown role */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    remove_role: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                user_id: string;
                /** @description The role to remove (ADMIN or SUPER_ADMIN) */
                role: components["schemas"]["Role"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The user without the role */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UserOut"];
                };
            };
            /** @description Unknown role */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin, or an admin role without being SUPER_ADMIN */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such user holding that role */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Would demote the last SUPER_ADMIN */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description USER cannot be removed */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_security_alert_rules: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every rule */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RulesOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    put_security_alert_rules: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RulesIn"];
            };
        };
        responses: {
            /** @description Every rule, after the change */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RulesOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not `application/json` */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_security_alerts: {
        parameters: {
            query?: {
                /** @description Only this severity. */
                severity?: components["schemas"]["Severity"];
                /** @description Only this state. */
                status?: components["schemas"]["AlertStatus"];
                /** @description Only this rule. */
                rule?: components["schemas"]["SecurityRuleKind"];
                /** @description Seen at or after this time (`last_seen`). */
                from?: string;
                /** @description First seen before this time. */
                to?: string;
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page (keep the filters while paging). */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of alerts */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertPage"];
                };
            };
            /** @description A query parameter is malformed (an enum or a time) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid, or `to` is not after `from` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_security_alert: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The alert */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The alert */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertDetail"];
                };
            };
            /** @description `id` is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such alert */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    acknowledge_security_alert: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The alert */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TransitionIn"];
            };
        };
        responses: {
            /** @description The alert, acknowledged */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertDetail"];
                };
            };
            /** @description The body is not JSON, or `id` is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such alert */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The alert is not `OPEN` */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not `application/json` */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `note` is missing, empty or too long */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    false_positive_security_alert: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The alert */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["FalsePositiveIn"];
            };
        };
        responses: {
            /** @description The alert, marked a false positive */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertDetail"];
                };
            };
            /** @description The body is not JSON, or `id` is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such alert */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The alert is already `RESOLVED` or `FALSE_POSITIVE` */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not `application/json` */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `note` is missing, empty or too long, or `suppress_days` is out of range */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    resolve_security_alert: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The alert */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TransitionIn"];
            };
        };
        responses: {
            /** @description The alert, resolved */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertDetail"];
                };
            };
            /** @description The body is not JSON, or `id` is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such alert */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The alert is already `RESOLVED` or `FALSE_POSITIVE` */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not `application/json` */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `note` is missing, empty or too long */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_subscriptions: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                /** @description Only this status. */
                status?: components["schemas"]["SubscriptionStatus"];
                /** @description Only this plan. */
                plan?: components["schemas"]["PlanCode"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of subscriptions */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionAdminPage"];
                };
            };
            /** @description A query parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    system: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The system */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SystemOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    admin_list_tasks: {
        parameters: {
            query?: {
                /** @description Only this owner's tasks. */
                owner_id?: string;
                /** @description Only tasks with this status. */
                status?: components["schemas"]["TaskStatus"];
                /** @description Names containing this text (case-insensitive), at most 200 characters. */
                q?: string;
                /**
                 * @description Comma-separated tags the task must all carry (at most 10).
                 * @example billing,nightly
                 */
                tags?: string;
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of tasks */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminTaskPage"];
                };
            };
            /** @description Malformed query parameter */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid limit, cursor, tags or search text */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    admin_pause_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AdminTaskAction"];
            };
        };
        responses: {
            /** @description Paused (already paused: no notification) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminTaskChanged"];
                };
            };
            /** @description Malformed id or body */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not JSON */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or blank reason */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    admin_resume_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AdminTaskAction"];
            };
        };
        responses: {
            /** @description Active again (already active: no notification) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminTaskChanged"];
                };
            };
            /** @description Malformed id or body */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not JSON */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or blank reason, or a schedule that no longer parses */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    admin_list_users: {
        parameters: {
            query?: {
                /** @description Emails or names containing this text (case-insensitive), at most 200 characters. */
                q?: string;
                /** @description Only this role. */
                role?: components["schemas"]["Role"];
                /** @description Only this status (deleted accounts only when asked for). */
                status?: components["schemas"]["AccountStatus"];
                /** @description Only accounts on this plan (their effective plan). */
                plan?: components["schemas"]["PlanCode"];
                /** @description Created at or after (RFC 3339). */
                created_from?: string;
                /** @description Created before (RFC 3339). */
                created_to?: string;
                /** @description Last signed in at or after (RFC 3339). */
                last_login_from?: string;
                /** @description Last signed in before (RFC 3339). */
                last_login_to?: string;
                /** @description Sort field (default `created_at`). */
                sort?: "created_at" | "email" | "name" | "last_login_at" | "task_count" | "executions_30d";
                /** @description Sort direction (default `desc`). */
                order?: "asc" | "desc";
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description Rows to skip, 0–100000 (ignored when `cursor` is given). */
                offset?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of accounts */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminUserPage"];
                };
            };
            /** @description Malformed query parameter */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid limit, offset, cursor, range or search text */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    admin_get_user: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The account */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminUserDetail"];
                };
            };
            /** @description Malformed id */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such account */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    admin_delete_user: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted; `purge_after` says when it is purged */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminUserDetail"];
                };
            };
            /** @description Malformed id */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin, or the account is an admin and you are not a SUPER_ADMIN */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such live account */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your own account, or the last SUPER_ADMIN */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    admin_update_user: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AdminUserPatch"];
            };
        };
        responses: {
            /** @description The account after the change */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AdminUserDetail"];
                };
            };
            /** @description Malformed id or body */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin, or the account is an admin and you are not a SUPER_ADMIN */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such live account */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Would disable or lock the last SUPER_ADMIN */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not JSON */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field: a missing reason, DELETED, nothing to change, or your own account */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    grant_plan: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The user */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["GrantPlanIn"];
            };
        };
        responses: {
            /** @description The user's subscription */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionAdminOut"];
                };
            };
            /** @description The body is not JSON, or the id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such user */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unknown plan */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    revoke_sessions: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description How many sessions were revoked */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SessionsRevoked"];
                };
            };
            /** @description Malformed id */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin, or the account is an admin and you are not a SUPER_ADMIN */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such live account */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    dashboard: {
        parameters: {
            query?: {
                /** @description Start of the period, inclusive (RFC 3339); default: 7 days before `to`. */
                from?: string;
                /** @description End of the period, exclusive (RFC 3339); default: now. At most 400 days after `from`. */
                to?: string;
                /**
                 * @description IANA time zone the buckets follow (`Europe/Berlin`, `Asia/Shanghai`); default `UTC`.
                 * @example Europe/Berlin
                 */
                tz?: string;
                /** @description Bucket width of series; default `day`. At most 1000 buckets per request. */
                bucket?: components["schemas"]["Bucket"];
                /** @description First day of `week` buckets; default `monday`. */
                week_start?: components["schemas"]["WeekStart"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One point per bucket */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AnalyticsSeries"];
                };
            };
            /** @description A parameter does not parse (`from`, `to`, `bucket`, `week_start`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `analytics:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `tz` is not an IANA time zone, `to` is not after `from`, the period is longer than 400 days, or it would make more than 1000 buckets */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    summary: {
        parameters: {
            query?: {
                /** @description Start of the period, inclusive (RFC 3339); default: 7 days before `to`. */
                from?: string;
                /** @description End of the period, exclusive (RFC 3339); default: now. At most 400 days after `from`. */
                to?: string;
                /**
                 * @description IANA time zone the buckets follow (`Europe/Berlin`, `Asia/Shanghai`); default `UTC`.
                 * @example Europe/Berlin
                 */
                tz?: string;
                /** @description Bucket width of series; default `day`. At most 1000 buckets per request. */
                bucket?: components["schemas"]["Bucket"];
                /** @description First day of `week` buckets; default `monday`. */
                week_start?: components["schemas"]["WeekStart"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The period's figures and the previous period's */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AnalyticsSummary"];
                };
            };
            /** @description A parameter does not parse (`from`, `to`, `bucket`, `week_start`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `analytics:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `tz` is not an IANA time zone, `to` is not after `from`, or the period is longer than 400 days */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_keys: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Active keys, newest first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApiKeyOut"][];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_key: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ApiKeyIn"];
            };
        };
        responses: {
            /** @description Created; `key` is shown only now */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApiKeyCreated"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_api_keys` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many active keys */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field (unknown scope, past expiry) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    revoke_key: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description API key id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such active key of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotate_key: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description API key id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The new key, shown only now */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ApiKeyCreated"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such active key of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    status: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Version and health; `detail` only for an admin's access token */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ServerStatus"];
                };
            };
            /** @description An `Authorization` header was sent and is not a valid access token */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_dashboard: {
        parameters: {
            query?: {
                /** @description Start of the period, inclusive (RFC 3339); default: 7 days before `to`. */
                from?: string;
                /** @description End of the period, exclusive (RFC 3339); default: now. At most 400 days after `from`. */
                to?: string;
                /**
                 * @description IANA time zone the buckets follow (`Europe/Berlin`, `Asia/Shanghai`); default `UTC`.
                 * @example Europe/Berlin
                 */
                tz?: string;
                /** @description Bucket width of series; default `day`. At most 1000 buckets per request. */
                bucket?: components["schemas"]["Bucket"];
                /** @description First day of `week` buckets; default `monday`. */
                week_start?: components["schemas"]["WeekStart"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description One point per bucket */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AnalyticsSeries"];
                };
            };
            /** @description A parameter does not parse (`from`, `to`, `bucket`, `week_start`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `analytics:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `tz` is not an IANA time zone, `to` is not after `from`, the period is longer than 400 days, or it would make more than 1000 buckets */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_summary: {
        parameters: {
            query?: {
                /** @description Start of the period, inclusive (RFC 3339); default: 7 days before `to`. */
                from?: string;
                /** @description End of the period, exclusive (RFC 3339); default: now. At most 400 days after `from`. */
                to?: string;
                /**
                 * @description IANA time zone the buckets follow (`Europe/Berlin`, `Asia/Shanghai`); default `UTC`.
                 * @example Europe/Berlin
                 */
                tz?: string;
                /** @description Bucket width of series; default `day`. At most 1000 buckets per request. */
                bucket?: components["schemas"]["Bucket"];
                /** @description First day of `week` buckets; default `monday`. */
                week_start?: components["schemas"]["WeekStart"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The period's figures and the previous period's */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AnalyticsSummary"];
                };
            };
            /** @description A parameter does not parse (`from`, `to`, `bucket`, `week_start`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `analytics:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `tz` is not an IANA time zone, `to` is not after `from`, or the period is longer than 400 days */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_list_executions: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                /** @description Only this status, e.g. `DEAD` for the dead-letter list. */
                status?: components["schemas"]["ExecutionStatus"];
                /** @description Only this trigger kind. */
                trigger_kind?: components["schemas"]["TriggerKind"];
                /** @description Only executions queued at or after this instant (RFC 3339). */
                from?: string;
                /** @description Only executions queued before this instant (RFC 3339). */
                to?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of executions */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionPage"];
                };
            };
            /** @description A parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_get_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The execution */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The execution */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such execution of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_cancel_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The execution */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Cancelled, or asked to stop */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CancelOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such execution of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The execution already finished */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_retry_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The execution */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A new execution is queued */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Enqueued"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such execution of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The execution did not end without success */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your account already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    whoami: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The caller */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PrincipalOut"];
                };
            };
            /** @description Missing, invalid, revoked or expired credential */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_list_notifications: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page (keep the filters while paging). */
                cursor?: string;
                /** @description `true`: only unread ones; `false`: only read ones. */
                unread?: boolean;
                /** @description Only this type. */
                type?: components["schemas"]["NotificationType"];
                /** @description Created at or after this time. */
                from?: string;
                /** @description Created before this time. */
                to?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of notifications */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotificationPage"];
                };
            };
            /** @description A query parameter is malformed (`type`, `unread`, `from`, `to`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid, or `to` is not after `from` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_get_preferences: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Your preferences */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Preferences"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_put_preferences: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["Preferences"];
            };
        };
        responses: {
            /** @description The preferences as stored */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Preferences"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An invalid setting, named (`types[2].channel`, `quiet_hours.timezone`, …) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_effective_preferences: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every type and channel, resolved */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EffectivePreferences"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_read_all: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description How many were marked */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ReadAll"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_send_test: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TestIn"];
            };
        };
        responses: {
            /** @description Stored; queued deliveries are sent next */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TestSent"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `channel` is not one of IN_APP, EMAIL, WEBHOOK */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description 10 test notifications in the last hour; see `Retry-After` */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_unread_count: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The count */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UnreadCount"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_list_endpoints: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Your endpoints (at most 5) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EndpointOut"][];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_create_endpoint: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EndpointIn"];
            };
        };
        responses: {
            /** @description Created; `secret` is shown only now */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EndpointWithSecret"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You have 5 endpoints already */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field (`url`: not http(s), too long or a private address; `description`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_delete_endpoint: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The endpoint */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such endpoint of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_rotate_secret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The endpoint */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint with its new secret, shown only now */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EndpointWithSecret"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such endpoint of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_get_notification: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The notification */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotificationDetail"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_delete_notification: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_mark_read: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The notification, read */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotificationOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_resend: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The new deliveries, queued (or `NOT_SENT` when the channel is no longer set up) */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryOut"][];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No delivery of it failed, or each failed one was resent 3 times already */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    check_scope: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A scope from the catalogue, e.g. `tasks:read` */
                scope: components["schemas"]["Scope"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The scope is held */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ScopeCheckOut"];
                };
            };
            /** @description Not a scope of the catalogue */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing, invalid, revoked or expired credential */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key lacks the scope */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such object of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_list_tasks: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page (keep `sort` and `order` while paging). */
                cursor?: string;
                /** @description Only this status. */
                status?: components["schemas"]["TaskStatus"];
                /** @description Only this action type. */
                action_type?: components["schemas"]["ActionType"];
                /** @description Only tasks carrying this tag. */
                tag?: string;
                /** @description Text in the name or description (case-insensitive). */
                q?: string;
                /** @description `created_at` (default), `updated_at`, `name` or `next_run_at`. */
                sort?: components["schemas"]["TaskSort"];
                /** @description `asc` or `desc` (default: `desc` for times, `asc` for `name` and `next_run_at`). */
                order?: components["schemas"]["SortOrder"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of tasks */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskPage"];
                };
            };
            /** @description A query parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid, `q` is too long, or a parameter holds a NUL character (`query.q`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_create_task: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TaskIn"];
            };
        };
        responses: {
            /** @description The task, with `Location` and `ETag` */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_tasks` or `min_interval_seconds` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_bulk_tasks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BulkIn"];
            };
        };
        responses: {
            /** @description Each id's result */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BulkOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` (or `tasks:execute` for `execute`) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid body: both or neither of `ids` and `filter`, no ids, more than 1,000, a repeated id, a filter matching more than 1,000 tasks, or the action's missing `tags` or `priority` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_export_tasks: {
        parameters: {
            query?: {
                /** @description `json` (default) or `csv`. */
                format?: "json" | "csv";
                /** @description Only this status. */
                status?: components["schemas"]["TaskStatus"];
                /** @description Only this action type. */
                action_type?: components["schemas"]["ActionType"];
                /** @description Only tasks carrying this tag. */
                tag?: string;
                /** @description Text in the name or description (case-insensitive). */
                q?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The tasks: `application/json` (an array of `TaskRecord`) or `text/csv` (RFC 4180, header row, nested parts as JSON cells, cells that could run as spreadsheet formulas prefixed with `'`) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskRecord"][];
                    "text/csv": string;
                };
            };
            /** @description A query parameter is malformed (`format` not `json`/`csv`, an unknown status, …) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `q` is too long, or a parameter holds a NUL character (`query.q`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_create_from_template: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A built-in slug or your template's id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["FromTemplateIn"];
            };
        };
        responses: {
            /** @description The new task */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_tasks` or `min_interval_seconds` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such template */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A variable is missing or invalid (`variables.NAME`), or the filled definition is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_import_tasks: {
        parameters: {
            query?: {
                /** @description Check every row and report, writing nothing (default `false`). */
                dry_run?: boolean;
                /** @description `all_or_nothing` (default) or `partial`. */
                mode?: "all_or_nothing" | "partial";
                /** @description `skip` (default), `update` or `rename`. */
                on_conflict?: "skip" | "update" | "rename";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description The tasks: a JSON array of `TaskRecord`, CSV with a header row, or either as the `file` part of a form */
        requestBody: {
            content: {
                "application/json": components["schemas"]["TaskRecord"][];
                "multipart/form-data": components["schemas"]["ImportUpload"];
                "text/csv": string;
            };
        };
        responses: {
            /** @description Each row's result (a `partial` import, or an `all_or_nothing` import where every row passed; a dry run answers as the import would) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ImportReport"];
                };
            };
            /** @description The body is not valid JSON or CSV, the form has no readable `file` part, the content type is not JSON, CSV or a form, or a query parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `all_or_nothing`: your plan's `max_tasks`, `min_interval_seconds` or `max_alert_rules_per_task` would be passed (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a row whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is larger than `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `all_or_nothing` (a dry run too) with an invalid row: nothing was written, the report (`application/json`) names each row's failing fields; or the body holds more than 10,000 rows (`rows`), is not an array, or its CSV header names an unknown column (`application/problem+json`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ImportReport"];
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_get_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task, with its `ETag` */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_replace_task: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `ETag` the change is based on */
                "If-Match"?: string | null;
            };
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TaskIn"];
            };
        };
        responses: {
            /** @description The changed task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The schedule runs more often than your plan's `min_interval_seconds` (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task changed since the `If-Match` version */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named; `status` FAILED unless the task already is */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_delete_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_patch_task: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `ETag` the change is based on */
                "If-Match"?: string | null;
            };
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        /** @description A merge patch of `TaskIn` */
        requestBody: {
            content: {
                "application/merge-patch+json": Record<string, unknown>;
            };
        };
        responses: {
            /** @description The changed task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The schedule runs more often than your plan's `min_interval_seconds` (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task changed since the `If-Match` version */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named; `status` FAILED unless the task already is */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_list_rules: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task's rules */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertRuleOut"][];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_create_rule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AlertRuleIn"];
            };
        };
        responses: {
            /** @description The rule */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertRuleOut"];
                };
            };
            /** @description The body is not JSON, or the id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_alert_rules_per_task` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task already has the most rules allowed (20) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_replace_rule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
                /** @description The rule */
                rule_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AlertRuleIn"];
            };
        };
        responses: {
            /** @description The rule */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertRuleOut"];
                };
            };
            /** @description The body is not JSON, or an id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task or rule of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_delete_rule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
                /** @description The rule */
                rule_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description An id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task or rule of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_duplicate_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task to copy */
                id: string;
            };
            cookie?: never;
        };
        /** @description Optional; `{"name": …}` */
        requestBody?: {
            content: {
                "application/json": null | components["schemas"]["DuplicateIn"];
            };
        };
        responses: {
            /** @description The copy */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_tasks` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The name is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_execute_task: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes retries of this request safe */
                "Idempotency-Key"?: string | null;
            };
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        /** @description Optional; `{"input": …}` */
        requestBody?: {
            content: {
                "application/json": null | components["schemas"]["ExecuteIn"];
            };
        };
        responses: {
            /** @description Queued (or, for a repeated key, the first execution) */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Enqueued"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `executions_per_month` is used up (`PLAN_LIMIT_REACHED`, with `resets_at`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task is STOPPED or FAILED */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The input is larger than 256 KiB */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key was used with another input, or a field is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your account already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_task_logs: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                status?: "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT" | "SKIPPED";
                /** @description Only entries at or after this instant (RFC 3339). */
                from?: string;
                /** @description Only entries before this instant (RFC 3339). */
                to?: string;
            };
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of history */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HistoryPage"];
                };
            };
            /** @description A parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit`, `status` or `cursor` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_next_runs: {
        parameters: {
            query?: {
                /** @description How many runs, 1–100 (default 10). */
                count?: number;
            };
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The upcoming runs */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NextRunsOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or a query parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `count` is out of range */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_pause_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The paused task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_resume_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The active task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    v1_stop_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stopped task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks the scope this operation needs */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key's rate limit is exhausted */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    change_password: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ChangePasswordIn"];
            };
        };
        responses: {
            /** @description Changed; new tokens for this session and what was revoked */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PasswordChangedOut"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Wrong current password or a weak new one */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many attempts from this address or on this account */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    login: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["LoginIn"];
            };
        };
        responses: {
            /** @description Signed in */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthOut"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Wrong email or password */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The account is disabled */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests, the email is locked for a while after repeated failures, or this address is blocked (repeated failures on this account, or password spraying); see `Retry-After` */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    logout: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description Optional */
        requestBody?: {
            content: {
                "application/json": null | components["schemas"]["LogoutIn"];
            };
        };
        responses: {
            /** @description Signed out; the session's tokens stop working */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    me: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Your account */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UserOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    refresh: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RefreshIn"];
            };
        };
        responses: {
            /** @description A new access and refresh token */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthOut"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid, expired, revoked or reused refresh token (reuse ends the session) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this address */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    register: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["RegisterIn"];
            };
        };
        responses: {
            /** @description Account created and signed in (verification off) */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthOut"];
                };
            };
            /** @description Verification email sent (verification on) */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RegistrationAccepted"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The email cannot be used (verification off) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field (e.g. a common password) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this address */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    verify_email: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["VerifyEmailIn"];
            };
        };
        responses: {
            /** @description Address confirmed and account created; no session is started */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EmailVerified"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The email got an account meanwhile */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token is invalid, used or expired */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this address */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_invoices: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                /**
                 * @description Invoices: only this status (`draft`, `open`, `paid`, `uncollectible`, `void`);
                 *     payments: only this outcome (`succeeded`, `failed`, `action_required`).
                 */
                status?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of invoices */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["InvoicePage"];
                };
            };
            /** @description A query parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit`, `cursor` or `status` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_payments: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                /**
                 * @description Invoices: only this status (`draft`, `open`, `paid`, `uncollectible`, `void`);
                 *     payments: only this outcome (`succeeded`, `failed`, `action_required`).
                 */
                status?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of payments */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PaymentPage"];
                };
            };
            /** @description A query parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit`, `cursor` or `status` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_plans: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The plans, smallest first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PlanList"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    open_portal: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A portal session: send the browser to `url` */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PortalOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You have no Stripe customer yet: subscribe first */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe refused the request or could not be reached */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe did not answer in time */
            504: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_subscription: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Your subscription */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    change_plan: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PlanChoice"];
            };
        };
        responses: {
            /** @description The subscription with its new price, as Stripe answered */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionChangeOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You have no Stripe subscription to change */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `plan` is missing, unknown, free or has no Stripe price here */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe refused the request or could not be reached */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe did not answer in time */
            504: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    start_checkout: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PlanChoice"];
            };
        };
        responses: {
            /** @description A Checkout Session: send the browser to `checkout_url` */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CheckoutOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`), or it has no return URL (`INTEGRATION_NOT_CONFIGURED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You already have a subscription: change its plan with `PUT /billing/subscription` */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `plan` is missing, unknown, free or has no Stripe price here */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe refused the request or could not be reached */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe did not answer in time */
            504: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    cancel: {
        parameters: {
            query?: {
                /** @description `true`: end the subscription now (no refund); otherwise at the end of the period. */
                immediately?: boolean;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The subscription, as Stripe answered the cancellation */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionChangeOut"];
                };
            };
            /** @description `immediately` is not a boolean */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You have no Stripe subscription to cancel */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe refused the request or could not be reached */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe did not answer in time */
            504: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    resume: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The subscription, as Stripe answered */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionChangeOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off on this server (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You have no Stripe subscription that can be kept */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe refused the request or could not be reached */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Stripe did not answer in time */
            504: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_usage: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Your plan and usage */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UsageOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    explain: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ExplainIn"];
            };
        };
        responses: {
            /** @description The expression explained */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExplainOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `cron`, `timezone`, `count` or another field is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    dashboard_metrics: {
        parameters: {
            query?: {
                /** @description `user` (default): your own figures; `system`: every user's (administrators only). */
                scope?: components["schemas"]["DashboardScope"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The live figures */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DashboardMetrics"];
                };
            };
            /** @description `scope` is neither `user` nor `system` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `scope=system` without the ADMIN or SUPER_ADMIN role */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    overview: {
        parameters: {
            query?: {
                /**
                 * @description IANA time zone "today" is taken in (default `UTC`).
                 * @example Asia/Shanghai
                 */
                tz?: string;
                /** @description `user` (default): your own figures; `system`: every user's (administrators only). */
                scope?: components["schemas"]["DashboardScope"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The overview */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DashboardOverview"];
                };
            };
            /** @description `scope` is neither `user` nor `system` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `scope=system` without the ADMIN or SUPER_ADMIN role */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `tz` is not an IANA time zone */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    recent_tasks: {
        parameters: {
            query?: {
                /** @description How many tasks, 1–50 (default 10). */
                limit?: number;
                /** @description `user` (default): your own tasks; `system`: every user's (administrators only). */
                scope?: components["schemas"]["DashboardScope"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The tasks, most recent first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RecentTasks"];
                };
            };
            /** @description `limit` or `scope` does not parse */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `scope=system` without the ADMIN or SUPER_ADMIN role */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` is not between 1 and 50 */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_executions: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                /** @description Only this status, e.g. `DEAD` for the dead-letter list. */
                status?: components["schemas"]["ExecutionStatus"];
                /** @description Only this trigger kind. */
                trigger_kind?: components["schemas"]["TriggerKind"];
                /** @description Only executions queued at or after this instant (RFC 3339). */
                from?: string;
                /** @description Only executions queued before this instant (RFC 3339). */
                to?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of executions */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionPage"];
                };
            };
            /** @description A parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The execution */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The execution */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ExecutionOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such execution of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    cancel_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The execution */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Cancelled, or asked to stop */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CancelOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such execution of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The execution already finished */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    retry_execution: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The execution */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A new execution is queued */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Enqueued"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such execution of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The execution did not end without success */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your account already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    liveness: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The process is alive */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Liveness"];
                };
            };
        };
    };
    details: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The report; `status` is `degraded` when any check is */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HealthDetails"];
                };
            };
            /** @description No valid access token (nor METRICS_TOKEN) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Signed in, but not an administrator */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    readiness: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Ready to serve */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Readiness"];
                };
            };
            /** @description A check failed; `checks` says which */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    receive_email: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The email trigger's token */
                token: string;
            };
            cookie?: never;
        };
        /** @description JSON fields, or a raw RFC 822 message */
        requestBody: {
            content: {
                "application/json": components["schemas"]["InboundEmailJson"];
                "message/rfc822": string;
            };
        };
        responses: {
            /** @description Queued (or a redelivery of the same Message-ID) */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryAccepted"];
                };
            };
            /** @description Malformed JSON or message */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unknown or deleted token */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task is paused, stopped or failed */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Larger than INBOUND_EMAIL_MAX_BYTES */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Neither JSON nor message/rfc822 */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many messages on this token, or the task's owner already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    receive_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The webhook trigger's token */
                token: string;
            };
            cookie?: never;
        };
        /** @description Any JSON, form or text body */
        requestBody: {
            content: {
                "application/json": unknown;
                "application/x-www-form-urlencoded": string;
                "text/plain": string;
            };
        };
        responses: {
            /** @description Queued (or a redelivery of a queued delivery) */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryAccepted"];
                };
            };
            /** @description Malformed JSON body */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Missing or bad signature, or a timestamp outside the replay window */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task's owner has used up the plan's `executions_per_month` (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unknown or deleted token */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task is paused, stopped or failed */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body larger than WEBHOOK_MAX_BODY_BYTES */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A body that is not JSON, a form or text */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A NUL character (U+0000) in the body or the query; the field is named (`body.…`, `query.…`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many deliveries on this token, or the task's owner already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    prometheus: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Prometheus text format */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
            /** @description `METRICS_TOKEN` is set and the request does not carry it */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `METRICS_ADDR` is set: the metrics are served on that address instead */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_notifications: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page (keep the filters while paging). */
                cursor?: string;
                /** @description `true`: only unread ones; `false`: only read ones. */
                unread?: boolean;
                /** @description Only this type. */
                type?: components["schemas"]["NotificationType"];
                /** @description Created at or after this time. */
                from?: string;
                /** @description Created before this time. */
                to?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of notifications */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotificationPage"];
                };
            };
            /** @description A query parameter is malformed (`type`, `unread`, `from`, `to`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid, or `to` is not after `from` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_preferences: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Your preferences */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Preferences"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    put_preferences: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["Preferences"];
            };
        };
        responses: {
            /** @description The preferences as stored */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Preferences"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An invalid setting, named (`types[2].channel`, `quiet_hours.timezone`, …) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    effective_preferences: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every type and channel, resolved */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EffectivePreferences"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    read_all: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description How many were marked */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ReadAll"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    send_test: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TestIn"];
            };
        };
        responses: {
            /** @description Stored; queued deliveries are sent next */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TestSent"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `channel` is not one of IN_APP, EMAIL, WEBHOOK */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description 10 test notifications in the last hour; see `Retry-After` */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    unread_count: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The count */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UnreadCount"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_endpoints: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Your endpoints (at most 5) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EndpointOut"][];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_endpoint: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EndpointIn"];
            };
        };
        responses: {
            /** @description Created; `secret` is shown only now */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EndpointWithSecret"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You have 5 endpoints already */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field (`url`: not http(s), too long or a private address; `description`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_endpoint: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The endpoint */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such endpoint of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotate_secret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The endpoint */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint with its new secret, shown only now */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EndpointWithSecret"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such endpoint of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_notification: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The notification */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotificationDetail"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_notification: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    mark_read: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The notification, read */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotificationOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    resend: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The notification */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The new deliveries, queued (or `NOT_SENT` when the channel is no longer set up) */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryOut"][];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `notifications:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such notification of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No delivery of it failed, or each failed one was resent 3 times already */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_connection: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Connected */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ConnectionOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not connected */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_connection: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Disconnected */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not connected */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    databases: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Databases the integration can see */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DatabasesOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Notion is not connected, or the connection was revoked */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Notion failed */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Notion did not answer in time */
            504: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    authorize: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Open `url` in the browser; the `nocron_notion_oauth` cookie (HttpOnly, SameSite=Lax, 10 minutes) binds the state to this browser */
            200: {
                headers: {
                    /** @description The state cookie */
                    "Set-Cookie"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuthorizeOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Notion OAuth is not configured on this server */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    callback: {
        parameters: {
            query?: {
                /** @description The authorization code. */
                code?: string;
                /** @description The `state` from the authorize URL. */
                state?: string;
                /** @description Set instead of `code` when the user declined (`access_denied`). */
                error?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Connected; the state cookie is cleared */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ConnectionOut"];
                };
            };
            /** @description Declined; Notion refused the code; an unknown, used or expired state; or the state cookie of the browser that started the flow is missing or does not match */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Notion OAuth is not configured on this server */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Notion failed or could not be reached while exchanging the code */
            502: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_notion_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The endpoint (never its URL token) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotionWebhookOut"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No endpoint yet: create one with POST */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_notion_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Created; `url` and `token` are shown only now */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotionWebhookCreated"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_notion_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description There was no endpoint */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_secrets: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of your secrets, by name */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SecretPage"];
                };
            };
            /** @description Invalid query parameter */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid limit */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_secret: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SecretIn"];
            };
        };
        responses: {
            /** @description Stored, encrypted */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SecretMeta"];
                };
            };
            /** @description The request is malformed: the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You already have a secret with this name (field `name`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid name, description or value */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_secret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Secret id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The secret's metadata */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SecretMeta"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such secret of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_secret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Secret id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such secret of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    update_secret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Secret id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SecretPatch"];
            };
        };
        responses: {
            /** @description Updated metadata */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SecretMeta"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such secret of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You already have a secret with the new name (field `name`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid name, description or value */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_sessions: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Active sessions, newest first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SessionOut"][];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    revoke_session: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Session id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The session is ended; its tokens stop working */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such session of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    clicked: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The token from the email */
                token: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description To the notification's link (`Location`) */
            302: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Not a token this server issued, or its notification is gone */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    opened: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The token from the email */
                token: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A 1×1 transparent GIF */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "image/gif": number[];
                };
            };
            /** @description Not a token this server issued */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_tasks: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page (keep `sort` and `order` while paging). */
                cursor?: string;
                /** @description Only this status. */
                status?: components["schemas"]["TaskStatus"];
                /** @description Only this action type. */
                action_type?: components["schemas"]["ActionType"];
                /** @description Only tasks carrying this tag. */
                tag?: string;
                /** @description Text in the name or description (case-insensitive). */
                q?: string;
                /** @description `created_at` (default), `updated_at`, `name` or `next_run_at`. */
                sort?: components["schemas"]["TaskSort"];
                /** @description `asc` or `desc` (default: `desc` for times, `asc` for `name` and `next_run_at`). */
                order?: components["schemas"]["SortOrder"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of tasks */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskPage"];
                };
            };
            /** @description A query parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid, `q` is too long, or a parameter holds a NUL character (`query.q`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_task: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TaskIn"];
            };
        };
        responses: {
            /** @description The task, with `Location` and `ETag` */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_tasks` or `min_interval_seconds` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    bulk_tasks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["BulkIn"];
            };
        };
        responses: {
            /** @description Each id's result */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["BulkOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` (or `tasks:execute` for `execute`) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid body: both or neither of `ids` and `filter`, no ids, more than 1,000, a repeated id, a filter matching more than 1,000 tasks, or the action's missing `tags` or `priority` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    export_tasks: {
        parameters: {
            query?: {
                /** @description `json` (default) or `csv`. */
                format?: "json" | "csv";
                /** @description Only this status. */
                status?: components["schemas"]["TaskStatus"];
                /** @description Only this action type. */
                action_type?: components["schemas"]["ActionType"];
                /** @description Only tasks carrying this tag. */
                tag?: string;
                /** @description Text in the name or description (case-insensitive). */
                q?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The tasks: `application/json` (an array of `TaskRecord`) or `text/csv` (RFC 4180, header row, nested parts as JSON cells, cells that could run as spreadsheet formulas prefixed with `'`) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskRecord"][];
                    "text/csv": string;
                };
            };
            /** @description A query parameter is malformed (`format` not `json`/`csv`, an unknown status, …) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `q` is too long, or a parameter holds a NUL character (`query.q`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_from_template: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A built-in slug or your template's id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["FromTemplateIn"];
            };
        };
        responses: {
            /** @description The new task */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_tasks` or `min_interval_seconds` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such template */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A variable is missing or invalid (`variables.NAME`), or the filled definition is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    import_tasks: {
        parameters: {
            query?: {
                /** @description Check every row and report, writing nothing (default `false`). */
                dry_run?: boolean;
                /** @description `all_or_nothing` (default) or `partial`. */
                mode?: "all_or_nothing" | "partial";
                /** @description `skip` (default), `update` or `rename`. */
                on_conflict?: "skip" | "update" | "rename";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** @description The tasks: a JSON array of `TaskRecord`, CSV with a header row, or either as the `file` part of a form */
        requestBody: {
            content: {
                "application/json": components["schemas"]["TaskRecord"][];
                "multipart/form-data": components["schemas"]["ImportUpload"];
                "text/csv": string;
            };
        };
        responses: {
            /** @description Each row's result (a `partial` import, or an `all_or_nothing` import where every row passed; a dry run answers as the import would) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ImportReport"];
                };
            };
            /** @description The body is not valid JSON or CSV, the form has no readable `file` part, the content type is not JSON, CSV or a form, or a query parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `all_or_nothing`: your plan's `max_tasks`, `min_interval_seconds` or `max_alert_rules_per_task` would be passed (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a row whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is larger than `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `all_or_nothing` (a dry run too) with an invalid row: nothing was written, the report (`application/json`) names each row's failing fields; or the body holds more than 10,000 rows (`rows`), is not an array, or its CSV header names an unknown column (`application/problem+json`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ImportReport"];
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task, with its `ETag` */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    replace_task: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `ETag` the change is based on */
                "If-Match"?: string | null;
            };
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["TaskIn"];
            };
        };
        responses: {
            /** @description The changed task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The schedule runs more often than your plan's `min_interval_seconds` (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task changed since the `If-Match` version */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named; `status` FAILED unless the task already is */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    patch_task: {
        parameters: {
            query?: never;
            header?: {
                /** @description The `ETag` the change is based on */
                "If-Match"?: string | null;
            };
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        /** @description A merge patch of `TaskIn` */
        requestBody: {
            content: {
                "application/merge-patch+json": Record<string, unknown>;
            };
        };
        responses: {
            /** @description The changed task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The schedule runs more often than your plan's `min_interval_seconds` (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task changed since the `If-Match` version */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named; `status` FAILED unless the task already is */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_rules: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task's rules */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertRuleOut"][];
                };
            };
            /** @description The id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:read` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_rule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AlertRuleIn"];
            };
        };
        responses: {
            /** @description The rule */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertRuleOut"];
                };
            };
            /** @description The body is not JSON, or the id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_alert_rules_per_task` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task already has the most rules allowed (20) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    replace_rule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
                /** @description The rule */
                rule_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AlertRuleIn"];
            };
        };
        responses: {
            /** @description The rule */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AlertRuleOut"];
                };
            };
            /** @description The body is not JSON, or an id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task or rule of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_rule: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
                /** @description The rule */
                rule_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description An id is not a UUID */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write` */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task or rule of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_chains: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task's chains, oldest first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ChainOut"][];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_chain: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task that will run */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ChainIn"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ChainOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Already chained after this source, or too many chains */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `source_task_id` is not one of your tasks, already starts `CHAIN_MAX_OUT_DEGREE` tasks, or closes a cycle through a task without `allow_cycles` */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_chain: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
                /** @description Chain id */
                chain_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such chain on a task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    duplicate_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task to copy */
                id: string;
            };
            cookie?: never;
        };
        /** @description Optional; `{"name": …}` */
        requestBody?: {
            content: {
                "application/json": null | components["schemas"]["DuplicateIn"];
            };
        };
        responses: {
            /** @description The copy */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `max_tasks` is reached (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The API key lacks `tasks:write`, or `secrets:use` for a task whose configuration references secrets */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The name is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_email_triggers: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task's email triggers, oldest first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EmailTriggerOut"][];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_email_trigger: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["EmailTriggerIn"];
            };
        };
        responses: {
            /** @description Created; `token`, `address` and `http_url` are shown only now */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EmailTriggerCreated"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task has too many email triggers */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid name */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_email_trigger: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
                /** @description Email trigger id */
                trigger_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such email trigger on a task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    execute_task: {
        parameters: {
            query?: never;
            header?: {
                /** @description Makes retries of this request safe */
                "Idempotency-Key"?: string | null;
            };
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        /** @description Optional; `{"input": …}` */
        requestBody?: {
            content: {
                "application/json": null | components["schemas"]["ExecuteIn"];
            };
        };
        responses: {
            /** @description Queued (or, for a repeated key, the first execution) */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Enqueued"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your plan's `executions_per_month` is used up (`PLAN_LIMIT_REACHED`, with `resets_at`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task is STOPPED or FAILED */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The input is larger than 256 KiB */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key was used with another input, or a field is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Your account already has MAX_QUEUED_PER_OWNER executions waiting; see Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    task_logs: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                status?: "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT" | "SKIPPED";
                /** @description Only entries at or after this instant (RFC 3339). */
                from?: string;
                /** @description Only entries before this instant (RFC 3339). */
                to?: string;
            };
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of history */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HistoryPage"];
                };
            };
            /** @description A parameter is malformed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit`, `status` or `cursor` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    next_runs: {
        parameters: {
            query?: {
                /** @description How many runs, 1–100 (default 10). */
                count?: number;
            };
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The upcoming runs */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NextRunsOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or a query parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `count` is out of range */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_triggers: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task's NOTION triggers (at most 20) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotionTriggerOut"][];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_trigger: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NotionTriggerIn"];
            };
        };
        responses: {
            /** @description Created */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotionTriggerOut"];
                };
            };
            /** @description Malformed JSON body */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task has too many NOTION triggers */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field (entity_id, event_types[i]) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_trigger: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
                /** @description NOTION trigger id */
                trigger_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such NOTION trigger on a task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    pause_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The paused task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    resume_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The active task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    stop_task: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The task */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stopped task */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TaskOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_webhooks: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The task's webhook triggers, oldest first */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookOut"][];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["WebhookIn"];
            };
        };
        responses: {
            /** @description Created; `token`, `url` and `secret` are shown only now */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookCreated"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The task has too many webhook triggers */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field (secret, replay_window_seconds, name) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
                /** @description Webhook trigger id */
                webhook_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such webhook trigger on a task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotate_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Task id */
                id: string;
                /** @description Webhook trigger id */
                webhook_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The new URL and token, shown only now */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookCreated"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such webhook trigger on a task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_templates: {
        parameters: {
            query?: {
                /** @description Only templates whose tasks have this action type. */
                action_type?: components["schemas"]["ActionType"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The templates */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["TemplateList"];
                };
            };
            /** @description Unknown action type */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    save_template: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SaveTemplateIn"];
            };
        };
        responses: {
            /** @description The saved template */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Template"];
                };
            };
            /** @description The body is not JSON */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such task of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description You keep the most templates allowed */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field is invalid; each failing field is named */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_template: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description A built-in slug or your template's id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The template */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Template"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such template */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_template: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Your template's id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such template of yours */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Built-in templates cannot be deleted */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_users: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page. */
                cursor?: string;
                /** @description Only this role. */
                role?: components["schemas"]["Role"];
                /** @description Only this status (deleted accounts are listed only when asked for). */
                status?: components["schemas"]["UserStatus"];
                /** @description Emails containing this text (case-insensitive). */
                email?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of users */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UserPage"];
                };
            };
            /** @description Invalid query parameter */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not an admin */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid limit */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    my_audit_logs: {
        parameters: {
            query?: {
                /** @description Page size, 1–100 (default 50). */
                limit?: number;
                /** @description `next_cursor` of the previous page (keep the filters while paging). */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of events */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["AuditPage"];
                };
            };
            /** @description The request is malformed: a query parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description `limit` or `cursor` is invalid */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_user: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UserOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such user visible to you */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_user: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description The request is malformed: a path parameter cannot be parsed */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Deleting an admin needs a SUPER_ADMIN */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such user visible to you */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Would delete the last SUPER_ADMIN */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    update_user: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description User id */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["UserPatch"];
            };
        };
        responses: {
            /** @description The updated user */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["UserOut"];
                };
            };
            /** @description The request is malformed: a path parameter cannot be parsed, or the body is not JSON or not sent as `application/json` */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Not signed in */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Changing status needs an admin (a SUPER_ADMIN for admins) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such user visible to you */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Would disable the last SUPER_ADMIN */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid field */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    receive: {
        parameters: {
            query?: never;
            header?: {
                /** @description `sha256=<hex HMAC-SHA256 of the body under the verification token>`; required for events */
                "X-Notion-Signature"?: string | null;
            };
            path: {
                /** @description The endpoint's token */
                token: string;
            };
            cookie?: never;
        };
        /** @description Notion's handshake `{"verification_token": "…"}` or an event */
        requestBody: {
            content: {
                "application/json": unknown;
            };
        };
        responses: {
            /** @description Handshake stored, or event accepted (`executions` may be empty) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NotionDeliveryAccepted"];
                };
            };
            /** @description Not a JSON object, a handshake whose `verification_token` is not a short string, or an event without `id`, `type` or `entity.id` (the field is named) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description An event with a missing or bad signature, or before the handshake */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The owner has used up the plan's `executions_per_month` (`PLAN_LIMIT_REACHED`) */
            402: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unknown token */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A handshake on an endpoint that already has its verification token */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Body larger than WEBHOOK_MAX_BODY_BYTES */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many deliveries on this endpoint, or the owner's queue is full; see Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    stripe_webhook: {
        parameters: {
            query?: never;
            header: {
                /** @description `t=<unix time>,v1=<hex HMAC-SHA256 of t.body>` */
                "Stripe-Signature": string;
            };
            path?: never;
            cookie?: never;
        };
        /** @description A Stripe event, as Stripe sends it */
        requestBody: {
            content: {
                "application/json": Record<string, unknown>;
            };
        };
        responses: {
            /** @description Applied, a duplicate, or a type Nocron does not handle */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["WebhookReceived"];
                };
            };
            /** @description A missing, malformed, stale (over 300 s) or wrong signature, or a body that is not a Stripe event */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Billing is off, or `STRIPE_WEBHOOK_SECRET` is unset (`BILLING_DISABLED`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body exceeds `REQUEST_BODY_LIMIT_BYTES` */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A field or parameter is invalid (or holds a NUL character); `errors` names it */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The database is unavailable; try again after `Retry-After` */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
}
