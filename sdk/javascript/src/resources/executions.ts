import { unwrap } from "../errors.js";
import { Paginator } from "../pagination.js";
import { Resource, type QueryOf, type Schema } from "./base.js";

/** Filters of `GET /executions`. */
export type ExecutionListQuery = Omit<QueryOf<"/executions", "get">, "cursor">;

/** Executions: history over every task, details, cancel and retry. Under `/api/v1` in API-key mode. */
export class Executions extends Resource {
  /** Every execution matching `query`, newest first, walking the cursors. */
  list(query: ExecutionListQuery = {}): Paginator<Schema<"ExecutionListItem">> {
    return new Paginator((cursor) =>
      unwrap(
        this.raw.GET(this.twin("/executions"), { params: { query: { ...query, ...(cursor ? { cursor } : {}) } } }),
      ),
    );
  }

  /** One execution with its result and logs. */
  get(id: string): Promise<Schema<"ExecutionOut">> {
    return unwrap(this.raw.GET(this.twin("/executions/{id}"), { params: { path: { id } } }));
  }

  /** Cancels a queued or running execution. */
  cancel(id: string): Promise<Schema<"CancelOut">> {
    return unwrap(this.raw.POST(this.twin("/executions/{id}/cancel"), { params: { path: { id } } }));
  }

  /** Queues a new attempt of a finished execution. */
  retry(id: string): Promise<Schema<"Enqueued">> {
    return unwrap(this.raw.POST(this.twin("/executions/{id}/retry"), { params: { path: { id } } }));
  }
}
