import type { components } from "./generated/schema.js";

/** An RFC 9457 problem document as Nocron sends it (`application/problem+json`). */
export type Problem = components["schemas"]["Problem"];
/** One failing field of a validation error. */
export type FieldError = components["schemas"]["FieldError"];
/** Nocron's stable machine-readable error codes. */
export type ErrorCode = components["schemas"]["ErrorCode"];

/**
 * An error answer from the API. `status`, `code` and `fieldErrors` come from the problem
 * document; `problem` is the whole document (with `limit_name`, `resets_at`, … when present).
 */
export class NocronError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The stable code, e.g. `VALIDATION_ERROR`; `UNKNOWN` when the answer was not a problem document. */
  readonly code: ErrorCode | "UNKNOWN";
  /** The numeric code (`error_code`), 0 when absent. */
  readonly errorCode: number;
  /** The failing fields of a validation error (empty otherwise). */
  readonly fieldErrors: FieldError[];
  /** The request id, to quote when reporting a problem. */
  readonly requestId: string | undefined;
  /** The problem document, when the server sent one. */
  readonly problem: Problem | undefined;

  constructor(status: number, body: unknown, requestId?: string | null) {
    const problem = isProblem(body) ? body : undefined;
    const text = typeof body === "string" && body.length > 0 ? body : undefined;
    super(problem ? `${problem.code}: ${problem.detail}` : `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ""}`);
    this.name = "NocronError";
    this.status = status;
    this.problem = problem;
    this.code = problem?.code ?? "UNKNOWN";
    this.errorCode = problem?.error_code ?? 0;
    this.fieldErrors = problem?.errors ?? [];
    this.requestId = problem?.request_id ?? requestId ?? undefined;
  }

  /** The message of the first error on `field` (e.g. `schedule.cron`), if any. */
  fieldError(field: string): string | undefined {
    return this.fieldErrors.find((e) => e.field === field)?.message;
  }
}

function isProblem(body: unknown): body is Problem {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as { code?: unknown }).code === "string" &&
    typeof (body as { status?: unknown }).status === "number"
  );
}

/** The answer shape of every openapi-fetch call. */
export interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful answer, or a thrown {@link NocronError}. */
export async function unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    throw new NocronError(response.status, error, response.headers.get("x-request-id"));
  }
  return data as T;
}
