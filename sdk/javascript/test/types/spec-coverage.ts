// Generated from docs/openapi.json by `npm run generate` (scripts/coverage.mjs). Do not edit.
// A compile test: 51 enums and 31 oneOfs (74 variant values).
/* eslint-disable */
import type { components, paths } from "../../src/generated/schema.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectTrue<T extends true>(): T | undefined {
  return undefined;
}

// enum at components.schemas.ActionClass
expectTrue<Equal<NonNullable<components["schemas"]["ActionClass"]>, "READ" | "CREATE" | "UPDATE" | "DELETE" | "AUTH" | "ADMIN" | "BILLING" | "SECURITY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember1: NonNullable<components["schemas"]["ActionClass"]> = "__not_a_member__";
// oneOf at components.schemas.ActionIn
export const _variant2: components["schemas"]["ActionIn"] = {"type":"HTTP_REQUEST","config":{"url":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete3: components["schemas"]["ActionIn"] = {"type":"HTTP_REQUEST"};
export const _variant4: components["schemas"]["ActionIn"] = {"type":"EMAIL_SEND","config":{"to":[],"cc":[],"bcc":[],"subject":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete5: components["schemas"]["ActionIn"] = {"type":"EMAIL_SEND"};
export const _variant6: components["schemas"]["ActionIn"] = {"type":"DATABASE_QUERY","config":{"connection":"x","sql":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete7: components["schemas"]["ActionIn"] = {"type":"DATABASE_QUERY"};
export const _variant8: components["schemas"]["ActionIn"] = {"type":"API_CALL","config":{"url":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete9: components["schemas"]["ActionIn"] = {"type":"API_CALL"};
export const _variant10: components["schemas"]["ActionIn"] = {"type":"CUSTOM_SCRIPT","config":{"source":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete11: components["schemas"]["ActionIn"] = {"type":"CUSTOM_SCRIPT"};
export const _variant12: components["schemas"]["ActionIn"] = {"type":"NOTION_SYNC","config":{"operation":"create_page","database_id":"x"}};
// @ts-expect-error the variant's required fields are missing
export const _incomplete13: components["schemas"]["ActionIn"] = {"type":"NOTION_SYNC"};
// enum at components.schemas.ActionType
expectTrue<Equal<NonNullable<components["schemas"]["ActionType"]>, "HTTP_REQUEST" | "EMAIL_SEND" | "DATABASE_QUERY" | "API_CALL" | "CUSTOM_SCRIPT" | "NOTION_SYNC">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember14: NonNullable<components["schemas"]["ActionType"]> = "__not_a_member__";
// enum at components.schemas.ActorType
expectTrue<Equal<NonNullable<components["schemas"]["ActorType"]>, "USER" | "API_KEY" | "ANONYMOUS" | "SYSTEM">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember15: NonNullable<components["schemas"]["ActorType"]> = "__not_a_member__";
// enum at components.schemas.ApiCallAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["ApiCallAction"]>["type"]>, "API_CALL">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember16: NonNullable<NonNullable<components["schemas"]["ApiCallAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.Bucket
expectTrue<Equal<NonNullable<components["schemas"]["Bucket"]>, "hour" | "day" | "week" | "month">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember17: NonNullable<components["schemas"]["Bucket"]> = "__not_a_member__";
// enum at components.schemas.BulkAction
expectTrue<Equal<NonNullable<components["schemas"]["BulkAction"]>, "pause" | "resume" | "stop" | "delete" | "execute" | "add_tags" | "remove_tags" | "set_priority">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember18: NonNullable<components["schemas"]["BulkAction"]> = "__not_a_member__";
// oneOf at components.schemas.BulkIn.mode
export const _variant19: NonNullable<components["schemas"]["BulkIn"]>["mode"] = null;
export const _variant20: NonNullable<components["schemas"]["BulkIn"]>["mode"] = "all_or_nothing";
// enum at components.schemas.BulkItemStatus
expectTrue<Equal<NonNullable<components["schemas"]["BulkItemStatus"]>, "OK" | "NOT_FOUND" | "FAILED" | "ROLLED_BACK">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember21: NonNullable<components["schemas"]["BulkItemStatus"]> = "__not_a_member__";
// enum at components.schemas.BulkMode
expectTrue<Equal<NonNullable<components["schemas"]["BulkMode"]>, "all_or_nothing" | "partial">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember22: NonNullable<components["schemas"]["BulkMode"]> = "__not_a_member__";
// enum at components.schemas.CatchUpPolicy
expectTrue<Equal<NonNullable<components["schemas"]["CatchUpPolicy"]>, "SKIP" | "LATEST" | "ALL">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember23: NonNullable<components["schemas"]["CatchUpPolicy"]> = "__not_a_member__";
// enum at components.schemas.ChainOn
expectTrue<Equal<NonNullable<components["schemas"]["ChainOn"]>, "SUCCEEDED" | "DEAD" | "ANY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember24: NonNullable<components["schemas"]["ChainOn"]> = "__not_a_member__";
// enum at components.schemas.Channel
expectTrue<Equal<NonNullable<components["schemas"]["Channel"]>, "IN_APP" | "EMAIL" | "WEBHOOK">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember25: NonNullable<components["schemas"]["Channel"]> = "__not_a_member__";
// enum at components.schemas.ConcurrencyPolicy
expectTrue<Equal<NonNullable<components["schemas"]["ConcurrencyPolicy"]>, "ALLOW" | "SKIP" | "QUEUE_ONE" | "CANCEL_RUNNING">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember26: NonNullable<components["schemas"]["ConcurrencyPolicy"]> = "__not_a_member__";
// enum at components.schemas.CustomScriptAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["CustomScriptAction"]>["type"]>, "CUSTOM_SCRIPT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember27: NonNullable<NonNullable<components["schemas"]["CustomScriptAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.DashboardScope
expectTrue<Equal<NonNullable<components["schemas"]["DashboardScope"]>, "user" | "system">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember28: NonNullable<components["schemas"]["DashboardScope"]> = "__not_a_member__";
// enum at components.schemas.DatabaseQueryAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["DatabaseQueryAction"]>["type"]>, "DATABASE_QUERY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember29: NonNullable<NonNullable<components["schemas"]["DatabaseQueryAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.DeliveryStatus
expectTrue<Equal<NonNullable<components["schemas"]["DeliveryStatus"]>, "QUEUED" | "SENT" | "DELIVERED" | "UNDELIVERED" | "BOUNCED" | "NOT_SENT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember30: NonNullable<components["schemas"]["DeliveryStatus"]> = "__not_a_member__";
// oneOf at components.schemas.DstPolicy.repeated
export const _variant31: NonNullable<components["schemas"]["DstPolicy"]>["repeated"] = "ONCE";
// oneOf at components.schemas.DstPolicy.skipped
export const _variant32: NonNullable<components["schemas"]["DstPolicy"]>["skipped"] = "RUN_AT_GAP_END";
// oneOf at components.schemas.EffectivePreferences.quiet_hours
export const _variant33: NonNullable<components["schemas"]["EffectivePreferences"]>["quiet_hours"] = null;
export const _variant34: NonNullable<components["schemas"]["EffectivePreferences"]>["quiet_hours"] = {"start":"22:00","end":"07:00","timezone":"America/New_York"};
// enum at components.schemas.EmailSendAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["EmailSendAction"]>["type"]>, "EMAIL_SEND">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember35: NonNullable<NonNullable<components["schemas"]["EmailSendAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.EntryKind
expectTrue<Equal<NonNullable<components["schemas"]["EntryKind"]>, "EXECUTION" | "SKIPPED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember36: NonNullable<components["schemas"]["EntryKind"]> = "__not_a_member__";
// enum at components.schemas.ErrorCode
expectTrue<Equal<NonNullable<components["schemas"]["ErrorCode"]>, "UNAUTHORIZED" | "FORBIDDEN" | "INVALID_CREDENTIALS" | "ACCOUNT_LOCKED" | "INSUFFICIENT_SCOPE" | "RATE_LIMITED" | "VALIDATION_ERROR" | "MALFORMED_JSON" | "INVALID_CONTENT_TYPE" | "PAYLOAD_TOO_LARGE" | "INVALID_QUERY" | "INVALID_PATH" | "BAD_REQUEST" | "NOT_FOUND" | "METHOD_NOT_ALLOWED" | "CONFLICT" | "PRECONDITION_FAILED" | "REQUEST_TIMEOUT" | "DATABASE_ERROR" | "DATABASE_UNAVAILABLE" | "EXTERNAL_SERVICE_ERROR" | "EXTERNAL_SERVICE_TIMEOUT" | "INTEGRATION_NOT_CONFIGURED" | "INTERNAL_ERROR" | "PLAN_LIMIT_REACHED" | "BILLING_DISABLED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember37: NonNullable<components["schemas"]["ErrorCode"]> = "__not_a_member__";
// enum at components.schemas.ExecutionStatus
expectTrue<Equal<NonNullable<components["schemas"]["ExecutionStatus"]>, "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember38: NonNullable<components["schemas"]["ExecutionStatus"]> = "__not_a_member__";
// enum at components.schemas.Health
expectTrue<Equal<NonNullable<components["schemas"]["Health"]>, "ok" | "degraded">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember39: NonNullable<components["schemas"]["Health"]> = "__not_a_member__";
// oneOf at components.schemas.HistoryEntry.reason
export const _variant40: NonNullable<components["schemas"]["HistoryEntry"]>["reason"] = null;
export const _variant41: NonNullable<components["schemas"]["HistoryEntry"]>["reason"] = "SKIPPED_CONCURRENCY";
// oneOf at components.schemas.HttpActionConfig.auth
export const _variant42: NonNullable<components["schemas"]["HttpActionConfig"]>["auth"] = null;
export const _variant43: NonNullable<components["schemas"]["HttpActionConfig"]>["auth"] = {"username":"x","password":"x","type":"basic"};
// oneOf at components.schemas.HttpActionConfig.body
export const _variant44: NonNullable<components["schemas"]["HttpActionConfig"]>["body"] = null;
export const _variant45: NonNullable<components["schemas"]["HttpActionConfig"]>["body"] = {"value":{},"type":"json"};
// oneOf at components.schemas.HttpAuth
export const _variant46: components["schemas"]["HttpAuth"] = {"username":"x","password":"x","type":"basic"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete47: components["schemas"]["HttpAuth"] = {"type":"basic"};
export const _variant48: components["schemas"]["HttpAuth"] = {"token":"x","type":"bearer"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete49: components["schemas"]["HttpAuth"] = {"type":"bearer"};
export const _variant50: components["schemas"]["HttpAuth"] = {"name":"x","value":"x","type":"header"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete51: components["schemas"]["HttpAuth"] = {"type":"header"};
// oneOf at components.schemas.HttpBody
export const _variant52: components["schemas"]["HttpBody"] = {"value":{},"type":"json"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete53: components["schemas"]["HttpBody"] = {"type":"json"};
export const _variant54: components["schemas"]["HttpBody"] = {"value":"x","type":"text"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete55: components["schemas"]["HttpBody"] = {"type":"text"};
export const _variant56: components["schemas"]["HttpBody"] = {"value":{},"type":"form"};
// @ts-expect-error the variant's required fields are missing
export const _incomplete57: components["schemas"]["HttpBody"] = {"type":"form"};
export const _variant58: components["schemas"]["HttpBody"] = {"type":"input"};
// enum at components.schemas.HttpRequestAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["HttpRequestAction"]>["type"]>, "HTTP_REQUEST">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember59: NonNullable<NonNullable<components["schemas"]["HttpRequestAction"]>["type"]> = "__not_a_member__";
// oneOf at components.schemas.InboundEmailJson.to
export const _variant60: NonNullable<components["schemas"]["InboundEmailJson"]>["to"] = null;
export const _variant61: NonNullable<components["schemas"]["InboundEmailJson"]>["to"] = "x";
// oneOf at components.schemas.NextRunsOut.schedule
export const _variant62: NonNullable<components["schemas"]["NextRunsOut"]>["schedule"] = null;
export const _variant63: NonNullable<components["schemas"]["NextRunsOut"]>["schedule"] = {"cron":"x","timezone":"x","dst_policy":{},"kind":"WALL_CLOCK","description":"At 02:30 (America/New_York)","next_runs":[],"dst_notes":[]};
export const _variant64: NonNullable<components["schemas"]["NextRunsOut"]>["schedule"] = {"cron":"x","timezone":"x","dst_policy":{},"kind":"INTERVAL","description":"At 02:30 (America/New_York)","next_runs":[],"dst_notes":[]};
// enum at components.schemas.NotificationCategory
expectTrue<Equal<NonNullable<components["schemas"]["NotificationCategory"]>, "TASKS" | "SECURITY" | "BILLING" | "REPORTS" | "SYSTEM">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember65: NonNullable<components["schemas"]["NotificationCategory"]> = "__not_a_member__";
// enum at components.schemas.NotificationType
expectTrue<Equal<NonNullable<components["schemas"]["NotificationType"]>, "TASK_FAILED" | "TASK_RECOVERED" | "TASK_SUCCEEDED" | "TASK_SLOW" | "TASK_AUTO_PAUSED" | "TASK_LATE" | "TASK_MISSED" | "SECURITY_ALERT" | "BILLING" | "REPORT_READY" | "SYSTEM">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember66: NonNullable<components["schemas"]["NotificationType"]> = "__not_a_member__";
// enum at components.schemas.NotionOperation
expectTrue<Equal<NonNullable<components["schemas"]["NotionOperation"]>, "create_page" | "update_pages" | "query_database">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember67: NonNullable<components["schemas"]["NotionOperation"]> = "__not_a_member__";
// enum at components.schemas.NotionSyncAction.type
expectTrue<Equal<NonNullable<NonNullable<components["schemas"]["NotionSyncAction"]>["type"]>, "NOTION_SYNC">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember68: NonNullable<NonNullable<components["schemas"]["NotionSyncAction"]>["type"]> = "__not_a_member__";
// enum at components.schemas.Outcome
expectTrue<Equal<NonNullable<components["schemas"]["Outcome"]>, "SUCCESS" | "FAILURE" | "DENIED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember69: NonNullable<components["schemas"]["Outcome"]> = "__not_a_member__";
// enum at components.schemas.PaymentOutcomeOut
expectTrue<Equal<NonNullable<components["schemas"]["PaymentOutcomeOut"]>, "succeeded" | "failed" | "action_required">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember70: NonNullable<components["schemas"]["PaymentOutcomeOut"]> = "__not_a_member__";
// enum at components.schemas.PlanCode
expectTrue<Equal<NonNullable<components["schemas"]["PlanCode"]>, "BASIC" | "PRO" | "ENTERPRISE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember71: NonNullable<components["schemas"]["PlanCode"]> = "__not_a_member__";
// oneOf at components.schemas.Preferences.quiet_hours
export const _variant72: NonNullable<components["schemas"]["Preferences"]>["quiet_hours"] = null;
export const _variant73: NonNullable<components["schemas"]["Preferences"]>["quiet_hours"] = {"start":"22:00","end":"07:00","timezone":"America/New_York"};
// enum at components.schemas.RealtimeHealth
expectTrue<Equal<NonNullable<components["schemas"]["RealtimeHealth"]>, "local" | "ok" | "degraded">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember74: NonNullable<components["schemas"]["RealtimeHealth"]> = "__not_a_member__";
// oneOf at components.schemas.Recipients
export const _variant75: components["schemas"]["Recipients"] = "x";
export const _variant76: components["schemas"]["Recipients"] = [];
// enum at components.schemas.RepeatedHour
expectTrue<Equal<NonNullable<components["schemas"]["RepeatedHour"]>, "ONCE" | "TWICE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember77: NonNullable<components["schemas"]["RepeatedHour"]> = "__not_a_member__";
// enum at components.schemas.Role
expectTrue<Equal<NonNullable<components["schemas"]["Role"]>, "USER" | "ADMIN" | "SUPER_ADMIN">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember78: NonNullable<components["schemas"]["Role"]> = "__not_a_member__";
// enum at components.schemas.RuleKind
expectTrue<Equal<NonNullable<components["schemas"]["RuleKind"]>, "CONSECUTIVE_FAILURES" | "RECOVERY" | "SUCCESS" | "DURATION_OVER" | "FAILURE_RATE" | "LATE_START" | "MISSED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember79: NonNullable<components["schemas"]["RuleKind"]> = "__not_a_member__";
// enum at components.schemas.ScheduleDstPolicy
expectTrue<Equal<NonNullable<components["schemas"]["ScheduleDstPolicy"]>, "SHIFT_ONCE" | "SHIFT_TWICE" | "SKIP_ONCE" | "SKIP_TWICE">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember80: NonNullable<components["schemas"]["ScheduleDstPolicy"]> = "__not_a_member__";
// enum at components.schemas.ScheduleKind
expectTrue<Equal<NonNullable<components["schemas"]["ScheduleKind"]>, "WALL_CLOCK" | "INTERVAL">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember81: NonNullable<components["schemas"]["ScheduleKind"]> = "__not_a_member__";
// enum at components.schemas.Scope
expectTrue<Equal<NonNullable<components["schemas"]["Scope"]>, "tasks:read" | "tasks:write" | "tasks:execute" | "executions:read" | "analytics:read" | "secrets:use" | "notifications:read" | "notifications:write">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember82: NonNullable<components["schemas"]["Scope"]> = "__not_a_member__";
// oneOf at components.schemas.ServerStatus.detail
export const _variant83: NonNullable<components["schemas"]["ServerStatus"]>["detail"] = null;
export const _variant84: NonNullable<components["schemas"]["ServerStatus"]>["detail"] = {"name":"x","environment":"x","uptime_seconds":0,"instance_id":"x"};
// enum at components.schemas.SignatureScheme
expectTrue<Equal<NonNullable<components["schemas"]["SignatureScheme"]>, "none" | "standard_webhooks" | "github">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember85: NonNullable<components["schemas"]["SignatureScheme"]> = "__not_a_member__";
// enum at components.schemas.SkipReason
expectTrue<Equal<NonNullable<components["schemas"]["SkipReason"]>, "SKIPPED_CONCURRENCY" | "OUTSIDE_CATCH_UP" | "PAUSED" | "AFTER_END" | "OWNER_INACTIVE" | "QUEUE_FULL" | "PLAN_LIMIT" | "CHAIN_DEPTH" | "CHAIN_BUDGET">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember86: NonNullable<components["schemas"]["SkipReason"]> = "__not_a_member__";
// enum at components.schemas.SkippedHour
expectTrue<Equal<NonNullable<components["schemas"]["SkippedHour"]>, "RUN_AT_GAP_END" | "SKIP">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember87: NonNullable<components["schemas"]["SkippedHour"]> = "__not_a_member__";
// enum at components.schemas.SortOrder
expectTrue<Equal<NonNullable<components["schemas"]["SortOrder"]>, "asc" | "desc">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember88: NonNullable<components["schemas"]["SortOrder"]> = "__not_a_member__";
// enum at components.schemas.Source
expectTrue<Equal<NonNullable<components["schemas"]["Source"]>, "CRITICAL" | "TYPE" | "CATEGORY" | "CHANNEL" | "DEFAULT">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember89: NonNullable<components["schemas"]["Source"]> = "__not_a_member__";
// oneOf at components.schemas.SubscribeAck
export const _variant90: components["schemas"]["SubscribeAck"] = {"ok":true};
export const _variant91: components["schemas"]["SubscribeAck"] = {"error":"x"};
// oneOf at components.schemas.SubscribeRequest
export const _variant92: components["schemas"]["SubscribeRequest"] = "x";
export const _variant93: components["schemas"]["SubscribeRequest"] = {"room":"x"};
// oneOf at components.schemas.SubscriptionOut.status
export const _variant94: NonNullable<components["schemas"]["SubscriptionOut"]>["status"] = null;
export const _variant95: NonNullable<components["schemas"]["SubscriptionOut"]>["status"] = "trialing";
// oneOf at components.schemas.SubscriptionOut.subscribed_plan
export const _variant96: NonNullable<components["schemas"]["SubscriptionOut"]>["subscribed_plan"] = null;
export const _variant97: NonNullable<components["schemas"]["SubscriptionOut"]>["subscribed_plan"] = "BASIC";
// enum at components.schemas.SubscriptionStatus
expectTrue<Equal<NonNullable<components["schemas"]["SubscriptionStatus"]>, "trialing" | "active" | "past_due" | "canceled" | "incomplete" | "unpaid">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember98: NonNullable<components["schemas"]["SubscriptionStatus"]> = "__not_a_member__";
// oneOf at components.schemas.TaskIn.retry
export const _variant99: NonNullable<components["schemas"]["TaskIn"]>["retry"] = null;
export const _variant100: NonNullable<components["schemas"]["TaskIn"]>["retry"] = {};
// oneOf at components.schemas.TaskIn.schedule
export const _variant101: NonNullable<components["schemas"]["TaskIn"]>["schedule"] = null;
export const _variant102: NonNullable<components["schemas"]["TaskIn"]>["schedule"] = {"cron":"*/5 * * * *"};
// oneOf at components.schemas.TaskIn.status
export const _variant103: NonNullable<components["schemas"]["TaskIn"]>["status"] = null;
export const _variant104: NonNullable<components["schemas"]["TaskIn"]>["status"] = "ACTIVE";
// oneOf at components.schemas.TaskOut.last_execution
export const _variant105: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = null;
export const _variant106: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"QUEUED","trigger_kind":"SCHEDULE","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant107: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"RUNNING","trigger_kind":"MANUAL","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant108: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"SUCCEEDED","trigger_kind":"API","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant109: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"FAILED","trigger_kind":"WEBHOOK","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant110: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"DEAD","trigger_kind":"EMAIL","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant111: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"CANCELLED","trigger_kind":"CHAIN","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
export const _variant112: NonNullable<components["schemas"]["TaskOut"]>["last_execution"] = {"id":"00000000-0000-4000-8000-000000000000","status":"TIMED_OUT","trigger_kind":"RETRY","attempt":1,"queued_at":"2026-01-01T00:00:00Z"};
// oneOf at components.schemas.TaskOut.schedule
export const _variant113: NonNullable<components["schemas"]["TaskOut"]>["schedule"] = null;
export const _variant114: NonNullable<components["schemas"]["TaskOut"]>["schedule"] = {"cron":"*/5 * * * *"};
// enum at components.schemas.TaskSort
expectTrue<Equal<NonNullable<components["schemas"]["TaskSort"]>, "created_at" | "updated_at" | "name" | "next_run_at">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember115: NonNullable<components["schemas"]["TaskSort"]> = "__not_a_member__";
// enum at components.schemas.TaskStatus
expectTrue<Equal<NonNullable<components["schemas"]["TaskStatus"]>, "ACTIVE" | "PAUSED" | "STOPPED" | "FAILED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember116: NonNullable<components["schemas"]["TaskStatus"]> = "__not_a_member__";
// enum at components.schemas.TriggerKind
expectTrue<Equal<NonNullable<components["schemas"]["TriggerKind"]>, "SCHEDULE" | "MANUAL" | "API" | "WEBHOOK" | "EMAIL" | "CHAIN" | "RETRY">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember117: NonNullable<components["schemas"]["TriggerKind"]> = "__not_a_member__";
// oneOf at components.schemas.UserPatch.status
export const _variant118: NonNullable<components["schemas"]["UserPatch"]>["status"] = null;
export const _variant119: NonNullable<components["schemas"]["UserPatch"]>["status"] = "active";
// enum at components.schemas.UserStatus
expectTrue<Equal<NonNullable<components["schemas"]["UserStatus"]>, "active" | "disabled" | "deleted">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember120: NonNullable<components["schemas"]["UserStatus"]> = "__not_a_member__";
// enum at components.schemas.VariableKind
expectTrue<Equal<NonNullable<components["schemas"]["VariableKind"]>, "string" | "number" | "boolean">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember121: NonNullable<components["schemas"]["VariableKind"]> = "__not_a_member__";
// oneOf at components.schemas.WebhookIn.signature
export const _variant122: NonNullable<components["schemas"]["WebhookIn"]>["signature"] = null;
export const _variant123: NonNullable<components["schemas"]["WebhookIn"]>["signature"] = "none";
// enum at components.schemas.WeekStart
expectTrue<Equal<NonNullable<components["schemas"]["WeekStart"]>, "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember124: NonNullable<components["schemas"]["WeekStart"]> = "__not_a_member__";
// enum at GET /admin/audit-logs/export query format
expectTrue<Equal<NonNullable<NonNullable<paths["/admin/audit-logs/export"]["get"]["parameters"]["query"]>["format"]>, "csv" | "ndjson">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember125: NonNullable<NonNullable<paths["/admin/audit-logs/export"]["get"]["parameters"]["query"]>["format"]> = "__not_a_member__";
// oneOf at POST /api/v1/tasks/{id}/duplicate body
export const _variant126: NonNullable<paths["/api/v1/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant127: NonNullable<paths["/api/v1/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = {};
// oneOf at POST /api/v1/tasks/{id}/execute body
export const _variant128: NonNullable<paths["/api/v1/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant129: NonNullable<paths["/api/v1/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = {};
// enum at GET /api/v1/tasks/{id}/logs query status
expectTrue<Equal<NonNullable<NonNullable<paths["/api/v1/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]>, "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT" | "SKIPPED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember130: NonNullable<NonNullable<paths["/api/v1/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]> = "__not_a_member__";
// oneOf at POST /auth/logout body
export const _variant131: NonNullable<paths["/auth/logout"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant132: NonNullable<paths["/auth/logout"]["post"]["requestBody"]>["content"]["application/json"] = {};
// oneOf at POST /tasks/{id}/duplicate body
export const _variant133: NonNullable<paths["/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant134: NonNullable<paths["/tasks/{id}/duplicate"]["post"]["requestBody"]>["content"]["application/json"] = {};
// oneOf at POST /tasks/{id}/execute body
export const _variant135: NonNullable<paths["/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = null;
export const _variant136: NonNullable<paths["/tasks/{id}/execute"]["post"]["requestBody"]>["content"]["application/json"] = {};
// enum at GET /tasks/{id}/logs query status
expectTrue<Equal<NonNullable<NonNullable<paths["/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]>, "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "DEAD" | "CANCELLED" | "TIMED_OUT" | "SKIPPED">>();
// @ts-expect-error a value outside the enum is refused
export const _notMember137: NonNullable<NonNullable<paths["/tasks/{id}/logs"]["get"]["parameters"]["query"]>["status"]> = "__not_a_member__";
