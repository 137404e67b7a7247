// Generated from docs/openapi.json by `npm run generate` (scripts/coverage.mjs). Do not edit.
// A compile test: 66 enums and 37 oneOfs (87 variant values).
/* eslint-disable */
import type { components, paths } from "../../src/generated/schema.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectTrue<T extends true>(): T | undefined {
  return undefined;
}

// enum at components.schemas.AccountStatus
expectTrue<Equal<NonNullable<components["schemas"]["AccountStatus"]>, "ACTIVE" | "DISABLED" | "LOCKED" | "DELETED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember1: NonNullable<components["schemas"]["AccountStatus"]> = "__not_a_member__";
// enum at components.schemas.ActionClass
expectTrue<Equal<NonNullable<components["schemas"]["ActionClass"]>, "READ" | "CREATE" | "UPDATE" | "DELETE" | "AUTH" | "ADMIN" | "BILLING" | "SECURITY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember2: NonNullable<components["schemas"]["ActionClass"]> = "__not_a_member__";
// oneOf at components.schemas.ActionIn
export const _variant3: components["schemas"]["ActionIn"] = {"type":"HTTP_REQUEST","config":{"url":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete4: components["schemas"]["ActionIn"] = {"type":"HTTP_REQUEST"};
export const _variant5: components["schemas"]["ActionIn"] = {"type":"EMAIL_SEND","config":{"to":[],"cc":[],"bcc":[],"subject":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete6: components["schemas"]["ActionIn"] = {"type":"EMAIL_SEND"};
export const _variant7: components["schemas"]["ActionIn"] = {"type":"DATABASE_QUERY","config":{"connection":"x","sql":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete8: components["schemas"]["ActionIn"] = {"type":"DATABASE_QUERY"};
export const _variant9: components["schemas"]["ActionIn"] = {"type":"API_CALL","config":{"url":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete10: components["schemas"]["ActionIn"] = {"type":"API_CALL"};
export const _variant11: components["schemas"]["ActionIn"] = {"type":"CUSTOM_SCRIPT","config":{"source":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete12: components["schemas"]["ActionIn"] = {"type":"CUSTOM_SCRIPT"};
export const _variant13: components["schemas"]["ActionIn"] = {"type":"NOTION_SYNC","config":{"operation":"create_page","database_id":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete14: components["schemas"]["ActionIn"] = {"type":"NOTION_SYNC"};
// enum at components.schemas.ActionType
expectTrue<Equal<NonNullable<components["schemas"]["ActionType"]>, "HTTP_REQUEST" | "EMAIL_SEND" | "DATABASE_QUERY" | "API_CALL" | "CUSTOM_SCRIPT" | "NOTION_SYNC">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember15: NonNullable<components["schemas"]["ActionType"]> = "__not_a_member__";
// enum at components.schemas.ActorType
expectTrue<Equal<NonNullable<components["schemas"]["ActorType"]>, "USER" | "API_KEY" | "ANONYMOUS" | "SYSTEM">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember16: NonNullable<components["schemas"]["ActorType"]> = "__not_a_member__";
// oneOf at components.schemas.AdminUserPatch.status
export const _variant17: NonNullable<components["schemas"]["AdminUserPatch"]>["status"] = null;
export const _variant18: NonNullable<components["schemas"]["AdminUserPatch"]>["status"] = "ACTIVE";
// enum at components.schemas.AlertStatus
expectTrue<Equal<NonNullable<components["schemas"]["AlertStatus"]>, "OPEN" | "ACKNOWLEDGED" | "RESOLVED" | "FALSE_POSITIVE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember19: NonNullable<components["schemas"]["AlertStatus"]> = "__not_a_member__";
// enum at components.schemas.ApiCallAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["ApiCallAction"]>["type"]>, "API_CALL">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember20: NonNullable<NonNullable<components["schemas"]["ApiCallAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.Bucket
expectTrue<Equal<NonNullable<components["schemas"]["Bucket"]>, "hour" | "day" | "week" | "month">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember21: NonNullable<components["schemas"]["Bucket"]> = "__not_a_member__";
// enum at components.schemas.BulkAction
expectTrue<Equal<NonNullable<components["schemas"]["BulkAction"]>, "pause" | "resume" | "stop" | "delete" | "execute" | "add_tags" | "remove_tags" | "set_priority">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember22: NonNullable<components["schemas"]["BulkAction"]> = "__not_a_member__";
// oneOf at components.schemas.BulkFilter.action_type
export const _variant23: NonNullable<components["schemas"]["BulkFilter"]>["action_type"] = null;
export const _variant24: NonNullable<components["schemas"]["BulkFilter"]>["action_type"] = "HTTP_REQUEST";
// oneOf at components.schemas.BulkFilter.status
export const _variant25: NonNullable<components["schemas"]["BulkFilter"]>["status"] = null;
export const _variant26: NonNullable<components["schemas"]["BulkFilter"]>["status"] = "ACTIVE";
// oneOf at components.schemas.BulkIn.filter
export const _variant27: NonNullable<components["schemas"]["BulkIn"]>["filter"] = null;
export const _variant28: NonNullable<components["schemas"]["BulkIn"]>["filter"] = {};
// oneOf at components.schemas.BulkIn.mode
export const _variant29: NonNullable<components["schemas"]["BulkIn"]>["mode"] = null;
export const _variant30: NonNullable<components["schemas"]["BulkIn"]>["mode"] = "all_or_nothing";
// enum at components.schemas.BulkItemStatus
expectTrue<Equal<NonNullable<components["schemas"]["BulkItemStatus"]>, "OK" | "NOT_FOUND" | "FAILED" | "ROLLED_BACK">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember31: NonNullable<components["schemas"]["BulkItemStatus"]> = "__not_a_member__";
// enum at components.schemas.BulkMode
expectTrue<Equal<NonNullable<components["schemas"]["BulkMode"]>, "all_or_nothing" | "partial">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember32: NonNullable<components["schemas"]["BulkMode"]> = "__not_a_member__";
// enum at components.schemas.CatchUpPolicy
expectTrue<Equal<NonNullable<components["schemas"]["CatchUpPolicy"]>, "SKIP" | "LATEST" | "ALL">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember33: NonNullable<components["schemas"]["CatchUpPolicy"]> = "__not_a_member__";
// enum at components.schemas.ChainOn
expectTrue<Equal<NonNullable<components["schemas"]["ChainOn"]>, "SUCCEEDED" | "DEAD" | "ANY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember34: NonNullable<components["schemas"]["ChainOn"]> = "__not_a_member__";
// enum at components.schemas.Channel
expectTrue<Equal<NonNullable<components["schemas"]["Channel"]>, "IN_APP" | "EMAIL" | "WEBHOOK">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember35: NonNullable<components["schemas"]["Channel"]> = "__not_a_member__";
// enum at components.schemas.ConcurrencyPolicy
expectTrue<Equal<NonNullable<components["schemas"]["ConcurrencyPolicy"]>, "ALLOW" | "SKIP" | "QUEUE_ONE" | "CANCEL_RUNNING">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember36: NonNullable<components["schemas"]["ConcurrencyPolicy"]> = "__not_a_member__";
// enum at components.schemas.CustomScriptAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["CustomScriptAction"]>["type"]>, "CUSTOM_SCRIPT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember37: NonNullable<NonNullable<components["schemas"]["CustomScriptAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.DashboardScope
expectTrue<Equal<NonNullable<components["schemas"]["DashboardScope"]>, "user" | "system">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember38: NonNullable<components["schemas"]["DashboardScope"]> = "__not_a_member__";
// enum at components.schemas.DatabaseQueryAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["DatabaseQueryAction"]>["type"]>, "DATABASE_QUERY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember39: NonNullable<NonNullable<components["schemas"]["DatabaseQueryAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.DeliveryStatus
expectTrue<Equal<NonNullable<components["schemas"]["DeliveryStatus"]>, "QUEUED" | "SENT" | "DELIVERED" | "UNDELIVERED" | "BOUNCED" | "NOT_SENT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember40: NonNullable<components["schemas"]["DeliveryStatus"]> = "__not_a_member__";
// oneOf at components.schemas.DstPolicy.repeated
export const _variant41: NonNullable<components["schemas"]["DstPolicy"]>["repeated"] = "ONCE";
// oneOf at components.schemas.DstPolicy.skipped
export const _variant42: NonNullable<components["schemas"]["DstPolicy"]>["skipped"] = "RUN_AT_GAP_END";
// oneOf at components.schemas.EffectivePreferences.quiet_hours
export const _variant43: NonNullable<components["schemas"]["EffectivePreferences"]>["quiet_hours"] = null;
export const _variant44: NonNullable<components["schemas"]["EffectivePreferences"]>["quiet_hours"] = {"start":"22:00","end":"07:00","timezone":"America/New_York"};
// enum at components.schemas.EmailSendAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["EmailSendAction"]>["type"]>, "EMAIL_SEND">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember45: NonNullable<NonNullable<components["schemas"]["EmailSendAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.EntryKind
expectTrue<Equal<NonNullable<components["schemas"]["EntryKind"]>, "EXECUTION" | "SKIPPED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember46: NonNullable<components["schemas"]["EntryKind"]> = "__not_a_member__";
// enum at components.schemas.ErrorCode
expectTrue<Equal<NonNullable<components["schemas"]["ErrorCode"]>, "UNAUTHORIZED" | "FORBIDDEN" | "INVALID_CREDENTIALS" | "ACCOUNT_LOCKED" | "INSUFFICIENT_SCOPE" | "RATE_LIMITED" | "VALIDATION_ERROR" | "MALFORMED_JSON" | "INVALID_CONTENT_TYPE" | "PAYLOAD_TOO_LARGE" | "INVALID_QUERY" | "INVALID_PATH" | "BAD_REQUEST" | "NOT_FOUND" | "METHOD_NOT_ALLOWED" | "CONFLICT" | "PRECONDITION_FAILED" | "REQUEST_TIMEOUT" | "DATABASE_ERROR" | "DATABASE_UNAVAILABLE" | "EXTERNAL_SERVICE_ERROR" | "EXTERNAL_SERVICE_TIMEOUT" | "INTEGRATION_NOT_CONFIGURED" | "INTERNAL_ERROR" | "PLAN_LIMIT_REACHED" | "BILLING_DISABLED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember47: NonNullable<components["schemas"]["ErrorCode"]> = "__not_a_member__";
// enum at components.schemas.ExecutionStatus
expectTrue<Equal<NonNullable<components["schemas"]["ExecutionStatus"]>, "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember48: NonNullable<components["schemas"]["ExecutionStatus"]> = "__not_a_member__";
// enum at components.schemas.Health
expectTrue<Equal<NonNullable<components["schemas"]["Health"]>, "ok" | "degraded">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember49: NonNullable<components["schemas"]["Health"]> = "__not_a_member__";
// oneOf at components.schemas.HealthDetails.queue
export const _variant50: NonNullable<components["schemas"]["HealthDetails"]>["queue"] = null;
export const _variant51: NonNullable<components["schemas"]["HealthDetails"]>["queue"] = {"queued":1,"due":1,"running":1};
// oneOf at components.schemas.HistoryEntry.reason
export const _variant52: NonNullable<components["schemas"]["HistoryEntry"]>["reason"] = null;
export const _variant53: NonNullable<components["schemas"]["HistoryEntry"]>["reason"] = "SKIPPED_CONCURRENCY";
// oneOf at components.schemas.HttpActionConfig.auth
export const _variant54: NonNullable<components["schemas"]["HttpActionConfig"]>["auth"] = null;
export const _variant55: NonNullable<components["schemas"]["HttpActionConfig"]>["auth"] = {"username":"x","password":"x","type":"basic"};
// oneOf at components.schemas.HttpActionConfig.body
export const _variant56: NonNullable<components["schemas"]["HttpActionConfig"]>["body"] = null;
export const _variant57: NonNullable<components["schemas"]["HttpActionConfig"]>["body"] = {"value":{},"type":"json"};
// oneOf at components.schemas.HttpAuth
export const _variant58: components["schemas"]["HttpAuth"] = {"username":"x","password":"x","type":"basic"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete59: components["schemas"]["HttpAuth"] = {"type":"basic"};
export const _variant60: components["schemas"]["HttpAuth"] = {"token":"x","type":"bearer"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete61: components["schemas"]["HttpAuth"] = {"type":"bearer"};
export const _variant62: components["schemas"]["HttpAuth"] = {"name":"x","value":"x","type":"header"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete63: components["schemas"]["HttpAuth"] = {"type":"header"};
// oneOf at components.schemas.HttpBody
export const _variant64: components["schemas"]["HttpBody"] = {"value":{},"type":"json"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete65: components["schemas"]["HttpBody"] = {"type":"json"};
export const _variant66: components["schemas"]["HttpBody"] = {"value":"x","type":"text"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete67: components["schemas"]["HttpBody"] = {"type":"text"};
export const _variant68: components["schemas"]["HttpBody"] = {"value":{},"type":"form"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete69: components["schemas"]["HttpBody"] = {"type":"form"};
export const _variant70: components["schemas"]["HttpBody"] = {"type":"input"};
// enum at components.schemas.HttpRequestAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["HttpRequestAction"]>["type"]>, "HTTP_REQUEST">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember71: NonNullable<NonNullable<components["schemas"]["HttpRequestAction"]>["type"]> = "__not_a_member__";
// oneOf at components.schemas.InboundEmailJson.to
export const _variant72: NonNullable<components["schemas"]["InboundEmailJson"]>["to"] = null;
export const _variant73: NonNullable<components["schemas"]["InboundEmailJson"]>["to"] = "x";
// oneOf at components.schemas.NextRunsOut.schedule
export const _variant74: NonNullable<components["schemas"]["NextRunsOut"]>["schedule"] = null;
export const _variant75: NonNullable<components["schemas"]["NextRunsOut"]>["schedule"] = {"cron":"x","timezone":"x","dst_policy":{},"kind":"WALL_CLOCK","description":"At 02:30 (America/New_York)","next_runs":[],"dst_notes":[]};
export const _variant76: NonNullable<components["schemas"]["NextRunsOut"]>["schedule"] = {"cron":"x","timezone":"x","dst_policy":{},"kind":"INTERVAL","description":"At 02:30 (America/New_York)","next_runs":[],"dst_notes":[]};
// enum at components.schemas.NotificationCategory
expectTrue<Equal<NonNullable<components["schemas"]["NotificationCategory"]>, "TASKS" | "SECURITY" | "BILLING" | "REPORTS" | "SYSTEM">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember77: NonNullable<components["schemas"]["NotificationCategory"]> = "__not_a_member__";
// enum at components.schemas.NotificationType
expectTrue<Equal<NonNullable<components["schemas"]["NotificationType"]>, "TASK_FAILED" | "TASK_RECOVERED" | "TASK_SUCCEEDED" | "TASK_SLOW" | "TASK_AUTO_PAUSED" | "TASK_LATE" | "TASK_MISSED" | "SECURITY_ALERT" | "BILLING" | "REPORT_READY" | "SYSTEM">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember78: NonNullable<components["schemas"]["NotificationType"]> = "__not_a_member__";
// enum at components.schemas.NotionEntity
expectTrue<Equal<NonNullable<components["schemas"]["NotionEntity"]>, "page" | "database">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember79: NonNullable<components["schemas"]["NotionEntity"]> = "__not_a_member__";
// enum at components.schemas.NotionOperation
expectTrue<Equal<NonNullable<components["schemas"]["NotionOperation"]>, "create_page" | "update_pages" | "query_database">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember80: NonNullable<components["schemas"]["NotionOperation"]> = "__not_a_member__";
// enum at components.schemas.NotionSyncAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["NotionSyncAction"]>["type"]>, "NOTION_SYNC">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember81: NonNullable<NonNullable<components["schemas"]["NotionSyncAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.Outcome
expectTrue<Equal<NonNullable<components["schemas"]["Outcome"]>, "SUCCESS" | "FAILURE" | "DENIED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember82: NonNullable<components["schemas"]["Outcome"]> = "__not_a_member__";
// enum at components.schemas.PaymentOutcomeOut
expectTrue<Equal<NonNullable<components["schemas"]["PaymentOutcomeOut"]>, "succeeded" | "failed" | "action_required">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember83: NonNullable<components["schemas"]["PaymentOutcomeOut"]> = "__not_a_member__";
// enum at components.schemas.PlanCode
expectTrue<Equal<NonNullable<components["schemas"]["PlanCode"]>, "BASIC" | "PRO" | "ENTERPRISE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember84: NonNullable<components["schemas"]["PlanCode"]> = "__not_a_member__";
// oneOf at components.schemas.Preferences.quiet_hours
export const _variant85: NonNullable<components["schemas"]["Preferences"]>["quiet_hours"] = null;
export const _variant86: NonNullable<components["schemas"]["Preferences"]>["quiet_hours"] = {"start":"22:00","end":"07:00","timezone":"America/New_York"};
// enum at components.schemas.RealtimeHealth
expectTrue<Equal<NonNullable<components["schemas"]["RealtimeHealth"]>, "local" | "ok" | "degraded">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember87: NonNullable<components["schemas"]["RealtimeHealth"]> = "__not_a_member__";
// oneOf at components.schemas.Recipients
export const _variant88: components["schemas"]["Recipients"] = "x";
export const _variant89: components["schemas"]["Recipients"] = [];
// enum at components.schemas.RepeatedHour
expectTrue<Equal<NonNullable<components["schemas"]["RepeatedHour"]>, "ONCE" | "TWICE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember90: NonNullable<components["schemas"]["RepeatedHour"]> = "__not_a_member__";
// enum at components.schemas.Role
expectTrue<Equal<NonNullable<components["schemas"]["Role"]>, "USER" | "ADMIN" | "SUPER_ADMIN">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember91: NonNullable<components["schemas"]["Role"]> = "__not_a_member__";
// enum at components.schemas.RowStatus
expectTrue<Equal<NonNullable<components["schemas"]["RowStatus"]>, "CREATED" | "UPDATED" | "SKIPPED" | "FAILED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember92: NonNullable<components["schemas"]["RowStatus"]> = "__not_a_member__";
// enum at components.schemas.RuleKind
expectTrue<Equal<NonNullable<components["schemas"]["RuleKind"]>, "CONSECUTIVE_FAILURES" | "RECOVERY" | "SUCCESS" | "DURATION_OVER" | "FAILURE_RATE" | "LATE_START" | "MISSED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember93: NonNullable<components["schemas"]["RuleKind"]> = "__not_a_member__";
// enum at components.schemas.ScheduleDstPolicy
expectTrue<Equal<NonNullable<components["schemas"]["ScheduleDstPolicy"]>, "SHIFT_ONCE" | "SHIFT_TWICE" | "SKIP_ONCE" | "SKIP_TWICE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember94: NonNullable<components["schemas"]["ScheduleDstPolicy"]> = "__not_a_member__";
// enum at components.schemas.ScheduleKind
expectTrue<Equal<NonNullable<components["schemas"]["ScheduleKind"]>, "WALL_CLOCK" | "INTERVAL">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember95: NonNullable<components["schemas"]["ScheduleKind"]> = "__not_a_member__";
// enum at components.schemas.Scope
expectTrue<Equal<NonNullable<components["schemas"]["Scope"]>, "tasks:read" | "tasks:write" | "tasks:execute" | "executions:read" | "analytics:read" | "secrets:use" | "notifications:read" | "notifications:write">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember96: NonNullable<components["schemas"]["Scope"]> = "__not_a_member__";
// enum at components.schemas.SecurityRuleKind
expectTrue<Equal<NonNullable<components["schemas"]["SecurityRuleKind"]>, "FAILED_LOGINS" | "PASSWORD_SPRAY" | "UNUSUAL_IP" | "ADMIN_BURST" | "SUSPICIOUS_USER_AGENT" | "API_KEY_ABUSE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember97: NonNullable<components["schemas"]["SecurityRuleKind"]> = "__not_a_member__";
// oneOf at components.schemas.ServerStatus.detail
export const _variant98: NonNullable<components["schemas"]["ServerStatus"]>["detail"] = null;
export const _variant99: NonNullable<components["schemas"]["ServerStatus"]>["detail"] = {"name":"x","environment":"x","uptime_seconds":0,"instance_id":"x"};
// enum at components.schemas.ServiceStatus
expectTrue<Equal<NonNullable<components["schemas"]["ServiceStatus"]>, "ok" | "degraded" | "not_configured">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember100: NonNullable<components["schemas"]["ServiceStatus"]> = "__not_a_member__";
// enum at components.schemas.Severity
expectTrue<Equal<NonNullable<components["schemas"]["Severity"]>, "LOW" | "MEDIUM" | "HIGH" | "CRITICAL">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember101: NonNullable<components["schemas"]["Severity"]> = "__not_a_member__";
// enum at components.schemas.SignatureScheme
expectTrue<Equal<NonNullable<components["schemas"]["SignatureScheme"]>, "none" | "standard_webhooks" | "github">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember102: NonNullable<components["schemas"]["SignatureScheme"]> = "__not_a_member__";
// enum at components.schemas.SkipReason
expectTrue<Equal<NonNullable<components["schemas"]["SkipReason"]>, "SKIPPED_CONCURRENCY" | "OUTSIDE_CATCH_UP" | "PAUSED" | "AFTER_END" | "OWNER_INACTIVE" | "QUEUE_FULL" | "PLAN_LIMIT" | "CHAIN_DEPTH" | "CHAIN_BUDGET">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember103: NonNullable<components["schemas"]["SkipReason"]> = "__not_a_member__";
// enum at components.schemas.SkippedHour
expectTrue<Equal<NonNullable<components["schemas"]["SkippedHour"]>, "RUN_AT_GAP_END" | "SKIP">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember104: NonNullable<components["schemas"]["SkippedHour"]> = "__not_a_member__";
// enum at components.schemas.SortOrder
expectTrue<Equal<NonNullable<components["schemas"]["SortOrder"]>, "asc" | "desc">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember105: NonNullable<components["schemas"]["SortOrder"]> = "__not_a_member__";
// enum at components.schemas.Source
expectTrue<Equal<NonNullable<components["schemas"]["Source"]>, "CRITICAL" | "TYPE" | "CATEGORY" | "CHANNEL" | "DEFAULT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember106: NonNullable<components["schemas"]["Source"]> = "__not_a_member__";
// oneOf at components.schemas.SubscribeAck
export const _variant107: components["schemas"]["SubscribeAck"] = {"ok":true};
export const _variant108: components["schemas"]["SubscribeAck"] = {"error":"x"};
// oneOf at components.schemas.SubscribeRequest
export const _variant109: components["schemas"]["SubscribeRequest"] = "x";
export const _variant110: components["schemas"]["SubscribeRequest"] = {"room":"x"};
// oneOf at components.schemas.SubscriptionChangeOut.plan
export const _variant111: NonNullable<components["schemas"]["SubscriptionChangeOut"]>["plan"] = null;
export const _variant112: NonNullable<components["schemas"]["SubscriptionChangeOut"]>["plan"] = "BASIC";
// oneOf at components.schemas.SubscriptionOut.status
export const _variant113: NonNullable<components["schemas"]["SubscriptionOut"]>["status"] = null;
export const _variant114: NonNullable<components["schemas"]["SubscriptionOut"]>["status"] = "trialing";
// oneOf at components.schemas.SubscriptionOut.subscribed_plan
export const _variant115: NonNullable<components["schemas"]["SubscriptionOut"]>["subscribed_plan"] = null;
export const _variant116: NonNullable<components["schemas"]["SubscriptionOut"]>["subscribed_plan"] = "BASIC";
// enum at components.schemas.SubscriptionStatus
expectTrue<Equal<NonNullable<components["schemas"]["SubscriptionStatus"]>, "trialing" | "active" | "past_due" | "canceled" | "incomplete" | "unpaid">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember117: NonNullable<components["schemas"]["SubscriptionStatus"]> = "__not_a_member__";
// oneOf at components.schemas.TaskIn.retry
export const _variant118: NonNullable<components["schemas"]["TaskIn"]>["retry"] = null;
export const _variant119: NonNullable<components["schemas"]["TaskIn"]>["retry"] = {};
// oneOf at components.schemas.TaskIn.schedule
export const _variant120: NonNullable<components["schemas"]["TaskIn"]>["schedule"] = null;
export const _variant121: NonNullable<components["schemas"]["TaskIn"]>["schedule"] = {"cron":"*/5 * * * *"};
// oneOf at components.schemas.TaskIn.status
export const _variant122: NonNullable<components["schemas"]["TaskIn"]>["status"] = null;
export const _variant123: NonNullable<components["schemas"]["TaskIn"]>["status"] = "ACTIVE";
// oneOf at components.schemas.TaskOut.last_execution
export const _variant124: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = null;
export const _variant125: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"QUEUED","trigger_kind":"SCHEDULE","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant126: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"RUNNING","trigger_kind":"MANUAL","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant127: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"SUCCEEDED","trigger_kind":"API","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant128: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"FAILED","trigger_kind":"WEBHOOK","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant129: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"DEAD","trigger_kind":"EMAIL","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant130: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"CANCELLED","trigger_kind":"CHAIN","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant131: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"TIMED_OUT","trigger_kind":"NOTION","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant132: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"QUEUED","trigger_kind":"RETRY","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
// oneOf at components.schemas.TaskOut.schedule
export const _variant133: NonNullable<components["schemas"]["TaskOut"]>["schedule"] = null;
export const _variant134: NonNullable<components["schemas"]["TaskOut"]>["schedule"] = {"cron":"*/5 * * * *"};
// enum at components.schemas.TaskSort
expectTrue<Equal<NonNullable<components["schemas"]["TaskSort"]>, "created_at" | "updated_at" | "name" | "next_run_at">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember135: NonNullable<components["schemas"]["TaskSort"]> = "__not_a_member__";
// enum at components.schemas.TaskStatus
expectTrue<Equal<NonNullable<components["schemas"]["TaskStatus"]>, "ACTIVE" | "PAUSED" | "STOPPED" | "FAILED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember136: NonNullable<components["schemas"]["TaskStatus"]> = "__not_a_member__";
// enum at components.schemas.TriggerKind
expectTrue<Equal<NonNullable<components["schemas"]["TriggerKind"]>, "SCHEDULE" | "MANUAL" | "API" | "WEBHOOK" | "EMAIL" | "CHAIN" | "NOTION" | "RETRY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember137: NonNullable<components["schemas"]["TriggerKind"]> = "__not_a_member__";
// oneOf at components.schemas.UserPatch.status
export const _variant138: NonNullable<components["schemas"]["UserPatch"]>["status"] = null;
export const _variant139: NonNullable<components["schemas"]["UserPatch"]>["status"] = "active";
// enum at components.schemas.UserStatus
expectTrue<Equal<NonNullable<components["schemas"]["UserStatus"]>, "active" | "disabled" | "locked" | "deleted">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember140: NonNullable<components["schemas"]["UserStatus"]> = "__not_a_member__";
// enum at components.schemas.VariableKind
expectTrue<Equal<NonNullable<components["schemas"]["VariableKind"]>, "string" | "number" | "boolean">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember141: NonNullable<components["schemas"]["VariableKind"]> = "__not_a_member__";
// oneOf at components.schemas.WebhookIn.signature
export const _variant142: NonNullable<components["schemas"]["WebhookIn"]>["signature"] = null;
export const _variant143: NonNullable<components["schemas"]["WebhookIn"]>["signature"] = "none";
// enum at components.schemas.WeekStart
expectTrue<Equal<NonNullable<components["schemas"]["WeekStart"]>, "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember144: NonNullable<components["schemas"]["WeekStart"]> = "__not_a_member__";
// enum at GET /admin/audit-logs/export query format
expectTrue<Equal<NonNullable<NonNullable<paths["/admin/audit-logs/export"]["get"]["parameters"]["query"]>["format"]>, "csv" | "ndjson">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember145: NonNullable<NonNullable<paths["/admin/audit-logs/export"]["get"]["parameters"]["query"]>["format"]> = "__not_a_member__";
// enum at GET /admin/users query sort
expectTrue<Equal<NonNullable<NonNullable<paths["/admin/users"]["get"]["parameters"]["query"]>["sort"]>, "created_at" | "email" | "name" | "last_login_at" | "task_count" | "executions_30d">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember146: NonNullable<NonNullable<paths["/admin/users"]["get"]["parameters"]["query"]>["sort"]> = "__not_a_member__";
// enum at GET /admin/users query order
expectTrue<Equal<NonNullable<NonNullable<paths["/admin/users"]["get"]["parameters"]["query"]>["order"]>, "asc" | "desc">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember147: NonNullable<NonNullable<paths["/admin/users"]["get"]["parameters"]["query"]>["order"]> = "__not_a_member__";
// enum at GET /api/v1/tasks/export query format
expectTrue<Equal<NonNullable<NonNullable<paths["/api/v1/tasks/export"]["get"]["parameters"]["query"]>["format"]>, "json" | "csv">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember148: NonNullable<NonNullable<paths["/api/v1/tasks/export"]["get"]["parameters"]["query"]>["format"]> = "__not_a_member__";
// enum at POST /api/v1/tasks/import query mode
expectTrue<Equal<NonNullable<NonNullable<paths["/api/v1/tasks/import"]["post"]["parameters"]["query"]>["mode"]>, "all_or_nothing" | "partial">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember149: NonNullable<NonNullable<paths["/api/v1/tasks/import"]["post"]["parameters"]["query"]>["mode"]> = "__not_a_member__";
// enum at POST /api/v1/tasks/import query on_conflict
expectTrue<Equal<NonNullable<NonNullable<paths["/api/v1/tasks/import"]["post"]["parameters"]["query"]>["on_conflict"]>, "skip" | "update" | "rename">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember150: NonNullable<NonNullable<paths["/api/v1/tasks/import"]["post"]["parameters"]["query"]>["on_conflict"]> = "__not_a_member__";
// oneOf at POST /api/v1/tasks/{id}/duplicate body
export const _variant151: NonNullable<paths["/api/v1/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant152: NonNullable<paths["/api/v1/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = {};
// oneOf at POST /api/v1/tasks/{id}/execute body
export const _variant153: NonNullable<paths["/api/v1/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant154: NonNullable<paths["/api/v1/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = {};
// enum at GET /api/v1/tasks/{id}/logs query status
expectTrue<Equal<NonNullable<NonNullable<paths["/api/v1/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]>, "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT" | "SKIPPED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember155: NonNullable<NonNullable<paths["/api/v1/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]> = "__not_a_member__";
// oneOf at POST /auth/logout body
export const _variant156: NonNullable<paths["/auth/logout"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant157: NonNullable<paths["/auth/logout"]["post"]["requestBody"]>["content"]["application/json"] = {};
// enum at GET /tasks/export query format
expectTrue<Equal<NonNullable<NonNullable<paths["/tasks/export"]["get"]["parameters"]["query"]>["format"]>, "json" | "csv">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember158: NonNullable<NonNullable<paths["/tasks/export"]["get"]["parameters"]["query"]>["format"]> = "__not_a_member__";
// enum at POST /tasks/import query mode
expectTrue<Equal<NonNullable<NonNullable<paths["/tasks/import"]["post"]["parameters"]["query"]>["mode"]>, "all_or_nothing" | "partial">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember159: NonNullable<NonNullable<paths["/tasks/import"]["post"]["parameters"]["query"]>["mode"]> = "__not_a_member__";
// enum at POST /tasks/import query on_conflict
expectTrue<Equal<NonNullable<NonNullable<paths["/tasks/import"]["post"]["parameters"]["query"]>["on_conflict"]>, "skip" | "update" | "rename">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember160: NonNullable<NonNullable<paths["/tasks/import"]["post"]["parameters"]["query"]>["on_conflict"]> = "__not_a_member__";
// oneOf at POST /tasks/{id}/duplicate body
export const _variant161: NonNullable<paths["/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant162: NonNullable<paths["/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = {};
// oneOf at POST /tasks/{id}/execute body
export const _variant163: NonNullable<paths["/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant164: NonNullable<paths["/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = {};
// enum at GET /tasks/{id}/logs query status
expectTrue<Equal<NonNullable<NonNullable<paths["/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]>, "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT" | "SKIPPED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember165: NonNullable<NonNullable<paths["/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]> = "__not_a_member__";
