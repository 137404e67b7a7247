import { unwrap } from "../errors.js";
import { Paginator } from "../pagination.js";
import { Resource, type QueryOf, type Schema } from "./base.js";

/** Filters and order of `GET /tasks` (the cursor is handled by the paginator). */
export type TaskListQuery = Omit<QueryOf<"/tasks", "get">, "cursor">;
/** Filters of `GET /tasks/{id}/logs`. */
export type TaskLogsQuery = Omit<QueryOf<"/tasks/{id}/logs", "get">, "cursor">;
/**
 * `PATCH /tasks/{id}` body: a JSON merge patch of `TaskIn` (the fields to change; `null`
 * clears an optional field). The spec types it as a free-form object.
 */
export type TaskPatch = { [K in keyof Schema<"TaskIn">]?: Schema<"TaskIn">[K] | null };

/** Tasks: CRUD, runs, state changes, history, alert rules and bulk actions. Under `/api/v1` in API-key mode. */
export class Tasks extends Resource {
  /** Every task matching `query`, walking the cursors: `for await (const task of client.tasks.list())`. */
  list(query: TaskListQuery = {}): Paginator<Schema<"TaskOut">> {
    return new Paginator((cursor) =>
      unwrap(this.raw.GET(this.twin("/tasks"), { params: { query: { ...query, ...(cursor ? { cursor } : {}) } } })),
    );
  }

  /** Creates a task. */
  create(task: Schema<"TaskIn">): Promise<Schema<"TaskOut">> {
    return unwrap(this.raw.POST(this.twin("/tasks"), { body: task }));
  }

  /** One task. */
  get(id: string): Promise<Schema<"TaskOut">> {
    return unwrap(this.raw.GET(this.twin("/tasks/{id}"), { params: { path: { id } } }));
  }

  /** Replaces a task's definition. */
  replace(id: string, task: Schema<"TaskIn">): Promise<Schema<"TaskOut">> {
    return unwrap(this.raw.PUT(this.twin("/tasks/{id}"), { params: { path: { id } }, body: task }));
  }

  /** Changes some fields (JSON merge patch: `null` clears a field). */
  update(id: string, patch: TaskPatch): Promise<Schema<"TaskOut">> {
    return unwrap(
      this.raw.PATCH(this.twin("/tasks/{id}"), {
        params: { path: { id } },
        body: patch,
        headers: { "content-type": "application/merge-patch+json" },
      }),
    );
  }

  /** Deletes a task. */
  async delete(id: string): Promise<void> {
    await unwrap(this.raw.DELETE(this.twin("/tasks/{id}"), { params: { path: { id } } }));
  }

  /** Queues a run now, with an optional input and priority. */
  execute(id: string, options: Schema<"ExecuteIn"> = {}): Promise<Schema<"Enqueued">> {
    return unwrap(this.raw.POST(this.twin("/tasks/{id}/execute"), { params: { path: { id } }, body: options }));
  }

  /** Pauses the schedule. */
  pause(id: string): Promise<Schema<"TaskOut">> {
    return unwrap(this.raw.POST(this.twin("/tasks/{id}/pause"), { params: { path: { id } } }));
  }

  /** Resumes the schedule. */
  resume(id: string): Promise<Schema<"TaskOut">> {
    return unwrap(this.raw.POST(this.twin("/tasks/{id}/resume"), { params: { path: { id } } }));
  }

  /** Stops the task and cancels what is running. */
  stop(id: string): Promise<Schema<"TaskOut">> {
    return unwrap(this.raw.POST(this.twin("/tasks/{id}/stop"), { params: { path: { id } } }));
  }

  /** Copies a task (paused), optionally under a new name. */
  duplicate(id: string, name?: string): Promise<Schema<"TaskOut">> {
    return unwrap(
      this.raw.POST(this.twin("/tasks/{id}/duplicate"), {
        params: { path: { id } },
        body: name === undefined ? {} : { name },
      }),
    );
  }

  /** The task's execution history, walking the cursors. */
  logs(id: string, query: TaskLogsQuery = {}): Paginator<Schema<"HistoryEntry">> {
    return new Paginator((cursor) =>
      unwrap(
        this.raw.GET(this.twin("/tasks/{id}/logs"), {
          params: { path: { id }, query: { ...query, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    );
  }

  /** The next fire times of the task's schedule. */
  nextRuns(id: string, count?: number): Promise<Schema<"NextRunsOut">> {
    return unwrap(
      this.raw.GET(this.twin("/tasks/{id}/next-runs"), {
        params: { path: { id }, query: count === undefined ? {} : { count } },
      }),
    );
  }

  /** Creates a task from a template. */
  createFromTemplate(templateId: string, body: Schema<"FromTemplateIn">): Promise<Schema<"TaskOut">> {
    return unwrap(
      this.raw.POST(this.twin("/tasks/from-template/{id}"), { params: { path: { id: templateId } }, body }),
    );
  }

  /** One action over many tasks (`ids` or a `filter`); the answer has each id's result. */
  bulk(body: Schema<"BulkIn">): Promise<Schema<"BulkOut">> {
    return unwrap(this.raw.POST(this.twin("/tasks/bulk"), { body }));
  }

  /** The task's alert rules. */
  listAlertRules(id: string): Promise<Schema<"AlertRuleOut">[]> {
    return unwrap(this.raw.GET(this.twin("/tasks/{id}/alert-rules"), { params: { path: { id } } }));
  }

  /** Adds an alert rule. */
  createAlertRule(id: string, rule: Schema<"AlertRuleIn">): Promise<Schema<"AlertRuleOut">> {
    return unwrap(this.raw.POST(this.twin("/tasks/{id}/alert-rules"), { params: { path: { id } }, body: rule }));
  }

  /** Replaces an alert rule. */
  replaceAlertRule(id: string, ruleId: string, rule: Schema<"AlertRuleIn">): Promise<Schema<"AlertRuleOut">> {
    return unwrap(
      this.raw.PUT(this.twin("/tasks/{id}/alert-rules/{rule_id}"), {
        params: { path: { id, rule_id: ruleId } },
        body: rule,
      }),
    );
  }

  /** Deletes an alert rule. */
  async deleteAlertRule(id: string, ruleId: string): Promise<void> {
    await unwrap(
      this.raw.DELETE(this.twin("/tasks/{id}/alert-rules/{rule_id}"), { params: { path: { id, rule_id: ruleId } } }),
    );
  }
}
