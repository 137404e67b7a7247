/**
 * `@nocron/sdk`: a typed client for the Nocron API.
 *
 * ```ts
 * import { Nocron } from "@nocron/sdk";
 * const client = new Nocron({ baseUrl: "http://127.0.0.1:3000" });
 * await client.auth.login("ada@example.com", "correct horse battery staple");
 * for await (const task of client.tasks.list({ status: "ACTIVE" })) console.log(task.name);
 * ```
 */
export { Nocron, type NocronOptions } from "./client.js";
export { NocronError, type Problem, type FieldError, type ErrorCode } from "./errors.js";
export { Paginator, type Page } from "./pagination.js";
export type { TokenPair, AuthOut } from "./session.js";
export {
  Realtime,
  RealtimeConnection,
  RealtimeError,
  type RealtimeEvents,
  type RealtimeEventName,
  type RealtimeEvent,
  type RealtimeOptions,
  type ExecutionWatch,
} from "./realtime.js";
export {
  verifyWebhook,
  signWebhook,
  WebhookVerificationError,
  type NotificationWebhook,
  type WebhookHeaders,
  type VerifyWebhookOptions,
} from "./webhooks.js";
export type { RawClient, Schema } from "./resources/base.js";
export type { Registration } from "./resources/auth.js";
export type { TaskListQuery, TaskLogsQuery, TaskPatch } from "./resources/tasks.js";
export type { ExecutionListQuery } from "./resources/executions.js";
export type { NotificationListQuery } from "./resources/notifications.js";
export type { AnalyticsQuery } from "./resources/analytics.js";
export type { components, paths, operations } from "./generated/schema.js";
