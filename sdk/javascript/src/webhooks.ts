import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * The body of a Nocron notification webhook (`POST` to your endpoint, Standard Webhooks
 * headers). `type` is the notification type, e.g. `TASK_FAILED` or `SYSTEM`.
 */
export interface NotificationWebhook {
  type: string;
  /** When the notification was created (RFC 3339). */
  timestamp: string;
  data: {
    id: string;
    category: string;
    critical: boolean;
    title: string;
    body: string;
    link: string | null;
    task_id: string | null;
    details: unknown;
  };
}

/** Why a webhook was refused. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

/** Request headers as Node's `IncomingHttpHeaders`, a fetch `Headers`, or a plain object. */
export type WebhookHeaders =
  | Headers
  | Record<string, string | string[] | undefined>
  | { get(name: string): string | null };

/** Options of {@link verifyWebhook}. */
export interface VerifyWebhookOptions {
  /** Accepted difference between `webhook-timestamp` and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The time to check against (default now); for tests. */
  now?: Date | number;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === "function") {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value.join(" ") : value;
}

function decodeSecret(secret: string): Buffer {
  const encoded = secret.trim().replace(/^whsec_/, "");
  const key = Buffer.from(encoded, "base64");
  if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new WebhookVerificationError("the secret is not whsec_ followed by base64");
  }
  return key;
}

/**
 * Checks a Nocron webhook delivery (Standard Webhooks): the `webhook-signature` must hold a
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` made with `secret` (`whsec_…`, as shown
 * when the endpoint was created or its secret rotated), and `webhook-timestamp` must be
 * within `toleranceSeconds` of now. Signatures are compared in constant time. Pass the body
 * exactly as received (the raw bytes, not re-serialized JSON).
 *
 * Returns the parsed payload; throws {@link WebhookVerificationError} otherwise. Keep the
 * `webhook-id` of what you processed: retries of one delivery carry the same id.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): NotificationWebhook {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature");
  }
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError("webhook-timestamp is not a Unix time");
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now === undefined ? Date.now() : +options.now) / 1000);
  const sent = Number(timestamp);
  if (now - sent > tolerance) throw new WebhookVerificationError("the message is too old");
  if (sent - now > tolerance) throw new WebhookVerificationError("the message timestamp is too far in the future");

  const raw = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
  const expected = createHmac("sha256", decodeSecret(secret))
    .update(`${id}.${timestamp}.`)
    .update(raw)
    .digest();
  let matched = false;
  for (const candidate of signatures.split(" ")) {
    const [version, encoded] = candidate.split(",", 2);
    if (version !== "v1" || !encoded) continue;
    const given = Buffer.from(encoded, "base64");
    // Compare every candidate (no early exit on a match) and only equal lengths.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError("no matching signature");
  try {
    return JSON.parse(raw.toString("utf8")) as NotificationWebhook;
  } catch {
    throw new WebhookVerificationError("the body is not JSON");
  }
}

/**
 * Signs a payload the way Nocron does (`v1,<base64>`), e.g. to test your receiver.
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string | Uint8Array): string {
  const raw = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
  const mac = createHmac("sha256", decodeSecret(secret)).update(`${id}.${timestamp}.`).update(raw).digest("base64");
  return `v1,${mac}`;
}
