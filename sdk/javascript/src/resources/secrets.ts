import { unwrap } from "../errors.js";
import { Paginator } from "../pagination.js";
import { Resource, type Schema } from "./base.js";

/** Secrets that task configurations reference as `{{ secrets.NAME }}`; values are never returned. */
export class Secrets extends Resource {
  /** Every secret's metadata, walking the cursors. */
  list(query: { limit?: number } = {}): Paginator<Schema<"SecretMeta">> {
    return new Paginator((cursor) =>
      unwrap(this.raw.GET("/secrets", { params: { query: { ...query, ...(cursor ? { cursor } : {}) } } })),
    );
  }

  /** Stores a secret. */
  create(body: Schema<"SecretIn">): Promise<Schema<"SecretMeta">> {
    return unwrap(this.raw.POST("/secrets", { body }));
  }

  /** One secret's metadata. */
  get(id: string): Promise<Schema<"SecretMeta">> {
    return unwrap(this.raw.GET("/secrets/{id}", { params: { path: { id } } }));
  }

  /** Changes a secret's value or description. */
  update(id: string, body: Schema<"SecretPatch">): Promise<Schema<"SecretMeta">> {
    return unwrap(this.raw.PATCH("/secrets/{id}", { params: { path: { id } }, body }));
  }

  /** Deletes a secret. */
  async delete(id: string): Promise<void> {
    await unwrap(this.raw.DELETE("/secrets/{id}", { params: { path: { id } } }));
  }
}
